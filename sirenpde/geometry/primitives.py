"""Axis-aligned boxes (Interval, Rectangle, Cuboid), balls (Disk, Ball) and the Cylinder.

Each has exact measures, direct uniform samplers and a normalised distance: a slab
``(x - a)(b - x) / (b - a)`` per axis joined by R-conjunction for boxes, ``(r^2 - |x - c|^2) / (2r)``
for balls; both have unit gradient on the boundary.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from sirenpde.geometry.base import Geometry, as_positive, as_vector, fmt, r_and


class AxisBox(Geometry):
    """An axis-aligned box ``[low, high]`` in any dimension (the class behind Interval, Rectangle, Cuboid)."""

    _dims: tuple = ()

    def __init__(self, low, high):
        cls = type(self).__name__
        low, high = as_vector(low, cls, "low"), as_vector(high, cls, "high")
        if low.size != high.size:
            raise ValueError(f"{cls}: low and high must have the same length, got low={fmt(low)}, "
                             f"high={fmt(high)}")
        if self._dims and low.size not in self._dims:
            raise ValueError(f"{cls}: low and high must have {self._dims[0]} coordinates, got "
                             f"{low.size} (low={fmt(low)})")
        if not np.all(high > low):
            raise ValueError(f"{cls}: every high must exceed its low, got low={fmt(low)}, high={fmt(high)}")
        self.low, self.high, self.dim = low, high, low.size

    def __repr__(self) -> str:
        return f"{type(self).__name__}({fmt(self.low)}, {fmt(self.high)})"

    @property
    def bbox(self):
        return self.low.copy(), self.high.copy()

    @property
    def measure(self) -> float:
        return float(np.prod(self.high - self.low))

    @property
    def boundary_measure(self) -> float:
        return float(2 * self._face_areas().sum())

    def _face_areas(self) -> np.ndarray:
        extent = self.high - self.low
        return np.array([np.prod(np.delete(extent, i)) for i in range(self.dim)])

    def _inside(self, x: Tensor, tol: float) -> Tensor:
        low, high = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (self.low, self.high))
        return torch.all((x >= low - tol) & (x <= high + tol), dim=1)

    def distance(self, x: Tensor) -> Tensor:
        x = self._check_points(x, "distance")
        low, high = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (self.low, self.high))
        slabs = (x - low) * (high - x) / (high - low)
        phi = slabs[:, 0]
        for i in range(1, self.dim):
            phi = r_and(phi, slabs[:, i])
        return phi

    def _interior64(self, n, generator) -> Tensor:
        low, high = torch.from_numpy(self.low), torch.from_numpy(self.high)
        return low + torch.rand(n, self.dim, generator=generator, dtype=torch.float64) * (high - low)

    def _boundary64(self, n, generator):
        x = self._interior64(n, generator)
        weights = torch.from_numpy(np.tile(self._face_areas(), 2))
        face = torch.multinomial(weights, n, replacement=True, generator=generator) if n else \
            torch.zeros(0, dtype=torch.long)
        side, axis = face // self.dim, face % self.dim
        rows = torch.arange(n)
        low, high = torch.from_numpy(self.low), torch.from_numpy(self.high)
        x[rows, axis] = torch.where(side == 0, low[axis], high[axis])
        normal = torch.zeros(n, self.dim, dtype=torch.float64)
        normal[rows, axis] = torch.where(side == 0, -1.0, 1.0).double()
        return x, normal


class Interval(AxisBox):
    """The interval ``[a, b]``: points are ``(n, 1)``; its boundary is the two end points."""

    _dims = (1,)

    def __init__(self, a: float, b: float):
        for arg, v in (("a", a), ("b", b)):
            if not isinstance(v, (int, float, np.number)) or not math.isfinite(float(v)):
                raise ValueError(f"Interval: {arg} must be a finite number, got {v!r}")
        if not float(b) > float(a):
            raise ValueError(f"Interval: b must exceed a, got a={a!r}, b={b!r}")
        super().__init__([a], [b])

    def __repr__(self) -> str:
        return f"Interval({self.low[0]:g}, {self.high[0]:g})"


class Rectangle(AxisBox):
    """The axis-aligned rectangle with corners ``low (2,)`` and ``high (2,)``."""

    _dims = (2,)


class Cuboid(AxisBox):
    """The axis-aligned box with corners ``low (3,)`` and ``high (3,)``."""

    _dims = (3,)


def unit_ball_volume(d: int) -> float:
    return math.pi ** (d / 2) / math.gamma(d / 2 + 1)


def random_directions(n: int, d: int, generator) -> Tensor:
    v = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-300)


class Sphere(Geometry):
    """A ball ``|x - centre| <= radius`` in ``dim`` dimensions (the class behind Disk and Ball)."""

    _dim = 0

    def __init__(self, centre, radius: float):
        cls = type(self).__name__
        self.centre = as_vector(centre, cls, "centre", self._dim)
        self.radius = as_positive(radius, cls, "radius")
        self.dim = self._dim

    def __repr__(self) -> str:
        return f"{type(self).__name__}({fmt(self.centre)}, {self.radius:g})"

    @property
    def bbox(self):
        return self.centre - self.radius, self.centre + self.radius

    @property
    def measure(self) -> float:
        return unit_ball_volume(self.dim) * self.radius ** self.dim

    @property
    def boundary_measure(self) -> float:
        return self.dim * self.measure / self.radius

    def _offset(self, x: Tensor) -> Tensor:
        return x - torch.as_tensor(self.centre, dtype=x.dtype, device=x.device)

    def _inside(self, x: Tensor, tol: float) -> Tensor:
        return self._offset(x).norm(dim=1) <= self.radius + tol

    def distance(self, x: Tensor) -> Tensor:
        x = self._check_points(x, "distance")
        r = self.radius
        return (r * r - (self._offset(x) ** 2).sum(dim=1)) / (2 * r)

    def _interior64(self, n, generator) -> Tensor:
        u = torch.rand(n, 1, generator=generator, dtype=torch.float64) ** (1.0 / self.dim)
        return torch.from_numpy(self.centre) + self.radius * u * random_directions(n, self.dim, generator)

    def _boundary64(self, n, generator):
        normal = random_directions(n, self.dim, generator)
        return torch.from_numpy(self.centre) + self.radius * normal, normal


class Disk(Sphere):
    """The closed disk with ``centre (2,)`` and ``radius``."""

    _dim = 2


class Ball(Sphere):
    """The closed ball with ``centre (3,)`` and ``radius``."""

    _dim = 3


class Cylinder(Geometry):
    """A solid cylinder along z: the disk ``(centre (2,), radius)`` in x, y times ``[z0, z1]``."""

    dim = 3

    def __init__(self, centre, radius: float, z0: float, z1: float):
        for arg, v in (("z0", z0), ("z1", z1)):
            if not isinstance(v, (int, float, np.number)) or not math.isfinite(float(v)):
                raise ValueError(f"Cylinder: {arg} must be a finite number, got {v!r}")
        if not float(z1) > float(z0):
            raise ValueError(f"Cylinder: z1 must exceed z0, got z0={z0!r}, z1={z1!r}")
        self.disk = Disk(centre, radius)
        self.span = Interval(z0, z1)
        self.centre, self.radius = self.disk.centre, self.disk.radius
        self.z0, self.z1 = float(z0), float(z1)

    def __repr__(self) -> str:
        return f"Cylinder({fmt(self.centre)}, {self.radius:g}, {self.z0:g}, {self.z1:g})"

    @property
    def bbox(self):
        low, high = self.disk.bbox
        return np.append(low, self.z0), np.append(high, self.z1)

    @property
    def measure(self) -> float:
        return self.disk.measure * (self.z1 - self.z0)

    def _areas(self) -> np.ndarray:
        return np.array([self.disk.boundary_measure * (self.z1 - self.z0), self.disk.measure,
                         self.disk.measure])

    @property
    def boundary_measure(self) -> float:
        return float(self._areas().sum())

    def _inside(self, x: Tensor, tol: float) -> Tensor:
        return self.disk._inside(x[:, :2], tol) & self.span._inside(x[:, 2:], tol)

    def distance(self, x: Tensor) -> Tensor:
        x = self._check_points(x, "distance")
        return r_and(self.disk.distance(x[:, :2]), self.span.distance(x[:, 2:]))

    def _interior64(self, n, generator) -> Tensor:
        return torch.cat([self.disk._interior64(n, generator), self.span._interior64(n, generator)], dim=1)

    def _boundary64(self, n, generator):
        which = torch.multinomial(torch.from_numpy(self._areas()), n, replacement=True,
                                  generator=generator) if n else torch.zeros(0, dtype=torch.long)
        x = self._interior64(n, generator)
        normal = torch.zeros(n, 3, dtype=torch.float64)
        side = which == 0
        xy, nxy = self.disk._boundary64(int(side.sum()), generator)
        x[side, :2], normal[side, :2] = xy, nxy
        for k, (z, nz) in enumerate(((self.z0, -1.0), (self.z1, 1.0)), start=1):
            x[which == k, 2], normal[which == k, 2] = z, nz
        return x, normal
