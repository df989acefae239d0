"""Space times a time interval: ``TimeDomain(space, t0, t1)``, or ``space.over(t0, t1)``.

Time is the last column of ``x``. The boundary (``td.boundary``, and any spatial part
``piece.boundary``) is the lateral surface ``boundary(space) x [t0, t1]``; the slices ``t = t0`` and
``t = t1`` are the parts ``td.initial`` and ``td.final``.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from sirenpde.geometry.base import BoundaryPart, Geometry, _check_count


class TimeDomain(Geometry):
    """``space x [t0, t1]``, of dimension ``space.dim + 1``."""

    def __init__(self, space: Geometry, t0: float, t1: float):
        if not isinstance(space, Geometry) or isinstance(space, TimeDomain):
            raise ValueError(f"TimeDomain: space must be a spatial Geometry, got {space!r}")
        for arg, v in (("t0", t0), ("t1", t1)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v):
                raise ValueError(f"TimeDomain: {arg} must be a finite number, got {v!r}")
        if not float(t1) > float(t0):
            raise ValueError(f"TimeDomain: t1 must exceed t0, got t0={t0!r}, t1={t1!r}")
        self.space, self.t0, self.t1 = space, float(t0), float(t1)
        self.dim = space.dim + 1
        self._side_step = space._side_step

    def __repr__(self) -> str:
        return f"{self.space!r}.over({self.t0:g}, {self.t1:g})"

    @property
    def initial(self) -> BoundaryPart:
        """The slice ``t = t0``: space interior points, normal ``(0, ..., 0, -1)``."""
        return BoundaryPart(self, "initial")

    @property
    def final(self) -> BoundaryPart:
        """The slice ``t = t1``: space interior points, normal ``(0, ..., 0, 1)``."""
        return BoundaryPart(self, "final")

    @property
    def bbox(self):
        low, high = self.space.bbox
        return np.append(low, self.t0), np.append(high, self.t1)

    @property
    def measure(self) -> float:
        return self.space.measure * (self.t1 - self.t0)

    @property
    def boundary_measure(self) -> float:
        """The lateral measure ``space.boundary_measure * (t1 - t0)``."""
        return self.space.boundary_measure * (self.t1 - self.t0)

    def _inside(self, x: Tensor, tol: float) -> Tensor:
        t = x[:, -1]
        return self.space._inside(x[:, :-1], tol) & (t >= self.t0 - tol) & (t <= self.t1 + tol)

    def space_distance(self, x: Tensor) -> Tensor:
        """The space's distance function of ``x[:, :-1]``: ``(n,)``; zero on the lateral boundary."""
        x = self._check_points(x, "space_distance")
        return self.space.distance(x[:, :-1])

    def distance(self, x: Tensor) -> Tensor:
        """Same as :meth:`space_distance`: ``td.boundary`` is the lateral surface (an initial
        condition is imposed through ``t - t0``, not through this function)."""
        return self.space_distance(x)

    def _times(self, n, generator) -> Tensor:
        return self.t0 + (self.t1 - self.t0) * torch.rand(n, 1, generator=generator, dtype=torch.float64)

    def _interior64(self, n, generator) -> Tensor:
        return torch.cat([self.space._interior64(n, generator), self._times(n, generator)], dim=1)

    def sample_boundary(self, n: int, generator: Optional[torch.Generator] = None,
                        part: Optional[BoundaryPart] = None) -> tuple[Tensor, Tensor]:
        n = _check_count(n, "TimeDomain")
        if part is not None and not isinstance(part, BoundaryPart):
            raise ValueError(f"TimeDomain.sample_boundary: part must be a BoundaryPart, got {part!r}")
        if part is not None and part.geometry is self and part.name in ("initial", "final"):
            x = self.space._interior64(n, generator)
            t = self.t0 if part.name == "initial" else self.t1
            normal = torch.zeros(n, self.dim, dtype=torch.float64)
            normal[:, -1] = -1.0 if part.name == "initial" else 1.0
            return torch.cat([x, torch.full((n, 1), t, dtype=torch.float64)], 1).float(), normal.float()
        if part == self.boundary:
            part = None
        elif part is not None and not any(node is part.geometry for node in self.space._nodes()):
            raise ValueError(f"part {part!r} does not lie on the boundary of {self!r}: it is neither "
                             "td.boundary, td.initial, td.final nor a part of the space "
                             f"{self.space!r}")
        x, normal = self.space.sample_boundary(n, generator, part)
        t = self._times(n, generator).float()
        return torch.cat([x, t], 1), torch.cat([normal, torch.zeros(n, 1)], 1)

    def _boundary64(self, n, generator):
        x, normal = self.sample_boundary(n, generator)
        return x.double(), normal.double()
