"""2D acoustic wave equation in (t, x, y) with a Gaussian initial pulse.

    u_tt = c(x)² (u_xx + u_yy)   on [0, T] × [-L, L]²,
    u(0, x) = exp(-|x - x0|² / (2 σ²)),   u_t(0, x) = 0,   u = 0 on the walls.

Inputs are ``(t, x, y)`` (time first), output the scalar field. The reference is the exact
sine-series propagator for a uniform velocity and second-order leapfrog for a velocity map
(:mod:`sirenpde.problems.wave_reference`), on a grid fine enough that its error is far below a
network's.

Residuals are scaled to be O(1) for an O(1) error: the PDE by ``σ² / c_max²`` (a pulse of width σ
has ``u_tt ~ c²/σ²``), the initial velocity by ``σ / c_max``.

A time curriculum (on by default, as in the SIREN paper) grows the sampled time window from
``curriculum_start · T`` to ``T`` over the first ``curriculum_fraction`` of the steps; the solver
reads it from :meth:`Wave.coefficients` (``t_window``) and passes it to the samplers; a sampler called
without it samples the whole interval.
"""
from __future__ import annotations

import numpy as np
import torch

from sirenpde.problem import Constraint, Problem
from sirenpde.problems._options import METRIC_N_MAX, REFERENCE_N_MAX, integer, number
from sirenpde.problems._pde_common import VelocityMap, check_point, model_values, panel_figure
from sirenpde.problems.wave_reference import (SpectralWave, WaveSolution, gaussian_pulse, leapfrog_wave,
                                              node_grid)


