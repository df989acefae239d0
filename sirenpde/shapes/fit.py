"""Shapes from oriented point clouds: fit a SIREN SDF, mesh it, and both in one go.

Front door::

    from sirenpde.shapes import reconstruct
    out = reconstruct("cloud.xyz", "mesh.ply", steps=2000, resolution=256)

which is :func:`fit_sdf` (a :class:`~sirenpde.shapes.model.ShapeModel`: the network plus the
normalisation that maps the input's coordinates into the network's cube), :func:`mesh_shape`
(marching cubes, vertices back in the input's units), :func:`~sirenpde.meshing.export_ply` and
:func:`~sirenpde.shapes.preview.write_preview` (a PNG of a few rendered views next to the ``.ply``).
"""
from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from sirenpde.meshing import NoSurfaceError, export_ply, extract_mesh
from sirenpde.problems.sdf import SDF
from sirenpde.registry import ENGINES, NOISE_SETTINGS, QUALITIES
from sirenpde.shapes.metrics import evaluate_mesh
from sirenpde.shapes.model import CUBE, ShapeModel
from sirenpde.shapes.pointcloud import PointCloud, read_point_cloud
from sirenpde.shapes.preview import write_preview
from sirenpde.shapes.recipe import REFINE_CHOICES, choose_recipe
from sirenpde.shapes.refine import refine_mesh
from sirenpde.shapes.roughness import NOISY_ROUGHNESS, roughness
from sirenpde.training import distributed, fit

log = logging.getLogger(__name__)
# fit_sdf(noise="noisy"), also what noise="auto" picks for a rough cloud: a looser on-surface term
NOISY_SURFACE_WEIGHT = 5e2
# The sine frequency of both the first and the hidden layers of the default Siren (the paper's)
DEFAULT_OMEGA_0 = 30.0


def omega_settings(first_omega_0: Optional[float], hidden_omega_0: Optional[float],
                   w0: Optional[float] = None, where: str = "fit_sdf") -> tuple[float, float]:
    """The two sine frequencies, from the new names or the deprecated ``w0`` (which set both).

    Raises ``ValueError`` when ``w0`` comes with either new name or a value is not a positive number.
    """
    if w0 is not None:
        if first_omega_0 is not None or hidden_omega_0 is not None:
            raise ValueError(f"{where}: w0 is the old name of first_omega_0 and hidden_omega_0; pass one or "
                             "the other, not both")
        warnings.warn(f"{where}: w0 is deprecated; pass first_omega_0 and hidden_omega_0", DeprecationWarning,
                      stacklevel=3)
        first_omega_0 = hidden_omega_0 = w0
    out = []
    for name, value in (("first_omega_0", first_omega_0), ("hidden_omega_0", hidden_omega_0)):
        value = DEFAULT_OMEGA_0 if value is None else float(value)
        if not (value > 0 and value != float("inf")):
            raise ValueError(f"{where}: {name} must be a positive number, got {value}")
        out.append(value)
    return out[0], out[1]


