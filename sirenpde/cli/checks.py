"""Checks the command line makes before any work: argument types, input files, output paths.

A command that fails after an hour of training because its output folder cannot be written has
lost the hour, so every handler calls these first. Each check raises ``ValueError`` naming the
option as spelled on the command line (``--out``, ``--checkpoint``) and the offending value.
Nothing here creates a file or a folder, so a refused command leaves nothing behind.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Optional


def _int_at_least(low: int, wording: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wording}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {wording}, got {text!r}")
        return value

    return parse


positive_int = _int_at_least(1, "a positive integer")  # argparse type: an integer >= 1
nonnegative_int = _int_at_least(0, "an integer >= 0")  # argparse type: an integer >= 0


def input_file(path, flag: str) -> Path:
    """An existing, readable regular file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{flag}: file not found: {str(path)!r}")
    if p.is_dir():
        raise ValueError(f"{flag}: {str(path)!r} is a directory, not a file")
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as err:
        raise ValueError(f"{flag}: cannot read {str(path)!r}: {err.strerror or err}") from None
    return p


def _writable_parent(p: Path, flag: str, shown: str) -> None:
    """The nearest existing ancestor of ``p`` must be a folder this process can write into."""
    parent = p.parent
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{flag}: cannot write {shown!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent if str(parent) else ".", os.W_OK | os.X_OK):
        raise ValueError(f"{flag}: cannot write {shown!r}: the folder {str(parent)!r} is not writable")


def output_file(path, flag: str, suffixes: Optional[tuple] = None) -> Path:
    """A file path that can be (re)written: not a folder, under a writable folder, right suffix."""
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise ValueError(f"{flag} must end in {' or '.join(suffixes)}, got {str(path)!r}")
    if p.is_dir():
        raise ValueError(f"{flag}: {str(path)!r} is a directory; give a file name")
    _writable_parent(p, flag, str(path))
    return p


def output_dir(path, flag: str, files: tuple = ()) -> Path:
    """A folder that can be created or written, with ``files`` inside it not folders themselves."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag}: {str(path)!r} is a file; give a folder")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise ValueError(f"{flag}: the folder {str(path)!r} is not writable")
        for name in files:
            if (p / name).is_dir():
                raise ValueError(f"{flag}: {str(p / name)!r} is a directory; it would be overwritten by a file")
    else:
        _writable_parent(p, flag, str(path))
    return p


def device(text: str, flag: str = "--device"):
    """The torch device ``text`` names, or ``ValueError`` naming ``flag``."""
    from sirenpde.training.state import resolve_device

    try:
        return resolve_device(text)
    except ValueError as err:
        raise ValueError(f"{flag} {text}: {err}") from None


def positive_number(value, flag: str):
    """``value`` (None passes) must be a finite number > 0; the message reads "--lr must be positive"."""
    import math

    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{flag} must be positive and finite, got {value}")
    return value


def resolution(value: int, flag: str = "--resolution") -> int:
    if value < 2:
        raise ValueError(f"{flag} must be >= 2 (grid points per axis), got {value}")
    return value
