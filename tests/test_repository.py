"""The repository names no machine's folders: results files record commands relative to it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOME_LIKE = re.compile(r"(?<![\w.~])/(work|home|root|Users)/")
SCRATCH = re.compile(r"(?<![\w.~])/tmp/")


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_absolute_machine_path_in_tracked_files():
    bad = []
    for path in _tracked_files():
        if path.suffix.lower() in (".png", ".pt", ".npy", ".h5") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            # a scratch folder in code or a test is a choice of that code; in a results file or a
            # document it is a machine's folder
            if HOME_LIKE.search(line) or (path.suffix != ".py" and SCRATCH.search(line)):
                bad.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not bad, "\n".join(bad[:20])


def test_benchmark_commands_are_written_relative_to_the_repository(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    sys.modules.pop("_data", None)
    import _data

    monkeypatch.setenv(_data.ENV, str(ROOT / "some-data"))
    line = _data.command_line("sdf.py", ["--threads", "1", "--out", str(ROOT / "benchmarks/results/x.md"),
                                         "--json=/scratch/exp/x.json", str(ROOT / "some-data" / "bunny.xyz")])
    assert line == ("python benchmarks/sdf.py --threads 1 --out benchmarks/results/x.md --json=x.json "
                    "<data>/bunny.xyz")
