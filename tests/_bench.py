"""Load a script from benchmarks/ (a folder of scripts, not a package) as a module; the data folder."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """``benchmarks/<name>.py`` as a module, importable siblings as when it runs as a script."""
    if str(BENCH) not in sys.path:  # a script's `from _data import ...` finds its sibling this way
        sys.path.append(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The shared data sets: <repo>/../shared/data unless $SIRENPDE_DATA says otherwise (benchmarks/_data.py).
DATA = load_benchmark("_data").data_dir()
