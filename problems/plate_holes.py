"""``plate-holes``: Laplace's equation on a square plate with four circular holes, the hole radius
an option, so ``plate-family`` can vary the domain itself.

    Δu = 0 on [-0.5, 0.5]² minus four disks of radius r at (±0.3, ±0.3),
    u = 1 on the square's edges, u = 0 on the circles

At r = 0.1 this is PINNacle's Poisson 2d-C. The radius may vary in [0.05, 0.15] (the holes then stay
0.05 or more from the edges and from each other).

Reference: :func:`laplace_fd`, a finite-difference solve written here (Shortley-Weller: the 5-point
stencil with the arms that cross a circle shortened to the crossing, so the curved boundary is met
to second order), on a grid of ``reference_n`` intervals per axis. It is scored at its own nodes, so
no interpolation enters the error. Checked in tests on a harmonic function with exact boundary
values (second order) and at r = 0.1 against PINNacle's finite-element solution.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sirenpde.pde import PDE
from sirenpde.problems._options import integer, number

HALF = 0.5  # the plate is [-HALF, HALF]²
CENTRES = ((0.3, 0.3), (-0.3, 0.3), (0.3, -0.3), (-0.3, -0.3))
REFERENCE_N_MAX = 1600  # a (1601²)-node sparse solve takes about a minute; finer is never needed
METRIC_STRIDE = 4  # every 4th reference node per axis is a metric point


def _crossing(p: np.ndarray, step: np.ndarray, holes, h: float) -> np.ndarray:
    """Fraction t in (0, 1] of the way from nodes ``p (n, 2)`` along ``step * h`` at which the arm
    first meets a hole's circle (1 where it meets none before the neighbour node)."""
    t = np.ones(len(p))
    for cx, cy, r in holes:
        d = p - np.array([cx, cy])
        # |d + s e| = r with e the unit step: s² + 2 (d.e) s + |d|² - r² = 0, smallest positive root
        b = d @ step
        c = (d * d).sum(1) - r * r
        disc = b * b - c
        ok = disc >= 0
        s = np.where(ok, -b - np.sqrt(np.where(ok, disc, 0.0)), np.inf)
        s = np.where(s > 1e-14 * h, s, np.inf)
        t = np.minimum(t, np.where(s / h <= 1.0, s / h, 1.0))
    return t


