"""Helpers shared by the Helmholtz and wave problems: velocity maps, PML factors, plotting."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from sirenpde.evaluate import evaluate
from sirenpde.io.plotting import loss_curves, subplots

VELOCITY_KINDS = ("uniform", "square", "disk")

# Inclusions: a fast anomaly (c = 2 in a background c = 1), off the centre so a source at the
# origin sits outside it. Edges are smoothed over ``edge`` so grid references stay second order.
_SQUARE = dict(center=(0.2, 0.0), half_side=0.12, value=2.0)
_DISK = dict(center=(-0.2, 0.1), radius=0.12, value=2.0)


class VelocityMap:
    """A 2D velocity map ``c(x, y)`` usable from numpy (references) and torch (residuals).

    Parameters
    ----------
    spec : "uniform", "square", "disk", a positive float (uniform of that value), or an
        ``(H, W)`` array of velocities on the grid ``linspace(-L, L, H) × linspace(-L, L, W)``
        (``[i, j]`` is ``(x_i, y_j)``), interpolated bilinearly and held constant outside.
    half_width : float, L
    edge : float, smoothing width of the inclusions' edges
    """

    def __init__(self, spec="uniform", half_width: float = 1.0, edge: float = 0.01):
        self.half_width = float(half_width)
        self.edge = float(edge)
        self.array = None
        if isinstance(spec, str):
            if spec not in VELOCITY_KINDS:
                raise ValueError(f"velocity must be one of {', '.join(VELOCITY_KINDS)}, a number or an "
                                 f"(H, W) array; got {spec!r}")
            self.kind = spec
            self.value = 1.0
        elif np.isscalar(spec):
            if not (np.isfinite(spec) and spec > 0):
                raise ValueError(f"velocity must be positive and finite, got {spec!r}")
            self.kind, self.value = "uniform", float(spec)
        else:
            arr = np.asarray(spec, dtype=float)
            if arr.ndim != 2 or min(arr.shape) < 2:
                raise ValueError(f"velocity array must have shape (H, W) with H, W >= 2, got {arr.shape}")
            bad = ~np.isfinite(arr) | (arr <= 0)
            if bad.any():
                i, j = np.argwhere(bad)[0]
                raise ValueError(f"velocity array must be finite and > 0 everywhere; entry [{i}, {j}] "
                                 f"is {arr[i, j]}")
            self.kind, self.array = "array", arr
            self._tarray = torch.as_tensor(arr, dtype=torch.float32)

    @property
    def uniform(self) -> bool:
        return self.kind == "uniform"

    def describe(self):
        return f"array{self.array.shape}" if self.kind == "array" else (
            self.kind if self.value == 1.0 else self.value)

    # The same formulas serve numpy and torch: ``xp`` is the array module.
    def _smooth_box(self, t, lo, hi, xp):
        return 0.25 * (1 + xp.tanh((t - lo) / self.edge)) * (1 - xp.tanh((t - hi) / self.edge))

    def _eval(self, x, y, xp):
        if self.kind == "uniform":
            return self.value + 0 * x
        if self.kind == "square":
            (cx, cy), a, v = _SQUARE["center"], _SQUARE["half_side"], _SQUARE["value"]
            chi = self._smooth_box(x, cx - a, cx + a, xp) * self._smooth_box(y, cy - a, cy + a, xp)
            return 1.0 + (v - 1.0) * chi
        if self.kind == "disk":
            (cx, cy), r0, v = _DISK["center"], _DISK["radius"], _DISK["value"]
            r = xp.sqrt((x - cx) ** 2 + (y - cy) ** 2)
            return 1.0 + (v - 1.0) * 0.5 * (1 - xp.tanh((r - r0) / self.edge))
        return self._bilinear(x, y, xp)

    def _bilinear(self, x, y, xp):
        arr = self.array if xp is np else self._tarray.to(x.device)
        h, w = arr.shape
        L = self.half_width
        fx = xp.clip((x + L) / (2 * L) * (h - 1), 0, h - 1)
        fy = xp.clip((y + L) / (2 * L) * (w - 1), 0, w - 1)
        i0 = xp.clip(xp.floor(fx), 0, h - 2)
        j0 = xp.clip(xp.floor(fy), 0, w - 2)
        tx, ty = fx - i0, fy - j0
        if xp is np:
            i0, j0 = i0.astype(int), j0.astype(int)
        else:
            i0, j0 = i0.long(), j0.long()
        return ((1 - tx) * (1 - ty) * arr[i0, j0] + tx * (1 - ty) * arr[i0 + 1, j0]
                + (1 - tx) * ty * arr[i0, j0 + 1] + tx * ty * arr[i0 + 1, j0 + 1])

    def numpy(self, points) -> np.ndarray:
        """Velocity at ``points`` (n, 2) -> (n,) float64."""
        p = np.asarray(points, dtype=float)
        return np.asarray(self._eval(p[:, 0], p[:, 1], np), dtype=float)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        """Velocity at ``x`` (n, 2) tensor -> (n,) tensor."""
        return self._eval(x[:, 0], x[:, 1], torch)


def stretch_torch(x: torch.Tensor, half_width: float, pml_width: float, strength: float):
    """Torch twin of :func:`helmholtz_reference.pml_stretch`: complex ``s(x)`` and ``ds/dx``."""
    d = torch.clamp(x.abs() - (half_width - pml_width), min=0.0)
    zero = torch.zeros_like(d)
    s = torch.complex(torch.ones_like(d), strength * (d / pml_width) ** 2)
    ds = torch.complex(zero, strength * 2.0 * d / pml_width**2 * torch.sign(x))
    return s, ds


def check_point(name: str, point: Sequence[float], low: float, high: float, dim: int = 2) -> np.ndarray:
    """A point that must lie in ``[low, high]^dim``, with a clear error otherwise."""
    p = np.asarray(point, dtype=float).reshape(-1)
    if p.shape != (dim,) or not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must be {dim} finite numbers, got {point!r}")
    if np.any(p < low) or np.any(p > high):
        raise ValueError(f"{name} {p.tolist()} lies outside the region [{low}, {high}]^{dim}")
    return p


def square_grid(low: float, high: float, n: int) -> tuple[np.ndarray, torch.Tensor]:
    """``n × n`` node grid on ``[low, high]²``: axis (n,) and points (n², 2) float32 (``ij`` order)."""
    axis = np.linspace(low, high, n)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    pts = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32)
    return axis, pts


def model_values(model, points: torch.Tensor) -> np.ndarray:
    """Model output at ``points`` as float64 numpy ``(n, out)`` (chunked, no graph)."""
    return evaluate(model, points, order=0)["value"].astype(np.float64)


def panel_figure(panels, history, suptitle: str = ""):
    """Image panels and a loss-curve panel in one row.

    panels : list of ``(title, array (H, W), extent, cmap, symmetric)``; arrays are indexed ``[i, j]``
        = ``(x_i, y_j)`` and shown with x to the right.
    """
    fig, axes = subplots(1, len(panels) + 1, figsize=(4.2 * (len(panels) + 1), 3.8))
    for ax, (title, arr, extent, cmap, symmetric) in zip(axes, panels):
        arr = np.asarray(arr)
        kw = {}
        if symmetric:
            lim = float(np.max(np.abs(arr))) or 1.0
            kw = dict(vmin=-lim, vmax=lim)
        im = ax.imshow(arr.T, origin="lower", extent=extent, cmap=cmap, **kw)
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_title(title)
    ax = axes[-1]
    history = loss_curves(history or {})
    for name, values in history.items():
        if values and (name != "total" or len(history) > 2):
            ax.semilogy(values, label=name, lw=1)
    ax.set_xlabel("step")
    ax.set_title("loss")
    if history:
        ax.legend()
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