def default_network(problem: SDF, seed: int, init_scale: float = 1.0, **overrides) -> ShapeModel:
    """The problem's default Siren with ``overrides``, its initial weights drawn from ``seed``.

    torch draws initial weights from its global generator; a forked copy of it is seeded here and
    thrown away afterwards, so the caller's random stream is left as it was. ``init_scale``
    multiplies the initial weights of the hidden-to-hidden sine layers (not the first layer's,
    which set the input frequencies, nor the linear output's): a larger spread of their
    pre-activations trains faster (Yeom et al. 2025, "Fast training of sinusoidal neural fields
    via scaling initialization"; measured for the SDF in benchmarks/RESULTS.md).
    """
    if not (init_scale > 0 and init_scale != float("inf")):
        raise ValueError(f"fit_sdf: init_scale must be a positive number, got {init_scale!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        shape = problem.make_model("siren", **overrides)
    if init_scale != 1.0:
        with torch.no_grad():
            for layer in list(shape.wrapped.hidden)[1:]:
                layer.weight.mul_(init_scale)
    return shape


def fit_sdf(cloud: Union[PointCloud, str, Path], steps: Optional[int] = None, *, normals: str = "error",
            model: Optional[nn.Module] = None, hidden_features: Optional[int] = None,
            hidden_layers: Optional[int] = None, first_omega_0: Optional[float] = None,
            hidden_omega_0: Optional[float] = None, lr: Optional[float] = None,
            batch_size: Optional[int] = None, schedule: Optional[str] = "warmup-cosine", device: str = "auto",
            seed: int = 0, progress: bool = True, engine: str = ENGINES.default,
            noise: str = NOISE_SETTINGS.default, quality: str = QUALITIES.default,
            init_scale: Optional[float] = None, lbfgs_steps: int = 0, lbfgs_batch_size: Optional[int] = None,
            w0: Optional[float] = None, refine: str = "none", **problem_kwargs):
    """Fit a signed distance function to an oriented point cloud.

    Parameters
    ----------
    cloud : PointCloud or path (``.xyz``: ``x y z nx ny nz`` per line, ``.ply``, ``.pcd``)
    steps : int, default: the quality level's (see ``quality``)
    quality : {"fast", "default", "best"}
        Picks the network, the steps, the batch, the rate, the initial-weight scale and the
        off-surface sampling (:func:`~sirenpde.shapes.recipe.choose_recipe`) from the level and
        the cloud: a dense cloud (at least 20,000 points) gets a 4x256 Siren of 2,000
        points per step at ``default``, a sparser one a 4x128 Siren of 6,000. Every one of those that is passed explicitly
        wins over the level. ``metadata["recipe"]`` records the choice.
    normals : {"error", "drop", "estimate"}, policy for bad normals when reading a file
    model : a network on the normalised cube (default: a Siren sized by ``SDF.model_kwargs``,
        overridden by ``hidden_features``, ``hidden_layers``, ``first_omega_0`` and ``hidden_omega_0``)
    first_omega_0, hidden_omega_0 : float, the Siren's sine frequency factors of the first and the
        hidden layers (default 30 both)
    w0 : float, deprecated: the old name setting both frequencies (a ``DeprecationWarning``)
    noise : {"auto", "clean", "noisy"}
        "clean" uses the paper's weights. "noisy" lowers the on-surface weight from 3e3 to
        ``NOISY_SURFACE_WEIGHT`` = 5e2 (unless ``surface_weight`` is given), so the zero level
        averages points that scatter off the surface instead of threading each of them. "auto"
        (default) picks "noisy" when the cloud's roughness (see
        :func:`~sirenpde.shapes.roughness.roughness`) is above ``NOISY_ROUGHNESS`` = 0.2, else
        "clean". Measured on the bunny (benchmarks/sdf.py, RESULTS.md): roughness 0.06 for 50k
        clean points, 0.13 for 5k, 0.50 and 0.34 for 50k and 5k points with 0.5% noise; on the
        noisy 5k the weight 5e2 took the sampled Chamfer-L1 from 0.00371 to 0.00327 (screened
        Poisson: 0.00341), on the noisy 50k it stayed at 0.00279 (0.00278). The on-surface weight
        is the knob: a smoother network (omega_0 = 15) lost detail on the dense and the clean inputs.
        ``metadata["noise"]`` records the setting used and ``metadata["noise_requested"]`` the one
        asked for.
    refine : the refinement the caller applies after meshing, which sets the steps of a dense clean
        cloud (refined, 200 steps at the default level do what 400 do unrefined): "none" (default:
        ``fit_sdf`` alone, then ``mesh_shape``), "auto", "detail" or "smooth";
        :func:`reconstruct` passes its own. ``metadata["recipe"]["refine"]`` records the mode planned.
    init_scale : float, factor on the default network's initial hidden-to-hidden weights
        (default: the quality level's)
    lr, schedule : the rate (default: the quality level's) and its schedule (default: a linear
        warm-up over the first 5% of the steps, then a cosine decay); without the warm-up a rate of
        2e-3 (4x128) or 1e-3 (4x256) collapsed the bunny's field to one sign within the first steps
    batch_size, device, seed, progress, engine, lbfgs_steps, lbfgs_batch_size : passed to
        :func:`sirenpde.fit` (no L-BFGS finish by default); ``seed`` also fixes the default
        network's initial weights, drawn without disturbing torch's global random stream
    **problem_kwargs : passed to :class:`~sirenpde.problems.sdf.SDF` (weights, ``near_sigma``,
        ``reference_mesh``...)

    Returns
    -------
    (ShapeModel, FitResult)
    """
    if noise not in NOISE_SETTINGS:
        raise ValueError(f"fit_sdf: noise must be one of {', '.join(NOISE_SETTINGS)}, got {noise!r}")
    first_omega_0, hidden_omega_0 = omega_settings(first_omega_0, hidden_omega_0, w0)
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
    recipe = choose_recipe(len(cloud), score, quality, refine)
    problem_kwargs.setdefault("off_sampling", recipe.off_sampling)
    problem = SDF(cloud, normals=normals, **problem_kwargs)
    steps = recipe.steps if steps is None else steps
    batch_size = recipe.batch_size if batch_size is None else batch_size
    scale = None  # the caller's own network keeps its weights
    if model is None:
        scale = recipe.init_scale if init_scale is None else float(init_scale)
        overrides = {"first_omega_0": first_omega_0, "hidden_omega_0": hidden_omega_0,
                     "hidden_features": recipe.hidden_features if hidden_features is None else hidden_features,
                     "hidden_layers": recipe.hidden_layers if hidden_layers is None else hidden_layers}
        shape = default_network(problem, seed, scale, **overrides)
    elif isinstance(model, ShapeModel):
        raise ValueError("fit_sdf: pass the bare network as model; the ShapeModel around it is built here "
                         "with the cloud's normalisation")
    else:
        shape = ShapeModel(model, problem.normalization)
    lr = recipe.lr if lr is None else float(lr)
    net = shape.wrapped
    ran = dataclasses.replace(  # what ran: the level's choices under the caller's explicit options
        recipe, steps=int(steps), batch_size=int(batch_size), lr=lr, off_sampling=problem.off_sampling,
        hidden_features=getattr(net, "hidden_features", None),  # None: a network of the caller's own kind
        hidden_layers=len(net.hidden) - 1 if hasattr(net, "hidden") else None,
        init_scale=scale)
    result = fit(problem, shape, steps=steps, lr=lr, batch_size=batch_size, device=device, seed=seed,
                 progress=progress, schedule=schedule, engine=engine, lbfgs_steps=lbfgs_steps,
                 lbfgs_batch_size=lbfgs_batch_size)
    shape.metadata.update({
        "noise": noise, "noise_requested": requested, "roughness": score, "recipe": ran.to_dict(),
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


def mesh_as_planned(shape: ShapeModel, cloud: PointCloud, resolution: Optional[int] = None, *,
                    device: str = "auto", progress: bool = True, cleanup=None):
    """What :func:`reconstruct` does after the fit: mesh ``shape`` at ``resolution`` (default: its
    recipe's), then move the vertices onto ``cloud`` as the recipe planned
    (:func:`~sirenpde.shapes.refine.refine_mesh`; ``fit_sdf(refine=...)`` chose the mode). Records
    the resolution in ``shape.metadata["recipe"]`` and what moved in ``shape.metadata["refine"]``
    (None: nothing). Returns ``(mesh, {"mesh_s": ..., "refine_s": ...})``."""
    recipe = shape.metadata.setdefault("recipe", {})
    resolution = recipe["resolution"] = int(recipe.get("resolution", 256) if resolution is None else resolution)
    t0 = time.perf_counter()
    mesh = mesh_shape(shape, resolution, device=device, progress=progress, cleanup=cleanup)
    t1 = time.perf_counter()
    shape.metadata["refine"] = None
    if recipe.get("refine"):
        mesh, stats = refine_mesh(mesh, cloud, recipe["refine"])
        shape.metadata["refine"] = {**stats, "seconds": time.perf_counter() - t1}
    return mesh, {"mesh_s": t1 - t0, "refine_s": time.perf_counter() - t1}


def reconstruct(cloud: Union[PointCloud, str, Path], out_ply, steps: Optional[int] = None,
                resolution: Optional[int] = None, device: str = "auto", progress: bool = True, *,
                normals: str = "error", preview: bool = True, save_model=None, cleanup=None, reference=None,
                refine: Optional[str] = None,
                **fit_kwargs) -> Reconstruction:
    """Point cloud to ``.ply`` in one go: fit, mesh, export, preview.

    Parameters
    ----------
    cloud : PointCloud or path
    out_ply : path ending in ``.ply``; the preview goes next to it with the suffix ``.png``
    steps, device, progress, normals : see :func:`fit_sdf`
    resolution : int, grid points per axis of the normalised cube [-1, 1]^3 (default: the quality
        level's, 192 for fast and default, 256 for best)
    preview : bool, write the PNG
    save_model : path, optional; also save the :class:`ShapeModel` there
    cleanup : None, "largest" or a face fraction; drop small floating components
    reference : trimesh.Trimesh or path, optional; score the mesh against it (``scores``)
    refine : None or "auto" (default: the quality level's choice), "detail", "smooth" or "none": move
        the mesh's vertices onto the cloud's local surface after meshing (:mod:`sirenpde.shapes.refine`;
        at most one local point spacing each): "detail" onto a dense clean cloud, "smooth" onto the
        average of a dense noisy one
    **fit_kwargs : passed to :func:`fit_sdf`
    """
    out_ply = Path(out_ply)
    if out_ply.suffix.lower() != ".ply":
        raise ValueError(f"the output mesh must be a .ply file, got {str(out_ply)!r}")
    if refine not in (None, *REFINE_CHOICES):
        raise ValueError(f"refine must be one of {', '.join(REFINE_CHOICES)}, got {refine!r}")
    if isinstance(cloud, (str, Path)):  # read once: the fit and the refinement use the same points
        cloud = read_point_cloud(cloud, normals=normals)
    shape, result = fit_sdf(cloud, steps, normals=normals, device=device, progress=progress,
                            refine="auto" if refine is None else refine, **fit_kwargs)
    mesh, times = mesh_as_planned(shape, cloud, resolution, device=device, cleanup=cleanup,
                                  progress=progress and distributed.current().is_writer)
    times["fit_s"] = result.times["train_s"]
    ranks = distributed.current()
    png = model_path = None
    if ranks.is_writer:  # under torchrun rank 0 alone writes; the others wait for it
        export_ply(mesh, out_ply)
        if preview:
            png = write_preview(mesh, out_ply.with_suffix(".png"), title=out_ply.name)
        model_path = shape.save(save_model) if save_model is not None else None
    ranks.barrier()
    scores = {}
    if reference is not None:
        scores = evaluate_mesh(mesh, reference)
    return Reconstruction(mesh, shape, result, out_ply, png, model_path, times, scores)
