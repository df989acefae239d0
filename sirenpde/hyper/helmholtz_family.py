"""``helmholtz-family``: the ``helmholtz`` problem (k = 20, PML, the paper's source width) with
the source position ``p = (sx, sy)`` in [-0.2, 0.2]² as the parameter.

Every member is trained as the single problem is, on the smooth field ``v = u - chi G``: the
source subtraction of :mod:`sirenpde.problems._helmholtz_source` is applied per instance. In a
uniform medium the singular part is the same function of ``x - p`` for every member (and the
cutoff radius is 0.25 for all of them, since a source in [-0.2, 0.2]² leaves 0.3 to the edge of
the physical region), so one table serves the whole family: the member's known terms are those
of the source at the origin evaluated at ``x - p``. The residual is the single problem's
(:meth:`Helmholtz.residual`, with the absorption continuation read from ``batch["absorption"]``),
applied to the instances' points laid end to end.

Reference: the radial quadrature of the uniform medium (``helmholtz_uniform``), on the physical
region [-0.5, 0.5]², compared with ``v + chi G``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sirenpde.hyper.family import Family
from sirenpde.problem import Constraint
from sirenpde.problems._options import METRIC_N_MAX, integer


class FlatField:
    """A batched field ``(B, n, ...)`` seen as one field of ``B n`` points (what the single
    problem's residual reads: ``x``, ``value``, ``grad``, ``d2(i)``)."""

    def __init__(self, u):
        self._u = u
        self.x = u.x.flatten(0, 1)
        self.value = u.value.flatten(0, 1)

    @property
    def grad(self) -> Tensor:
        return self._u.grad.flatten(0, 1)

    def d2(self, i: int) -> Tensor:
        return self._u.d2(i).flatten(0, 1)


class HelmholtzFamily(Family):
    """Sources anywhere in [-0.2, 0.2]² of the ``helmholtz`` problem (see the module docstring).

    Parameters
    ----------
    extrapolate : bool, allow sources outside the trained square (they must stay at least 0.25
        inside the physical region, where the subtraction disk fits)
    k, sigma : wavenumber and source width (the paper's 20 and 0.01)
    metric_n : grid points per axis of the physical region for :meth:`metrics`
    absorption, absorption_fraction : the single problem's continuation (``coefficients``)
    """

    name = "helmholtz-family"
    in_features = 2
    out_features = 2
    parameters = {"sx": (-0.2, 0.2), "sy": (-0.2, 0.2)}
    model_kwargs = {"hidden_features": 128, "hidden_layers": 3, "first_omega_0": 30.0, "hidden_omega_0": 30.0}
    default_steps, default_instances, default_points, default_lr = 6000, 8, 512, 3e-4

    def __init__(self, extrapolate: bool = False, k: float = 20.0, sigma: float = 0.01, metric_n: int = 64,
                 absorption: float = 0.5, absorption_fraction: float = 0.5):
        super().__init__(extrapolate)
        from sirenpde.problems import get_problem

        # checked here, before anything is sized by them: a family.pt's options are untrusted
        self.metric_n = integer(self.name, "metric_n", metric_n, 2, METRIC_N_MAX)
        # the member at the origin (which checks k, sigma and the absorption): its operator, its PML
        # and its subtraction table serve every member
        self.base = get_problem("helmholtz", k=k, sigma=sigma, subtract_source=True, absorption=absorption,
                                absorption_fraction=absorption_fraction)
        self.k, self.sigma = self.base.k, self.base.sigma
        self.absorption, self.absorption_fraction = float(absorption), float(absorption_fraction)
        self.subtraction = self.base.subtraction
        self.inner = self.base.inner
        self.bounds = ((-self.inner, -self.inner), (self.inner, self.inner))

    def check_valid(self, p: Tensor) -> None:
        room = self.inner - p.abs().amax(dim=1)
        if (room < self.subtraction.r2 - 1e-12).any():
            raise ValueError(f"{self.name}: a source must lie at least {self.subtraction.r2:g} inside the physical "
                             f"region [-{self.inner:g}, {self.inner:g}]² (the subtraction disk), got {p.tolist()}")

    def coefficients(self, step=None, steps=None) -> dict:
        return self.base.coefficients(step, steps)

    # -- per-instance source terms ---------------------------------------------------------------
    def singular_terms(self, x: Tensor, p: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``chi G`` and the known terms of the ``v`` equation at ``x (B, n, 2)`` for sources
        ``p (B, 2)``: complex ``(B, n)`` arrays."""
        xs = x.detach().cpu().double().numpy()
        ps = p.detach().cpu().double().numpy()
        shifted = (xs - ps[:, None, :]).reshape(-1, 2)
        chi_g, rest = self.subtraction.terms(shifted)
        return chi_g.reshape(xs.shape[:2]), rest.reshape(xs.shape[:2])

    def _with_terms(self, x: Tensor, p: Tensor) -> dict:
        chi_g, rest = self.singular_terms(x, p)
        ctype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        return {"x": x, "p": p, "chi_g": torch.as_tensor(chi_g, dtype=ctype),
                "f": torch.as_tensor(rest, dtype=ctype), "m": torch.ones(x.shape[:2], dtype=x.dtype)}

    def residual(self, u, batch) -> Tensor:
        """The single problem's residual on the instances' points end to end: ``(B n, 2)``."""
        flat = {"m": batch["m"].flatten(0, 1), "f": batch["f"].flatten(0, 1),
                "chi_g": batch["chi_g"].flatten(0, 1)}
        if "absorption" in batch:
            flat["absorption"] = batch["absorption"]
        return self.base.residual(FlatField(u), flat)

    def constraints(self) -> list[Constraint]:
        L = self.base.half_width
        spread = 0.5 * self.subtraction.r2

        def domain(p, n, generator):
            x = (torch.rand(len(p), n, 2, generator=generator, dtype=p.dtype) * 2 - 1) * L
            return self._with_terms(x, p)

        def near_source(p, n, generator):
            x = p[:, None, :] + spread * torch.randn(len(p), n, 2, generator=generator, dtype=p.dtype)
            return self._with_terms(x.clamp(-L, L), p)

        def wall(p, n, generator):
            t = (torch.rand(len(p), n, generator=generator, dtype=p.dtype) * 2 - 1) * L
            side = torch.randint(0, 4, (len(p), n), generator=generator)
            x = torch.where(side < 2, torch.where(side == 0, -L, L), t)
            y = torch.where(side < 2, t, torch.where(side == 2, -L, L))
            return {"x": torch.stack([x, y], dim=-1), "p": p}

        b = self.base
        return [Constraint("pde", domain, self.residual, order=2, reduction=b.reduction,
                           share=1.0 - b.source_share - b.wall_share),
                Constraint("pde_source", near_source, self.residual, order=2, reduction=b.reduction,
                           share=b.source_share),
                Constraint("wall", wall, lambda u, batch: u.value[..., :2], order=0, share=b.wall_share)]

    # -- reference and evaluation ----------------------------------------------------------------
    def reference(self, x: Tensor, p) -> Tensor:
        """The field ``u`` (real and imaginary parts) of member ``b`` at ``x[b]`` (or the shared
        ``x (n, 2)``), inside the physical region: ``(B, n, 2)``."""
        from sirenpde.problems.helmholtz_reference import helmholtz_uniform

        u = self.member_references(x, p, lambda at, member: helmholtz_uniform(at, self.k, np.asarray(member),
                                                                              self.sigma))
        return torch.as_tensor(np.stack([u.real, u.imag], -1), dtype=x.dtype)

    def model_field(self, value: Tensor, x: Tensor, p: Tensor) -> Tensor:
        """``u = v + chi G`` from the model's ``v (B, n, 2)``."""
        xb = x.expand(len(p), *x.shape) if x.ndim == 2 else x
        chi_g, _ = self.singular_terms(xb, p)
        add = torch.as_tensor(np.stack([chi_g.real, chi_g.imag], -1), dtype=value.dtype, device=value.device)
        return value + add

    def metric_points(self) -> Tensor:
        axis = torch.linspace(-self.inner, self.inner, self.metric_n, dtype=torch.float64)
        return torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)

    def instance(self, p):
        """The ``helmholtz`` problem of member ``p = (sx, sy)`` (its :meth:`instance_options` are
        what differs from that problem's defaults)."""
        from sirenpde.problems import get_problem

        sx, sy = self.check(p)[0].tolist()
        return get_problem("helmholtz", k=self.k, source=[sx, sy], sigma=self.sigma, subtract_source=True,
                           absorption=self.absorption, absorption_fraction=self.absorption_fraction,
                           metric_n=self.metric_n)
