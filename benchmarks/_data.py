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


def report_head(title: str, script: str, argv, quick: bool) -> list[str]:
    """The first lines of a results file: title, the command, the machine (with the load at the
    end, since other jobs may share the cores) and, for ``--quick``, a warning that the numbers
    are smoke sizes."""
    import platform
    import sys
    import time

    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cmd = " ".join(argv if argv is not None else sys.argv[1:])
    return [f"# {title}", "",
            f"Command: `python benchmarks/{script} {cmd}`  ",
            f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; date {time.strftime('%Y-%m-%d')}; 1-minute load average at "
            f"the end {load:.1f} (other jobs share the cores)  ",
            *(["**--quick: smoke sizes, the numbers are not results.**"] if quick else []), ""]
