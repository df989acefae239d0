"""Claiming outputs before any work: create the folder (or prove a file can be made), one writer each.

``os.access`` answers for permissions only: as root it says yes to ``/proc/x``, and it knows nothing of
a full disk or a read-only mount. So a command proves its outputs by making them: before training,
:func:`claim_folder` creates the output folder and takes a lock file in it (``.sirenpde.lock``, holding
the owner's pid and host), and :func:`probe_file` creates and removes a file where an output file
will go. A second command on a folder whose lock belongs to a live process is refused; a lock left by
a process that is gone (``kill -9``) is taken over. Standard library only, so every layer may use it.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from sirenpde.io.atomic import process_alive

LOCK_NAME = ".sirenpde.lock"


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def _make_folders(folder: Path, flag: str, shown: str) -> Optional[Path]:
    """Create ``folder`` and its missing parents; return the topmost folder created (None: all existed)."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag}: {shown!r} is a file; give a folder")
    top = None
    for parent in reversed([folder, *folder.parents]):
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{flag}: cannot create {shown!r}: {str(parent)!r} is a file, not a folder")
            continue
        try:
            parent.mkdir()
        except FileExistsError:
            continue  # made by a concurrent command in the meantime
        except OSError as err:
            if top is not None:
                _remove_empty(top, folder)
            raise ValueError(f"{flag}: cannot create the folder {str(parent)!r} for {shown!r}: "
                             f"{_reason(err)}") from None
        top = parent if top is None else top
    return top


def _remove_empty(top: Path, deepest: Path) -> None:
    """Remove the folders from ``deepest`` up to ``top`` that this command created, while empty."""
    for folder in [deepest, *deepest.parents]:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or gone): leave it and everything above
        if folder == top:
            return


def _lock_owner(lock: Path) -> dict:
    try:
        owner = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _take_lock(folder: Path, flag: str) -> Path:
    lock = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            pid, host = owner.get("pid"), owner.get("host")
            stale = isinstance(pid, int) and host == me["host"] and not process_alive(pid)
            if not stale:
                who = f"process {pid} on {host}" if pid is not None else "another process"
                raise ValueError(f"{flag}: the folder {str(folder)!r} is being written by {who} "
                                 f"(lock file {str(lock)!r}); wait for it to finish or give another {flag}; "
                                 f"remove the lock file only if that run is gone") from None
            with contextlib.suppress(FileNotFoundError):  # another command cleared it first
                lock.unlink()
            continue
        except OSError as err:
            raise ValueError(f"{flag}: cannot write into the folder {str(folder)!r}: {_reason(err)}") from None
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
        except OSError as err:
            with contextlib.suppress(OSError):
                lock.unlink()
            raise ValueError(f"{flag}: cannot write into the folder {str(folder)!r}: {_reason(err)}") from None
        return lock
    raise ValueError(f"{flag}: could not take the lock {str(lock)!r} (other commands keep taking it)")


def _is_writer_rank() -> bool:
    # under torchrun rank 0 writes every output (sirenpde.training.distributed); the group is not
    # joined yet when outputs are claimed, so the launcher's environment is what tells
    return os.environ.get("RANK", "0") == "0"


@contextlib.contextmanager
def claim_folder(path, flag: str = "--out", files: tuple = ()) -> Iterator[Path]:
    """Create the output folder ``path`` now and hold its lock until the block ends.

    Raises ``ValueError`` naming ``flag`` when the folder cannot be created or written (a file in the
    way, no permission, a read-only or pseudo file system), when one of ``files`` is a folder there,
    or when a live process holds the lock. If the block fails and the folder was created here and is
    still empty, it is removed again, so a refused or failed command leaves nothing behind. Under
    ``torchrun`` only rank 0 claims (the other ranks write nothing)."""
    folder = Path(path)
    if not _is_writer_rank():
        yield folder
        return
    created = _make_folders(folder, flag, str(path))
    try:
        for name in files:
            if (folder / name).is_dir():
                raise ValueError(f"{flag}: {str(folder / name)!r} is a directory; it would be overwritten by a file")
        lock = _take_lock(folder, flag)
    except BaseException:
        if created is not None:
            _remove_empty(created, folder)
        raise
    try:
        yield folder
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        if created is not None:
            _remove_empty(created, folder)  # only if nothing was written (a failed run)


def probe_file(path, flag: str) -> Path:
    """Prove that the file ``path`` can be written: create a temporary file beside it and remove it
    (and any folders made for it). ``ValueError`` naming ``flag`` if that fails."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag}: {str(path)!r} is a directory; give a file name")
    created = _make_folders(p.parent, flag, str(path)) if str(p.parent) not in ("", ".") else None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.probe-", dir=p.parent if str(p.parent) else ".")
    except OSError as err:
        if created is not None:
            _remove_empty(created, p.parent)
        raise ValueError(f"{flag}: cannot write {str(path)!r}: {_reason(err)}") from None
    os.close(fd)
    os.unlink(tmp)
    if created is not None:
        _remove_empty(created, p.parent)
    return p
