"""Mining sources beyond .py files: wheels, sdists, pypi: packages and JSONL corpora (all built locally)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.datagen_support import CLAMP
from unitrl.cli.mine import register
from unitrl.datagen import sources
from unitrl.datagen.archives import ArchiveLimits, ArchiveReport, licence_from_metadata, read_archive
from unitrl.datagen.pipeline import MineConfig, mine_paths
from unitrl.datagen.sources import check_sources, parse_pypi_spec, resolve_sources
from unitrl.errors import UnitrlError
from unitrl.execution import ExecutionConfig
from unitrl.tasks import load_tasks

FAST = MineConfig(n_inputs=24, mutant_limit=30, test_timeout=1.0)


SCALE = '''
def scale_diff(a: int, b: int) -> int:
    """Three times a minus b, or zero when a is smaller."""
    if a < b:
        return 0
    return 3 * a - b
'''

TEST_MODULE = "def test_it():\n    assert True\n\n\ndef helper(x):\n    return x * 2\n"
METADATA = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense-Expression: MIT\n\nA demo.\n"
PKG_INFO = (
    "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense: UNKNOWN\n"
    "Classifier: License :: OSI Approved :: BSD License\nClassifier: Programming Language :: Python\n"
)


def build_wheel(folder: Path, files: dict[str, str], metadata: str = METADATA) -> Path:
    path = folder / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("demo-1.0.dist-info/METADATA", metadata)
        zf.writestr("demo-1.0.dist-info/RECORD", "")
    return path


def build_sdist(folder: Path, files: dict[str, str], pkg_info: str = PKG_INFO) -> Path:
    path = folder / "demo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, text in {"demo-1.0/PKG-INFO": pkg_info, **files}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("demo-1.0/demo/link.py")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    return path


def members(path: Path, **kwargs) -> tuple[str | None, dict[str, str | None], ArchiveReport]:
    report = ArchiveReport()
    licence, found = read_archive(path, report=report, **kwargs)
    return licence, dict(found), report


def test_wheel_keeps_library_modules_and_ignores_unsafe_names(tmp_path):
    wheel = build_wheel(
        tmp_path,
        {
            "demo/core.py": CLAMP,
            "demo/__init__.py": "",
            "demo/tests/test_core.py": TEST_MODULE,
            "demo/conftest.py": TEST_MODULE,
            "setup.py": TEST_MODULE,
            "demo/docs/conf.py": TEST_MODULE,
            "../escape.py": SCALE,
            "/abs/path.py": SCALE,
            "demo/data.txt": "x",
        },
    )
    licence, found, report = members(wheel)
    assert licence == "MIT"
    assert sorted(found) == ["demo/__init__.py", "demo/core.py"]
    assert report.skipped["unsafe_name"] == 2
    _, found, _ = members(wheel, include_init=False)
    assert sorted(found) == ["demo/core.py"]


def test_oversize_members_and_total_cap_are_skipped(tmp_path):
    big = "x = 1\n" * 100
    wheel = build_wheel(tmp_path, {"demo/a.py": CLAMP, "demo/big.py": big, "demo/c.py": SCALE})
    _, found, report = members(wheel, limits=ArchiveLimits(max_member_bytes=len(CLAMP) + 10))
    assert sorted(found) == ["demo/a.py", "demo/c.py"] and report.skipped["too_large"] == 1
    _, found, report = members(wheel, limits=ArchiveLimits(max_total_bytes=len(CLAMP) + 10))
    assert list(found) == ["demo/a.py"] and report.skipped["total_cap"] == 1
    sdist = build_sdist(tmp_path, {"demo-1.0/demo/a.py": CLAMP, "demo-1.0/demo/big.py": big})
    _, found, report = members(sdist, limits=ArchiveLimits(max_member_bytes=len(CLAMP) + 10))
    assert list(found) == ["demo-1.0/demo/a.py"] and report.skipped["too_large"] == 1


def test_sdist_tar_and_zip_read_pkg_info_and_skip_links_and_tests(tmp_path):
    sdist = build_sdist(
        tmp_path,
        {
            "demo-1.0/demo/core.py": CLAMP,
            "demo-1.0/tests/test_core.py": TEST_MODULE,
            "demo-1.0/setup.py": TEST_MODULE,
            "demo-1.0/../../escape.py": SCALE,
        },
    )
    licence, found, report = members(sdist)
    assert licence == "BSD License"
    assert list(found) == ["demo-1.0/demo/core.py"] and report.skipped["unsafe_name"] == 1
    zipped = tmp_path / "demo-1.0.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("demo-1.0/PKG-INFO", PKG_INFO.replace("License: UNKNOWN", "License: Apache-2.0"))
        zf.writestr("demo-1.0/demo/core.py", CLAMP)
        zf.writestr("demo-1.0/docs/conf.py", TEST_MODULE)
    licence, found, _ = members(zipped)
    assert licence == "Apache-2.0" and list(found) == ["demo-1.0/demo/core.py"]


def test_licence_fallbacks():
    assert licence_from_metadata("Name: x\nLicense: MIT License\n") == "MIT License"
    long = "License: " + "Permission is hereby granted " * 10 + "\n"
    assert licence_from_metadata("Name: x\n" + long) is None
    assert licence_from_metadata("Name: x\n") is None


def test_corpus_jsonl_is_streamed_with_paths_and_licences(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"path": "repo/a.py", "content": CLAMP, "max_stars_repo_licenses": ["MIT"]},
        {"path": "repo/tests/test_a.py", "content": TEST_MODULE},
        {"path": "README.md", "content": "# hi"},
        {"path": "repo/a.py", "content": SCALE},
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (source,) = resolve_sources([str(corpus)], tmp_path)
    files = list(source.iter_files())
    assert [f.label for f in files] == [f"{corpus}!repo/a.py", f"{corpus}!repo/a.py#4"]
    assert files[0].meta == {"licence": "MIT"} and files[1].meta == {}
    corpus.write_text(json.dumps(rows[0]) + "\nnot json\n")
    with pytest.raises(UnitrlError, match=r"corpus.jsonl:2"):
        list(resolve_sources([str(corpus)], tmp_path)[0].iter_files())


def test_bad_sources_give_one_line_errors(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "broken.whl").write_bytes(b"not a zip")
    for bad in ["notes.txt", "missing.whl", "missing.jsonl", "nowhere/"]:
        with pytest.raises(UnitrlError) as info:
            check_sources([str(tmp_path / bad)])
        assert "\n" not in str(info.value)
    with pytest.raises(UnitrlError, match=r"broken\.whl"):
        resolve_sources([str(tmp_path / "broken.whl")], tmp_path)
    with pytest.raises(UnitrlError, match="pypi:NAME"):
        parse_pypi_spec("pypi:bad name")
    assert parse_pypi_spec("pypi:more-itertools==10.5.0") == ("more-itertools", "10.5.0")

    def failing_pip(args):
        return subprocess.CompletedProcess(
            args, 1, "", "ERROR: No matching distribution found for nopkg-xyz\n"
        )

    monkeypatch.setattr(sources, "_pip", failing_pip)
    monkeypatch.setenv("UNITRL_PYPI_JSON", (tmp_path / "no-api").as_uri())  # offline: no sdist either
    with pytest.raises(
        UnitrlError,
        match=r"pypi:nopkg-xyz: no wheel \(ERROR: No matching distribution.*sdist could not be fetched",
    ):
        resolve_sources(["pypi:nopkg-xyz"], tmp_path)


def test_archives_and_corpora_are_mined_with_licences_and_member_paths(tmp_path):
    wheel = build_wheel(tmp_path, {"demo/core.py": CLAMP, "demo/tests/test_core.py": TEST_MODULE})
    sdist_dir = tmp_path / "s"
    sdist_dir.mkdir()
    sdist = build_sdist(sdist_dir, {"demo-1.0/demo/other.py": SCALE})
    tasks, stats = mine_paths([wheel, sdist], FAST, ExecutionConfig(workers=2, timeout=10))
    by_entry = {t.entry_point: t for t in tasks}
    assert set(by_entry) == {"clamp_sum", "scale_diff"}, stats.line()
    clamp, scale = by_entry["clamp_sum"], by_entry["scale_diff"]
    assert clamp.meta["licence"] == "MIT" and clamp.meta["path"] == f"{wheel}!demo/core.py"
    assert clamp.task_id.startswith(f"mined/{str(wheel).lstrip('/')}!demo/core.py:clamp_sum:")
    assert scale.meta["licence"] == "BSD License" and scale.meta["path"] == f"{sdist}!demo-1.0/demo/other.py"
    assert stats.files == 2 and stats.tasks_kept == 2


def test_sdist_fallback_fetches_the_file_from_the_json_api_and_checks_its_hash(tmp_path, monkeypatch):
    import hashlib
    import json

    sdist = build_sdist(tmp_path, {"demo-1.0/demo/core.py": CLAMP})
    api = tmp_path / "api" / "demo"
    api.mkdir(parents=True)
    (tmp_path / "files").mkdir()
    shutil.copy(sdist, tmp_path / "files" / sdist.name)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    # as a mirror may write it: the file's URL relative to the API page
    entry = {"packagetype": "sdist", "filename": sdist.name, "url": f"../../files/{sdist.name}"}
    entry["digests"] = {"sha256": digest}
    record = {"urls": [], "releases": {"1.0": [entry], "0.9": []}}
    (api / "json").write_text(json.dumps(record))
    monkeypatch.setenv("UNITRL_PYPI_JSON", (tmp_path / "api").as_uri())
    got = sources.download_sdist("demo", "1.0", tmp_path / "dl")
    assert got.read_bytes() == sdist.read_bytes() and got.parent == tmp_path / "dl"
    with pytest.raises(UnitrlError, match="no sdist on PyPI either"):
        sources.download_sdist("demo", "0.9", tmp_path / "dl09")
    # a tampered file is refused, and nothing is left behind under its name
    entry["digests"]["sha256"] = "0" * 64
    (api / "json").write_text(json.dumps(record))
    with pytest.raises(UnitrlError, match="does not match the sha256"):
        sources.download_sdist("demo", "1.0", tmp_path / "dl2")
    assert not (tmp_path / "dl2" / sdist.name).exists()
    with pytest.raises(UnitrlError, match="could not be fetched"):
        sources.download_sdist("missing", "9.9", tmp_path / "dl3", no_wheel_reason="no matching distribution")


def test_pypi_source_through_the_cli_with_a_local_wheel(tmp_path, monkeypatch):
    wheel = build_wheel(tmp_path, {"demo/core.py": CLAMP})
    calls = []

    def fake_download(name, version, dest):
        calls.append((name, version))
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(wheel, dest / wheel.name))

    monkeypatch.setattr(sources, "download_package", fake_download)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "out.jsonl"
    args = ["mine", "pypi:demo==1.0", "--out", str(out), "--workers", "2", "--inputs", "24"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls == [("demo", "1.0")]
    (task,) = load_tasks(out)
    assert task.meta["path"] == f"{wheel.name}!demo/core.py" and task.meta["licence"] == "MIT"
    assert "sources: pypi:demo==1.0: demo-1.0-py3-none-any.whl (licence MIT)" in result.output
    assert "0 duplicates and 0 benchmark look-alikes dropped" in result.output
    # resuming skips the finished member (its label does not depend on the temporary folder)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and len(load_tasks(out)) == 1
    assert "1 files already" in again.output


def test_corrupt_members_and_truncated_sdists_do_not_end_the_run(tmp_path):
    wheel = build_wheel(tmp_path, {"demo/a.py": CLAMP, "demo/b.py": SCALE})
    data = bytearray(wheel.read_bytes())
    at = data.index(b"def clamp_sum")  # stored uncompressed: flip a byte so the CRC check fails
    data[at] ^= 0xFF
    wheel.write_bytes(bytes(data))
    _, found, report = members(wheel)
    assert list(found) == ["demo/b.py"] and report.skipped["unreadable"] == 1
    sdist = build_sdist(tmp_path, {"demo-1.0/demo/a.py": CLAMP * 50, "demo-1.0/demo/b.py": SCALE})
    sdist.write_bytes(sdist.read_bytes()[:-60])  # cut the gzip stream short
    _, found, report = members(sdist)
    assert report.skipped["unreadable"] == 1
