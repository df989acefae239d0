"""Grid references as differentiable torch modules (cubic B-splines), for residual checks.

A reference computed on a grid (FDFD fields, wave frames) becomes an ``nn.Module`` mapping points
to values, so the same :class:`~sirenpde.fields.Field` machinery that differentiates a network
differentiates the reference: evaluating a problem's residual on it measures how well the
problem's equation and the grid solver agree. The interpolant is the one
:class:`~sirenpde.problems.helmholtz_reference.FDFDSolution` and
:class:`~sirenpde.problems.wave_reference.WaveSolution` use (scipy's cubic spline, mirror mode),
and it is twice continuously differentiable.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import torch
from scipy.ndimage import spline_filter
from torch import nn


def _bspline_weights(f: torch.Tensor) -> list[torch.Tensor]:
    """Cubic B-spline weights of the nodes i-1, i, i+1, i+2 for the fraction ``f`` in [0, 1)."""
    f2, f3 = f * f, f * f * f
    return [(1 - f) ** 3 / 6, (3 * f3 - 6 * f2 + 4) / 6, (-3 * f3 + 3 * f2 + 3 * f + 1) / 6, f3 / 6]


class SplineField(nn.Module):
    """Tensor-product cubic spline through grid values, evaluated in torch.

    Parameters
    ----------
    values : list of arrays, one per output channel, each shaped like the grid ``(n_0, ..., n_{d-1})``
    origin : (d,) float, coordinate of index 0 along each axis
    spacing : (d,) float, grid spacing along each axis
    dtype : torch dtype of the evaluation (float64 for residual checks)
    """

    def __init__(self, values: Sequence[np.ndarray], origin, spacing, dtype=torch.float64):
        super().__init__()
        arrays = [np.asarray(v, dtype=float) for v in values]
        shape = arrays[0].shape
        if any(a.shape != shape for a in arrays):
            raise ValueError("SplineField: all channels must share one grid shape")
        coef = np.stack([spline_filter(a, order=3, mode="mirror") for a in arrays], axis=-1)
        self.register_buffer("coef", torch.as_tensor(coef, dtype=dtype))
        self.register_buffer("origin", torch.as_tensor(np.asarray(origin, dtype=float), dtype=dtype))
        self.register_buffer("spacing", torch.as_tensor(np.asarray(spacing, dtype=float), dtype=dtype))
        self.shape = shape
        self.in_features = len(shape)
        self.out_features = len(arrays)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.coef.dtype)
        t = (x - self.origin) / self.spacing
        base = torch.floor(t).detach()
        frac = t - base
        base = base.long()
        d = self.in_features
        weights = [_bspline_weights(frac[:, a]) for a in range(d)]
        out = torch.zeros(x.shape[0], self.out_features, dtype=self.coef.dtype, device=x.device)
        for offsets in itertools.product(range(4), repeat=d):
            idx = []
            w = None
            for a, o in enumerate(offsets):
                j = base[:, a] + (o - 1)
                n = self.shape[a] - 1
                j = torch.where(j < 0, -j, j)           # mirror about index 0
                j = torch.where(j > n, 2 * n - j, j)    # mirror about index n
                idx.append(j.clamp(0, n))
                w = weights[a][o] if w is None else w * weights[a][o]
            out = out + w[:, None] * self.coef[tuple(idx)]
        return out


def fdfd_module(solutions, extra=None, dtype=torch.float64) -> SplineField:
    """Module of FDFD fields ``[Re u_0, Im u_0, Re u_1, ...]`` (plus ``extra`` grids) on their grid."""
    x = solutions[0].x
    values = []
    for sol in solutions:
        values += [sol.u.real, sol.u.imag]
    values += list(extra or [])
    return SplineField(values, [x[0], x[0]], [x[1] - x[0]] * 2, dtype)


def wave_module(solution, dtype=torch.float64) -> SplineField:
    """Module of a :class:`~sirenpde.problems.wave_reference.WaveSolution` over ``(t, x[, y])``,
    the same spline as ``solution(points)`` (built on :meth:`WaveSolution.padded`)."""
    d = solution.u.ndim - 1
    dt = solution.times[1] - solution.times[0]
    h = solution.x[1] - solution.x[0]
    padded = solution.padded()
    pt = (padded.shape[0] - solution.u.shape[0])
    px = (padded.shape[1] - solution.u.shape[1]) // 2
    origin = [solution.times[0] - pt * dt] + [solution.x[0] - px * h] * d
    return SplineField([padded], origin, [dt] + [h] * d, dtype)
