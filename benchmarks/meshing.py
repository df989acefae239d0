"""Dense versus sparse mesh extraction from a fitted Siren: evaluations, time, peak memory.

A Siren is fitted briefly to the signed distance of the Stanford bunny (a sphere when
<data>/bunny.obj is absent), then meshed with both methods at several resolutions.
Each configuration runs in a fresh subprocess, so its peak resident memory (VmHWM) is its own.
Where both methods ran at the same resolution the meshes are compared exactly.

Dense extraction of a 3x256 Siren at 512^3 takes about 45 minutes on a 2-core CPU, so the full
run meshes the 3x256 model densely only up to ``--dense-max`` (default 256) and checks
dense = sparse at 512 on a small Siren (1x32) fitted to the same shape. The table lists
everything that ran and nothing else.

    python benchmarks/meshing.py --quick   # small nets and grids, about a minute
    python benchmarks/meshing.py           # the real run, 15 to 25 minutes on a shared 2-core CPU
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _data import data_dir  # benchmarks/_data.py, beside this script

BUNNY = data_dir() / "bunny.obj"
BOUNDS = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))
OUT = Path(__file__).resolve().parent / "results" / "meshing.md"


def make_model(width: int, layers: int) -> torch.nn.Module:
    from sirenpde.nn import Siren
    return Siren(3, 1, hidden_features=width, hidden_layers=layers)


def shape_sdf(n_surface: int, seed: int):
    """-> (sdf(points (n, 3)) -> (n,), surface points (m, 3), description).

    The bunny is scaled into [-0.8, 0.8]^3; distances are to dense surface samples, signed by
    the normal of the nearest sample (exact enough for a brief fit).
    """
    from scipy.spatial import cKDTree
    rng = np.random.default_rng(seed)
    if not BUNNY.exists():
        pts = rng.normal(size=(n_surface, 3))
        pts *= 0.6 / np.linalg.norm(pts, axis=1, keepdims=True)
        return (lambda p: np.linalg.norm(p, axis=1) - 0.6), pts, "sphere r=0.6 (bunny.obj not found)"
    import trimesh
    mesh = trimesh.load(BUNNY, force="mesh")
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    mesh.apply_scale(0.8 / (mesh.extents.max() / 2))
    pts, face = trimesh.sample.sample_surface(mesh, n_surface, seed=seed)
    normals = mesh.face_normals[face]
    tree = cKDTree(pts)

    def sdf(p):
        d, i = tree.query(p)
        return np.where(((p - pts[i]) * normals[i]).sum(axis=1) < 0, -d, d)

    return sdf, pts, f"Stanford bunny ({len(mesh.vertices)} vertices) scaled into [-0.8, 0.8]^3"


def fit(model, sdf, surface: np.ndarray, steps: int, batch: int, lr: float, seed: int) -> float:
    """L1 regression on uniform and near-surface samples; returns the last batch's mean |error|."""
    rng = np.random.default_rng(seed)
    n = min(len(surface), 20 * batch)
    near = surface[rng.choice(len(surface), n, replace=False)]
    x = np.concatenate([rng.uniform(-1, 1, (n, 3)), near + rng.normal(0, 0.01, near.shape),
                        near + rng.normal(0, 0.05, near.shape)])
    x = np.clip(x, -1, 1)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(sdf(x)).float()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        i = torch.randint(0, len(xt), (batch,), generator=gen)
        loss = (model(xt[i])[:, 0] - yt[i]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


def child(spec: dict) -> None:
    """Run one extraction in this fresh process and print one JSON line."""
    from sirenpde.meshing import extract_mesh
    torch.set_num_threads(spec["threads"])
    model = make_model(spec["width"], spec["layers"])
    model.load_state_dict(torch.load(spec["weights"], weights_only=True))
    out = {}
    if spec["method"] != "baseline":
        mesh = extract_mesh(model, BOUNDS, spec["res"], method=spec["method"], chunk_size=64,
                            device="cpu", progress=False, batch_size=16384)
        np.savez(spec["mesh"], vertices=mesh.vertices, faces=mesh.faces)
        out.update(evaluations=mesh.metadata["evaluations"], wall_time=mesh.metadata["wall_time"],
                   faces=len(mesh.faces), watertight=bool(mesh.is_watertight))
    status = Path("/proc/self/status").read_text().splitlines()
    out["peak_rss_mb"] = int(next(s for s in status if s.startswith("VmHWM")).split()[1]) / 1024
    print("RESULT " + json.dumps(out))


def run_child(spec: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
    if proc.returncode or not line:
        raise RuntimeError(f"child {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[0][len("RESULT "):])


def compare(a: Path, b: Path) -> str:
    """'identical', or how two saved meshes differ."""
    ma, mb = np.load(a), np.load(b)
    if ma["faces"].shape == mb["faces"].shape and np.array_equal(ma["faces"], mb["faces"]) \
            and np.array_equal(ma["vertices"], mb["vertices"]):
        return "identical"
    from scipy.spatial import cKDTree
    va, vb = ma["vertices"], mb["vertices"]
    chamfer = 0.5 * (cKDTree(vb).query(va)[0].mean() + cKDTree(va).query(vb)[0].mean())
    return f"differ: faces {len(ma['faces'])} vs {len(mb['faces'])}, vertex Chamfer {chamfer:.2e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small nets and grids (about a minute)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"markdown report (default {OUT})")
    ap.add_argument("--dense-max", type=int, default=256, help="largest dense resolution for the 3x256 model")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps for fitting the main model")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on the shared 2-core machine 2 threads ran slower)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    # per model: width, hidden layers, Adam steps, batch, learning rate
    if args.quick:
        nets = {"main": (32, 1, args.steps or 200, 1024, 1e-3), "small": (16, 1, 200, 1024, 1e-3)}
        main_res, dense_res, small_res, n_surface = (16, 32, 64), (16, 32), 32, 20_000
    else:
        nets = {"main": (256, 3, args.steps or 100, 4096, 3e-4), "small": (32, 1, 300, 1024, 1e-3)}
        main_res, dense_res, small_res, n_surface = (128, 256, 512, 1024), (128, 256), 512, 300_000
        dense_res = tuple(r for r in dense_res if r <= args.dense_max)
    torch.manual_seed(0)
    sdf, surface, shape = shape_sdf(n_surface, seed=7)
    tmp = Path(tempfile.mkdtemp(prefix="meshing_bench_"))
    try:
        rows, fits, base = run_all(args, nets, sdf, surface, tmp, main_res, dense_res, small_res)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = render(rows, fits, shape, base, args, (load_start, os.getloadavg()[0]))
    print(report)
    from sirenpde.io.atomic import atomic_open
    with atomic_open(args.out) as fh:
        fh.write(report)
    print(f"written to {args.out}")


def run_all(args, nets, sdf, surface, tmp, main_res, dense_res, small_res):
    """Fit the models, run every configuration in a subprocess; -> (rows, fits, baseline RSS)."""
    fits = {}
    for name, (width, layers, steps, batch, lr) in nets.items():
        model = make_model(width, layers)
        t = time.perf_counter()
        err = fit(model, sdf, surface, steps, batch, lr, seed=1)
        fits[name] = {"width": width, "layers": layers, "steps": steps, "error": err,
                      "time": time.perf_counter() - t, "weights": str(tmp / f"{name}.pt")}
        torch.save(model.state_dict(), fits[name]["weights"])
        print(f"fitted {name} Siren {layers}x{width}: L1 sdf error {err:.4f} in {fits[name]['time']:.0f} s",
              flush=True)

    base = {}
    for name, f in fits.items():
        model_spec = {k: f[k] for k in ("width", "layers", "weights")}
        base[name] = run_child({"method": "baseline", "threads": args.threads, **model_spec})["peak_rss_mb"]
    plan = [("main", "dense", r) for r in dense_res] + [("main", "sparse", r) for r in main_res]
    plan += [("small", "dense", small_res), ("small", "sparse", small_res)]
    rows, saved = [], {}
    for name, method, res in plan:
        f = fits[name]
        saved[(name, method, res)] = tmp / f"{name}_{method}_{res}.npz"
        spec = {"method": method, "res": res, "threads": args.threads,
                "mesh": str(saved[(name, method, res)]), **{k: f[k] for k in ("width", "layers", "weights")}}
        r = run_child(spec)
        r.update(net=name, model=f"Siren {f['layers']}x{f['width']}", method=method, res=res)
        rows.append(r)
        print(f"{r['model']:>12} {method:>6} {res:>5}: {r['evaluations']:>11,d} evaluations "
              f"({r['evaluations'] / res ** 3:.2%} of the grid), {r['wall_time']:7.1f} s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['faces']:,d} faces", flush=True)
    for r in rows:
        dense = (r["net"], "dense", r["res"])
        r["vs_dense"] = compare(saved[(r["net"], "sparse", r["res"])], saved[dense]) \
            if r["method"] == "sparse" and dense in saved else ""
    return rows, fits, base


def render(rows, fits, shape, base, args, load) -> str:
    main, small = fits["main"], fits["small"]
    command = "python benchmarks/meshing.py" + (" --quick" if args.quick else "")
    if not args.quick and args.dense_max != 256:
        command += f" --dense-max {args.dense_max}"
    small_res = max(r["res"] for r in rows if r["net"] == "small")
    lines = [
        "# Mesh extraction: dense vs sparse",
        "",
        f"- date: {datetime.date.today().isoformat()}; machine: {platform.machine()}, {os.cpu_count()} CPUs "
        f"(1-minute load average {load[0]:.1f} at start, {load[1]:.1f} at end: the machine was shared), "
        f"torch {torch.__version__} with {args.threads} thread(s); command: `{command}`",
        f"- shape: {shape}; bounds [-1, 1]^3; chunk_size 64; batch 16384; sparse safety 2.0 (the default)",
        f"- main model: Siren {main['layers']}x{main['width']}, {main['steps']} Adam steps in "
        f"{main['time']:.0f} s (L1 sdf error on the last batch {main['error']:.4f}); small model: Siren "
        f"{small['layers']}x{small['width']}, {small['steps']} steps (error {small['error']:.4f}), cheap "
        f"enough to run dense and sparse at {small_res}",
        f"- peak RSS: VmHWM of a fresh process per row; importing torch and loading the model alone "
        f"peaks at {base['main']:.0f} MB (main) / {base['small']:.0f} MB (small)",
        "- evaluations: points passed to the network; fraction: of the res^3 dense grid",
        "",
        "| model | method | res | evaluations | fraction | wall time (s) | peak RSS (MB) | faces "
        "| watertight | vs dense |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    by = {(r["net"], r["method"], r["res"]): r for r in rows}
    for r in rows:
        dense = by.get((r["net"], "dense", r["res"]))
        note = r["vs_dense"]
        if dense and r["method"] == "sparse":
            note += f"; time dense/sparse {dense['wall_time'] / r['wall_time']:.1f}"
        lines.append(
            f"| {r['model']} | {r['method']} | {r['res']} | {r['evaluations']:,d} | "
            f"{r['evaluations'] / r['res'] ** 3:.2%} | {r['wall_time']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{r['faces']:,d} | {'yes' if r['watertight'] else 'no'} | {note} |")
    lines += ["", "Checks against the targets, computed from the rows above:", ""]
    for r in rows:
        if r["method"] == "sparse" and r["res"] == 512:
            frac = r["evaluations"] / 512 ** 3
            lines.append(f"- {r['model']} sparse at 512: {frac:.2%} of the dense evaluations (target <= 5%): "
                         f"{'met' if frac <= 0.05 else 'MISSED'}; peak RSS {r['peak_rss_mb']:.0f} MB "
                         f"(target < 2048 MB): {'met' if r['peak_rss_mb'] < 2048 else 'MISSED'}")
    big = max((r for r in rows if r["net"] == "main" and r["method"] == "sparse"), key=lambda r: r["res"])
    lines.append(f"- {big['model']} sparse at {big['res']}: completed, peak RSS {big['peak_rss_mb']:.0f} MB "
                 f"(target at 1024: < 24 GiB): {'met' if big['peak_rss_mb'] < 24 * 1024 else 'MISSED'}")
    same = [f"{r['model']} at {r['res']}" for r in rows if r["vs_dense"] == "identical"]
    if same:
        lines.append(f"- sparse identical to dense (same vertex and face arrays): {', '.join(same)}")
    dense_main = [r for r in rows if r["net"] == "main" and r["method"] == "dense"]
    if dense_main and not args.quick:
        top = max(dense_main, key=lambda r: r["res"])
        rate = top["evaluations"] / top["wall_time"]
        lines.append(f"- not run: {top['model']} dense at 512 and 1024; at the dense-{top['res']} rate "
                     f"({rate:,.0f} points/s) 512^3 would take about {512 ** 3 / rate / 60:.0f} min")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
