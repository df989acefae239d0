"""Matplotlib for files: figures on their own Agg canvas, and PNGs written atomically.

Figures are ``matplotlib.figure.Figure`` objects with a ``FigureCanvasAgg`` attached, never
pyplot's: drawing one neither switches matplotlib's global backend nor registers the figure in
pyplot's list of open figures, so a caller's own plotting set-up is left as it was. Every figure
the package writes goes through :func:`save_figure`, so a crash while drawing leaves no
half-written PNG. matplotlib is imported inside the functions: it costs start-up time and only
the writers need it.
"""
from __future__ import annotations

from pathlib import Path

from sirenpde.io.atomic import atomic_path


def loss_curves(history: dict) -> dict[str, list[float]]:
    """The loss terms of a history (every constraint and ``"total"``), without the other records it
    carries: the balanced weights ``"weight/<name>"`` and the Gauss-Newton damping ``"gn/damping"``."""
    return {name: values for name, values in history.items() if "/" not in name}


def new_figure(figsize=None):
    """An empty ``Figure`` (``figsize`` in inches) drawn by its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
    """``(fig, axes)`` like ``pyplot.subplots``, on a figure from :func:`new_figure`."""
    fig = new_figure(figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path
