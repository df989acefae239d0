"""The geometry base class, boundary parts, and the R-functions that compose distances.

Every domain answers the same few questions: is a point inside (a closed set: the boundary
counts), uniform points inside, uniform points on the boundary with outward unit normals, its
bounding box, its measure, and a smooth approximate distance that is zero on the boundary,
positive inside and negative outside (Sukumar & Srivastava 2022). Internally points are drawn in
float64 and handed out as float32.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import Tensor

# A square root whose gradient stays finite where its argument is 0 (corners of R-functions,
# points exactly on a segment): sqrt(max(s, TINY)) moves a zero by at most 1e-15.
TINY = 1e-30
# Interior rejection sampling gives up after this many candidate points without one accepted.
MAX_DRAWS = 4_000_000


class BoundaryPart:
    """The boundary of one geometry object, addressable by a condition.

    ``geometry`` is the owning object (a primitive or a CSG sub-tree); ``name`` is ``"boundary"``
    for its boundary, ``"initial"`` / ``"final"`` for a :class:`TimeDomain`'s ``t = t0`` / ``t = t1``
    slices. Two parts are equal when they name the same object (by identity) and the same piece.
    """

    __slots__ = ("geometry", "name")

    def __init__(self, geometry: "Geometry", name: str = "boundary"):
        self.geometry = geometry
        self.name = name

    def __eq__(self, other) -> bool:
        return (isinstance(other, BoundaryPart) and other.geometry is self.geometry
                and other.name == self.name)

    def __hash__(self) -> int:
        return hash((id(self.geometry), self.name))

    def __repr__(self) -> str:
        return f"{self.geometry!r}.{self.name}"


class Geometry:
    """Abstract base of every domain.

    Subclasses set ``dim`` and implement ``bbox``, ``measure``, ``boundary_measure``,
    ``_inside(x, tol)`` (closed set grown by ``tol``; a negative ``tol`` shrinks it, which gives the
    open set) and ``distance``; leaves also ``_boundary64(n, generator)`` and, when they can do better
    than rejection in the bounding box, ``_interior64``.
    """

    dim: int
    # Relative step (of the bounding-box diagonal) used to decide which side of a leaf's boundary a
    # CSG result lies on; leaves whose surface is only known to float32 (meshes, fitted SDFs) raise it.
    _side_step = 1e-6

    # ---- the questions every domain answers ---------------------------------------------------
    @property
    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    @property
    def measure(self) -> float:
        raise NotImplementedError

    @property
    def boundary_measure(self) -> float:
        raise NotImplementedError

    @property
    def boundary(self) -> BoundaryPart:
        """This geometry's whole boundary, as a part a condition can name."""
        return BoundaryPart(self)

    def inside(self, x: Tensor) -> Tensor:
        """Whether each point of ``x (n, dim)`` lies in the closed domain: ``(n,)`` bool."""
        x = self._check_points(x, "inside")
        return self._inside(x, self._tolerance(x))

    def distance(self, x: Tensor) -> Tensor:
        """Smooth approximate distance ``(n,)``: 0 on the boundary, > 0 inside, < 0 outside."""
        raise NotImplementedError

    def sample_interior(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``n`` points uniformly distributed in the domain: ``(n, dim)`` float32."""
        n = _check_count(n, type(self).__name__)
        return self._interior64(n, generator).float()

    def sample_boundary(self, n: int, generator: Optional[torch.Generator] = None,
                        part: Optional[BoundaryPart] = None) -> tuple[Tensor, Tensor]:
        """``n`` points uniform w.r.t. boundary measure and the outward unit normals there.

        ``part`` restricts the points to one part of the boundary (see :class:`BoundaryPart`);
        a part that is not this domain's boundary raises ``ValueError``.
        Returns ``x (n, dim)`` and ``normal (n, dim)``, float32.
        """
        n = _check_count(n, type(self).__name__)
        if part is not None and part != self.boundary:
            raise ValueError(f"{type(self).__name__}.sample_boundary: part {part!r} does not lie on the "
                             f"boundary of {self!r}")
        x, normal = self._boundary64(n, generator)
        return x.float(), normal.float()

    def over(self, t0: float, t1: float) -> "Geometry":
        """This domain times the time interval ``[t0, t1]`` (time is the last column)."""
        from sirenpde.geometry.time import TimeDomain
        return TimeDomain(self, t0, t1)

    # ---- constructive solid geometry ----------------------------------------------------------
    def __or__(self, other):
        from sirenpde.geometry.csg import Union
        return Union(self, other) if isinstance(other, Geometry) else NotImplemented

    def __and__(self, other):
        from sirenpde.geometry.csg import Intersection
        return Intersection(self, other) if isinstance(other, Geometry) else NotImplemented

    def __sub__(self, other):
        from sirenpde.geometry.csg import Difference
        return Difference(self, other) if isinstance(other, Geometry) else NotImplemented

    # ---- internals ----------------------------------------------------------------------------
    def _inside(self, x: Tensor, tol: float) -> Tensor:
        raise NotImplementedError

    def _boundary64(self, n: int, generator) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _interior64(self, n: int, generator) -> Tensor:
        return rejection_sample(self, n, generator)

    def _leaves(self) -> list["Geometry"]:
        return [self]

    def _nodes(self) -> list["Geometry"]:
        return [self]

    @property
    def _diagonal(self) -> float:
        low, high = self.bbox
        return float(np.linalg.norm(high - low))

    def _tolerance(self, x: Tensor) -> float:
        """How far outside a point may lie and still count as inside: float rounding of the points."""
        low, high = self.bbox
        rel = 1e-6 if x.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-12
        size = max(float(np.abs(low).max()), float(np.abs(high).max()))
        return rel * self._diagonal + 4 * torch.finfo(x.dtype).eps * size

    def _check_points(self, x, where: str) -> Tensor:
        x = torch.as_tensor(x)
        if not x.is_floating_point():
            x = x.double()
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{type(self).__name__}.{where}: x must be (n, {self.dim}), "
                             f"got shape {tuple(x.shape)}")
        return x


def rejection_sample(geometry: Geometry, n: int, generator) -> Tensor:
    """``n`` uniform points of ``geometry`` by rejection in its bounding box: ``(n, dim)`` float64.

    Raises ``ValueError`` when no candidate is accepted in ``MAX_DRAWS`` draws (an empty interior).
    """
    low, high = (torch.as_tensor(v, dtype=torch.float64) for v in geometry.bbox)
    if not bool(torch.all(high > low)):
        raise ValueError(f"{geometry!r}: the domain's interior is empty (its bounding box is empty)")
    kept, count, drawn, rate = [], 0, 0, 0.5
    while count < n:
        m = min(max(int(1.2 * (n - count) / rate) + 64, 1024), 1 << 20)
        x = low + torch.rand(m, geometry.dim, generator=generator, dtype=torch.float64) * (high - low)
        x = x[geometry._inside(x, 0.0)]
        kept.append(x)
        count += len(x)
        drawn += m
        rate = max(count / drawn, 1e-4)
        if count == 0 and drawn >= MAX_DRAWS:
            raise ValueError(f"{geometry!r}: the domain's interior is empty (no point of {drawn} drawn in "
                             "its bounding box was inside)")
    return torch.cat(kept)[:n]


def cached_private(method):
    """Compute ``method(self)`` once and keep it as ``self._cached_<name>``: a private attribute, so
    an object's identity (its public attributes, see :func:`sirenpde.identity.fingerprint`) does not
    depend on whether the value was asked for yet."""
    slot = f"_cached_{method.__name__}"

    def get(self):
        if slot not in self.__dict__:
            self.__dict__[slot] = method(self)
        return self.__dict__[slot]

    get.__name__, get.__doc__ = method.__name__, method.__doc__
    return get


def sqrt_safe(s: Tensor) -> Tensor:
    return torch.sqrt(torch.clamp(s, min=TINY))


def r_and(a: Tensor, b: Tensor) -> Tensor:
    """R0-conjunction (intersection): positive where both are, zero on either's zero set."""
    return a + b - sqrt_safe(a * a + b * b)


def r_or(a: Tensor, b: Tensor) -> Tensor:
    """R0-disjunction (union)."""
    return a + b + sqrt_safe(a * a + b * b)


def as_vector(value, cls: str, arg: str, size: Optional[int] = None) -> np.ndarray:
    """``value`` as a finite float64 vector (of length ``size`` when given), else ``ValueError``."""
    try:
        v = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{cls}: {arg} must be a list of numbers, got {value!r}") from None
    if (size is not None and v.size != size) or v.size == 0 or not np.isfinite(v).all():
        want = f"{size} finite numbers" if size else "finite numbers"
        raise ValueError(f"{cls}: {arg} must be {want}, got {value!r}")
    return v


def as_positive(value, cls: str, arg: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{cls}: {arg} must be a positive number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{cls}: {arg} must be a positive finite number, got {value!r}")
    return v


def _check_count(n, cls: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{cls}: the number of points n must be a non-negative integer, got {n!r}")
    return int(n)


def fmt(v) -> str:
    """A short list of numbers for reprs."""
    return "[" + ", ".join(f"{float(a):g}" for a in np.reshape(v, -1)) + "]"