class Wave(Problem):
    """2D wave equation u_tt = c² Δu: a Gaussian pulse at rest between walls; spectral or leapfrog reference.

    Parameters
    ----------
    t_end : float, T (default 0.5, the interval the training defaults are measured on; a longer
        one needs more steps or a larger network)
    center : (2,) float, pulse centre, inside the box
    sigma : float, pulse width (default 0.1)
    velocity : "uniform", "square", "disk", a positive number or an ``(H, W)`` array on ``[-L, L]²``
    half_width : float, L
    curriculum : bool, grow the time window during training
    curriculum_start, curriculum_fraction : window start (fraction of T) and the fraction of steps
        after which the whole interval is sampled
    initial_weight, wall_weight : loss weights of the initial conditions and of the walls
    reference_n : grid intervals per axis of the reference (h = 2L/n)
    metric_n, metric_times : spatial points per axis and number of times in ``[0, T]`` for
        ``metrics`` (on the reference's own nodes when ``metric_n - 1`` divides ``reference_n``,
        spline-interpolated otherwise)
    """

    name = "wave"
    in_features = 3
    out_features = 1
    # A CPU size (at the default t_end = 0.5: rel L2 2.4e-2 after 3000 steps, benchmarks/pde.py)
    default_steps = 3000
    default_batch_size = 2048
    default_lr = 2e-4
    default_schedule = "cosine"  # read by benchmarks/pde.py (the solver's own default is a constant rate)
    model_kwargs = {"siren": {"hidden_features": 128, "hidden_layers": 3, "first_omega_0": 10.0,
                              "hidden_omega_0": 30.0}}

    def __init__(self, t_end: float = 0.5, center=(0.0, 0.0), sigma: float = 0.1, velocity="uniform",
                 half_width: float = 1.0, curriculum: bool = True, curriculum_start: float = 0.1,
                 curriculum_fraction: float = 0.5, initial_weight: float = 10.0, wall_weight: float = 1.0,
                 initial_share: float = 0.2, wall_share: float = 0.1, reference_n: int = 256,
                 metric_n: int = 129, metric_times: int = 6):
        t_end = number("wave", "t_end", t_end, 0.0, strict=True)
        sigma = number("wave", "sigma", sigma, 0.0, strict=True)
        for option, value in (("half_width", half_width), ("curriculum_start", curriculum_start),
                              ("curriculum_fraction", curriculum_fraction), ("initial_weight", initial_weight),
                              ("wall_weight", wall_weight), ("initial_share", initial_share),
                              ("wall_share", wall_share)):
            number("wave", option, value)
        reference_n = integer("wave", "reference_n", reference_n, 8, REFERENCE_N_MAX)
        metric_n = integer("wave", "metric_n", metric_n, 2, METRIC_N_MAX)
        metric_times = integer("wave", "metric_times", metric_times, 1, METRIC_N_MAX)
        if not (0 < curriculum_start <= 1 and 0 < curriculum_fraction <= 1):
            raise ValueError(f"wave: curriculum_start and curriculum_fraction must lie in (0, 1], got "
                             f"{curriculum_start}, {curriculum_fraction}")
        if int(reference_n) < 8 or int(metric_n) < 2 or int(metric_times) < 1:
            raise ValueError(f"wave: need reference_n >= 8, metric_n >= 2, metric_times >= 1, got "
                             f"{reference_n}, {metric_n}, {metric_times}")
        if not (0 < initial_share and 0 <= wall_share and initial_share + wall_share < 1):
            raise ValueError(f"wave: need initial_share > 0, wall_share >= 0 and a sum below 1, got "
                             f"{initial_share}, {wall_share}")
        self.t_end, self.sigma, self.half_width = float(t_end), float(sigma), float(half_width)
        self.center = check_point("wave: pulse center", center, -self.half_width, self.half_width)
        self.velocity = VelocityMap(velocity, self.half_width)
        self.curriculum = bool(curriculum)
        self.curriculum_start, self.curriculum_fraction = float(curriculum_start), float(curriculum_fraction)
        self.initial_weight, self.wall_weight = float(initial_weight), float(wall_weight)
        self.initial_share, self.wall_share = float(initial_share), float(wall_share)
        self.reference_n, self.metric_n = int(reference_n), int(metric_n)
        self.metric_times = int(metric_times)
        x = node_grid(self.reference_n, self.half_width)
        xx, yy = np.meshgrid(x, x, indexing="ij")
        self._grid_c = self.velocity.numpy(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(xx.shape)
        self.c_max = float(self._grid_c.max())
        self._center_t = torch.as_tensor(self.center, dtype=torch.float32)
        self._solution: WaveSolution | None = None

    # -- curriculum --------------------------------------------------------------------------
    def coefficients(self, step=None, steps=None) -> dict:
        """The sampled time window ``t_window`` before step ``step`` of ``steps``: it grows linearly
        from ``curriculum_start * t_end`` to ``t_end`` over the first ``curriculum_fraction`` of the
        steps; the whole interval without a curriculum and when ``step`` is None."""
        if step is None or not self.curriculum or not steps or steps <= 0:
            return {"t_window": self.t_end}
        progress = min(1.0, step / max(1.0, self.curriculum_fraction * steps))
        start = self.curriculum_start
        return {"t_window": self.t_end * (start + (1.0 - start) * progress)}

    def _window(self, coefficients) -> float:
        return float((coefficients or {}).get("t_window", self.t_end))

    # -- the equation ----------------------------------------------------------------------
    def initial_torch(self, xy: torch.Tensor) -> torch.Tensor:
        r2 = ((xy - self._center_t.to(xy.device)) ** 2).sum(dim=1)
        return torch.exp(-r2 / (2 * self.sigma**2))

    def residual(self, u, batch) -> torch.Tensor:
        """``(u_tt - c² Δ_xy u) σ² / c_max²``: (n, 1)."""
        lap_xy = u.d2(1) + u.d2(2)
        return (u.d2(0) - batch["c2"][:, None] * lap_xy) * (self.sigma / self.c_max) ** 2

    def _space(self, n, generator):
        return (torch.rand(n, 2, generator=generator) * 2 - 1) * self.half_width

    def _sample_pde(self, n, generator, coefficients=None):
        t = torch.rand(n, 1, generator=generator) * self._window(coefficients)
        xy = self._space(n, generator)
        return {"x": torch.cat([t, xy], 1), "c2": self.velocity.torch(xy) ** 2}

    def _sample_initial(self, n, generator):
        xy = self._space(n, generator)
        # half the initial points near the pulse, where the initial data has its structure
        m = n // 2
        xy[:m] = (self._center_t + 2 * self.sigma * torch.randn(m, 2, generator=generator)).clamp(
            -self.half_width, self.half_width)
        return {"x": torch.cat([torch.zeros(n, 1), xy], 1), "u0": self.initial_torch(xy)[:, None]}

    def _sample_wall(self, n, generator, coefficients=None):
        L = self.half_width
        t = torch.rand(n, generator=generator) * self._window(coefficients)
        s = (torch.rand(n, generator=generator) * 2 - 1) * L
        side = torch.randint(0, 4, (n,), generator=generator)
        x = torch.where(side < 2, torch.where(side == 0, -L, L), s)
        y = torch.where(side < 2, s, torch.where(side == 2, -L, L))
        return {"x": torch.stack([t, x, y], 1)}

    def constraints(self) -> list[Constraint]:
        scale_v = self.sigma / self.c_max
        cons = [
            Constraint("pde", self._sample_pde, self.residual, order=2, curriculum=True,
                       share=1.0 - self.initial_share - self.wall_share),
            Constraint("initial_value", self._sample_initial, lambda u, b: u.value - b["u0"], order=0,
                       weight=self.initial_weight, share=self.initial_share / 2),
            Constraint("initial_velocity", self._sample_initial, lambda u, b: u.grad[:, :1] * scale_v,
                       order=1,
                       weight=self.initial_weight, share=self.initial_share / 2),
        ]
        if self.wall_share > 0:
            cons.append(Constraint("wall", self._sample_wall, lambda u, b: u.value, order=0, curriculum=True,
                                   weight=self.wall_weight, share=self.wall_share))
        return cons

    # -- reference ---------------------------------------------------------------------------
    def solution(self) -> WaveSolution:
        """Reference frames on the node grid (built on first use)."""
        if self._solution is None:
            x = node_grid(self.reference_n, self.half_width)
            xx, yy = np.meshgrid(x, x, indexing="ij")
            pts = np.stack([xx.ravel(), yy.ravel()], 1)
            u0 = gaussian_pulse(pts, self.center, self.sigma).reshape(xx.shape)
            # frames every ~σ/(10 c) keep the cubic time interpolation error near 1e-5; 8 more
            # frames past T keep the spline's end condition away from [0, T]
            frames = int(np.ceil(self.t_end * self.c_max * 10 / self.sigma)) + 1
            dt = self.t_end / (frames - 1)
            frames += 8
            t_ext = dt * (frames - 1)
            if self.velocity.uniform:
                spectral = SpectralWave(u0, self.velocity.value, self.half_width)
                self._solution = spectral.solution(t_ext, frames)
            else:
                self._solution = leapfrog_wave(u0, self._grid_c, self.half_width, t_ext, frames)
        return self._solution

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        p = x.detach().cpu().double().numpy()
        return torch.as_tensor(self.solution()(p), dtype=torch.float32)[:, None]

    # -- evaluation --------------------------------------------------------------------------
    def _eval_grid(self, model, times=None):
        sol = self.solution()
        axis = np.linspace(-self.half_width, self.half_width, self.metric_n)
        times = np.linspace(0.0, self.t_end, self.metric_times) if times is None else np.asarray(times, float)
        frames = np.rint(times / (sol.times[1] - sol.times[0])).astype(int)
        stride = self.reference_n // (self.metric_n - 1)
        on_nodes = (self.reference_n % (self.metric_n - 1) == 0
                    and np.allclose(sol.times[frames], times, atol=1e-9))
        pts = np.concatenate([np.c_[np.full(axis.size**2, t), _pairs(axis)] for t in times])
        if on_nodes:  # exact frames (spectral) or the grid solver's own values: no interpolation
            ref = sol.u[frames][:, ::stride, ::stride]
        else:
            ref = sol(pts).reshape(len(times), axis.size, axis.size)
        u = model_values(model, torch.as_tensor(pts))[:, 0].reshape(ref.shape)
        return times, axis, u, ref

    def metrics(self, model) -> dict[str, float]:
        """``rel_l2`` over ``metric_times`` equispaced times in [0, T] and the spatial grid."""
        _, _, u, ref = self._eval_grid(model)
        return {"rel_l2": float(np.linalg.norm(u - ref) / np.linalg.norm(ref))}

    def fields(self, model) -> dict[str, np.ndarray]:
        times, axis, u, ref = self._eval_grid(model)
        velocity = self.velocity.numpy(_pairs(axis)).reshape(axis.size, axis.size)
        return {"times": times, "x": axis, "u": u, "reference": ref, "error": np.abs(u - ref),
                "velocity": velocity}

    def figure(self, model, history):
        times, axis, u, ref = self._eval_grid(model, [0.5 * self.t_end, self.t_end])
        ext = [axis[0], axis[-1], axis[0], axis[-1]]
        panels = [(f"u(t={times[0]:.2g}) network", u[0], ext, "RdBu_r", True),
                  (f"u(t={times[1]:.2g}) network", u[1], ext, "RdBu_r", True),
                  (f"u(t={times[1]:.2g}) reference", ref[1], ext, "RdBu_r", True),
                  ("|error| at T", np.abs(u[1] - ref[1]), ext, "magma", False)]
        return panel_figure(panels, history, "wave")

    def describe(self) -> dict:
        return {"name": self.name, "t_end": self.t_end, "center": self.center.tolist(), "sigma": self.sigma,
                "velocity": self.velocity.describe(), "half_width": self.half_width,
                "curriculum": self.curriculum}


def _pairs(axis: np.ndarray) -> np.ndarray:
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], 1)
