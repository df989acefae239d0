"""The shared data folder is found relative to the repository, or from $SIRENPDE_DATA."""
from __future__ import annotations

from pathlib import Path

from _bench import load_benchmark

REPO = Path(__file__).resolve().parents[1]


def test_data_dir_default_and_override(monkeypatch, tmp_path):
    data = load_benchmark("_data")
    monkeypatch.delenv(data.ENV, raising=False)
    assert data.data_dir() == REPO.parent / "shared" / "data"
    monkeypatch.setenv(data.ENV, str(tmp_path))
    assert data.data_dir() == tmp_path
    assert data.shown(str(tmp_path / "bunny.obj")) == "<data>/bunny.obj"
    assert data.shown(str(tmp_path) + "-other/x") == str(tmp_path) + "-other/x"  # a sibling is not inside
    assert data.shown(3) == 3
