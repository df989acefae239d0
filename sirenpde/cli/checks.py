"""Checks the command line makes before any work: argument types, input files, output paths.

A command that fails after an hour of training because its output folder cannot be written has
lost the hour, so every handler calls these first. Each check raises ``ValueError`` naming the
option as spelled on the command line (``--out``, ``--checkpoint``) and the offending value.
Output folders are created (and locked) when the command starts, output files are proved by a
probe file; a refused or failed command removes what it created, so it leaves nothing behind.
"""
from __future__ import annotations

import argparse
import functools
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


def output_file(path, flag: str, suffixes: Optional[tuple] = None) -> Path:
    """A file path that can be (re)written: right suffix, not a folder, and a probe file can be made
    beside it (``os.access`` alone says yes to ``/proc/x`` as root). Leaves nothing behind."""
    from sirenpde.io.claim import probe_file

    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise ValueError(f"{flag} must end in {' or '.join(suffixes)}, got {str(path)!r}")
    return probe_file(p, flag)


def claims_output(attr: str, flag: str, files: tuple = ()):
    """Decorate a command handler so that it runs holding the output folder ``args.<attr>``: the
    folder is created and locked before anything else (:func:`sirenpde.io.claim.claim_folder`), so a
    folder that cannot be written, or that another run is writing, fails the command at once."""
    def decorate(handler):
        @functools.wraps(handler)
        def run(args):
            from sirenpde.io.claim import claim_folder

            with claim_folder(getattr(args, attr), flag, files):
                return handler(args)
        return run
    return decorate


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
