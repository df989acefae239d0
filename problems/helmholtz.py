"""2D Helmholtz equation with a perfectly matched layer, the SIREN paper's forward problem.

Sign convention (shared with :mod:`sirenpde.problems.helmholtz_reference`): time dependence
``exp(-i ω t)`` and

    Δu + k² m(x) u = -f(x),      m = 1 / c(x)²,

with the outgoing radiation condition; for ``m = 1`` and ``f = δ`` the solution is
``(i/4) H0^(1)(k r)``. The complex field is two output channels, ``u = value[:, 0] + i value[:, 1]``.

The domain ``[-L, L]²`` is a physical region ``[-(L - w), L - w]²`` surrounded by an absorbing
band of width ``w``. In the band derivatives are divided by the stretching factor
``s(x) = 1 + i a0 (d/w)²`` (``d`` the depth into the band), so the residual is

    (1/s_x) ∂x(u_x / s_x) + (1/s_y) ∂y(u_y / s_y) + k² m u + f
    = u_xx/s_x² - s_x' u_x / s_x³ + (same in y) + k² m u + f,

which reads ``u.grad`` and ``u.d2(i)`` only. An outgoing wave is damped by ``exp(-k a0 w / 3)``
across the band; the outer wall holds ``u = 0`` (a small constraint), as in the reference solver.
"""
from __future__ import annotations

import numpy as np
import torch

from sirenpde.problem import Constraint, Problem
from sirenpde.problems._options import METRIC_N_MAX, REFERENCE_N_MAX, integer, number
from sirenpde.problems._pde_common import (VelocityMap, check_point, model_values, panel_figure, square_grid,
                                           stretch_torch)
from sirenpde.problems._helmholtz_source import MIN_SIGMAS, SourceSubtraction
from sirenpde.problems.helmholtz_reference import FDFD, gaussian_source, helmholtz_uniform


