"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or an exception while writing leaves either the old file or nothing,
never a half-written file.
"""
from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    """The process's umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def clean_stale(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by writers that died (``kill -9``, power loss).

    A temporary file is named ``.NAME.PID-XXXX.tmpSUFFIX``; one whose PID no longer runs is stale.
    Files of a live process (a concurrent writer) are left alone. Returns the files removed."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    head, tail = f".{path.name}.", ".tmp" + path.suffix
    for old in path.parent.glob(f".{glob.escape(path.name)}.*.tmp{glob.escape(path.suffix)}"):
        middle = old.name[len(head):len(old.name) - len(tail)]
        pid = middle.partition("-")[0]
        if pid.isdigit() and (int(pid) == os.getpid() or process_alive(int(pid))):
            continue
        with contextlib.suppress(FileNotFoundError):  # another writer cleaned it first
            old.unlink()
            removed.append(old)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    Use it for writers that want a file name (h5py, trimesh, matplotlib, torch.save)::

        with atomic_path("out.ply") as tmp:
            mesh.export(tmp, file_type="ply")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file private (0600); give it the mode a plain open() would.
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """Open a temporary file for writing; it replaces ``path`` only if the block succeeds."""
    if not any(m in mode for m in "wx"):
        raise ValueError(f"atomic_open is for writing, got mode {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode.replace("x", "w"), **kwargs) as f:
            yield f
