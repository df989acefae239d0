"""Shapes from oriented point clouds: fit a SIREN SDF, save it, mesh it, preview it.

Front door::

    from sirenpde.shape import reconstruct
    out = reconstruct("cloud.xyz", "mesh.ply", steps=2000, resolution=256)

which is :func:`fit_sdf` (a :class:`ShapeModel`: the network plus the normalisation that maps the
input's coordinates into the network's cube), :func:`mesh_shape` (marching cubes, vertices back
in the input's units), :func:`~sirenpde.meshing.export_ply` and :func:`write_preview` (a PNG of
a few rendered views next to the ``.ply``).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from sirenpde.atomic import atomic_path
from sirenpde.fields import supports_jets, supports_reverse
from sirenpde.jets import Jet
from sirenpde.nn import build_from_config, model_config
from sirenpde.plotting import pyplot, save_figure
from sirenpde.pointcloud import Normalization, PointCloud, read_point_cloud, sample_surface

log = logging.getLogger(__name__)
FORMAT = "sirenpde-shape-1"
# fit_sdf(noise="noisy"), also what noise="auto" picks for a rough cloud: a looser on-surface term
NOISY_SURFACE_WEIGHT = 5e2
NOISE_SETTINGS = ("auto", "clean", "noisy")
_KEYS = ("format", "version", "config", "normalization", "state_dict", "metadata")
CUBE = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


class ShapeModel(nn.Module):
    """A network on the normalised cube and the :class:`Normalization` that leads there.

    ``forward`` (and ``forward_jet``) take normalised points ``(n, 3)`` and return ``(n, 1)``
    signed distances in normalised units, so the model trains like any other; ``extract_mesh``
    reads ``.normalization`` and puts vertices back in the input's coordinates.

    Parameters
    ----------
    net : nn.Module mapping (n, 3) to (n, 1); a built-in sirenpde model to be savable
    normalization : Normalization
    metadata : dict of plain values (str, numbers, lists, dicts), saved with the model
    """

    def __init__(self, net: nn.Module, normalization: Normalization, metadata: Optional[dict] = None):
        super().__init__()
        if not isinstance(normalization, Normalization):
            raise ValueError("ShapeModel: normalization must be a Normalization, "
                             f"got {type(normalization).__name__}")
        for attr, want in (("in_features", 3), ("out_features", 1)):
            got = getattr(net, attr, want)
            if got != want:
                raise ValueError(f"ShapeModel: the network must map (n, 3) to (n, 1); it has {attr}={got}")
        self.net = net
        self.normalization = normalization
        self.metadata = dict(metadata or {})
        self.in_features, self.out_features = 3, 1
        # Shadow the methods the network lacks so sirenpde.field falls back to autograd.
        if not supports_jets(net):
            self.forward_jet = None
        if not supports_reverse(net):
            self.forward_grad = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def forward_jet(self, x: torch.Tensor, order: int = 2, second: str = "diagonal") -> Jet:
        return self.net.forward_jet(x, order=order, second=second)

    def forward_grad(self, x: torch.Tensor) -> Jet:
        return self.net.forward_grad(x)

    def sdf(self, points, batch_size: int = 65536) -> np.ndarray:
        """Signed distance at ``points (n, 3)`` in the input's coordinates and units: ``(n,)``."""
        x = torch.as_tensor(self.normalization.apply(points), dtype=torch.float32)
        dev = next(self.parameters()).device
        with torch.no_grad():
            values = [self(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(values)[:, 0].double().numpy() * self.normalization.scale

    def save(self, path) -> Path:
        """Write weights, network config, normalisation and metadata to one file, atomically.

        The file loads with ``torch.load(weights_only=True)`` (plain tensors, numbers, strings).
        """
        import sirenpde

        state = {
            "format": FORMAT,
            "version": sirenpde.__version__,
            "config": model_config(self.net),
            "normalization": self.normalization.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            "metadata": json.loads(json.dumps(self.metadata)),
        }
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        return path


def load_shape_model(path, device: Union[str, torch.device] = "cpu") -> ShapeModel:
    """Read a file written by :meth:`ShapeModel.save`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a sirenpde shape model: unreadable by ``torch.load(weights_only=True)``
        (another format, a text file, a pickle of arbitrary objects), another format tag, missing
        keys, or weights that do not fit the stored configuration.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"shape model file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a shape model file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types (UnpicklingError, RuntimeError, EOFError...)
        # torch's own message suggests weights_only=False, which would run arbitrary code: not here
        raise ValueError(f"{path} is not a sirenpde shape model (a file written by ShapeModel.save or "
                         f"`sirenpde fit-sdf`): torch.load(weights_only=True) could not read it "
                         f"({type(err).__name__})") from err
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a sirenpde shape model: it holds a {type(state).__name__}, "
                         f"not a dict with format {FORMAT!r}")
    tag = state.get("format")
    if tag != FORMAT:
        raise ValueError(f"{path} is not a sirenpde shape model: format tag is {tag!r}, expected {FORMAT!r}")
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise ValueError(f"{path}: sirenpde shape model lacks keys {missing} (has {sorted(state)})")
    metadata = state["metadata"] if isinstance(state["metadata"], dict) else {}
    try:
        net = build_from_config(state["config"])
        net.load_state_dict(state["state_dict"])
        shape = ShapeModel(net, Normalization.from_dict(state["normalization"]),
                           dict(metadata, saved_with_version=state["version"]))
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: sirenpde shape model is inconsistent: {err}") from err
    return shape.to(device).eval()


# ---------------------------------------------------------------------------- fitting


def fit_sdf(cloud: Union[PointCloud, str, Path], steps: Optional[int] = None, *, normals: str = "error",
            model: Optional[nn.Module] = None, hidden_features: Optional[int] = None,
            hidden_layers: Optional[int] = None, w0: Optional[float] = None, lr: Optional[float] = None,
            batch_size: Optional[int] = None, schedule: Optional[str] = "warmup-cosine", device: str = "auto",
            seed: int = 0, progress: bool = True, engine: str = "auto", noise: str = "auto",
            lbfgs_steps: int = 0, lbfgs_batch_size: Optional[int] = None, **problem_kwargs):
    """Fit a signed distance function to an oriented point cloud.

    Parameters
    ----------
    cloud : PointCloud or path (``.xyz``: ``x y z nx ny nz`` per line, ``.ply``, ``.pcd``)
    steps : int, default ``SDF.default_steps``
    normals : {"error", "drop", "estimate"}, policy for bad normals when reading a file
    model : a network on the normalised cube (default: a Siren sized by ``SDF.model_kwargs``,
        overridden by ``hidden_features``, ``hidden_layers`` and ``w0``)
    w0 : float, the Siren's frequency factor, first and hidden layers (default 30)
    noise : {"auto", "clean", "noisy"}
        "clean" uses the paper's weights. "noisy" lowers the on-surface weight from 3e3 to
        ``NOISY_SURFACE_WEIGHT`` = 5e2 (unless ``surface_weight`` is given), so the zero level
        averages points that scatter off the surface instead of threading each of them. "auto"
        (default) picks "noisy" when the cloud's roughness (see
        :func:`~sirenpde.problems.sdf.roughness`) is above ``NOISY_ROUGHNESS`` = 0.2, else
        "clean". Measured on the bunny (benchmarks/sdf.py, RESULTS.md): roughness 0.06 for 50k
        clean points, 0.13 for 5k, 0.50 and 0.34 for 50k and 5k points with 0.5% noise; on the
        noisy 5k the weight 5e2 took the sampled Chamfer-L1 from 0.00371 to 0.00327 (screened
        Poisson: 0.00341), on the noisy 50k it stayed at 0.00279 (0.00278). The on-surface weight
        is the knob: a smoother network (w0 = 15) lost detail on the dense and the clean inputs.
        ``metadata["noise"]`` records the setting used and ``metadata["noise_requested"]`` the one
        asked for.
    lr, schedule : the rate (default ``SDF.default_lr`` = 1e-3) and its schedule (default: a linear
        warm-up over the first 5% of the steps, then a cosine decay); without the warm-up a rate of
        2e-3 (4x128) or 1e-3 (4x256) collapsed the bunny's field to one sign within the first steps
    batch_size, device, seed, progress, engine, lbfgs_steps, lbfgs_batch_size : passed to
        :func:`sirenpde.fit` (no L-BFGS finish by default)
    **problem_kwargs : passed to :class:`~sirenpde.problems.sdf.SDF` (weights, ``near_sigma``,
        ``reference_mesh``...)

    Returns
    -------
    (ShapeModel, FitResult)
    """
    from sirenpde.problems.sdf import NOISY_ROUGHNESS, SDF, roughness
    from sirenpde.training import fit

    if noise not in NOISE_SETTINGS:
        raise ValueError(f"fit_sdf: noise must be one of {', '.join(NOISE_SETTINGS)}, got {noise!r}")
    if isinstance(cloud, (str, Path)):
        cloud = read_point_cloud(cloud, normals=normals)
    try:  # a cloud it cannot measure still fits (as clean under noise='auto')
        score = roughness(cloud.points)
    except ValueError as err:
        score = None
        log.info("point cloud roughness not measured: %s", err)
    requested = noise
    if noise == "auto":
        noise = "noisy" if score is not None and score > NOISY_ROUGHNESS else "clean"
    if noise == "noisy":
        problem_kwargs.setdefault("surface_weight", NOISY_SURFACE_WEIGHT)
    w0 = 30.0 if w0 is None else float(w0)
    problem = SDF(cloud, normals=normals, **problem_kwargs)
    if model is None:
        torch.manual_seed(seed)  # the initial weights too, so a seed fixes the whole fit
        overrides = {"first_omega_0": w0, "hidden_omega_0": w0}
        if hidden_features is not None:
            overrides["hidden_features"] = hidden_features
        if hidden_layers is not None:
            overrides["hidden_layers"] = hidden_layers
        shape = problem.make_model("siren", **overrides)
    elif isinstance(model, ShapeModel):
        raise ValueError("fit_sdf: pass the bare network as model; the ShapeModel around it is built here "
                         "with the cloud's normalisation")
    else:
        shape = ShapeModel(model, problem.normalization)
    lr = problem.default_lr if lr is None else float(lr)
    result = fit(problem, shape, steps=steps, lr=lr, batch_size=batch_size, device=device, seed=seed,
                 progress=progress, schedule=schedule, engine=engine, lbfgs_steps=lbfgs_steps,
                 lbfgs_batch_size=lbfgs_batch_size)
    shape.metadata.update({
        "noise": noise, "noise_requested": requested, "roughness": score,
        "source": problem.cloud.source, "points": len(problem.cloud), "steps": result.steps,
        "lr": lr, "schedule": schedule,
        "train_s": result.times["train_s"], "problem": problem.describe(),
        "final_loss": {k: v[-1] for k, v in result.history.items() if v},
    })
    shape.eval()
    return shape, result


def mesh_shape(shape: ShapeModel, resolution: int = 256, *, method: str = "sparse", device: str = "auto",
               progress: bool = True, cleanup=None, bounds=CUBE):
    """Mesh the zero level of ``shape`` on ``bounds`` (normalised cube by default); vertices are
    in the input's coordinates (``shape.normalization`` is applied)."""
    from sirenpde.meshing import NoSurfaceError, extract_mesh

    if not isinstance(shape, ShapeModel):
        raise ValueError("mesh_shape needs a ShapeModel (it carries the normalisation), "
                         f"got {type(shape).__name__}")
    try:
        return extract_mesh(shape, bounds=bounds, resolution=resolution, method=method, device=device,
                            progress=progress, cleanup=cleanup)
    except NoSurfaceError as err:
        lr = shape.metadata.get("lr")
        rate = f" (it ran at lr {lr:g}; try half of that)" if isinstance(lr, float) else " (try a lower lr)"
        where = ("the normalised cube, so the fit" if bounds == CUBE
                 else "these bounds; unless they miss the shape, the fit")
        raise NoSurfaceError(f"{err}. The fitted SDF has no zero level in {where} failed: a rate too "
                             f"high for the network makes it collapse to one sign{rate}") from err


@dataclass
class Reconstruction:
    """What :func:`reconstruct` returns: the mesh, the model, the fit and the files written."""

    mesh: object
    model: ShapeModel
    fit: object
    ply: Path
    preview: Optional[Path]
    model_path: Optional[Path]
    times: dict = dc_field(default_factory=dict)
    scores: dict = dc_field(default_factory=dict)


def reconstruct(cloud: Union[PointCloud, str, Path], out_ply, steps: Optional[int] = None,
                resolution: int = 256, device: str = "auto", progress: bool = True, *, normals: str = "error",
                preview: bool = True, save_model=None, cleanup=None, reference=None,
                **fit_kwargs) -> Reconstruction:
    """Point cloud to ``.ply`` in one go: fit, mesh, export, preview.

    Parameters
    ----------
    cloud : PointCloud or path
    out_ply : path ending in ``.ply``; the preview goes next to it with the suffix ``.png``
    steps, device, progress, normals : see :func:`fit_sdf`
    resolution : int, grid points per axis of the normalised cube [-1, 1]^3
    preview : bool, write the PNG
    save_model : path, optional; also save the :class:`ShapeModel` there
    cleanup : None, "largest" or a face fraction; drop small floating components
    reference : trimesh.Trimesh or path, optional; score the mesh against it (``scores``)
    **fit_kwargs : passed to :func:`fit_sdf`
    """
    from sirenpde.meshing import export_ply

    out_ply = Path(out_ply)
    if out_ply.suffix.lower() != ".ply":
        raise ValueError(f"the output mesh must be a .ply file, got {str(out_ply)!r}")
    shape, result = fit_sdf(cloud, steps, normals=normals, device=device, progress=progress, **fit_kwargs)
    t0 = time.perf_counter()
    mesh = mesh_shape(shape, resolution, device=device, progress=progress, cleanup=cleanup)
    times = {"fit_s": result.times["train_s"], "mesh_s": time.perf_counter() - t0}
    export_ply(mesh, out_ply)
    png = None
    if preview:
        png = write_preview(mesh, out_ply.with_suffix(".png"), title=out_ply.name)
    model_path = shape.save(save_model) if save_model is not None else None
    scores = {}
    if reference is not None:
        from sirenpde.shape_metrics import evaluate_mesh

        scores = evaluate_mesh(mesh, reference)
    return Reconstruction(mesh, shape, result, out_ply, png, model_path, times, scores)


# ---------------------------------------------------------------------------- preview

VIEWS = (("front", 0.0, 0.0), ("side", 90.0, 0.0), ("above", 35.0, 35.0))


def _rotation(azimuth: float, elevation: float) -> np.ndarray:
    a, e = np.radians(azimuth), np.radians(elevation)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    return tilt @ turn


def render_points(points: np.ndarray, normals: np.ndarray, rotation: np.ndarray, size: int) -> np.ndarray:
    """Orthographic z-buffered splat of oriented points, Lambert-shaded: ``(size, size)`` in [0, 1],
    NaN where nothing was drawn. ``points`` are expected in [-1, 1]^3 (the image spans that square),
    the camera looks down -z after ``rotation``."""
    p = points @ rotation.T
    shade = np.abs(normals @ rotation.T @ np.array([0.3, 0.4, 0.866]))
    col = np.clip(((p[:, 0] + 1) / 2 * size).astype(int), 0, size - 1)
    row = np.clip(((1 - p[:, 1]) / 2 * size).astype(int), 0, size - 1)
    pixel = row * size + col
    # Nearest point per pixel: sort by pixel, then by decreasing depth, keep the first of each pixel.
    order = np.lexsort((-p[:, 2], pixel))
    first = np.unique(pixel[order], return_index=True)[1]
    image = np.full(size * size, np.nan)
    image[pixel[order][first]] = shade[order][first]
    return image.reshape(size, size)


def write_preview(mesh, path, size: int = 360, title: str = "", seed: int = 0) -> Path:
    """Write a PNG with three shaded views of ``mesh`` (front, side, above), atomically."""
    import matplotlib

    plt = pyplot()
    path = Path(path)
    n = 10 * size * size  # about ten points per pixel of the object's silhouette keeps it hole-free
    cloud = sample_surface(mesh, n, seed=seed)
    center = (cloud.points.max(axis=0) + cloud.points.min(axis=0)) / 2
    radius = float(np.linalg.norm(cloud.points - center, axis=1).max()) * 1.05 or 1.0
    pts = (cloud.points - center) / radius
    fig, axes = plt.subplots(1, len(VIEWS), figsize=(4 * len(VIEWS), 4.3))
    cmap = matplotlib.colormaps["bone"].with_extremes(bad="white")
    for ax, (name, azimuth, elevation) in zip(axes, VIEWS):
        img = render_points(pts, cloud.normals, _rotation(azimuth, elevation), size)
        ax.imshow(0.15 + 0.8 * img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(f"{title}  ({len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces)".strip())
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