class Helmholtz(Problem):
    """Helmholtz point source with a PML (complex field as two channels); reference by quadrature or FDFD.

    Parameters
    ----------
    k : float, wavenumber of the background medium (default 20)
    source : (2,) float, source centre, inside the physical region
    sigma : float, source standard deviation (default 0.01: the paper's variance 1e-4)
    velocity : "uniform", "square", "disk", a positive number or an ``(H, W)`` array on ``[-L, L]²``
        (see :class:`~sirenpde.problems._pde_common.VelocityMap`)
    half_width, pml_width, pml_strength : L, w and a0 of the domain and absorbing band
    source_share : share of the interior points drawn near the source (normal, std ``3 sigma``;
        ``r2 / 2`` with source subtraction, where its known terms live)
    subtract_source : "auto" (default), True or False: train the network on ``u - chi G``, the
        field minus the exact field of the source in the medium at the source cut off smoothly
        between ``r1`` and ``r2`` (see :mod:`sirenpde.problems._helmholtz_source`); the network
        then learns a smooth field instead of a logarithmic spike of width ``sigma``, and the
        model's output is ``v`` with ``u = v + chi G`` (``metrics``, ``fields`` and
        :meth:`field_values` add it back). "auto" subtracts when the disk of radius ``r2 <= 0.25``
        fits in the physical region with ``r1 = r2 / 2 >= 6 sigma``
    wall_share : share of points on the outer wall (``u = 0``)
    reference_n : grid intervals of the FDFD reference (heterogeneous media only; h = 2L/n)
    metric_n : grid points per axis of the physical region for ``metrics`` and ``fields``
    absorption, absorption_fraction : continuation (default 0.5 over the first half; 0 turns it
        off): train on the damped equation with ``k² (1 + i ε)``, ``ε`` falling linearly from
        ``absorption`` to 0 over the first ``absorption_fraction`` of the steps (via
        :meth:`coefficients`, which the training loop merges into every batch as
        ``batch["absorption"]``; a batch without it is the undamped equation). The damped problem's solution tends to the outgoing one as ``ε -> 0``
        (limiting absorption) and couples the real and imaginary parts inside the physical region,
        where the undamped equation lets a real standing wave pass. The schedule follows each
        ``fit`` call's own steps (``lbfgs_steps`` of the same call run undamped): before a second
        ``fit`` that should refine the undamped solution, set ``problem.absorption = 0``
    reduction : "mse" or "l1" for the residual terms (the paper's code sums |r|; on 3000 CPU steps
        at k = 20 we measured rel L2 0.96 with "l1" against 0.84 with "mse")

    Defaults for ``fit`` (a CPU size: 3x128 Siren, w0 = 30, batch 1024, Adam at 3e-4 with cosine
    decay, 6000 steps, about 5 minutes of one CPU core): at k = 20 with the paper's source
    (sigma = 0.01) and source subtraction, measured rel L2 2.6e-2 (0.059 after 4000 steps, 0.149
    with a constant 1e-4); without subtraction 4000 steps stayed at 0.85-0.96 (lr 1e-4, or 3e-4
    with cosine decay and batch 2048), the network fitting the spike at the source instead of the
    radiated wave (``benchmarks/results/pde.md``).
    """

    name = "helmholtz"
    in_features = 2
    out_features = 2
    # the source position may vary in a family (helmholtz-family): in this square every source keeps
    # the subtraction disk (r2 = 0.25) inside the physical region
    parameter_ranges = {"sx": (-0.2, 0.2), "sy": (-0.2, 0.2)}
    default_steps = 6000
    default_batch_size = 1024
    default_lr = 3e-4
    default_schedule = "cosine"
    model_kwargs = {"siren": {"hidden_features": 128, "hidden_layers": 3, "first_omega_0": 30.0,
                              "hidden_omega_0": 30.0}}

    def __init__(self, k: float = 20.0, source=(0.0, 0.0), sigma: float = 0.01, velocity="uniform",
                 half_width: float = 1.0, pml_width: float = 0.5, pml_strength: float = 5.0,
                 source_share: float = 0.2, wall_share: float = 0.02, reference_n: int = 400,
                 metric_n: int = 128, reduction: str = "mse", absorption: float = 0.5,
                 absorption_fraction: float = 0.5, subtract_source="auto"):
        k = number("helmholtz", "k", k, 0.0, strict=True)
        sigma = number("helmholtz", "sigma", sigma, 0.0, strict=True)
        for option, value in (("half_width", half_width), ("pml_width", pml_width),
                              ("pml_strength", pml_strength), ("source_share", source_share),
                              ("wall_share", wall_share), ("absorption", absorption),
                              ("absorption_fraction", absorption_fraction)):
            number("helmholtz", option, value)
        reference_n = integer("helmholtz", "reference_n", reference_n, 8, REFERENCE_N_MAX)
        metric_n = integer("helmholtz", "metric_n", metric_n, 2, METRIC_N_MAX)
        if not (0 < pml_width < half_width):
            raise ValueError(f"helmholtz: need 0 < pml_width < half_width, got {pml_width}, {half_width}")
        if not (0 <= source_share < 1 and 0 <= wall_share < 1 and source_share + wall_share < 1):
            raise ValueError(f"helmholtz: shares must be in [0, 1) and sum below 1, got source_share="
                             f"{source_share}, wall_share={wall_share}")
        self.k, self.sigma = float(k), float(sigma)
        self.half_width, self.pml_width = float(half_width), float(pml_width)
        self.pml_strength = float(pml_strength)
        self.inner = self.half_width - self.pml_width
        self.source = check_point("helmholtz: source", source, -self.inner, self.inner)
        self.velocity = VelocityMap(velocity, self.half_width)
        self.source_share, self.wall_share = float(source_share), float(wall_share)
        if reduction not in ("l1", "mse"):
            raise ValueError(f"helmholtz: reduction must be 'l1' or 'mse', got {reduction!r}")
        self.reduction = reduction
        if not (absorption >= 0 and np.isfinite(absorption) and 0 < absorption_fraction <= 1):
            raise ValueError(f"helmholtz: need absorption >= 0 and 0 < absorption_fraction <= 1, got "
                             f"{absorption}, {absorption_fraction}")
        self.absorption, self.absorption_fraction = float(absorption), float(absorption_fraction)
        self.reference_n, self.metric_n = int(reference_n), int(metric_n)
        self._fdfd = None
        self._source_t = torch.as_tensor(self.source, dtype=torch.float32)
        self.subtraction = self._make_subtraction(subtract_source)

    def _make_subtraction(self, mode):
        if mode not in ("auto", True, False):
            raise ValueError(f"helmholtz: subtract_source must be 'auto', True or False, got {mode!r}")
        if mode is False:
            return None
        radius = SourceSubtraction.radius_for(self.source, self.sigma, self.inner)
        if radius is None:
            if mode is True:
                raise ValueError(
                    f"helmholtz: subtract_source=True needs a disk of radius r2 around the source inside the "
                    f"physical region with r2 / 2 >= {MIN_SIGMAS:g} sigma = {MIN_SIGMAS * self.sigma:g}; the "
                    f"source at {self.source.tolist()} leaves r2 = {self.inner - np.max(np.abs(self.source)):.3g}")
            return None
        k_source = self.k / float(self.velocity.numpy(self.source[None])[0])
        return SourceSubtraction(k_source, self.source, self.sigma, radius)

    def member_options(self, values: dict) -> dict:
        """The source position ``(sx, sy)`` is the ``source`` option."""
        values = dict(values)
        source = [float(values.pop(key, default)) for key, default in zip(("sx", "sy"), self.source)]
        return {**values, "source": source}

    # -- the equation ----------------------------------------------------------------------
    def slowness2_numpy(self, points) -> np.ndarray:
        return 1.0 / self.velocity.numpy(points) ** 2

    def source_torch(self, x: torch.Tensor) -> torch.Tensor:
        r2 = ((x - self._source_t.to(x.device)) ** 2).sum(dim=1)
        return torch.exp(-r2 / (2 * self.sigma**2)) / (2 * np.pi * self.sigma**2)

    def _with_coefficients(self, x: torch.Tensor) -> dict:
        batch = {"x": x, "m": 1.0 / self.velocity.torch(x) ** 2}
        if self.subtraction is None:
            batch["f"] = self.source_torch(x)
        else:
            chi_g, rest = self.subtraction.terms(x.detach().cpu().double().numpy())
            batch["chi_g"] = torch.as_tensor(chi_g, dtype=torch.complex64)
            batch["f"] = torch.as_tensor(rest, dtype=torch.complex64)
        return batch

    def stretched_laplacians(self, u, pairs) -> list[torch.Tensor]:
        """Stretched Laplacians of the complex fields ``value[..., re] + i value[..., im]``: complex
        ``(..., n)`` each (any leading instance axes)."""
        x = u.x.detach()
        sx, dsx = stretch_torch(x[..., 0], self.half_width, self.pml_width, self.pml_strength)
        sy, dsy = stretch_torch(x[..., 1], self.half_width, self.pml_width, self.pml_strength)
        ax, bx, ay, by = 1 / sx**2, -dsx / sx**3, 1 / sy**2, -dsy / sy**3
        g = u.grad if u.value.shape[-1] > 1 else u.grad[..., None, :]  # (..., n, channel, coordinate)
        dxx, dyy = u.d2(0), u.d2(1)
        out = []
        for re, im in pairs:
            ux, uy = torch.complex(g[..., re, 0], g[..., im, 0]), torch.complex(g[..., re, 1], g[..., im, 1])
            uxx, uyy = torch.complex(dxx[..., re], dxx[..., im]), torch.complex(dyy[..., re], dyy[..., im])
            out.append(ax * uxx + bx * ux + ay * uyy + by * uy)
        return out

    def residual(self, u, batch) -> torch.Tensor:
        """Stretched Helmholtz residual divided by ``k²`` (so it is O(|u|) away from the source):
        ``(..., n, 2)`` for a field and batch with leading instance axes ``...``.

        With source subtraction ``u`` is the network's ``v`` and ``batch["f"]`` holds the known
        terms of its equation (module :mod:`~sirenpde.problems._helmholtz_source`)."""
        (lap,) = self.stretched_laplacians(u, [(0, 1)])
        value = torch.complex(u.value[..., 0], u.value[..., 1])
        k2m = self.k2_complex(batch.get("absorption", 0.0)) * batch["m"]
        r = lap + k2m * value + batch["f"]
        if self.subtraction is not None:
            r = r + batch["chi_g"] * (k2m - self.subtraction.k_source**2)
        r = r / self.k**2
        return torch.stack([r.real, r.imag], dim=-1)

    def k2_complex(self, absorption: float = 0.0) -> complex:
        """``k² (1 + i ε)`` with absorption ``ε`` (0, the undamped equation, by default)."""
        return self.k**2 * complex(1.0, absorption)

    def coefficients(self, step=None, steps=None) -> dict:
        """Absorption continuation: ``ε`` falls linearly from ``absorption`` to 0 over the first
        ``absorption_fraction`` of the ``steps``; 0 once it is over and when ``step`` is None."""
        if step is None or self.absorption == 0 or not steps or steps <= 0:
            return {"absorption": 0.0}
        progress = step / max(1.0, self.absorption_fraction * steps)
        return {"absorption": self.absorption * max(0.0, 1.0 - progress)}

    def wall_residual(self, u, batch) -> torch.Tensor:
        """The field on the outer wall (it should vanish): (..., n, 2)."""
        return u.value[..., :2]

    # -- sampling ----------------------------------------------------------------------------
    def _sample_domain(self, n, generator):
        x = (torch.rand(n, 2, generator=generator) * 2 - 1) * self.half_width
        return self._with_coefficients(x)

    def _sample_source(self, n, generator):
        spread = 3 * self.sigma if self.subtraction is None else 0.5 * self.subtraction.r2
        x = self._source_t + spread * torch.randn(n, 2, generator=generator)
        return self._with_coefficients(x.clamp(-self.half_width, self.half_width))

    def _sample_wall(self, n, generator):
        t = (torch.rand(n, generator=generator) * 2 - 1) * self.half_width
        side = torch.randint(0, 4, (n,), generator=generator)
        L = self.half_width
        x = torch.where(side < 2, torch.where(side == 0, -L, L), t)
        y = torch.where(side < 2, t, torch.where(side == 2, -L, L))
        return {"x": torch.stack([x, y], dim=1)}

    def constraints(self) -> list[Constraint]:
        cons = [Constraint("pde", self._sample_domain, self.residual, order=2, reduction=self.reduction,
                           share=1.0 - self.source_share - self.wall_share)]
        if self.source_share > 0:
            cons.append(Constraint("pde_source", self._sample_source, self.residual, order=2,
                                   reduction=self.reduction, share=self.source_share))
        if self.wall_share > 0:
            cons.append(Constraint("wall", self._sample_wall, self.wall_residual, order=0,
                                   share=self.wall_share))
        return cons

    # -- reference ---------------------------------------------------------------------------
    def fdfd(self) -> FDFD:
        """The FDFD solver of this problem (built on first use, factorised once)."""
        if self._fdfd is None:
            self._fdfd = FDFD(self.k, self.reference_n, self.half_width, self.pml_width, self.pml_strength,
                              slowness2=self.slowness2_numpy)
        return self._fdfd

    def reference_complex(self, points) -> np.ndarray:
        """Reference field at ``points`` (n, 2): exact quadrature for a uniform medium inside the
        physical region, the FDFD solution (second order, ~2.4e-3 relative at the defaults) elsewhere."""
        p = np.asarray(points, dtype=float)
        out = np.empty(len(p), dtype=complex)
        inside = np.all(np.abs(p) <= self.inner + 1e-12, axis=1)
        if self.velocity.uniform and inside.all():
            return helmholtz_uniform(p, self.k / self.velocity.value, self.source, self.sigma)
        if self.velocity.uniform:
            out[inside] = helmholtz_uniform(p[inside], self.k / self.velocity.value, self.source, self.sigma)
            rest = ~inside
        else:
            rest = np.ones(len(p), dtype=bool)
        if not hasattr(self, "_fdfd_solution"):
            self._fdfd_solution = self.fdfd().solve(lambda q: gaussian_source(q, self.source, self.sigma))
        out[rest] = self._fdfd_solution(p[rest])
        return out

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        u = self.reference_complex(x.detach().cpu().double().numpy())
        return torch.as_tensor(np.stack([u.real, u.imag], 1), dtype=torch.float32)

    # -- evaluation --------------------------------------------------------------------------
    def _physical_grid(self):
        axis, pts = square_grid(-self.inner, self.inner, self.metric_n)
        if not hasattr(self, "_ref_grid"):
            ref = self.reference_complex(pts.double().numpy())
            self._ref_grid = ref.reshape(self.metric_n, self.metric_n)
        return axis, pts, self._ref_grid

    def field_values(self, model, points: torch.Tensor) -> np.ndarray:
        """The complex field ``u`` of a trained model at ``points (n, 2)`` (adds ``chi G`` back
        when the source is subtracted): ``(n,)`` complex."""
        v = model_values(model, points)
        u = v[:, 0] + 1j * v[:, 1]
        if self.subtraction is not None:
            u = u + self.subtraction.terms(points.double().numpy())[0]
        return u

    def solution(self, model, x: torch.Tensor) -> torch.Tensor:
        """``[Re u, Im u]`` of a trained model at ``x (n, 2)`` (``chi G`` added back): ``(n, 2)``."""
        u = self.field_values(model, x)
        return torch.as_tensor(np.stack([u.real, u.imag], 1))

    def region(self):
        return [-self.inner] * 2, [self.inner] * 2

    def _model_grid(self, model):
        _, pts, ref = self._physical_grid()
        return self.field_values(model, pts).reshape(ref.shape), ref

    def metrics(self, model) -> dict[str, float]:
        """``rel_l2``: ``||u - u_ref|| / ||u_ref||`` of the complex field on the physical-region grid."""
        u, ref = self._model_grid(model)
        return {"rel_l2": float(np.linalg.norm(u - ref) / np.linalg.norm(ref))}

    def fields(self, model) -> dict[str, np.ndarray]:
        axis, pts, _ = self._physical_grid()
        u, ref = self._model_grid(model)
        c = self.velocity.numpy(pts.double().numpy()).reshape(u.shape)
        return {"x": axis, "real": u.real, "imag": u.imag, "reference_real": ref.real,
                "reference_imag": ref.imag, "error": np.abs(u - ref), "velocity": c}

    def figure(self, model, history):
        f = self.fields(model)
        ext = [-self.inner, self.inner, -self.inner, self.inner]
        rel = np.linalg.norm(f["error"]) / np.linalg.norm(f["reference_real"] + 1j * f["reference_imag"])
        panels = [("Re u (network)", f["real"], ext, "RdBu_r", True),
                  ("Re u (reference)", f["reference_real"], ext, "RdBu_r", True),
                  (f"|error|, rel L2 {rel:.3g}", f["error"], ext, "magma", False)]
        if not self.velocity.uniform:
            panels.append(("velocity", f["velocity"], ext, "viridis", False))
        return panel_figure(panels, history, f"helmholtz k={self.k:g}")

    def describe(self) -> dict:
        return {"name": self.name, "k": self.k, "source": self.source.tolist(), "sigma": self.sigma,
                "velocity": self.velocity.describe(), "half_width": self.half_width,
                "pml_width": self.pml_width, "pml_strength": self.pml_strength,
                "source_subtraction": None if self.subtraction is None else self.subtraction.describe()}
