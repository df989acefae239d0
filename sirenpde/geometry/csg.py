"""Constructive solid geometry: ``a | b``, ``a & b``, ``a - b`` of geometries of one dimension.

A CSG node keeps its two children, so every boundary point knows the primitive (leaf) it came
from and a condition can name any sub-tree's boundary as a part. Boundary points are drawn from
the leaves in proportion to their boundary measure and kept when they lie on the result's
boundary: the domain holds the point on one side of the leaf's surface and not on the other,
tested a step ``eps`` (``1e-6`` of the bounding-box diagonal) along the leaf's normal. Interiors
are drawn by rejection in the bounding box; ``measure`` and ``boundary_measure`` are seeded
Monte-Carlo estimates (relative standard error about ``sqrt((1 - p) / (p N))`` with ``N = 2**18``
and ``2**16`` candidates), computed once. The distance composes the children's by R-functions.

Two leaves whose surfaces coincide on the result's boundary (a face shared by ``a`` and ``b`` of
``a - b`` with ``b`` outside) are both sampled there, so that piece counts twice.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor

from sirenpde.geometry.base import (BoundaryPart, Geometry, _check_count, cached_private, r_and,
                                    r_or, rejection_sample)

# Candidates for the Monte-Carlo measures, and the draws after which a boundary with no point on
# it is declared empty.
MEASURE_DRAWS = 1 << 18
BOUNDARY_DRAWS = 1 << 16
EMPTY_AFTER = 200_000


class CSG(Geometry):
    """A binary CSG node (abstract); build one with ``|``, ``&`` or ``-``."""

    symbol = "?"

    def __init__(self, a: Geometry, b: Geometry):
        from sirenpde.geometry.time import TimeDomain
        cls = type(self).__name__
        for arg, g in (("a", a), ("b", b)):
            if not isinstance(g, Geometry):
                raise ValueError(f"{cls}: {arg} must be a Geometry, got {g!r}")
            if isinstance(g, TimeDomain):
                raise ValueError(f"{cls}: {arg} is a TimeDomain ({g!r}); combine the spatial domains, "
                                 "then take the result .over(t0, t1)")
        if a.dim != b.dim:
            raise ValueError(f"{cls}: cannot combine {a!r} ({a.dim}D) with {b!r} ({b.dim}D): mixed "
                             "dimensions; both must have the same dimension")
        self.a, self.b, self.dim = a, b, a.dim

    def __repr__(self) -> str:
        return f"({self.a!r} {self.symbol} {self.b!r})"

    def _leaves(self) -> list[Geometry]:
        seen, out = set(), []
        for leaf in self.a._leaves() + self.b._leaves():
            if id(leaf) not in seen:
                seen.add(id(leaf))
                out.append(leaf)
        return out

    def _nodes(self) -> list[Geometry]:
        return [self] + self.a._nodes() + self.b._nodes()

    @property
    def _side_step(self) -> float:
        return max(leaf._side_step for leaf in self._leaves())

    @property
    @cached_private
    def measure(self) -> float:
        low, high = (torch.from_numpy(v) for v in self.bbox)
        if not bool(torch.all(high > low)):
            return 0.0
        g = torch.Generator().manual_seed(0)
        hits = 0
        for m in _chunks(MEASURE_DRAWS):
            x = low + torch.rand(m, self.dim, generator=g, dtype=torch.float64) * (high - low)
            hits += int(self._inside(x, 0.0).sum())
        return float(torch.prod(high - low)) * hits / MEASURE_DRAWS

    @property
    @cached_private
    def boundary_measure(self) -> float:
        leaves = self._leaves()
        weights = np.array([leaf.boundary_measure for leaf in leaves])
        g = torch.Generator().manual_seed(1)
        kept = 0
        for m in _chunks(BOUNDARY_DRAWS):
            x, normal, _ = _draw_leaves(leaves, weights, m, g)
            kept += int(_on_boundary(self, x, normal)[0].sum())
        return float(weights.sum()) * kept / BOUNDARY_DRAWS

    def _interior64(self, n, generator) -> Tensor:
        return rejection_sample(self, n, generator)

    def sample_boundary(self, n: int, generator: Optional[torch.Generator] = None,
                        part: Optional[BoundaryPart] = None) -> tuple[Tensor, Tensor]:
        n = _check_count(n, type(self).__name__)
        x, normal = sample_on_boundary(self, n, generator, part)
        return x.float(), normal.float()

    def _boundary64(self, n, generator):
        return sample_on_boundary(self, n, generator, None)

    def distance(self, x: Tensor) -> Tensor:
        x = self._check_points(x, "distance")
        return self._compose(self.a.distance(x), self.b.distance(x))

    def _compose(self, da: Tensor, db: Tensor) -> Tensor:
        raise NotImplementedError


class Union(CSG):
    """Points in ``a`` or ``b``."""

    symbol = "|"

    @property
    def bbox(self):
        (la, ha), (lb, hb) = self.a.bbox, self.b.bbox
        return np.minimum(la, lb), np.maximum(ha, hb)

    def _inside(self, x, tol):
        return self.a._inside(x, tol) | self.b._inside(x, tol)

    def _compose(self, da, db):
        return r_or(da, db)


class Intersection(CSG):
    """Points in both ``a`` and ``b``."""

    symbol = "&"

    @property
    def bbox(self):
        (la, ha), (lb, hb) = self.a.bbox, self.b.bbox
        return np.maximum(la, lb), np.minimum(ha, hb)

    def _inside(self, x, tol):
        return self.a._inside(x, tol) & self.b._inside(x, tol)

    def _compose(self, da, db):
        return r_and(da, db)


class Difference(CSG):
    """Points in ``a`` and not strictly inside ``b`` (the result is closed)."""

    symbol = "-"

    @property
    def bbox(self):
        return self.a.bbox

    def _inside(self, x, tol):
        return self.a._inside(x, tol) & ~self.b._inside(x, -tol)

    def _compose(self, da, db):
        return r_and(da, -db)


def part_leaves(domain: Geometry, part: Optional[BoundaryPart]) -> list[Geometry]:
    """The leaves whose boundary points may belong to ``part`` of ``domain`` (all of them for ``None``)."""
    if part is None:
        return domain._leaves()
    if not isinstance(part, BoundaryPart):
        raise ValueError(f"{type(domain).__name__}.sample_boundary: part must be a BoundaryPart such as "
                         f"disk.boundary, got {part!r}")
    if part.name != "boundary" or not any(node is part.geometry for node in domain._nodes()):
        raise ValueError(f"part {part!r} does not lie on the boundary of {domain!r}: it is not a piece "
                         "of that domain")
    return part.geometry._leaves()


def sample_on_boundary(domain: Geometry, n: int, generator, part: Optional[BoundaryPart]):
    """``n`` points of ``domain``'s boundary drawn from the leaves of ``part``, with the domain's
    outward normals: ``(n, dim)`` float64 each. Raises ``ValueError`` when none can be found."""
    leaves = part_leaves(domain, part)
    weights = np.array([leaf.boundary_measure for leaf in leaves])
    xs, normals, count, drawn, rate = [], [], 0, 0, 1.0
    while count < n:
        m = min(max(int(1.3 * (n - count) / rate) + 64, 1024), 1 << 20)
        x, normal, _ = _draw_leaves(leaves, weights, m, generator)
        keep, normal = _on_boundary(domain, x, normal)
        xs.append(x[keep])
        normals.append(normal[keep])
        count += int(keep.sum())
        drawn += m
        rate = max(count / drawn, 1e-4)
        if count == 0 and drawn >= EMPTY_AFTER:
            if part is None:
                raise ValueError(f"{domain!r}: the domain's boundary is empty (none of {drawn} points "
                                 "drawn on its primitives' boundaries lies on it)")
            raise ValueError(f"part {part!r} does not lie on the boundary of {domain!r} (none of {drawn} "
                             "points drawn on it does)")
    if n == 0:
        empty = torch.zeros(0, domain.dim, dtype=torch.float64)
        return empty, empty.clone()
    x, normal = torch.cat(xs), torch.cat(normals)
    # the candidates come grouped by leaf; a random subset keeps every leaf's share
    pick = torch.randperm(len(x), generator=generator)[:n]
    return x[pick], normal[pick]


def _draw_leaves(leaves, weights: np.ndarray, m: int, generator):
    """``m`` points on the leaves' boundaries, each leaf by its share of ``weights``."""
    which = torch.multinomial(torch.from_numpy(weights), m, replacement=True, generator=generator)
    counts = torch.bincount(which, minlength=len(leaves)).tolist()
    xs, normals, ids = [], [], []
    for i, (leaf, k) in enumerate(zip(leaves, counts)):
        if k:
            x, normal = leaf._boundary64(k, generator)
            xs.append(x.double())
            normals.append(normal.double())
            ids.append(torch.full((k,), i))
    return torch.cat(xs), torch.cat(normals), torch.cat(ids)


def _on_boundary(domain: Geometry, x: Tensor, normal: Tensor) -> tuple[Tensor, Tensor]:
    """Which leaf points lie on ``domain``'s boundary, and the domain's outward normal there."""
    eps = domain._side_step * domain._diagonal
    behind = domain._inside(x - eps * normal, 0.0)
    ahead = domain._inside(x + eps * normal, 0.0)
    return behind != ahead, torch.where(behind[:, None], normal, -normal)


def _chunks(total: int, size: int = 1 << 16):
    for lo in range(0, total, size):
        yield min(size, total - lo)
