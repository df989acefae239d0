"""``poisson-family``: -Δu = f on [-1, 1]², u = 0 on the boundary, f a Gaussian bump.

    f(x) = exp(-|x - c|² / (2 s²)) / (2π s²),   c in [-0.5, 0.5]²,   s in [0.1, 0.25]

(unit mass, so u is O(0.1) for every member). The parameter vector is ``p = (cx, cy, s)``.

Reference: the sine series of the Dirichlet problem, u = Σ a_kl φ_k(x) φ_l(y) with
φ_k(t) = sin(kπ(t + 1)/2) and a_kl = b_k(cx) b_l(cy) / ((π/2)² (k² + l²)), where f is the product
of two 1-D Gaussians and b_k are their sine coefficients on [-1, 1], computed by Gauss-Legendre
quadrature. This is the series a DST solve on a grid approximates, but with exact coefficients
and summed at the points themselves, so there is no grid to interpolate. With ``MODES = 256``
terms per axis u changes by under 1e-6 relative to 1024 terms (measured at c = (0.5, 0.5),
s = 0.25, the member whose bump reaches the boundary most).
"""
from __future__ import annotations

import math
import numbers
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from sirenpde.hyper.family import Family
from sirenpde.problem import Box, Constraint, Problem
from sirenpde.problems._options import METRIC_N_MAX, integer, number

MODES = 256
REFERENCE_BLOCK = 16384  # points per block of the reference's sine tables
QUADRATURE_NODES = 1024  # resolves sin(kπ(t+1)/2) up to k = MODES (128 periods) many times over
BOX = Box([-1.0, -1.0], [1.0, 1.0])


def source(x: Tensor, centre: Tensor, width: Tensor) -> Tensor:
    """f at ``x (..., n, 2)`` for ``centre (..., 1, 2)`` and ``width (..., 1, 1)``: ``(..., n, 1)``."""
    r2 = (x - centre).square().sum(dim=-1, keepdim=True)
    return torch.exp(-r2 / (2 * width**2)) / (2 * math.pi * width**2)


def pde_residual(u, p: Tensor) -> Tensor:
    """``2π s² (Δu + f)``, scaled so that the source peaks at 1 for every width; ``p (..., 1, 3)``."""
    centre, width = p[..., :2], p[..., 2:3]
    return 2 * math.pi * width**2 * (u.laplacian + source(u.x.detach(), centre, width).to(u.value.dtype))


@lru_cache(maxsize=1)
def _nodes() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(QUADRATURE_NODES)


def _sine_coefficients(centre: float, width: float) -> np.ndarray:
    """b_k = ∫ g(t) φ_k(t) dt over [-1, 1] for the 1-D Gaussian g of the bump, k = 1..MODES."""
    t, w = _nodes()
    g = np.exp(-(t - centre) ** 2 / (2 * width**2)) / math.sqrt(2 * math.pi * width**2)
    k = np.arange(1, MODES + 1)
    return (w * g) @ np.sin(np.outer(t + 1.0, k) * (math.pi / 2))


def reference_solution(points: np.ndarray, p) -> np.ndarray:
    """u at ``points (n, 2)`` for one member ``p = (cx, cy, s)``: ``(n,)`` float64."""
    cx, cy, s = (float(v) for v in p)
    k = np.arange(1, MODES + 1)
    eig = (math.pi / 2) ** 2 * (k[:, None] ** 2 + k[None, :] ** 2)
    a = np.outer(_sine_coefficients(cx, s), _sine_coefficients(cy, s)) / eig
    pts = np.asarray(points, dtype=np.float64)
    u = np.empty(len(pts))
    for i in range(0, len(pts), REFERENCE_BLOCK):  # (block, MODES) tables: 33 MB, whatever n is
        block = pts[i:i + REFERENCE_BLOCK]
        phi_x = np.sin(np.outer(block[:, 0] + 1.0, k) * (math.pi / 2))
        phi_y = np.sin(np.outer(block[:, 1] + 1.0, k) * (math.pi / 2))
        u[i:i + len(block)] = ((phi_x @ a) * phi_y).sum(axis=1)
    return u


