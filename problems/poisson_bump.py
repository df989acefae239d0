"""``poisson-bump``: -Δu = f on [-1, 1]², u = 0 on the boundary, f a Gaussian bump.

    f(x) = exp(-|x - c|² / (2 s²)) / (2π s²),   c = (cx, cy),   s = width

(unit mass, so u is O(0.1) for every bump). Its parameters ``cx, cy`` in [-0.5, 0.5] and ``width``
in [0.1, 0.25] make ``poisson-family``: the samplers put the source and the residual's scale into the
batch per point, so the same residual serves one problem and a stack of members.

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
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from sirenpde.problem import Box, Constraint, Problem
from sirenpde.problems._options import METRIC_N_MAX, integer, number

MODES = 256
REFERENCE_BLOCK = 16384  # points per block of the reference's sine tables
QUADRATURE_NODES = 1024  # resolves sin(kπ(t+1)/2) up to k = MODES (128 periods) many times over
BOX = Box([-1.0, -1.0], [1.0, 1.0])
GRID = 65  # points per axis of the plotted fields


def source(x: Tensor, centre, width) -> Tensor:
    """f at ``x (..., n, 2)``: ``(..., n, 1)``."""
    c = torch.as_tensor(centre, dtype=x.dtype)
    r2 = (x - c).square().sum(dim=-1, keepdim=True)
    return torch.exp(-r2 / (2 * width**2)) / (2 * math.pi * width**2)


@lru_cache(maxsize=1)
def _nodes() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(QUADRATURE_NODES)


def _sine_coefficients(centre: float, width: float) -> np.ndarray:
    """b_k = ∫ g(t) φ_k(t) dt over [-1, 1] for the 1-D Gaussian g of the bump, k = 1..MODES."""
    t, w = _nodes()
    g = np.exp(-(t - centre) ** 2 / (2 * width**2)) / math.sqrt(2 * math.pi * width**2)
    k = np.arange(1, MODES + 1)
    return (w * g) @ np.sin(np.outer(t + 1.0, k) * (math.pi / 2))


def reference_solution(points: np.ndarray, cx: float, cy: float, width: float) -> np.ndarray:
    """u at ``points (n, 2)`` for the bump at ``(cx, cy)`` of ``width``: ``(n,)`` float64."""
    k = np.arange(1, MODES + 1)
    eig = (math.pi / 2) ** 2 * (k[:, None] ** 2 + k[None, :] ** 2)
    a = np.outer(_sine_coefficients(cx, width), _sine_coefficients(cy, width)) / eig
    pts = np.asarray(points, dtype=np.float64)
    u = np.empty(len(pts))
    for i in range(0, len(pts), REFERENCE_BLOCK):  # (block, MODES) tables: 33 MB, whatever n is
        block = pts[i:i + REFERENCE_BLOCK]
        phi_x = np.sin(np.outer(block[:, 0] + 1.0, k) * (math.pi / 2))
        phi_y = np.sin(np.outer(block[:, 1] + 1.0, k) * (math.pi / 2))
        u[i:i + len(block)] = ((phi_x @ a) * phi_y).sum(axis=1)
    return u


class PoissonBump(Problem):
    """-Δu = f on [-1, 1]², u = 0 on the boundary, f a unit-mass Gaussian bump (module docstring).

    Parameters
    ----------
    cx, cy : float, the bump's centre (any finite numbers; the family trains on [-0.5, 0.5])
    width : float > 0, its standard deviation (the family trains on [0.1, 0.25])
    boundary_weight : float, weight of the boundary term
    metric_n : int, grid points per axis of ``metrics`` (boundary included)

    The residual is ``2π s² (Δu + f)``, scaled so that the source peaks at 1 for every width.
    """

    name = "poisson-bump"
    in_features = 2
    out_features = 1
    default_steps = 2000
    default_lr = 1e-4
    default_batch_size = 2048
    model_kwargs = {"siren": {"hidden_features": 64, "hidden_layers": 3, "first_omega_0": 10.0}}
    parameter_ranges = {"cx": (-0.5, 0.5), "cy": (-0.5, 0.5), "width": (0.1, 0.25)}

    def __init__(self, cx: float = 0.0, cy: float = 0.0, width: float = 0.15, boundary_weight: float = 10.0,
                 metric_n: int = 65):
        self.cx, self.cy = number(self.name, "cx", cx), number(self.name, "cy", cy)
        self.width = number(self.name, "width", width, 0.0, strict=True)
        # checked here, before anything is sized by them: a saved file's options are untrusted
        self.boundary_weight = number(self.name, "boundary_weight", boundary_weight, 0.0)
        self.metric_n = integer(self.name, "metric_n", metric_n, 2, METRIC_N_MAX)

    def _interior(self, n, generator):
        x = BOX.sample(n, generator)
        scale = torch.full((n, 1), 2 * math.pi * self.width**2)
        return {"x": x, "f": source(x, (self.cx, self.cy), self.width), "scale": scale}

    @staticmethod
    def residual(u, batch) -> Tensor:
        """``2π s² (Δu + f)`` with ``f`` and ``2π s²`` per point from the batch: ``(..., n, 1)``."""
        dtype = u.laplacian.dtype
        return batch["scale"].to(dtype) * (u.laplacian + batch["f"].to(dtype))

    def constraints(self) -> list[Constraint]:
        return [Constraint("pde", self._interior, self.residual, order=2, second="laplacian", share=4.0),
                Constraint("boundary", lambda n, g: {"x": BOX.sample_boundary(n, g)}, lambda u, b: u.value,
                           order=0, weight=self.boundary_weight)]

    def reference(self, x: Tensor) -> Tensor:
        u = reference_solution(x.detach().cpu().double().numpy(), self.cx, self.cy, self.width)
        return torch.as_tensor(u[:, None], dtype=x.dtype)

    def metric_points(self) -> Tensor:
        return BOX.grid([self.metric_n, self.metric_n]).double()

    def metrics(self, model) -> dict[str, float]:
        """``rel_l2`` on the ``metric_n`` x ``metric_n`` grid of the square (boundary included)."""
        x = self.metric_points()
        if not hasattr(self, "_metric_reference"):
            self._metric_reference = self.reference(x).double()
        u, ref = self.solution(model, x), self._metric_reference
        return {"rel_l2": float((u - ref).norm() / ref.norm())}

    def fields(self, model) -> dict:
        x = BOX.grid([GRID, GRID]).double()
        u = self.solution(model, x)[:, 0].reshape(GRID, GRID).numpy()
        ref = self.reference(x)[:, 0].reshape(GRID, GRID).numpy()
        return {"predicted": u, "reference": ref, "error": u - ref}

    def figure(self, model, history):
        from sirenpde.hyper.report import single_figure

        return single_figure(self.name, self.fields(model),
                             f"cx={self.cx:.3g}, cy={self.cy:.3g}, width={self.width:.3g}")

    def describe(self) -> dict:
        return {"name": self.name, "cx": self.cx, "cy": self.cy, "width": self.width}
