"""Full-waveform inversion with the Helmholtz equation (the SIREN paper's inverse problem).

Several Gaussian sources illuminate an unknown medium; receivers on the edges of the physical
region record the complex fields. One network outputs every source's complex field (two channels
each) and the squared slowness ``m = 1/c²`` (the last channel, as ``m = 1 + raw``); the loss is the
stretched Helmholtz residual of every source with the shared ``m`` plus the misfit at the receivers.
In the absorbing band the medium is known (``m = 1``), so there the residual uses the background.

The receiver data come from the package's FDFD solver (:mod:`sirenpde.problems.helmholtz_reference`)
run on the true velocity map; the sign convention is the one of :mod:`sirenpde.problems.helmholtz`
(``Δu + k² m u = -f``, time dependence ``exp(-iωt)``).
"""
from __future__ import annotations

import numpy as np
import torch

from sirenpde.problem import Constraint
from sirenpde.problems._options import integer, number
from sirenpde.problems._pde_common import check_point, model_values, panel_figure, square_grid
from sirenpde.problems.helmholtz import Helmholtz
from sirenpde.problems.helmholtz_reference import gaussian_source


class HelmholtzInverse(Helmholtz):
    """Full-waveform inversion: recover the velocity from receiver data of several Helmholtz sources.

    Parameters
    ----------
    k : float, background wavenumber (default 20)
    sources : (S, 2) float, source centres inside the physical region (default: 4 near the corners)
    sigma : float, source standard deviation
    velocity : the true map: "square", "disk", a number or an ``(H, W)`` array (default "disk")
    receivers_per_side : int, receivers evenly spaced on each edge of the physical region
    data_weight : float, weight of the receiver misfit
    noise : float, relative standard deviation of Gaussian noise added to the data (seeded)
    half_width, pml_width, pml_strength, source_share, wall_share, reference_n, metric_n : as for
        :class:`~sirenpde.problems.helmholtz.Helmholtz`
    """

    name = "helmholtz-inverse"
    default_steps = 5000
    default_lr = 1e-4  # not the forward problem's 3e-4 with cosine decay, which was tuned without
    default_schedule = None  # an unknown medium

    def __init__(self, k: float = 20.0, sources=((-0.3, -0.3), (0.3, -0.3), (-0.3, 0.3), (0.3, 0.3)),
                 sigma: float = 0.01, velocity="disk", receivers_per_side: int = 25,
                 data_weight: float = 10.0, noise: float = 0.0, half_width: float = 1.0,
                 pml_width: float = 0.5, pml_strength: float = 5.0,
                 source_share: float = 0.2, wall_share: float = 0.02, reference_n: int = 400,
                 metric_n: int = 128, seed: int = 0):
        try:
            src = np.asarray(sources, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"helmholtz-inverse: sources must be a list of [x, y] points, got {sources!r}") from None
        receivers_per_side = integer("helmholtz-inverse", "receivers_per_side", receivers_per_side, 2)
        noise = number("helmholtz-inverse", "noise", noise, 0.0)
        data_weight = number("helmholtz-inverse", "data_weight", data_weight)
        seed = integer("helmholtz-inverse", "seed", seed, 0)
        if src.ndim != 2 or src.shape[1] != 2 or len(src) < 1:
            raise ValueError(f"helmholtz-inverse: sources must have shape (S, 2) with S >= 1, "
                             f"got {src.shape}")
        super().__init__(k=k, source=src[0], sigma=sigma, velocity=velocity, half_width=half_width,
                         pml_width=pml_width, pml_strength=pml_strength, source_share=source_share,
                         wall_share=wall_share, reference_n=reference_n, metric_n=metric_n,
                         subtract_source=False)  # the velocity is unknown here, so is the source's field
        self.sources = np.stack([check_point(f"helmholtz-inverse: source {i}", s, -self.inner, self.inner)
                                 for i, s in enumerate(src)])
        if int(receivers_per_side) < 2:
            raise ValueError(f"helmholtz-inverse: receivers_per_side must be >= 2, got {receivers_per_side}")
        if not (noise >= 0 and np.isfinite(noise)):
            raise ValueError(f"helmholtz-inverse: noise must be >= 0, got {noise}")
        self.n_sources = len(self.sources)
        self.out_features = 2 * self.n_sources + 1
        self.data_weight, self.noise, self.seed = float(data_weight), float(noise), int(seed)
        self._sources_t = torch.as_tensor(self.sources, dtype=torch.float32)
        t = np.linspace(-self.inner, self.inner, int(receivers_per_side))
        a = np.full_like(t, self.inner)
        edges = [np.c_[t, -a], np.c_[t, a], np.c_[-a, t], np.c_[a, t]]
        self.receivers = np.unique(np.concatenate(edges), axis=0)  # corners once
        self._data = None

    # -- data ---------------------------------------------------------------------------------
    def true_fields(self):
        """FDFD solutions of every source in the true medium (one factorisation, cached)."""
        if not hasattr(self, "_fdfd_fields"):
            solver = self.fdfd()
            self._fdfd_fields = [solver.solve(lambda q, s=s: gaussian_source(q, s, self.sigma))
                                 for s in self.sources]
        return self._fdfd_fields

    def data(self) -> torch.Tensor:
        """Receiver data ``(R, 2S)``: real and imaginary parts of every source's field (noise added)."""
        if self._data is None:
            cols = []
            for sol in self.true_fields():
                u = sol(self.receivers)
                cols += [u.real, u.imag]
            d = np.stack(cols, 1)
            if self.noise > 0:
                rng = np.random.default_rng(self.seed)
                d = d + self.noise * np.sqrt(np.mean(d**2)) * rng.standard_normal(d.shape)
            self._data = torch.as_tensor(d, dtype=torch.float32)
        return self._data

    # -- the equation ----------------------------------------------------------------------
    def sources_torch(self, x: torch.Tensor) -> torch.Tensor:
        r2 = ((x[:, None, :] - self._sources_t.to(x.device)[None]) ** 2).sum(dim=2)
        return torch.exp(-r2 / (2 * self.sigma**2)) / (2 * np.pi * self.sigma**2)  # (n, S)

    def _with_coefficients(self, x: torch.Tensor) -> dict:
        inside = (x.abs() <= self.inner).all(dim=1)
        return {"x": x, "f": self.sources_torch(x), "inside": inside.to(x.dtype)}

    def slowness2_from_output(self, value: torch.Tensor) -> torch.Tensor:
        return 1.0 + value[:, -1]

    def residual(self, u, batch) -> torch.Tensor:
        """Every source's stretched residual with the network's ``m`` (background in the band): (n, 2S)."""
        inside = batch["inside"]
        m = inside * self.slowness2_from_output(u.value) + (1 - inside)
        laps = self.stretched_laplacians(u, [(2 * s, 2 * s + 1) for s in range(self.n_sources)])
        out = []
        for s, lap in enumerate(laps):
            value = torch.complex(u.value[:, 2 * s], u.value[:, 2 * s + 1])
            r = (lap + self.k**2 * m * value + batch["f"][:, s]) / self.k**2
            out += [r.real, r.imag]
        return torch.stack(out, dim=1)

    def wall_residual(self, u, batch) -> torch.Tensor:
        return u.value[:, :-1]

    def _sample_source(self, n, generator):
        pick = torch.randint(0, self.n_sources, (n,), generator=generator)
        x = self._sources_t[pick] + 3 * self.sigma * torch.randn(n, 2, generator=generator)
        return self._with_coefficients(x.clamp(-self.half_width, self.half_width))

    def _sample_receivers(self, n, generator):
        rec = torch.as_tensor(self.receivers, dtype=torch.float32)
        data = self.data()
        if n >= len(rec):
            return {"x": rec, "data": data}
        idx = torch.randperm(len(rec), generator=generator)[:n]
        return {"x": rec[idx], "data": data[idx]}

    def constraints(self) -> list[Constraint]:
        cons = super().constraints()
        cons.append(Constraint("data", self._sample_receivers, lambda u, b: u.value[:, :-1] - b["data"],
                               order=0, weight=self.data_weight, share=0.05))
        return cons

    # -- reference and evaluation ------------------------------------------------------------
    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """True fields (FDFD) and true squared slowness: ``(n, 2S + 1)``."""
        p = x.detach().cpu().double().numpy()
        cols = []
        for sol in self.true_fields():
            u = sol(p)
            cols += [u.real, u.imag]
        cols.append(self.slowness2_numpy(p))
        return torch.as_tensor(np.stack(cols, 1), dtype=torch.float32)

    def _grid_values(self, model):
        axis, pts = square_grid(-self.inner, self.inner, self.metric_n)
        v = model_values(model, pts)
        m = np.maximum(1.0 + v[:, -1], 1e-6)
        c_true = self.velocity.numpy(pts.double().numpy())
        return axis, pts, v, 1.0 / np.sqrt(m), c_true

    def metrics(self, model) -> dict[str, float]:
        """``velocity_rel_l2``: ``||c - c_true|| / ||c_true||`` in the physical region; ``field_rel_l2``:
        the same for the complex fields of all sources against the FDFD fields."""
        _, pts, v, c, c_true = self._grid_values(model)
        p = pts.double().numpy()
        num = den = 0.0
        for s, sol in enumerate(self.true_fields()):
            ref = sol(p)
            num += np.sum(np.abs(v[:, 2 * s] + 1j * v[:, 2 * s + 1] - ref) ** 2)
            den += np.sum(np.abs(ref) ** 2)
        return {"velocity_rel_l2": float(np.linalg.norm(c - c_true) / np.linalg.norm(c_true)),
                "field_rel_l2": float(np.sqrt(num / den))}

    def fields(self, model) -> dict[str, np.ndarray]:
        axis, _, v, c, c_true = self._grid_values(model)
        n = len(axis)
        return {"x": axis, "velocity": c.reshape(n, n), "velocity_true": c_true.reshape(n, n),
                "real_source0": v[:, 0].reshape(n, n), "receivers": self.receivers, "sources": self.sources}

    def figure(self, model, history):
        f = self.fields(model)
        ext = [-self.inner, self.inner, -self.inner, self.inner]
        panels = [("velocity (recovered)", f["velocity"], ext, "viridis", False),
                  ("velocity (true)", f["velocity_true"], ext, "viridis", False),
                  ("|velocity error|", np.abs(f["velocity"] - f["velocity_true"]), ext, "magma", False),
                  ("Re u, source 0", f["real_source0"], ext, "RdBu_r", True)]
        fig = panel_figure(panels, history, f"helmholtz-inverse k={self.k:g}, {self.n_sources} sources")
        for ax in fig.axes[:2]:
            ax.plot(self.receivers[:, 0], self.receivers[:, 1], "k.", ms=2)
            ax.plot(self.sources[:, 0], self.sources[:, 1], "r*", ms=6)
        return fig

    def describe(self) -> dict:
        d = super().describe()
        d.update(name=self.name, sources=self.sources.tolist(), receivers=len(self.receivers),
                 data_weight=self.data_weight, noise=self.noise)
        d.pop("source", None)
        return d