class PoissonFamily(Family):
    """The Gaussian-bump Poisson family (see the module docstring).

    Parameters
    ----------
    extrapolate : bool, allow centres and widths outside the trained ranges (width must stay > 0)
    boundary_weight : float, weight of the boundary term
    metric_n : int, grid points per axis of :meth:`metric_points` (boundary included)
    """

    name = "poisson-family"
    in_features = 2
    out_features = 1
    parameters = {"cx": (-0.5, 0.5), "cy": (-0.5, 0.5), "width": (0.1, 0.25)}
    model_kwargs = {"hidden_features": 64, "hidden_layers": 3, "first_omega_0": 3.0, "hidden_omega_0": 30.0}

    def __init__(self, extrapolate: bool = False, boundary_weight: float = 10.0, metric_n: int = 65):
        super().__init__(extrapolate)
        # checked here, before anything is sized by them: a family.pt's options are untrusted
        self.boundary_weight = number(self.name, "boundary_weight", boundary_weight, 0.0)
        self.metric_n = integer(self.name, "metric_n", metric_n, 2, METRIC_N_MAX)

    def check_valid(self, p: Tensor) -> None:
        if (p[:, 2] <= 0).any():
            raise ValueError(f"{self.name}: width must be positive, got {p[:, 2].tolist()}")

    def constraints(self) -> list[Constraint]:
        def interior(p, n, generator):
            return {"x": BOX.sample(len(p) * n, generator).reshape(len(p), n, 2), "p": p}

        def boundary(p, n, generator):
            return {"x": BOX.sample_boundary(len(p) * n, generator).reshape(len(p), n, 2), "p": p}

        return [Constraint("pde", interior, lambda u, b: pde_residual(u, b["p"][:, None, :]), order=2,
                           second="laplacian", share=4.0),
                Constraint("boundary", boundary, lambda u, b: u.value, order=0, weight=self.boundary_weight)]

    def reference(self, x: Tensor, p) -> Tensor:
        u = self.member_references(x, p, reference_solution)
        return torch.as_tensor(u[..., None], dtype=x.dtype)

    def metric_points(self) -> Tensor:
        return BOX.grid([self.metric_n, self.metric_n]).double()

    def instance(self, p) -> "PoissonBump":
        cx, cy, width = self.check(p)[0].tolist()
        return PoissonBump(cx, cy, width, boundary_weight=self.boundary_weight, metric_n=self.metric_n)


class PoissonBump(Problem):
    """One member of :class:`PoissonFamily` as an ordinary problem: -Δu = f, u = 0 on the boundary.

    Parameters
    ----------
    cx, cy, width : float, the bump's centre and width (required: a member has no natural default;
        any centre and any positive width, in the family's trained ranges or not)
    boundary_weight, metric_n : as for :class:`PoissonFamily`
    """

    name = "poisson-bump"
    in_features = 2
    out_features = 1
    default_steps = 2000
    default_lr = 1e-4
    default_batch_size = 2048
    model_kwargs = {"siren": {"hidden_features": 64, "hidden_layers": 3, "first_omega_0": 10.0}}

    def __init__(self, cx: float, cy: float, width: float, boundary_weight: float = 10.0, metric_n: int = 65):
        member = []
        for option, value in (("cx", cx), ("cy", cy), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{self.name}: {option} must be a number, got {value!r}")
            member.append(float(value))
        if not (math.isfinite(member[0]) and math.isfinite(member[1]) and member[2] > 0 and math.isfinite(member[2])):
            raise ValueError(f"{self.name}: need a finite centre and a finite width > 0, got cx={cx!r}, cy={cy!r}, "
                             f"width={width!r}")
        self.family = PoissonFamily(extrapolate=True, boundary_weight=boundary_weight, metric_n=metric_n)
        self.p = self.family.check(member)[0].double()

    def constraints(self) -> list[Constraint]:
        p = self.p.float()[None, :]
        return [Constraint("pde", BOX.sampler(), lambda u, b: pde_residual(u, p.to(u.value.dtype)), order=2,
                           second="laplacian", share=4.0),
                Constraint("boundary", lambda n, g: {"x": BOX.sample_boundary(n, g)}, lambda u, b: u.value,
                           order=0, weight=self.family.boundary_weight)]

    def reference(self, x: Tensor) -> Tensor:
        return self.family.reference(x[None], self.p[None])[0]

    def metrics(self, model) -> dict[str, float]:
        x = self.family.metric_points()
        ref = self.reference(x)
        dtype = next(model.parameters()).dtype
        with torch.no_grad():
            u = model(x.to(dtype)).double()
        return {"rel_l2": float((u - ref).norm() / ref.norm())}

    def fields(self, model) -> dict:
        from sirenpde.hyper.report import GRID

        x = BOX.grid([GRID, GRID])
        dtype = next(model.parameters()).dtype
        with torch.no_grad():
            u = model(x.to(dtype)).double()[:, 0].reshape(GRID, GRID).numpy()
        ref = self.reference(x.double())[:, 0].reshape(GRID, GRID).numpy()
        return {"predicted": u, "reference": ref, "error": u - ref}

    def figure(self, model, history):
        from sirenpde.hyper.report import single_figure

        return single_figure(self.name, self.fields(model),
                             ", ".join(f"{k}={v:.3g}" for k, v in zip(self.family.names, self.p.tolist())))

    def describe(self) -> dict:
        return {"name": self.name, **dict(zip(self.family.names, self.p.tolist()))}
