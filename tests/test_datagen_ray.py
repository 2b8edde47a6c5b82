"""``unitrl mine --ray``: the same tasks as local mode, resuming, and a one-line error without Ray."""

from __future__ import annotations

import sys

import pytest
import typer
from typer.testing import CliRunner

from tests.datagen_support import CLAMP, mine_app
from unitrl.datagen.pipeline import MineConfig, make_screen, mine_paths
from unitrl.errors import UnitrlError
from unitrl.execution import ExecutionConfig
from unitrl.tasks import load_tasks

A = (
    CLAMP
    + """

def first_index(s: str, ch: str) -> int:
    for i, c in enumerate(s):
        if c == ch:
            return i
    return -1
"""
)

# a renamed copy of clamp_sum (a duplicate: local mode never mines it) and one new function
B = """
def clip_total(values: list[int], limit: int = 10) -> int:
    acc = 0
    for v in values:
        if v > limit:
            acc += limit
        else:
            acc += v
    return acc


def count_vowels(text: str) -> int:
    n = 0
    for c in text.lower():
        if c in "aeiou":
            n += 1
    return n
"""

OPTIONS = ["--inputs", "16", "--max-tests", "6", "--no-decontaminate", "--workers", "1"]


def _app() -> typer.Typer:
    return mine_app()


def _sources(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.py").write_text(A)
    (folder / "b.py").write_text(B)
    return folder


def _key(tasks):
    return [(t.task_id, t.tests) for t in tasks]


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    # a private local cluster (never one another process started), small enough for a shared CI machine
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 * 1024 * 1024,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_mines_what_local_mode_mines_and_resumes(tmp_path, local_ray):
    from unitrl.datagen.distributed import mine_paths_ray

    folder = _sources(tmp_path)
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    local = CliRunner().invoke(_app(), ["mine", str(folder), "--out", str(local_out), *OPTIONS])
    assert local.exit_code == 0, local.output
    expected = load_tasks(local_out)
    names = {t.meta["qualname"] for t in expected}
    assert "clamp_sum" in names and "clip_total" not in names  # the copy was dropped

    args = ["mine", str(folder), "--out", str(ray_out), "--ray", *OPTIONS]
    first = CliRunner().invoke(_app(), args)
    assert first.exit_code == 0, first.output
    assert _key(load_tasks(ray_out)) == _key(expected)
    done = (tmp_path / "ray.jsonl.done").read_text().splitlines()
    assert sorted(done) == sorted(str(folder / name) for name in ("a.py", "b.py"))

    # a rerun skips the finished files and writes nothing
    before = ray_out.read_text()
    again = CliRunner().invoke(_app(), args)
    assert again.exit_code == 0, again.output
    assert "2 files already in" in again.output and "0 functions seen" in again.output
    assert ray_out.read_text() == before

    # one file per Ray task: the copy in b.py is mined alongside its original and dropped on the driver
    config = MineConfig(n_inputs=16, max_tests=6, min_tests=5, dedup=True)
    exec_config = ExecutionConfig(workers=1)
    local_tasks, local_stats = mine_paths([folder], config, exec_config)
    seen: list[str] = []
    ray_tasks, ray_stats = mine_paths_ray(
        [folder], config, exec_config, files_per_task=1, on_file=lambda label, stats: seen.append(label)
    )
    assert _key(ray_tasks) == _key(local_tasks) == _key(expected)
    assert seen == [str(folder / "a.py"), str(folder / "b.py")]  # handed on in file order
    assert ray_stats.tasks_kept == local_stats.tasks_kept and ray_stats.files == local_stats.files == 2
    assert ray_stats.dedup_dropped == local_stats.dedup_dropped == 1
    assert ray_stats.functions_seen == local_stats.functions_seen

    # --limit-functions is exact: one batch at a time
    limited = MineConfig(n_inputs=16, max_tests=6, min_tests=5, dedup=True, limit_functions=1)
    _, stats = mine_paths_ray([folder], limited, exec_config, files_per_task=1, screen=make_screen(limited))
    assert stats.candidates == 1 and not stats.complete


def test_ray_flag_without_ray_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    folder = _sources(tmp_path)
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(_app(), ["mine", str(folder), "--out", str(out), "--ray"])
    assert isinstance(result.exception, UnitrlError), result.output
    assert str(result.exception) == "--ray needs Ray: pip install 'unitrl[ray]'"
    assert not out.exists() and not (tmp_path / "o.jsonl.done").exists()  # failed before writing anything
