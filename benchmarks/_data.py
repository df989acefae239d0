"""Where the shared data sets live: ``<repo>/../shared/data``, or ``$SIRENPDE_DATA`` when set.

The one place that knows this, for the benchmark scripts and (through ``tests/_bench.py``) the tests.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "SIRENPDE_DATA"


def data_dir() -> Path:
    """The shared data folder (the bunny, fandisk...); it may not exist on a fresh checkout."""
    override = os.environ.get(ENV)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"
