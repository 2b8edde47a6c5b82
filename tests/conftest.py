"""Fixtures shared by several test modules (imported lazily: most tests need no torch)."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest single-threaded, and one thread keeps CPU float sums reproducible.
    Modules that train use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    """A tiny random Qwen2 chat model saved once per test module (load it fresh in each test)."""
    from unitrl.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "chat", chat=True)
