"""Every script in examples/ runs as written, at a tiny size (3 training steps), and reports a finite
error; the 2-D ones write their figure. (Their accuracy at full size is in the examples' READMEs
and benchmarks, not here.)"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
FIGURES = {"poisson_plate_holes", "heat_initial", "neumann_square"}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_listed():
    assert len(SCRIPTS) >= 5 and FIGURES <= set(SCRIPTS), SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs_at_a_tiny_size(name, tmp_path, monkeypatch, one_thread, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # examples import their _common helper
    sys.modules.pop("_common", None)
    module = _load(name)
    out = tmp_path / f"{name}.png"
    error = module.main(["--steps", "3", "--quiet", "--out", str(out)])
    printed = capsys.readouterr().out
    assert math.isfinite(error) and error >= 0, error
    assert f"{error:.3g}" in printed
    if name in FIGURES:
        assert out.is_file() and out.stat().st_size > 10_000
