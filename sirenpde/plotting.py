"""Matplotlib for files: the headless backend, and PNGs written atomically.

Every figure the package writes goes through :func:`save_figure`, so a crash while drawing
leaves no half-written PNG and the figure's memory is released.
"""
from __future__ import annotations

from pathlib import Path

from sirenpde.atomic import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only; works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically, then close it; returns the path."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        pyplot().close(fig)
    return path
