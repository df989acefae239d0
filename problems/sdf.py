"""Fit a signed distance function to an oriented point cloud (the paper's shape experiment).

The cloud is first mapped into ``[-0.9, 0.9]^3`` by a :class:`~sirenpde.shapes.pointcloud.Normalization`
kept as ``problem.normalization``; the network works in those coordinates and its value is a
distance in them (multiply by ``normalization.scale`` for the input's units). Three point sets
are drawn every step, and each point carries every term that applies to it, so one evaluation of
the field (value and gradient) feeds all of them:

==============  ===================================  ==========================================
point set       where                                terms (default weight)
==============  ===================================  ==========================================
``surface``     the cloud's points p, normals n      |f| (3e3), 1 - cos(grad f, n) (1e2)
``near``        p + delta, delta ~ N(0, sigma^2 I)   |f - n . delta| (1e3)
``off_surface`` uniform in [-1, 1]^3 (or: spacing)   exp(-alpha |f|) (1e2),
                                                     relu(d(x, cloud) - slack - side f) (1e3)
==============  ===================================  ==========================================

and the eikonal term | |grad f| - 1 | (5e1) on all three. The weights 3e3, 1e2, 1e2, 5e1 and
alpha = 100 are the paper's. Two terms are added to them:

* ``near``: ``n . delta`` is the signed distance of the perturbed point to the tangent plane,
  the true signed distance up to ``O(curvature * |delta|^2)``; this band pins the field to a
  distance near the surface, where the paper's off-surface term only pushes |f| away from 0.
* ``bound``: the distance to the surface is at least the distance d to the nearest cloud point
  minus the cloud's covering radius (plus noise), ``slack``. ``side`` is the sign of the SDF
  where the points' generalised winding number is confidently 0 (outside: +1) or 1 (inside: -1)
  and is taken as sign(f) elsewhere, i.e. the bound is on |f| there (see :class:`DistanceGuide`).
  A spurious zero level set, or a region of the wrong sign, far from the data breaks the bound
  over a whole band or region, so this term removes the stray surfaces that otherwise survive
  thousands of steps of the paper's loss (bunny, 50k points, 3x128 Siren: 16 separate pieces
  after 2000 steps without this term; one piece after 800 steps with it); the true SDF never
  pays it.

Each point set is one constraint whose residual is the weighted sum of its terms per point
(``reduction="mean"``), so the total loss is the paper's up to a constant factor when the shares
are equal, and the history has one curve per point set.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from sirenpde.evaluate import evaluate
from sirenpde.io.plotting import loss_curves, subplots
from sirenpde.meshing import extract_mesh
from sirenpde.problem import Constraint, Problem
from sirenpde.problems._options import integer
from sirenpde.problems._sdf_guide import DistanceGuide
from sirenpde.shapes.metrics import evaluate_mesh, load_mesh
from sirenpde.shapes.model import ShapeModel
from sirenpde.shapes.pointcloud import Normalization, PointCloud, read_point_cloud
from sirenpde.shapes.roughness import NOISY_ROUGHNESS, roughness

__all__ = ["SDF", "DistanceGuide", "roughness", "NOISY_ROUGHNESS", "MESH_SCORES"]

# Points used for the field-only metrics (fixed seed so metrics are comparable across runs).
_METRIC_POINTS = 20_000
_COS_EPS = 1e-8
MESH_SCORES = ("chamfer_l1", "chamfer_l1_exact", "normal_consistency", "fscore")
OFF_SAMPLINGS = ("uniform", "spacing")


def _positive(value, name: str, allow_zero: bool = True) -> float:
    value = float(value)
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"SDF: {name} must be a finite number {bound}, got {value!r}")
    return value


class SDF(Problem):
    """Signed distance function of the shape behind an oriented point cloud.

    Parameters
    ----------
    cloud : PointCloud, or path of an ``.xyz`` / ``.ply`` / ``.pcd`` file
    normals : {"error", "drop", "estimate"}
        Policy for bad normals when ``cloud`` is a path (see :func:`read_point_cloud`).
    surface_weight, normal_weight, off_surface_weight, eikonal_weight : float
        The paper's weights 3e3, 1e2, 1e2 and 5e1.
    near_weight : float
        Weight of |f - n . delta| on the near-surface band (0 turns the band's distance term off;
        its points still carry the eikonal term).
    bound_weight : float
        Weight of the distance lower bound on the off-surface points (0 turns it off).
    bound_slack : float, optional
        ``slack`` in that bound, normalised units; default 0.02 plus 4 median nearest-neighbour
        spacings of the cloud (which grows with sparsity and noise).
    alpha : float
        Decay of the off-surface penalty exp(-alpha |f|) (paper: 100).
    near_sigma : float
        Standard deviation of the near-surface offsets, in normalised units (the cloud spans
        [-0.9, 0.9] along its longest side).
    shares : (surface, near, off_surface)
        Relative shares of each batch.
    off_sampling : {"uniform", "spacing"}
        Where the off-surface points are drawn. "uniform": uniform in [-1, 1]^3 (the paper's).
        "spacing": a share ``uniform_share`` uniform in the cube, the rest around randomly chosen
        cloud points, ``p + N(0, s_p^2 I)`` with ``s_p`` the distance from ``p`` to its
        ``spacing_neighbours``-th nearest cloud point, so the off-surface and eikonal terms are
        spent where the field has detail to learn (the sampling of IGR-style methods).
    spacing_neighbours : int
        ``k`` of that distance (default 10).
    uniform_share : float in [0, 1]
        Share of the off-surface points that stay uniform under "spacing" (default 0.2).
    reference_mesh : trimesh.Trimesh or path, optional
        Ground truth in the input's coordinates; ``metrics`` then meshes the fit at
        ``metrics_resolution`` and reports Chamfer-L1, normal consistency and F-score.
    reference_sdf : callable, optional
        Exact signed distance in the input's coordinates, numpy ``(n, 3) -> (n,)``; enables
        :meth:`reference`.
    metrics_resolution : int
        Grid resolution of the mesh used for the mesh metrics.
    margin : float
        Half-extent the cloud's longest side is mapped to (``Normalization.fit``).
    """

    name = "sdf"
    in_features = 3
    out_features = 1
    # Measured on the bunny (50k points) on a 2-core CPU: 2000 steps of 6000 points with a
    # 4x128 Siren take ~2.5 min of one core. The rate sets the exact Chamfer-L1 reached; with a
    # plain cosine decay: 3e-4 -> 4.7e-4, 5e-4 -> 4.3e-4, 1e-3 -> 3.2e-4 (two seeds), while 2e-3
    # collapsed the field to one sign, as did 1e-3 with a 4x256 network. fit_sdf's default
    # schedule warms up over the first 5% of the steps, which kept 2e-3 (4x128) stable, so 1e-3
    # has a factor-2 margin. The paper's 1e-4 converges ~2x slower in steps than 3e-4.
    default_steps = 2000
    default_batch_size = 6000
    default_lr = 1e-3
    model_kwargs = {"siren": {"hidden_features": 128, "hidden_layers": 3}}

    def __init__(self, cloud: Union[PointCloud, str, Path], normals: str = "error", *,
                 surface_weight: float = 3e3, normal_weight: float = 1e2, off_surface_weight: float = 1e2,
                 eikonal_weight: float = 5e1, near_weight: float = 1e3, alpha: float = 100.0,
                 near_sigma: float = 0.01, bound_weight: float = 1e3, bound_slack: Optional[float] = None,
                 shares=(0.4, 0.2, 0.4), off_sampling: str = "uniform", spacing_neighbours: int = 10,
                 uniform_share: float = 0.2, reference_mesh=None,
                 reference_sdf: Optional[Callable] = None, metrics_resolution: int = 128,
                 metrics_samples: int = 100_000, margin: float = 0.9):
        if isinstance(cloud, (str, Path)):
            cloud = read_point_cloud(cloud, normals=normals)
        elif not isinstance(cloud, PointCloud):
            raise ValueError(f"SDF: cloud must be a PointCloud or a file path, got {type(cloud).__name__}")
        self.cloud = cloud
        self.normalization = Normalization.fit(cloud.points, margin=margin)
        self.weights = {name: _positive(w, name) for name, w in (
            ("surface_weight", surface_weight), ("normal_weight", normal_weight),
            ("off_surface_weight", off_surface_weight), ("eikonal_weight", eikonal_weight),
            ("near_weight", near_weight), ("bound_weight", bound_weight))}
        self.alpha = _positive(alpha, "alpha", allow_zero=False)
        self.near_sigma = _positive(near_sigma, "near_sigma", allow_zero=False)
        shares = tuple(float(s) for s in shares)
        if len(shares) != 3 or not all(math.isfinite(s) and s >= 0 for s in shares) or sum(shares) <= 0:
            raise ValueError(f"SDF: shares must be 3 finite numbers >= 0 (surface, near, off_surface) "
                             f"with a positive sum, got {shares!r}")
        self.shares = shares
        if off_sampling not in OFF_SAMPLINGS:
            raise ValueError(f"SDF: off_sampling must be one of {', '.join(OFF_SAMPLINGS)}, got {off_sampling!r}")
        self.off_sampling = off_sampling
        self.spacing_neighbours = integer("SDF", "spacing_neighbours", spacing_neighbours, 1)
        self.uniform_share = _positive(uniform_share, "uniform_share")
        if self.uniform_share > 1:
            raise ValueError(f"SDF: uniform_share must be in [0, 1], got {uniform_share!r}")
        self.metrics_resolution = integer("SDF", "metrics_resolution", metrics_resolution, 2)
        self.metrics_samples = integer("SDF", "metrics_samples", metrics_samples, 1)
        if reference_mesh is not None and isinstance(reference_mesh, (str, Path)):
            reference_mesh = load_mesh(reference_mesh)
        self.reference_mesh = reference_mesh
        if reference_sdf is not None and not callable(reference_sdf):
            raise ValueError(f"SDF: reference_sdf must be callable, got {type(reference_sdf).__name__}")
        self.reference_sdf = reference_sdf
        normalized = self.normalization.apply(cloud.points)
        self.points = torch.as_tensor(normalized, dtype=torch.float32)
        self.normals = torch.as_tensor(cloud.normals, dtype=torch.float32)
        self._guide: Optional[DistanceGuide] = None  # built on first use: it takes a second or two
        tree = cKDTree(normalized)
        if bound_slack is None:
            spacing = tree.query(normalized[:_METRIC_POINTS], k=2, workers=-1)[0][:, 1]
            bound_slack = 0.02 + 4.0 * float(np.median(spacing))
        self.bound_slack = _positive(bound_slack, "bound_slack")
        self.point_sigma: Optional[torch.Tensor] = None  # s_p of off_sampling="spacing"
        if self.off_sampling == "spacing":
            k = min(self.spacing_neighbours, len(normalized) - 1)
            if k < 1:
                raise ValueError("SDF: off_sampling='spacing' needs at least 2 cloud points")
            sigma = tree.query(normalized, k=k + 1, workers=-1)[0][:, -1]
            self.point_sigma = torch.as_tensor(sigma, dtype=torch.float32)

    def make_model(self, name: str = "siren", **overrides):
        """A built-in network (``model_kwargs`` under ``overrides``) in a
        :class:`~sirenpde.shapes.model.ShapeModel` carrying this problem's normalisation."""
        return ShapeModel(super().make_model(name, **overrides), self.normalization)

    # ------------------------------------------------------------------------ sampling
    def _surface(self, n: int, generator: torch.Generator) -> dict:
        idx = torch.randint(0, self.points.shape[0], (n,), generator=generator)
        return {"x": self.points[idx], "normal": self.normals[idx]}

    def _near(self, n: int, generator: torch.Generator) -> dict:
        batch = self._surface(n, generator)
        delta = torch.randn(n, 3, generator=generator) * self.near_sigma
        offset = (delta * batch["normal"]).sum(dim=1, keepdim=True)
        return {"x": batch["x"] + delta, "normal": batch["normal"], "target": offset}

    @staticmethod
    def _uniform(n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(n, 3, generator=generator) * 2.0 - 1.0

    @property
    def guide(self) -> DistanceGuide:
        if self._guide is None:
            self._guide = DistanceGuide(self.points.double().numpy(), self.normals.double().numpy())
        return self._guide

    def _off_points(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.point_sigma is None:
            return self._uniform(n, generator)
        n_uniform = int(round(n * self.uniform_share))
        idx = torch.randint(0, self.points.shape[0], (n - n_uniform,), generator=generator)
        around = self.points[idx] + torch.randn(n - n_uniform, 3, generator=generator) * self.point_sigma[idx, None]
        return torch.cat([self._uniform(n_uniform, generator), around.clamp(-1.0, 1.0)])

    def _off(self, n: int, generator: torch.Generator) -> dict:
        x = self._off_points(n, generator)
        distance, sign = self.guide.lookup(x)
        return {"x": x, "cloud_distance": distance.unsqueeze(-1), "sign": sign.unsqueeze(-1)}

    # ------------------------------------------------------------------------ residuals
    def terms(self, u, batch: dict, which: str) -> dict[str, torch.Tensor]:
        """The unweighted per-point terms of point set ``which`` on a field ``u``: ``(n,)`` each.

        Keys: ``eikonal`` always; ``surface`` and ``normal`` for ``"surface"``; ``near`` for
        ``"near"``; ``off_surface`` for ``"off_surface"``.
        """
        f = u.value[:, 0]
        grad = u.grad
        out = {"eikonal": (grad.norm(dim=1) - 1.0).abs()}
        if which == "surface":
            out["surface"] = f.abs()
            out["normal"] = 1.0 - F.cosine_similarity(grad, batch["normal"], dim=1, eps=_COS_EPS)
        elif which == "near":
            out["near"] = (f - batch["target"][:, 0]).abs()
        elif which == "off_surface":
            out["off_surface"] = torch.exp(-self.alpha * f.abs())
            # Where the winding number knows the side, the bound holds for sign * f, not only |f|.
            sign = batch["sign"][:, 0]
            known = torch.where(sign != 0, sign * f, f.abs())
            out["bound"] = torch.relu(batch["cloud_distance"][:, 0] - self.bound_slack - known)
        else:
            raise ValueError(f"unknown point set {which!r}; expected surface, near or off_surface")
        return out

    def _residual(self, which: str):
        w = self.weights

        def residual(u, batch):
            t = self.terms(u, batch, which)
            r = w["eikonal_weight"] * t.pop("eikonal")
            for name, value in t.items():
                r = r + w[f"{name}_weight"] * value
            return r

        return residual

    def constraints(self) -> list[Constraint]:
        samplers = {"surface": self._surface, "near": self._near, "off_surface": self._off}
        return [Constraint(name, samplers[name], self._residual(name), order=1, share=share, reduction="mean")
                for name, share in zip(("surface", "near", "off_surface"), self.shares) if share > 0]

    # ------------------------------------------------------------------------ reference, metrics
    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """Exact signed distance at normalised points ``x (n, 3)``, in normalised units: ``(n, 1)``."""
        if self.reference_sdf is None:
            raise NotImplementedError("this SDF problem has no exact signed distance; pass reference_sdf")
        original = self.normalization.invert(x.detach().cpu().double().numpy())
        d = np.asarray(self.reference_sdf(original), dtype=np.float64).reshape(-1) / self.normalization.scale
        return torch.as_tensor(d, dtype=x.dtype, device=x.device).unsqueeze(-1)

    def _metric_points(self):
        gen = torch.Generator().manual_seed(1234)
        idx = torch.randperm(self.points.shape[0], generator=gen)[:_METRIC_POINTS]
        return self.points[idx], self.normals[idx].numpy(), self._uniform(_METRIC_POINTS, gen)

    def field_metrics(self, model) -> dict[str, float]:
        """Metrics from the field alone (no meshing), in normalised units.

        ``surface_abs_f``: mean |f| on the cloud's points; ``surface_abs_f_input_units``: the same
        times the normalisation's scale; ``normal_cos``: mean cos(grad f, n) there;
        ``eikonal_error_surface`` / ``eikonal_error_volume``: mean | |grad f| - 1 | on the cloud
        and on uniform points of [-1, 1]^3; with ``reference_sdf`` also ``sdf_mae_volume``.
        At most 20,000 points of each kind, drawn with a fixed seed.
        """
        surface, normals, volume = self._metric_points()
        on = evaluate(model, surface, order=1)
        vol = evaluate(model, volume, order=1)
        g = on["grad"]
        cos = np.einsum("ij,ij->i", g, normals) / np.maximum(np.linalg.norm(g, axis=1), _COS_EPS)
        out = {
            "surface_abs_f": float(np.abs(on["value"]).mean()),
            "surface_abs_f_input_units": float(np.abs(on["value"]).mean() * self.normalization.scale),
            "normal_cos": float(cos.mean()),
            "eikonal_error_surface": float(np.abs(np.linalg.norm(g, axis=1) - 1).mean()),
            "eikonal_error_volume": float(np.abs(np.linalg.norm(vol["grad"], axis=1) - 1).mean()),
        }
        if self.reference_sdf is not None:
            exact = self.reference(volume)[:, 0].numpy()
            out["sdf_mae_volume"] = float(np.abs(vol["value"][:, 0] - exact).mean())
        return out

    def mesh(self, model, resolution: Optional[int] = None, progress: bool = False, **kwargs):
        """Marching cubes of the fitted field on [-1, 1]^3, vertices in the input's coordinates."""
        return extract_mesh(model, bounds=((-1, -1, -1), (1, 1, 1)),
                            resolution=resolution or self.metrics_resolution, progress=progress,
                            transform=self.normalization.matrix, **kwargs)

    def metrics(self, model) -> dict[str, float]:
        out = self.field_metrics(model)
        if self.reference_mesh is not None:
            try:
                mesh = self.mesh(model)
            except ValueError as err:  # no zero crossing yet: report it instead of failing the fit
                out["mesh_error"] = str(err)
                return out
            scores = evaluate_mesh(mesh, self.reference_mesh, n_samples=self.metrics_samples)
            out.update({k: scores[k] for k in MESH_SCORES})
            out["mesh_resolution"] = self.metrics_resolution
        return out

    # ------------------------------------------------------------------------ plotting
    def fields(self, model, size: int = 256) -> dict[str, np.ndarray]:
        """The SDF on the plane z = 0 of the normalised cube (the cloud's bounding-box centre
        plane), in the input's units: ``sdf_slice (size, size)`` indexed ``[x, y]``, and the
        plane's axes ``x``, ``y`` in the input's coordinates."""
        axis = torch.linspace(-1.0, 1.0, size)
        xx, yy = torch.meshgrid(axis, axis, indexing="ij")
        pts = torch.stack([xx, yy, torch.zeros_like(xx)], dim=-1).reshape(-1, 3)
        values = evaluate(model, pts)["value"][:, 0].reshape(size, size)
        c, s = self.normalization.center, self.normalization.scale
        return {"sdf_slice": values * s, "x": axis.numpy() * s + c[0], "y": axis.numpy() * s + c[1],
                "z": np.array([c[2]])}

    def figure(self, model, history: dict[str, list[float]]):
        f = self.fields(model)
        fig, (ax, ax_loss) = subplots(1, 2, figsize=(11, 4.5))
        extent = (f["x"][0], f["x"][-1], f["y"][0], f["y"][-1])
        lim = float(np.abs(f["sdf_slice"]).max()) or 1.0
        im = ax.imshow(f["sdf_slice"].T, origin="lower", extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.contour(f["x"], f["y"], f["sdf_slice"].T, levels=[0.0], colors="k", linewidths=1.2)
        ax.contour(f["x"], f["y"], f["sdf_slice"].T, levels=np.linspace(-lim, lim, 21), colors="0.4",
                   linewidths=0.4)
        near_plane = np.abs(self.points[:, 2].numpy()) < 0.01  # cloud points within 0.01 of the plane
        shown = self.cloud.points[near_plane]
        ax.plot(shown[:, 0], shown[:, 1], ".", color="#2ca02c", ms=1, label="cloud points near the plane")
        ax.set_title(f"SDF at z = {f['z'][0]:.4g} (zero level in black)")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        fig.colorbar(im, ax=ax, shrink=0.85)
        for name, values in loss_curves(history).items():
            ax_loss.semilogy(values, label=name, lw=1)
        ax_loss.set_xlabel("step")
        ax_loss.set_title("loss per point set")
        if history:
            ax_loss.legend()
        fig.tight_layout()
        return fig

    def describe(self) -> dict:
        return {"name": self.name, "source": self.cloud.source, "points": len(self.cloud),
                "normalization": self.normalization.to_dict(), "alpha": self.alpha,
                "near_sigma": self.near_sigma, "bound_slack": self.bound_slack, "shares": list(self.shares),
                "off_sampling": self.off_sampling, "spacing_neighbours": self.spacing_neighbours,
                "uniform_share": self.uniform_share,
                **self.weights}