def laplace_fd(holes, n: int, boundary, source=None, half: float = HALF):
    """Solve ``-Δu = source`` on ``[-half, half]²`` minus the disks ``holes = [(cx, cy, r), ...]`` with
    ``u = boundary(points (k, 2))`` on the square's edges and on the circles.

    Shortley-Weller finite differences on ``n`` intervals per axis; a node on or inside a circle is
    not an unknown. Returns the axis ``(n + 1,)`` and ``u (n + 1, n + 1)`` indexed ``[i_x, i_y]``, NaN
    inside the holes (boundary values on the edges)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    h = 2 * half / n
    axis = np.linspace(-half, half, n + 1)
    X, Y = np.meshgrid(axis, axis, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    solid = np.zeros(len(pts), dtype=bool)
    for cx, cy, r in holes:
        solid |= (pts[:, 0] - cx) ** 2 + (pts[:, 1] - cy) ** 2 <= r * r
    edge = (np.abs(pts) >= half - 1e-12).any(1)
    unknown = ~solid & ~edge
    index = -np.ones(len(pts), dtype=np.int64)
    index[unknown] = np.arange(unknown.sum())
    p = pts[unknown]
    rows, cols, vals = [], [], []
    rhs = np.zeros(len(p)) if source is None else np.asarray(source(p), dtype=float).copy()
    diag = np.zeros(len(p))
    me = np.arange(len(p))
    ij = np.stack(np.unravel_index(np.flatnonzero(unknown), X.shape), 1)
    for axis_k in (0, 1):
        arms = {}
        for sign in (-1, 1):
            step = np.zeros(2)
            step[axis_k] = sign
            t = _crossing(p, step, holes, h)
            nb = ij.copy()
            nb[:, axis_k] += sign
            nb_flat = np.ravel_multi_index((nb[:, 0], nb[:, 1]), X.shape)
            arms[sign] = (t, nb_flat, step)
        hm, hp = arms[-1][0] * h, arms[1][0] * h
        for sign, own, other in ((-1, hm, hp), (1, hp, hm)):
            t, nb_flat, step = arms[sign]
            coef = 2.0 / (own * (own + other))  # weight of that arm's value in -Δu
            diag += coef
            cut = t < 1.0
            inner = ~cut & unknown[nb_flat]
            rows.append(me[inner])
            cols.append(index[nb_flat[inner]])
            vals.append(-coef[inner])
            known = ~inner  # a shortened arm ends on a circle; a full one on an edge node
            at = p[known] + (t[known] * h)[:, None] * step
            rhs[known] += coef[known] * np.asarray(boundary(at), dtype=float)
    rows.append(me)
    cols.append(me)
    vals.append(diag)
    A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(len(p), len(p))).tocsr()
    u = np.full(len(pts), np.nan)
    u[unknown] = spsolve(A, rhs)
    u[edge & ~solid] = np.asarray(boundary(pts[edge & ~solid]), dtype=float)
    return axis, u.reshape(X.shape)


class PlateHoles(PDE):
    """Laplace on the plate with four holes of radius ``radius`` (module docstring).

    Parameters
    ----------
    radius : float in [0.01, 0.19], the holes' radius (PINNacle's 0.1 by default)
    reference_n : int, intervals per axis of the finite-difference reference (h = 1 / reference_n)
    bc_weight : float, the conditions' weight, the floor under which loss balancing never lowers them
        (with 1 a family's fit settled on u = 0, which satisfies the equation and the holes, and
        balancing drove the edges' weight down; single fits lift it to ~1e4 themselves)

    Defaults are :class:`~sirenpde.pde.PDE`'s (3x64 Siren, Adam 2000 steps of 2048 points, gradnorm
    balancing).
    """

    name = "plate-holes"
    in_features, out_features = 2, 1
    parameter_ranges = {"radius": (0.05, 0.15)}

    def __init__(self, radius: float = 0.1, reference_n: int = 400, bc_weight: float = 100.0):
        from sirenpde.conditions import Dirichlet
        from sirenpde.geometry import Disk, Rectangle

        radius = number("plate-holes", "radius", radius, 0.0, strict=True)
        if not radius <= 0.19:  # the holes must not touch the edges (0.2 away) or each other
            raise ValueError(f"plate-holes: radius must be in (0, 0.19], got {radius!r}")
        self.radius = radius
        self.reference_n = integer("plate-holes", "reference_n", reference_n, 16, REFERENCE_N_MAX)
        self.bc_weight = number("plate-holes", "bc_weight", bc_weight, 0.0, strict=True)
        square = Rectangle([-HALF, -HALF], [HALF, HALF])
        holes = Disk(list(CENTRES[0]), radius)
        for c in CENTRES[1:]:
            holes = holes | Disk(list(c), radius)
        super().__init__(square - holes, _laplacian, name="plate-holes", order=2, second="laplacian",
                         conditions=[Dirichlet(square.boundary, 1.0, name="edges", weight=self.bc_weight),
                                     Dirichlet(holes.boundary, 0.0, name="holes", weight=self.bc_weight)])
        self._fd = None

    @property
    def holes(self) -> list[tuple[float, float, float]]:
        return [(cx, cy, self.radius) for cx, cy in CENTRES]

    def reference_grid(self):
        """The finite-difference solution: axis ``(N + 1,)`` and ``u (N + 1, N + 1)`` (NaN in the holes)."""
        if self._fd is None:
            edges = lambda q: np.where((np.abs(q) >= HALF - 1e-12).any(1), 1.0, 0.0)  # noqa: E731
            self._fd = laplace_fd(self.holes, self.reference_n, edges)
        return self._fd

    def reference(self, x: Tensor) -> Tensor:
        """The reference interpolated (bilinearly) at ``x (n, 2)``; NaN where a cell touches a hole."""
        from scipy.interpolate import RegularGridInterpolator

        axis, u = self.reference_grid()
        interp = RegularGridInterpolator((axis, axis), u, bounds_error=False, fill_value=np.nan)
        return torch.as_tensor(interp(x.detach().cpu().double().numpy())[:, None], dtype=x.dtype)

    def metric_points_tensor(self) -> Tensor:
        """Every ``METRIC_STRIDE``-th reference node per axis that lies in the plate (float64)."""
        axis, u = self.reference_grid()
        sub = u[::METRIC_STRIDE, ::METRIC_STRIDE]
        X, Y = np.meshgrid(axis[::METRIC_STRIDE], axis[::METRIC_STRIDE], indexing="ij")
        keep = np.isfinite(sub)
        return torch.as_tensor(np.stack([X[keep], Y[keep]], 1))

    def metrics(self, model) -> dict[str, float]:
        """``rel_l2`` and ``max_abs`` at the metric nodes against the finite-difference values there."""
        axis, u = self.reference_grid()
        sub = u[::METRIC_STRIDE, ::METRIC_STRIDE]
        ref = sub[np.isfinite(sub)]
        pred = self.solution(model, self.metric_points_tensor())[:, 0].numpy()
        err = pred - ref
        return {"rel_l2": float(np.linalg.norm(err) / np.linalg.norm(ref)), "max_abs": float(np.abs(err).max())}


def _laplacian(u):
    return u.laplacian
