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


def command_line(script: str, argv=None) -> str:
    """``python benchmarks/SCRIPT ARGS`` as a results file records it: a path inside the repository
    is written relative to it, one inside the data folder as ``<data>/...``, and one elsewhere (a
    scratch folder) by its file name alone, so no results file names a machine's folders."""
    import sys

    repo = Path(__file__).resolve().parents[1]
    words = []
    for word in (sys.argv[1:] if argv is None else argv):
        flag, eq, value = word.partition("=") if word.startswith("--") and "=" in word else ("", "", word)
        if os.path.isabs(value):
            path = Path(value).resolve()
            shown_value = shown(str(path))
            if shown_value == str(path):
                shown_value = str(path.relative_to(repo)) if path.is_relative_to(repo) else path.name
            value = shown_value
        words.append(flag + eq + value)
    return " ".join([f"python benchmarks/{script}", *words])


def report_head(title: str, script: str, argv, quick: bool) -> list[str]:
    """The first lines of a results file: title, the command, the machine (with the load at the
    end, since other jobs may share the cores) and, for ``--quick``, a warning that the numbers
    are smoke sizes."""
    import platform
    import time

    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [f"# {title}", "",
            f"Command: `{command_line(script, argv)}`  ",
            f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; date {time.strftime('%Y-%m-%d')}; 1-minute load average at "
            f"the end {load:.1f} (other jobs share the cores)  ",
            *(["**--quick: smoke sizes, the numbers are not results.**"] if quick else []), ""]


def add_merge_option(parser) -> None:
    """``--merge RUN.json ...``: a script writes its report from the rows of earlier runs."""
    from pathlib import Path as _Path

    parser.add_argument("--merge", type=_Path, nargs="+", default=None, metavar="RUN.json",
                        help="train nothing: write one report from the .json of earlier runs (run side by side)")


def merged_rows(paths) -> tuple[list, str]:
    """The rows of the runs saved at ``paths`` and the note that says where they came from."""
    import json

    rows = [row for path in paths for row in json.loads(path.read_text())]
    return rows, f"Merged from {', '.join(p.name for p in paths)}, which ran side by side, one thread each."
