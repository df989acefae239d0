"""Figures that suit the domain: a PDE's solution drawn where it lives.

:func:`pde_figure` picks the layout from ``problem.domain``:

- 2D: the solution on a grid masked to the domain (``domain.inside``), with boundary samples on
  top; the error against the reference; the loss history;
- 1D + time (a time domain over an interval): a space-time image, x horizontal and t vertical,
  and the error;
- 3D: three axis slices through the centre of the bounding box (masked to the domain), and the
  error;
- 1D: the solution and the reference as curves.

The error is drawn on the reference's own points when the reference is a table (a
:class:`sirenpde.references.Reference`: scattered, PINNacle's nodes) and on the plotting grid when it
is a function. Figures come from :mod:`sirenpde.io.plotting` (Agg, no pyplot state).
"""
from __future__ import annotations

import numpy as np
import torch

from sirenpde.io.plotting import loss_curves, subplots

GRID = 160  # pixels along the longer side of a 2D view
BOUNDARY_POINTS = 600


def pde_figure(problem, model, history: dict, reference=None, grid: int = GRID):
    """A matplotlib figure of ``model`` on ``problem.domain`` (layouts in the module docstring).

    Parameters
    ----------
    problem : has ``domain`` (``dim``, ``bbox``, ``inside``, ``sample_boundary``; a time domain also
        ``space``, ``t0``, ``t1``) and ``out_features``; ``problem.reference`` is used when
        ``reference`` is not given
    model : nn.Module mapping ``(n, dim)`` to ``(n, out_features)``; component 0 is drawn
    history : the loss history (``FitResult.history``); ``weight/<name>`` entries are drawn on a
        second axis
    reference : a :class:`~sirenpde.references.Reference` table, a function ``x -> u``, or None
    grid : pixels along the longer side of each image
    """
    domain = problem.domain
    ref = _usable_reference(problem.reference if reference is None else reference, domain.dim)
    if hasattr(domain, "space") and hasattr(domain, "t0") and domain.dim == 2:
        return _space_time(domain, model, history, ref, grid)
    if domain.dim == 2:
        return _plane(domain, model, history, ref, grid)
    if domain.dim == 3:
        return _slices(domain, model, history, ref, grid)
    if domain.dim == 1:
        return _line(domain, model, history, ref, grid)
    raise ValueError(f"pde_figure: no layout for a {domain.dim}D domain (1D, 2D, 1D + time and 3D are drawn)")


def _usable_reference(ref, dim: int):
    """The reference, or None when there is none (a Problem's default ``reference`` raises
    NotImplementedError)."""
    if ref is None or getattr(ref, "points", None) is not None:
        return ref
    if not callable(ref):
        raise TypeError(f"pde_figure: reference must be a table or a function, got {type(ref).__name__}")
    try:
        ref(torch.zeros(1, dim))
    except NotImplementedError:
        return None
    return ref


def evaluate(fn, x: torch.Tensor) -> np.ndarray:
    """Component 0 of a model or function at ``x (n, d)``, as float64 numpy ``(n,)``."""
    from sirenpde.references import evaluate as evaluate_all

    return evaluate_all(fn, x).reshape(len(x), -1)[:, 0].numpy()


def grid_2d(low, high, grid: int, square_pixels: bool = True):
    """A pixel grid over the rectangle ``[low, high]`` (2,), ``grid`` pixels along the longer side
    (along both without ``square_pixels``): ``(points (ny * nx, 2) float32, (ny, nx))`` with x
    varying fastest (an image's rows are y)."""
    extent = np.asarray(high, float) - np.asarray(low, float)
    scale = extent / extent.max() if square_pixels else np.ones(2)
    nx, ny = (max(2, int(np.round(grid * e))) for e in scale)
    xs, ys = np.linspace(low[0], high[0], nx), np.linspace(low[1], high[1], ny)
    X, Y = np.meshgrid(xs, ys, indexing="xy")
    return torch.from_numpy(np.stack([X.ravel(), Y.ravel()], 1).astype(np.float32)), (ny, nx)


def masked_image(domain, fn, x: torch.Tensor, shape) -> np.ma.MaskedArray:
    """``fn`` at the grid ``x``, NaN and masked outside ``domain``."""
    inside = domain.inside(x).cpu().numpy().astype(bool)
    values = np.full(len(x), np.nan)
    if inside.any():
        values[inside] = evaluate(fn, x[inside])
    return np.ma.masked_invalid(values.reshape(shape))


