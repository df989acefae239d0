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


def shown(value):
    """``value`` as a results file records it: a path inside the data folder becomes ``<data>/...``,
    so tables name no machine's folders; anything else is returned unchanged."""
    root = str(data_dir())
    if isinstance(value, str) and (value == root or value.startswith(root + os.sep)):
        return "<data>" + value[len(root):]
    return value
