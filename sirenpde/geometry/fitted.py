"""A shape this package fitted as a domain: ``FittedShape("shape.pt")`` (from ``sirenpde fit-sdf``).

The network's signed distance ``f`` (input units, negative inside) defines the solid ``f <= 0``
within the network's normalised cube (outside the cube the network was never trained, so nothing
there counts as inside). Boundary points: uniform points of the cube that fall in the shell
``|f| < 0.02`` (normalised units) are moved onto the zero level set by Newton steps
``x <- x - f grad f / |grad f|^2`` and kept with probability ``|grad f| / max |grad f|``, which undoes the
shell's thinning where ``f`` is steeper; for a true distance (``|grad f| = 1``) this is uniform in area
up to ``O((0.02 curvature)^2)``. Normals are ``grad f / |grad f|``; ``measure`` and
``boundary_measure`` are seeded Monte-Carlo estimates (2**16 points of the cube), computed once.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sirenpde.geometry.base import Geometry, cached_private

SHELL = 0.02  # half-width of the sampling shell, in the network's normalised units
NEWTON_STEPS = 5
DRAWS = 1 << 16
_BATCH = 1 << 16


class FittedShape(Geometry):
    """The solid where a fitted SIREN signed distance is <= 0.

    Parameters
    ----------
    source : path of a ``shape.pt`` (:func:`~sirenpde.shapes.model.load_shape_model`) or a
        :class:`~sirenpde.shapes.model.ShapeModel`; a frozen copy is kept, the caller's model is
        left as it is.
    """

    dim = 3
    _side_step = 1e-4  # the zero level set is resolved to ~1e-6 of the scale (float32 network)

    def __init__(self, source):
        from sirenpde.shapes.model import ShapeModel, load_shape_model
        if isinstance(source, ShapeModel):
            model, self.name = source, "<ShapeModel>"
        elif isinstance(source, (str, Path)):
            model, self.name = load_shape_model(source), str(source)
        else:
            raise ValueError(f"FittedShape: source must be a shape.pt path or a ShapeModel, got {source!r}")
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.center = np.asarray(model.normalization.center, dtype=np.float64)
        self.scale = float(model.normalization.scale)
        self._device = next(self.model.parameters()).device

    def __repr__(self) -> str:
        return f"FittedShape({self.name!r})"

    def sdf(self, x: Tensor) -> Tensor:
        """The network's signed distance at ``x (n, 3)`` in input units (negative inside): ``(n,)``,
        differentiable in ``x``."""
        c = torch.as_tensor(self.center, dtype=x.dtype, device=x.device)
        xn = ((x - c) / self.scale).to(device=self._device, dtype=torch.float32)
        return self.model(xn)[:, 0].to(device=x.device, dtype=x.dtype) * self.scale

    def _sdf_nograd(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.cat([self.sdf(xs) for xs in x.split(_BATCH)]) if len(x) else x.new_zeros(0)

    def _sdf_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            f = self.sdf(x)
            (grad,) = torch.autograd.grad(f.sum(), x)
        return f.detach(), grad

    @property
    def bbox(self):
        return self.center - self.scale, self.center + self.scale

    def _in_cube(self, x: Tensor, tol: float) -> Tensor:
        low, high = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in self.bbox)
        return torch.all((x >= low - tol) & (x <= high + tol), dim=1)

    def _inside(self, x: Tensor, tol: float) -> Tensor:
        return self._in_cube(x, tol) & (self._sdf_nograd(x) <= tol)

    def distance(self, x: Tensor) -> Tensor:
        """Minus the network's signed distance: ``(n,)``, positive inside, differentiable."""
        return -self.sdf(self._check_points(x, "distance"))

    def _cube_points(self, m: int, generator) -> Tensor:
        low, high = (torch.from_numpy(v) for v in self.bbox)
        return low + torch.rand(m, 3, generator=generator, dtype=torch.float64) * (high - low)

    @property
    @cached_private
    def measure(self) -> float:
        x = self._cube_points(DRAWS, torch.Generator().manual_seed(0))
        return (2 * self.scale) ** 3 * float((self._sdf_nograd(x) <= 0).double().mean())

    @property
    @cached_private
    def boundary_measure(self) -> float:
        # area = integral of delta(f) |grad f| over the cube, delta(f) ~ 1{|f| < h} / (2h)
        x = self._cube_points(DRAWS, torch.Generator().manual_seed(1))
        h = SHELL * self.scale
        shell = x[self._sdf_nograd(x).abs() < h]
        grad = torch.cat([self._sdf_grad(xs)[1] for xs in shell.split(_BATCH)]) if len(shell) else shell
        return (2 * self.scale) ** 3 * float(grad.norm(dim=1).sum()) / DRAWS / (2 * h)

    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Newton steps onto ``f = 0``: the points, ``f`` and ``grad f`` there."""
        for _ in range(NEWTON_STEPS):
            f, grad = self._sdf_grad(x)
            x = x - (f / (grad * grad).sum(dim=1).clamp_min(1e-12))[:, None] * grad
        f, grad = self._sdf_grad(x)
        return x, f, grad

    def _boundary64(self, n, generator):
        xs, normals, count, drawn, rate = [], [], 0, 0, 0.05
        h, tol = SHELL * self.scale, 1e-5 * self.scale
        while count < n:
            m = min(max(int(1.3 * (n - count) / rate) + 64, 4096), 1 << 18)
            x = self._cube_points(m, generator)
            x = x[self._sdf_nograd(x).abs() < h]
            x, f, grad = self._project(x)
            norm = grad.norm(dim=1)
            ok = (f.abs() < tol) & self._in_cube(x, 0.0) & (norm > 0)
            if bool(ok.any()):
                keep = torch.rand(len(x), generator=generator, dtype=torch.float64) < norm / norm[ok].max()
                ok &= keep
            xs.append(x[ok])
            normals.append(grad[ok] / norm[ok, None])
            count += int(ok.sum())
            drawn += m
            rate = max(count / drawn, 1e-4)
            if count == 0 and drawn >= 1 << 20:
                raise ValueError(f"{self!r}: the fitted shape has no zero level set in its cube (none of "
                                 f"{drawn} points could be projected onto it)")
        return torch.cat(xs)[:n], torch.cat(normals)[:n]