def _image(fig, ax, img, extent, title, cmap="viridis", aspect="equal"):
    im = ax.imshow(img, origin="lower", extent=extent, cmap=cmap, aspect=aspect, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    return im


def _boundary(ax, domain, columns=(0, 1)):
    out = domain.sample_boundary(BOUNDARY_POINTS, torch.Generator().manual_seed(0))
    xb = (out[0] if isinstance(out, tuple) else out).detach().cpu().numpy()
    ax.scatter(xb[:, columns[0]], xb[:, columns[1]], s=2, c="k", lw=0)


def _table_error(fig, ax, ref, model, columns=(0, 1)):
    """|u - u_ref| scattered on the table's own points; the title gives the relative L2 error."""
    p = ref.points
    err = np.abs(evaluate(model, p) - ref.values[:, 0].numpy())
    sc = ax.scatter(p[:, columns[0]].numpy(), p[:, columns[1]].numpy(), c=err, s=4, cmap="magma", lw=0)
    fig.colorbar(sc, ax=ax, shrink=0.8)
    ax.set_title(f"|error| at {len(p)} reference points, rel. L2 {ref.relative_l2(model):.2e}", fontsize="small")


def _grid_error(fig, ax, domain, ref, model, x, shape, extent, aspect="equal"):
    u = masked_image(domain, model, x, shape)
    v = masked_image(domain, ref, x, shape)
    rms, scale = float(np.sqrt(np.mean((u - v) ** 2))), float(np.sqrt(np.mean(v ** 2)))
    what = f"rel. L2 {rms / scale:.2e}" if scale > 0 else f"RMS {rms:.2e}"  # a slice where u_ref = 0
    _image(fig, ax, np.abs(u - v), extent, f"|error| on the grid, {what}", "magma", aspect)


def history_plot(ax, history: dict) -> None:
    """Every loss term (log scale), and the balanced weights (dashed, right axis) if any."""
    for name, values in loss_curves(history).items():
        if values:
            ax.semilogy(values, lw=1, label=name)
    weights = {k: v for k, v in history.items() if k.startswith("weight/") and v}
    if weights:
        right = ax.twinx()
        for name, values in weights.items():
            right.semilogy(values, lw=1, ls="--", label=name)
        right.set_ylabel("weight")
        right.legend(loc="upper center", fontsize="small")
    ax.set_xlabel("step")
    ax.set_title("loss")
    if ax.lines:
        ax.legend(fontsize="small")


def _panels(n: int, width: float = 4.6, height: float = 4.0):
    fig, axes = subplots(1, n, figsize=(width * n, height))
    return fig, list(np.atleast_1d(axes))


def _plane(domain, model, history, ref, grid):
    low, high = (np.asarray(b, float) for b in domain.bbox)
    x, shape = grid_2d(low, high, grid)
    extent = (low[0], high[0], low[1], high[1])
    fig, axes = _panels(3 if ref is not None else 2)
    _image(fig, axes[0], masked_image(domain, model, x, shape), extent, "solution u")
    _boundary(axes[0], domain)
    if ref is not None:
        if getattr(ref, "points", None) is not None:
            _table_error(fig, axes[1], ref, model)
        else:
            _grid_error(fig, axes[1], domain, ref, model, x, shape, extent)
        _boundary(axes[1], domain)
    history_plot(axes[-1], history)
    fig.tight_layout()
    return fig


def _space_time(domain, model, history, ref, grid):
    low, high = (np.asarray(b, float) for b in domain.bbox)
    x, shape = grid_2d(low, high, grid, square_pixels=False)  # x and t have their own units
    extent = (low[0], high[0], low[1], high[1])
    fig, axes = _panels(3 if ref is not None else 2)
    _image(fig, axes[0], masked_image(domain, model, x, shape), extent, "solution u(x, t)", aspect="auto")
    for ax in axes[:-1]:
        ax.set_xlabel("x")
        ax.set_ylabel("t")
    if ref is not None:
        if getattr(ref, "points", None) is not None:
            _table_error(fig, axes[1], ref, model)
        else:
            _grid_error(fig, axes[1], domain, ref, model, x, shape, extent, aspect="auto")
    history_plot(axes[-1], history)
    fig.tight_layout()
    return fig


def _slices(domain, model, history, ref, grid):
    low, high = (np.asarray(b, float) for b in domain.bbox)
    centre = (low + high) / 2
    rows = 2 if ref is not None and getattr(ref, "points", None) is None else 1
    fig, axes = subplots(rows, 4, figsize=(18, 4.0 * rows))
    axes = np.atleast_2d(axes)
    for k, name in enumerate("xyz"):
        keep = [j for j in range(3) if j != k]
        x2, shape = grid_2d(low[keep], high[keep], grid)
        x = torch.empty(len(x2), 3)
        x[:, keep], x[:, k] = x2, float(centre[k])
        extent = (low[keep[0]], high[keep[0]], low[keep[1]], high[keep[1]])
        _image(fig, axes[0, k], masked_image(domain, model, x, shape), extent, f"u on {name} = {centre[k]:.3g}")
        axes[0, k].set_xlabel("xyz"[keep[0]])
        axes[0, k].set_ylabel("xyz"[keep[1]])
        if rows == 2:
            _grid_error(fig, axes[1, k], domain, ref, model, x, shape, extent)
    if ref is not None and rows == 1:  # a table: the error's distribution over its points
        err = np.abs(evaluate(model, ref.points) - ref.values[:, 0].numpy())
        axes[0, 3].hist(err, bins=40)
        axes[0, 3].set_title(f"|error| at {len(err)} points, rel. L2 {ref.relative_l2(model):.2e}")
    else:
        history_plot(axes[0, 3], history)
    if rows == 2:
        history_plot(axes[1, 3], history)
    fig.tight_layout()
    return fig


def _line(domain, model, history, ref, grid):
    low, high = (float(np.asarray(b).reshape(-1)[0]) for b in domain.bbox)
    x = torch.linspace(low, high, 4 * grid).reshape(-1, 1)
    fig, axes = _panels(2)
    axes[0].plot(x[:, 0].numpy(), evaluate(model, x), label="model")
    if ref is not None:
        if getattr(ref, "points", None) is not None:
            axes[0].plot(ref.points[:, 0].numpy(), ref.values[:, 0].numpy(), ".", ms=2, label="reference")
        else:
            axes[0].plot(x[:, 0].numpy(), evaluate(ref, x), "--", label="reference")
        axes[0].legend()
    axes[0].set_title("solution u")
    history_plot(axes[1], history)
    fig.tight_layout()
    return fig

