"""Shape subcommands of the ``sirenpde`` command line, and the shape part of the demo.

``add_shape_commands(subparsers)`` registers::

    sirenpde reconstruct cloud.xyz -o mesh.ply [--steps N --resolution R --device D --normals P]
    sirenpde fit-sdf cloud.xyz -o shape.pt [--first-omega-0 W --hidden-omega-0 W]
    sirenpde mesh shape.pt -o mesh.ply --resolution R
    sirenpde evaluate mesh.ply --reference gt.obj [--json scores.json]

Each sets ``func`` to a handler taking the parsed namespace; handlers raise ``ValueError`` /
``FileNotFoundError`` with a clear message for bad input and return 0 on success.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from pathlib import Path

from sirenpde.cli import checks
from sirenpde.cli.checks import positive_int as _positive_int
from sirenpde.io.atomic import atomic_open
from sirenpde.registry import ENGINES, NOISE_SETTINGS, QUALITIES
from sirenpde.shapes.pointcloud import NORMAL_POLICIES

SCORE_KEYS = ("chamfer_l1", "chamfer_l1_exact", "normal_consistency", "fscore", "precision", "recall")


def _cleanup(text: str):
    if text in ("none", "largest"):
        return None if text == "none" else text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'none', 'largest' or a face fraction in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a face fraction must lie in (0, 1], got {text!r}")
    return value


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("cloud", help="oriented point cloud: .xyz (x y z nx ny nz per line), .ply or .pcd")
    p.add_argument("--quality", choices=QUALITIES, default=QUALITIES.default,
                   help="fast, default or best: picks the network, steps, batch and rate from the level and "
                        "the cloud (a dense cloud gets a wider network); options given below win")
    p.add_argument("--steps", type=_positive_int, default=None, help="training steps (default: the quality "
                                                                      "level's)")
    p.add_argument("--normals", choices=NORMAL_POLICIES, default="error",
                   help="points with zero or non-finite normals: fail, drop them, or re-estimate them")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1...")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (default: the quality level's; 5%% linear warm-up, "
                        "then cosine decay)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="points per step (default: the quality level's, 2000 or 6000)")
    p.add_argument("--hidden-features", type=_positive_int, default=None, help="network width (default: 256 for a cloud of "
                   "20,000 points or more at --quality default or best, else 128)")
    p.add_argument("--hidden-layers", type=int, default=None, help="hidden-to-hidden layers (default 3)")
    p.add_argument("--first-omega-0", type=float, default=None,
                   help="sine frequency factor of the first layer (default 30)")
    p.add_argument("--hidden-omega-0", type=float, default=None,
                   help="sine frequency factor of the hidden layers (default 30)")
    p.add_argument("--w0", type=float, default=None,
                   help="deprecated: sets both --first-omega-0 and --hidden-omega-0")
    p.add_argument("--noise", choices=NOISE_SETTINGS, default=NOISE_SETTINGS.default,
                   help="clean: the paper's weights; noisy: an on-surface weight of 5e2 instead of 3e3, so "
                        "the surface averages points that scatter off it; auto (default): noisy when the "
                        "cloud's roughness is above 0.2")
    p.add_argument("--engine", choices=ENGINES, default=ENGINES.default,
                   help="derivative engine for the gradient terms: the reverse sweep (first-order jet "
                        "in reverse mode, what auto picks), forward jets, or double-backward autograd")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _add_mesh_options(p: argparse.ArgumentParser, default_resolution=None) -> None:
    p.add_argument("--resolution", type=_positive_int, default=default_resolution,
                   help="grid points per axis over the normalised cube (default: "
                        + ("the quality level's, 192 for fast and default, 256 for best)" if default_resolution is None
                           else f"{default_resolution})"))
    p.add_argument("--cleanup", type=_cleanup, default=None,
                   help="drop small floating pieces: 'largest' keeps one, a fraction keeps pieces with "
                        "at least that share of the faces (default: keep all)")
    p.add_argument("--no-preview", action="store_true", help="do not write the .png preview next to the .ply")


def add_shape_commands(subparsers) -> None:
    """Register ``reconstruct``, ``fit-sdf``, ``mesh`` and ``evaluate`` on an argparse subparsers object."""
    p = subparsers.add_parser("reconstruct",
                              help="fit an SDF to an oriented point cloud and write a .ply mesh",
                              description="Fit a SIREN signed distance function to an oriented point cloud, "
                                          "mesh its zero level, and write the mesh (in the cloud's own "
                                          "coordinates) and a preview .png next to it.")
    _add_fit_options(p)
    p.add_argument("-o", "--output", required=True, help="output mesh, .ply")
    _add_mesh_options(p)
    p.add_argument("--save-model", default=None, help="also save the fitted model (.pt) here")
    p.add_argument("--reference", default=None, help="ground-truth mesh to score the result against")
    p.add_argument("--refine", choices=("auto", "detail", "smooth", "none"), default="auto",
                   help="move the mesh's vertices onto the cloud's local surface after meshing (at most one "
                        "point spacing each): detail (onto the points), smooth (onto their local average), "
                        "none; auto (default): detail for a dense clean cloud, smooth for a dense noisy one")
    p.set_defaults(func=run_reconstruct)

    p = subparsers.add_parser("fit-sdf", help="fit an SDF to an oriented point cloud and save the model",
                              description="Fit a SIREN signed distance function and save it (weights, "
                                          "configuration and normalisation in one file) for `sirenpde mesh`.")
    _add_fit_options(p)
    p.add_argument("-o", "--output", required=True, help="output model file (.pt)")
    p.set_defaults(func=run_fit_sdf)

    p = subparsers.add_parser("mesh", help="mesh a saved SDF model to .ply",
                              description="Mesh the zero level of a model saved by `sirenpde fit-sdf`.")
    p.add_argument("model", help="model file written by `sirenpde fit-sdf`")
    p.add_argument("-o", "--output", required=True, help="output mesh, .ply")
    _add_mesh_options(p, 256)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_mesh)

    p = subparsers.add_parser("evaluate", help="score a mesh against a reference mesh",
                              description="Chamfer-L1 (sampled and exact), normal consistency and F-score of "
                                          "a mesh against a reference, both scaled so the reference's "
                                          "bounding box has longest side 1.")
    p.add_argument("mesh", help="mesh to score (.ply, .obj, .off, .stl)")
    p.add_argument("--reference", required=True, help="ground-truth mesh")
    p.add_argument("--json", default=None, help="also write the scores to this JSON file")
    p.add_argument("--samples", type=_positive_int, default=100_000, help="points sampled on each mesh")
    p.add_argument("--threshold", type=float, default=0.01,
                   help="F-score distance, unit-cube units (default 0.01)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_evaluate)


def _omegas(args) -> tuple:
    """``(first, hidden)`` sine frequencies from the options; ``--w0`` (deprecated) sets both."""
    first, hidden = args.first_omega_0, args.hidden_omega_0
    if args.w0 is not None:
        if first is not None or hidden is not None:
            raise ValueError("--w0 is the old name of --first-omega-0 and --hidden-omega-0; "
                             "give one or the other")
        print("sirenpde: --w0 is deprecated; use --first-omega-0 and --hidden-omega-0 (set both to the same "
              "value for the old meaning)", file=sys.stderr)
        first = hidden = args.w0
    for flag, value in (("--first-omega-0", first), ("--hidden-omega-0", hidden)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag} must be a positive number, got {value}")
    return first, hidden


def _fit_kwargs(args) -> dict:
    if args.hidden_layers is not None and args.hidden_layers < 0:
        raise ValueError(f"--hidden-layers must be >= 0, got {args.hidden_layers}")
    checks.positive_number(args.lr, "--lr")
    first, hidden = _omegas(args)
    return {"normals": args.normals, "lr": args.lr, "batch_size": args.batch_size,
            "hidden_features": args.hidden_features, "hidden_layers": args.hidden_layers,
            "first_omega_0": first, "hidden_omega_0": hidden, "seed": args.seed, "device": args.device,
            "progress": not args.no_progress, "engine": args.engine, "noise": args.noise,
            "quality": args.quality}


def _check_output(path: str, suffixes: tuple, what: str) -> Path:
    return checks.output_file(path, what, suffixes)


def _check_fit_inputs(args) -> None:
    checks.input_file(args.cloud, "the point cloud")
    checks.device(args.device)
    _fit_kwargs(args)  # its option checks, before any file is read


_CLI_SPELLING = (("normals='drop'", "--normals drop"), ("normals='estimate'", "--normals estimate"),
                 ("normals='error'", "--normals error"))


@contextlib.contextmanager
def _cli_spelling():
    """Re-raise a ValueError from the Python API with the options spelled as on the command line."""
    try:
        yield
    except ValueError as err:
        text = str(err)
        for python, cli in _CLI_SPELLING:
            text = text.replace(python, cli)
        if text == str(err):
            raise
        raise ValueError(text) from None


def _check_reference(path) -> None:
    """``--reference`` exists and loads as a mesh, before any work."""
    from sirenpde.shapes.metrics import load_mesh

    checks.input_file(path, "--reference")
    try:
        load_mesh(path)
    except ValueError as err:
        raise ValueError(f"--reference {path}: {err}") from None


def _check_mesh_cost(resolution: int, sdf=None) -> None:
    """Refuse a resolution whose meshing would not fit in memory; print the estimate of a big one."""
    from sirenpde.meshing.cost import check_cost, estimate_cost

    checks.resolution(resolution)
    cost = estimate_cost(resolution, "sparse", sdf=sdf)
    try:
        check_cost(cost, resolution, "sparse")
    except ValueError as err:
        raise ValueError(f"--resolution {resolution}: {err}") from None
    if cost.seconds > 60 or cost.peak_bytes > 2**30:
        print(f"meshing at --resolution {resolution}: {cost.describe()}", file=sys.stderr)


def noise_line(metadata: dict) -> str:
    """One line saying which noise setting a fit used and why (its roughness against the threshold)."""
    from sirenpde.shapes.roughness import NOISY_ROUGHNESS  # scipy: loaded by the handlers only

    rough = metadata.get("roughness")
    how = "chosen from the roughness" if metadata.get("noise_requested") == "auto" else "as asked"
    if rough is None:
        return f"fitted as {metadata['noise']} ({how}); point cloud roughness not measured (too few distinct points)"
    side = "above" if rough > NOISY_ROUGHNESS else "at or below"
    return (f"fitted as {metadata['noise']} ({how}); point cloud roughness {rough:.2f}, "
            f"{side} the noisy threshold {NOISY_ROUGHNESS}")


def run_reconstruct(args) -> int:
    from sirenpde.shapes.fit import reconstruct
    from sirenpde.shapes.recipe import recipe_line

    out = _check_output(args.output, (".ply",), "--output")
    if args.save_model is not None:
        _check_output(args.save_model, (".pt", ".pth"), "--save-model")
    if not args.no_preview:
        _check_output(str(out.with_suffix(".png")), (".png",), "the preview next to --output")
    _check_fit_inputs(args)
    if args.reference is not None:
        _check_reference(args.reference)
    from sirenpde.shapes.recipe import level_resolution

    resolution = args.resolution or level_resolution(args.quality)
    _check_mesh_cost(resolution)
    with _cli_spelling():
        res = reconstruct(args.cloud, out, args.steps, args.resolution, preview=not args.no_preview,
                          save_model=args.save_model, cleanup=args.cleanup, reference=args.reference,
                          refine=args.refine, **_fit_kwargs(args))
    print(f"fitted {res.model.metadata['points']:,} points in {res.times['fit_s']:.1f} s "
          f"({res.fit.steps} steps); meshed at {resolution}^3 in {res.times['mesh_s']:.1f} s")
    print(recipe_line(res.model.metadata))
    print(noise_line(res.model.metadata))
    moved = res.model.metadata.get("refine")
    if moved:
        print(f"refined onto the cloud ({moved['mode']}) in {moved['seconds']:.1f} s: {moved['moved']:,} "
              f"vertices moved (mean "
              f"{moved['mean_move']:.3g}, at most {moved['max_move_spacings']:.2f} point spacings), "
              f"{moved['held']:,} with no point near left as fitted")
    print(f"wrote {res.ply} ({len(res.mesh.vertices):,} vertices, {len(res.mesh.faces):,} faces)")
    for path in (res.preview, res.model_path):
        if path is not None:
            print(f"wrote {path}")
    if res.scores:
        _print_scores(res.scores)
    return 0


def run_fit_sdf(args) -> int:
    from sirenpde.shapes.fit import fit_sdf
    from sirenpde.shapes.recipe import recipe_line
    from sirenpde.training import distributed

    out = _check_output(args.output, (".pt", ".pth"), "--output")
    _check_fit_inputs(args)
    with _cli_spelling():
        shape, result = fit_sdf(args.cloud, args.steps, **_fit_kwargs(args))
    ranks = distributed.current()
    if ranks.is_writer:  # under torchrun rank 0 alone writes
        shape.save(out)
    ranks.barrier()
    m = result.metrics
    print(f"fitted {shape.metadata['points']:,} points in {result.times['train_s']:.1f} s "
          f"({result.steps} steps): "
          f"mean |f| on the points {m['surface_abs_f_input_units']:.3g} (input units), "
          f"eikonal error {m['eikonal_error_volume']:.3g}")
    print(recipe_line(shape.metadata))
    print(noise_line(shape.metadata))
    print(f"wrote {out}")
    return 0


def run_mesh(args) -> int:
    from sirenpde.meshing import export_ply
    from sirenpde.shapes.fit import mesh_shape
    from sirenpde.shapes.model import load_shape_model
    from sirenpde.shapes.preview import write_preview
    from sirenpde.training import distributed

    ranks = distributed.init_from_env(args.device)  # under torchrun the evaluations are shared out

    out = _check_output(args.output, (".ply",), "--output")
    if not args.no_preview:
        _check_output(str(out.with_suffix(".png")), (".png",), "the preview next to --output")
    checks.input_file(args.model, "the model file")
    checks.device(args.device)
    checks.resolution(args.resolution)
    shape = load_shape_model(args.model)
    _check_mesh_cost(args.resolution, shape)
    t0 = time.perf_counter()
    mesh = mesh_shape(shape, args.resolution, device=args.device,
                      progress=not args.no_progress and ranks.is_writer, cleanup=args.cleanup)
    if ranks.is_writer:
        export_ply(mesh, out)
        print(f"meshed at {args.resolution}^3 in {time.perf_counter() - t0:.1f} s; "
              f"wrote {out} ({len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces)")
        if not args.no_preview:
            print(f"wrote {write_preview(mesh, out.with_suffix('.png'), title=out.name)}")
    ranks.barrier()
    return 0


def run_evaluate(args) -> int:
    from sirenpde.shapes.metrics import evaluate_mesh

    if args.json is not None:
        _check_output(args.json, (".json",), "--json")
    checks.input_file(args.mesh, "the mesh")
    _check_reference(args.reference)
    scores = evaluate_mesh(args.mesh, args.reference, n_samples=args.samples, seed=args.seed,
                           fscore_threshold=args.threshold)
    _print_scores(scores)
    if args.json is not None:
        record = {"mesh": str(args.mesh), "reference": str(args.reference), **scores}
        with atomic_open(args.json, "w") as f:
            json.dump(record, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _print_scores(scores: dict) -> None:
    thr = scores.get("fscore_threshold", 0.01)
    names = {"chamfer_l1": "Chamfer-L1 (sampled)", "chamfer_l1_exact": "Chamfer-L1 (exact)",
             "normal_consistency": "normal consistency", "fscore": f"F-score @ {thr:g}",
             "precision": "precision", "recall": "recall"}
    for key in SCORE_KEYS:
        if key in scores:
            print(f"  {names[key]:<22} {scores[key]:.6f}")


# ---------------------------------------------------------------------------- demo


def demo_shape(out_dir, quick: bool = False, progress: bool = True) -> dict:
    """Reconstruct a torus from 20,000 oriented points sampled on it and score the result.

    Writes ``torus.xyz`` (the input), ``torus.ply`` and ``torus.png`` to ``out_dir``. Takes about
    two minutes on 2 CPU cores (``quick``: a few seconds, a rough mesh).

    Returns
    -------
    dict
        Paths written, ``chamfer_l1`` / ``chamfer_l1_exact`` / ``normal_consistency`` / ``fscore``
        against the true torus (a fine triangulation of it), ``sdf_mae_volume`` against its exact
        SDF, and the fitting and meshing times.
    """
    import trimesh

    from sirenpde.meshing import Torus
    from sirenpde.shapes.pointcloud import sample_surface, write_xyz
    from sirenpde.shapes.fit import reconstruct
    from sirenpde.shapes.metrics import evaluate_mesh

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Tilted so no face of the marching-cubes grid lines up with the shape.
    truth = trimesh.creation.torus(major_radius=1.0, minor_radius=0.35, major_sections=256, minor_sections=96)
    tilt = trimesh.transformations.rotation_matrix(0.5, [1.0, 0.3, 0.0])
    truth.apply_transform(tilt)
    cloud = sample_surface(truth, 2_000 if quick else 20_000, seed=0)
    xyz = out_dir / "torus.xyz"
    write_xyz(xyz, cloud.points, cloud.normals)
    exact = Torus(major=1.0, minor=0.35)
    inverse = tilt[:3, :3]

    def torus_sdf(points):
        return exact(points @ inverse)  # rows p -> R^-1 p, with R^-1 = R^T

    steps, resolution = (200, 64) if quick else (800, 160)
    res = reconstruct(xyz, out_dir / "torus.ply", steps=steps, resolution=resolution, progress=progress,
                      reference_sdf=torus_sdf, batch_size=3000 if quick else None)
    scores = evaluate_mesh(res.mesh, truth, n_samples=20_000 if quick else 100_000)
    return {"xyz": str(xyz), "ply": str(res.ply), "preview": str(res.preview), "points": len(cloud),
            "steps": steps, "resolution": resolution, **res.times,
            **{k: scores[k] for k in ("chamfer_l1", "chamfer_l1_exact", "normal_consistency", "fscore")},
            "sdf_mae_volume": res.fit.metrics["sdf_mae_volume"] * res.model.normalization.scale}
