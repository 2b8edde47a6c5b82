"""Task format loading: valid files round-trip; each kind of bad input gives a one-line error."""

from __future__ import annotations

import json

import pytest

from unitrl.errors import UnitrlError
from unitrl.tasks import Task, load_tasks, write_tasks

TASK = {
    "task_id": "t/1",
    "prompt": "def add(a, b):\n",
    "entry_point": "add",
    "tests": ["assert add(1, 2) == 3"],
    "test_setup": "",
    "reference": "def add(a, b):\n    return a + b\n",
    "meta": {"source": "test"},
}


def write(path, *records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_round_trip(tmp_path):
    task = Task(**TASK)
    write_tasks(tmp_path / "t.jsonl", [task])
    assert load_tasks(tmp_path / "t.jsonl") == [task]


def test_sample_names_the_entry_point():
    sample = Task(**TASK).sample("code", key=7)
    assert sample.program_names == ["add"] and sample.key == 7 and sample.tests == TASK["tests"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({k: v for k, v in TASK.items() if k != "tests"}, ":2: missing field 'tests'"),
        ({**TASK, "tests": "assert True"}, ":2: field 'tests' must be list"),
        ({**TASK, "tests": [1]}, ":2: field 'tests' must be a list of strings"),
        ({**TASK, "extra": 1}, ":2: unknown field(s) ['extra']"),
        ("{not json", ":2: invalid JSON"),
        ("[1, 2]", ":2: expected a JSON object"),
        (TASK, ":2: duplicate task_id 't/1' (first on line 1)"),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path, record, message):
    path = write(tmp_path / "bad.jsonl", TASK, record)
    with pytest.raises(UnitrlError) as info:
        load_tasks(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(UnitrlError, match="no such file"):
        load_tasks(tmp_path / "nope.jsonl")
