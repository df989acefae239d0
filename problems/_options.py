"""Checks of problem options, made when a problem is built so a bad value fails before any work.

Values reach a problem from Python or from the command line (``-O size=abc`` arrives as the string
``'abc'``), so each check names the problem, the option and the value as given.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional


# Grids a problem evaluates at once: metric and plotting grids (points per axis) and reference
# solvers (intervals per axis). Finer ones are never needed, and a value read from a file must not
# be able to ask for an allocation of terabytes.
METRIC_N_MAX = 1024
REFERENCE_N_MAX = 2048


def integer(owner: str, name: str, value, minimum: int, maximum: Optional[int] = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; a bool, a string or a fractional float is refused.

    Raises ``ValueError("owner: name must be an integer >= minimum, got value")`` (with the upper
    bound named when there is one)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and math.isfinite(value) and value == int(value):
        ok = True  # 64.0 from a JSON-ish source means 64
    if not ok or int(value) < minimum or (maximum is not None and int(value) > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{owner}: {name} must be an integer {bound}, got {value!r}")
    return int(value)


def number(owner: str, name: str, value, minimum: float = -math.inf, strict: bool = False) -> float:
    """``value`` as a finite float ``>= minimum`` (``> minimum`` when ``strict``)."""
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
    if not bad:
        bad = value <= minimum if strict else value < minimum
    if bad:
        bound = "" if minimum == -math.inf else f" {'>' if strict else '>='} {minimum:g}"
        raise ValueError(f"{owner}: {name} must be a finite number{bound}, got {value!r}")
    return float(value)


def size_pair(owner: str, value, name: str = "size", minimum: int = 2) -> tuple[int, int]:
    """An image size: one integer ``>= minimum`` or a pair ``(H, W)`` of them."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{owner}: {name} must be an integer >= {minimum} or a pair [H, W], got {value!r}")
        return integer(owner, f"{name}[0]", value[0], minimum), integer(owner, f"{name}[1]", value[1], minimum)
    side = integer(owner, name, value, minimum)
    return side, side
