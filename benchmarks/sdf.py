"""SIREN SDF reconstruction versus Open3D's screened Poisson on the Stanford bunny.

Four inputs are built from <data>/bunny_50k.xyz (50,000 oriented points sampled on
bunny.obj): all 50k points; 5k of them; 50k with noise; 5k with noise. Noise is Gaussian with a
standard deviation of 0.5% of the bounding box's longest side on every coordinate, and normals
perturbed by Gaussian noise of std 0.1 per component (then renormalised, ~8 degrees). Both
methods see the same points and normals (``--shape fandisk``: the same four inputs sampled on
fandisk.obj). Every mesh is scored against the shape's .obj with
:func:`sirenpde.shapes.metrics.evaluate_mesh` (unit-cube scaling, 100k samples, Chamfer-L1 both
sampled and exact, normal consistency, F-score at 1%). Times are wall-clock seconds in this
process, side by side on the same machine; CPU seconds of the process are given too because the
machine may be shared.

A second table times one training step of the SDF loss with the three derivative engines (the
reverse sweep, forward jets and autograd) on the same model and points.

    python benchmarks/sdf.py --quick      # 1-2 minutes: few steps, coarse grids
    python benchmarks/sdf.py --shape fandisk   # the same four inputs from fandisk.obj
    python benchmarks/sdf.py              # the real run; see --help for the knobs
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from _data import command_line, data_dir  # benchmarks/_data.py, beside this script

DATA = data_dir()
CASES = {
    "clean-50k": (50_000, False),
    "sparse-5k": (5_000, False),
    "noisy-50k": (50_000, True),
    "noisy-5k": (5_000, True),
}
SHAPES = ("bunny", "fandisk")
SCORES = ("chamfer_l1", "chamfer_l1_exact", "normal_consistency", "fscore")


def build_inputs(data: Path, seed: int, position_noise: float, normal_noise: float, shape: str = "bunny"):
    """The reference mesh and the four input clouds of ``CASES``.

    bunny: the 50k points of bunny_50k.xyz and a random 5k of them. fandisk (a second shape, to
    check the defaults away from the bunny): ``sample_surface(fandisk.obj, n, seed=seed + 3)`` for
    each size. Noise (the noisy cases) is drawn with ``seed + 1``.
    """
    from sirenpde.shapes.pointcloud import PointCloud, add_noise, read_point_cloud, sample_surface
    from sirenpde.shapes.metrics import load_mesh

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    reference = load_mesh(data / f"{shape}.obj")
    side = float((reference.bounds[1] - reference.bounds[0]).max())
    if shape == "bunny":
        full = read_point_cloud(data / "bunny_50k.xyz")
        subset = np.random.default_rng(seed).choice(len(full), 5_000, replace=False)
        sparse = PointCloud(full.points[subset], full.normals[subset], "bunny 5k")
    inputs = {}
    for name, (n, noisy) in CASES.items():
        if shape == "bunny":
            cloud = full if n == len(full) else sparse
        else:
            cloud = sample_surface(reference, n, seed=seed + 3)
        if noisy:
            cloud = add_noise(cloud, position_noise * side, normal_noise, seed=seed + 1)
        inputs[name] = cloud
    return reference, inputs


class Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_siren(cloud, args, noise="auto", quality="default"):
    """What ``reconstruct`` does, timed in parts: the fit, then meshing and (where the level
    chooses it, or ``--refine`` says) the refinement onto the cloud."""
    from sirenpde.shapes.fit import fit_sdf, mesh_as_planned

    with Clock() as fit_clock:  # the whole fit_sdf call: reading the cloud's roughness, the guide, training
        shape, result = fit_sdf(cloud, args.steps, hidden_features=args.hidden_features,
                                hidden_layers=args.hidden_layers, batch_size=args.batch_size, lr=args.lr,
                                schedule=args.schedule, device=args.device, progress=not args.no_progress,
                                seed=args.seed, noise=noise, quality=quality, refine=args.refine)
    with Clock() as mesh_clock:
        mesh, _ = mesh_as_planned(shape, cloud, args.resolution, device=args.device, progress=False,
                                  cleanup=args.cleanup)
    return mesh, fit_clock, mesh_clock, shape.metadata


def run_poisson(cloud, args):
    import open3d as o3d
    import trimesh

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points))
    pcd.normals = o3d.utility.Vector3dVector(cloud.normals)
    with Clock() as clock:
        poisson = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson
        mesh, density = poisson(pcd, depth=args.poisson_depth)
        if args.poisson_trim > 0:
            density = np.asarray(density)
            mesh.remove_vertices_by_mask(density < np.quantile(density, args.poisson_trim))
    out = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.triangles), process=False)
    return out, clock


def engine_timing(cloud, args) -> list[dict]:
    """Seconds per training step with each derivative engine, interleaved in one process."""
    from sirenpde.problems.sdf import SDF
    from sirenpde.training import fit

    problem = SDF(cloud)
    problem.guide  # built once on first use; keep it out of the timed steps
    rows = []
    for width, layers, batch in args.engine_configs:
        per = {"reverse": [], "jet": [], "autograd": []}
        for _ in range(args.engine_repeats):
            for engine in per:
                model = problem.make_model("siren", hidden_features=width, hidden_layers=layers)
                with Clock() as c:
                    res = fit(problem, model, steps=args.engine_steps, batch_size=batch, device="cpu",
                              progress=False, engine=engine)
                per[engine].append((res.times["train_s"] / args.engine_steps, c.cpu))
        best = {e: min(t for t, _ in runs) for e, runs in per.items()}
        rows.append({"model": f"{layers + 1}x{width} sine layers", "batch": batch,
                     **{f"{e}_s_per_step": t for e, t in best.items()}})
    return rows


def fmt(x, digits=5):
    return f"{x:.{digits}f}"


def write_report(path: Path, rows, timing, args, command: str, total_s: float):
    schedule = f" ({args.schedule} schedule)" if args.schedule else ""
    cleanup = f", cleanup {args.cleanup}" if args.cleanup else ""
    trim = (f", vertices below the {args.poisson_trim:g} density quantile removed" if args.poisson_trim
            else ", no density trimming")
    lines = [
        f"# SIREN SDF versus screened Poisson on {args.shape}.obj",
        "",
        f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by `{command}` "
        f"({'quick' if args.quick else 'default'} mode; {total_s / 60:.1f} min in all).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads. Load from other processes inflates wall times; "
        "CPU seconds are the process's own (all its threads counted).",
        "",
        f"SIREN: `fit_sdf(quality=...)` for each level in {', '.join(args.qualities)}; the network, steps, "
        f"points per step and rate are the level's (`sirenpde.shapes.recipe`: a dense clean cloud gets "
        f"4x256) unless set here: {_overrides(args) or 'none set'}{schedule}; derivative engine 'auto'; "
        "marching cubes at "
        + (f"{args.resolution}^3" if args.resolution else "the level's resolution (fast, default: 192^3; best: 256^3)")
        + f" over the normalised cube (sparse extraction){cleanup}; "
        "'refined': the mesh's vertices moved onto the cloud's local surface (`sirenpde.shapes.refine`: "
        "'detail' onto the points, 'smooth' onto their local average; "
        + ("where the level chooses: detail on a dense clean cloud, smooth on a dense noisy one"
           if args.refine == "auto" else f"--refine {args.refine} on every input") + "). "
        f"Screened Poisson: Open3D depth {args.poisson_depth}{trim}. SIREN: omega_0 = 30, the paper's weights "
        "plus the near-surface band and the distance bound; the default `noise='auto'` lowers the on-surface "
        "weight from 3e3 to 5e2 when the cloud's roughness (scatter of the points off their local planes over "
        "their spacing, `sirenpde.shapes.roughness.roughness`) is above 0.2, and the row says which it picked. "
        "On the noisy inputs a second fit with `noise='clean'` (the paper's weights) is shown too.",
        "",
        f"Noise: positions N(0, ({100 * args.position_noise:g}% of the bounding box's longest side)^2) per "
        f"coordinate; normals + N(0, {args.normal_noise:g}^2) per component, renormalised. Scores against "
        f"{args.shape}.obj in the unit cube, 100k samples per mesh; Chamfer-L1 (lower is better; the sampled one "
        "has a floor of ~0.002 even for a perfect mesh, the exact one does not); NC = normal consistency; "
        "F = F-score at 0.01.",
        "",
        "| input | method | Chamfer-L1 | Chamfer-L1 exact | NC | F@1% | fit wall s | fit CPU s "
        "| mesh (+ refine) wall s | whole call s | vs Poisson (CD, exact, NC) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    poisson = {}
    for r in rows:
        if r["method"].startswith("screened Poisson"):
            poisson[r["case"]] = r
            versus = ""
        else:
            p = poisson.get(r["case"])
            versus = "" if p is None else (
                f"{'better' if r['chamfer_l1'] <= p['chamfer_l1'] else 'WORSE'} "
                f"({r['chamfer_l1'] / p['chamfer_l1']:.3f}x), {r['chamfer_l1_exact'] / p['chamfer_l1_exact']:.2f}x, "
                f"{'better' if r['normal_consistency'] >= p['normal_consistency'] else 'WORSE'}")
        lines.append(f"| {r['case']} | {r['method']} | {fmt(r['chamfer_l1'])} | "
                     f"{fmt(r['chamfer_l1_exact'])} | {fmt(r['normal_consistency'], 4)} | "
                     f"{fmt(r['fscore'], 4)} | {r['fit_wall_s']:.1f} | {r['fit_cpu_s']:.1f} | "
                     f"{r['mesh_wall_s']:.1f} | {r['fit_wall_s'] + r['mesh_wall_s']:.1f} | {versus} |")
    if timing:
        lines += ["", "## One training step of the SDF loss: derivative engines", "",
                  f"Same problem (clean 50k), same points per step; fastest of {args.engine_repeats} runs of "
                  f"{args.engine_steps} steps each, engines interleaved. reverse: the explicit reverse "
                  "sweep (`auto`); jet: forward-mode first-order jets; autograd: double backward.", "",
                  "| model | points/step | reverse s/step | jet s/step | autograd s/step | jet / reverse | "
                  "autograd / reverse |", "|---|---|---|---|---|---|---|"]
        for t in timing:
            r = t["reverse_s_per_step"]
            lines.append(f"| {t['model']} | {t['batch']} | {r:.4f} | {t['jet_s_per_step']:.4f} | "
                         f"{t['autograd_s_per_step']:.4f} | {t['jet_s_per_step'] / r:.2f} | "
                         f"{t['autograd_s_per_step'] / r:.2f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    from sirenpde.io.atomic import atomic_open

    with atomic_open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _overrides(args) -> str:
    named = [(flag, getattr(args, key)) for flag, key in (("steps", "steps"), ("width", "hidden_features"),
                                                           ("hidden layers", "hidden_layers"),
                                                           ("points per step", "batch_size"), ("lr", "lr"))]
    return ", ".join(f"{flag} {value:g}" for flag, value in named if value is not None)


def parse_args(argv=None):
    from sirenpde.optim import SCHEDULES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few steps, coarse grids (a minute or two)")
    p.add_argument("--out", default="benchmarks/results/sdf.md")
    p.add_argument("--json", default=None, help="also write the rows as JSON")
    p.add_argument("--data", default=str(DATA), help="the shared data folder (default: <repo>/../shared/data, "
                   "or $SIRENPDE_DATA)")
    p.add_argument("--shape", choices=SHAPES, default="bunny",
                   help="bunny (the 50k points of bunny_50k.xyz) or fandisk (points sampled on fandisk.obj)")
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--quality", dest="qualities", nargs="+", choices=("fast", "default", "best"),
                   default=["fast", "default"], help="fit_sdf quality levels to run (default: fast default)")
    p.add_argument("--steps", type=int, default=None, help="default: the quality level's (quick: 150)")
    p.add_argument("--resolution", type=int, default=None, help="default: the level's (quick: 96)")
    p.add_argument("--hidden-features", type=int, default=None, help="default: the quality level's")
    p.add_argument("--hidden-layers", type=int, default=None, help="default: the quality level's (3)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the quality level's (quick: 3000)")
    p.add_argument("--lr", type=float, default=None, help="default: the quality level's")
    p.add_argument("--schedule", default="warmup-cosine", choices=[*SCHEDULES, "none"])
    p.add_argument("--refine", default="auto", choices=("auto", "detail", "smooth", "none"),
                   help="refine the SIREN mesh onto the cloud: auto (default) as reconstruct does (detail on a "
                        "dense clean cloud, smooth on a dense noisy one), or one mode everywhere, or none")
    p.add_argument("--cleanup", default=None, help="'largest' or a face fraction (default: keep all pieces)")
    p.add_argument("--poisson-depth", type=int, default=None, help="default 9 (quick: 8)")
    p.add_argument("--poisson-trim", type=float, default=0.0,
                   help="density quantile to trim (default 0: none)")
    p.add_argument("--position-noise", type=float, default=0.005)
    p.add_argument("--normal-noise", type=float, default=0.1)
    p.add_argument("--no-clean-rows", action="store_true",
                   help="skip the extra SIREN fit with noise='clean' (the paper's weights) on the noisy inputs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-engines", action="store_true", help="skip the jet/autograd timing")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps = args.steps or 150
        args.batch_size = args.batch_size or 3000
        args.hidden_features = args.hidden_features or 64
    args.resolution = args.resolution or (96 if args.quick else None)
    args.poisson_depth = args.poisson_depth or (8 if args.quick else 9)
    args.schedule = None if args.schedule == "none" else args.schedule
    if args.cleanup not in (None, "largest"):
        args.cleanup = float(args.cleanup)
    args.engine_configs = [(64, 2, 2000)] if args.quick else [(128, 3, 6000), (256, 3, 6000)]
    args.engine_steps = 10
    args.engine_repeats = 1 if args.quick else 2
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from sirenpde.shapes.metrics import evaluate_mesh

    t0 = time.perf_counter()
    command = command_line("sdf.py", argv)
    reference, inputs = build_inputs(Path(args.data), args.seed, args.position_noise, args.normal_noise, args.shape)
    rows, timing = [], []

    def save():  # after every case, so an interrupted run still leaves its table
        write_report(Path(args.out), rows, timing, args, command.strip(), time.perf_counter() - t0)
        if args.json:
            from sirenpde.io.atomic import atomic_open

            with atomic_open(args.json, "w") as f:
                json.dump({"rows": rows, "engines": timing}, f, indent=2)

    for case in args.cases:
        cloud = inputs[case]
        mesh, clock = run_poisson(cloud, args)
        scores = evaluate_mesh(mesh, reference)
        rows.append({"case": case, "method": f"screened Poisson (depth {args.poisson_depth})",
                     "fit_wall_s": clock.wall, "fit_cpu_s": clock.cpu, "mesh_wall_s": 0.0,
                     **{k: scores[k] for k in SCORES}})
        print(rows[-1], flush=True)
        settings = [(q, "auto") for q in args.qualities]
        if CASES[case][1] and not args.no_clean_rows:
            settings.append((args.qualities[-1], "clean"))
        for quality, noise in settings:
            mesh, fit_clock, mesh_clock, meta = run_siren(cloud, args, noise, quality)
            scores = evaluate_mesh(mesh, reference)
            r = meta["recipe"]
            label = (f"{quality}, {r['hidden_layers'] + 1}x{r['hidden_features']}, {meta['steps']} steps, "
                     f"{r['resolution']}^3, "
                     + (f"picked {meta['noise']}" if noise == "auto" else "noise='clean'")
                     + (f", refined ({r['refine']})" if r.get("refine") else ""))
            rows.append({"case": case, "method": f"SIREN ({label}; roughness {meta['roughness']:.2f})",
                         "fit_wall_s": fit_clock.wall, "fit_cpu_s": fit_clock.cpu,
                         "mesh_wall_s": mesh_clock.wall, **{k: scores[k] for k in SCORES}})
            print(rows[-1], flush=True)
        save()
    if not args.no_engines:
        timing.extend(engine_timing(inputs["clean-50k"], args))
        for t in timing:
            print(t, flush=True)
    save()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
