"""Dense versus sparse mesh extraction from a fitted Siren: evaluations, time, peak memory.

A Siren is fitted briefly to the signed distance of the Stanford bunny (or of a sphere when
/work/shared/data/bunny.obj is absent), then meshed with both methods at several resolutions.
Each configuration runs in a fresh subprocess so its peak resident memory (VmHWM) is its own.
Where both methods ran at the same resolution, the meshes are compared exactly.

Dense extraction of a 3x256 Siren at 512^3 takes about 45 minutes on a 2-core CPU, so the full
run meshes the 3x256 model densely only up to ``--dense-max`` and checks dense = sparse at 512
on a small Siren (1x32) fitted to the same shape. Everything that ran is listed in the table.

    python benchmarks/meshing.py --quick            # seconds: small nets, small grids
    python benchmarks/meshing.py                    # the real run (about 15-20 minutes on 2 cores)
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BUNNY = Path("/work/shared/data/bunny.obj")
BOUNDS = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


def make_model(width: int, layers: int) -> torch.nn.Module:
    from sirenpde.nn import Siren
    return Siren(3, 1, hidden_features=width, hidden_layers=layers)


def shape_sdf(n_surface: int, seed: int):
    """-> (sdf(points) -> values, surface points (n, 3), description).

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


def fit(model: torch.nn.Module, sdf, surface: np.ndarray, steps: int, batch: int, lr: float, seed: int) -> float:
    """Regress the sdf on uniform and near-surface samples (L1); returns the last batch's mean |error|."""
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
    """Run one extraction in this (fresh) process and print one JSON line."""
    from sirenpde.meshing import extract_mesh
    torch.set_num_threads(spec["threads"])
    model = make_model(spec["width"], spec["layers"])
    model.load_state_dict(torch.load(spec["weights"]))
    out = {"ok": True}
    if spec["method"] != "baseline":
        mesh = extract_mesh(model, BOUNDS, spec["res"], method=spec["method"], chunk_size=64,
                            device="cpu", progress=False, batch_size=16384)
        np.savez(spec["mesh"], vertices=mesh.vertices, faces=mesh.faces)
        out.update({k: mesh.metadata[k] for k in ("evaluations", "wall_time", "closure_rounds")
                    if k in mesh.metadata})
        out.update(faces=len(mesh.faces), watertight=bool(mesh.is_watertight))
    status = Path("/proc/self/status").read_text()
    out["peak_rss_mb"] = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) / 1024
    print("RESULT " + json.dumps(out))


def run_child(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode or not line:
        raise RuntimeError(f"child {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[0][7:])


def compare(a: Path, b: Path) -> str:
    """'identical' or a description of how two saved meshes differ."""
    ma, mb = np.load(a), np.load(b)
    if ma["faces"].shape == mb["faces"].shape and np.array_equal(ma["vertices"], mb["vertices"]) \
            and np.array_equal(ma["faces"], mb["faces"]):
        return "identical"
    from scipy.spatial import cKDTree
    va, vb = ma["vertices"], mb["vertices"]
    chamfer = 0.5 * (cKDTree(vb).query(va)[0].mean() + cKDTree(va).query(vb)[0].mean())
    return f"differ: faces {len(ma['faces'])} vs {len(mb['faces'])}, vertex Chamfer {chamfer:.2e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small nets and grids; runs in seconds")
    ap.add_argument("--out", default="benchmarks/results/meshing.md", help="markdown table written here")
    ap.add_argument("--dense-max", type=int, default=256, help="largest dense resolution for the main model")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps for fitting the main model")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared 2-core machine 2 threads ran slower)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    # (width, hidden layers, Adam steps, batch, learning rate) per model
    if args.quick:
        nets = {"main": (32, 1, args.steps or 200, 1024, 1e-3), "small": (16, 1, 200, 1024, 1e-3)}
        main_res, dense_res, small_res, n_surface = (16, 32, 64), (16, 32), 32, 20_000
    else:
        nets = {"main": (256, 3, args.steps or 100, 4096, 3e-4), "small": (32, 1, 300, 1024, 1e-3)}
        main_res, dense_res, small_res, n_surface = (128, 256, 512, 1024), (128, 256), 512, 300_000
        dense_res = tuple(r for r in dense_res if r <= args.dense_max)
    main_net, small_net = nets["main"][:2], nets["small"][:2]
    torch.manual_seed(0)
    sdf, surface, shape = shape_sdf(n_surface, seed=7)
    tmp = Path(tempfile.mkdtemp(prefix="meshing_bench_"))
    fits = {}
    for name, (width, layers, steps, batch, lr) in nets.items():
        model = make_model(width, layers)
        t = time.perf_counter()
        err = fit(model, sdf, surface, steps, batch, lr, seed=1)
        fits[name] = (width, layers, err, time.perf_counter() - t, steps)
        torch.save(model.state_dict(), tmp / f"{name}.pt")
        print(f"fitted {name} Siren {layers}x{width}: L1 sdf error {err:.4f} in {fits[name][3]:.0f} s", flush=True)

    plan = [("main", "dense", r) for r in dense_res] + [("main", "sparse", r) for r in main_res]
    plan += [("small", "dense", small_res), ("small", "sparse", small_res)]
    rows, saved = [], {}
    base = {}
    for name in nets:
        width, layers = fits[name][:2]
        base[name] = run_child({"method": "baseline", "width": width, "layers": layers, "threads": args.threads,
                                "weights": str(tmp / f"{name}.pt")})["peak_rss_mb"]
    for name, method, res in plan:
        width, layers = fits[name][:2]
        mesh_file = tmp / f"{name}_{method}_{res}.npz"
        spec = {"method": method, "res": res, "width": width, "layers": layers, "threads": args.threads,
                "weights": str(tmp / f"{name}.pt"), "mesh": str(mesh_file)}
        r = run_child(spec)
        saved[(name, method, res)] = mesh_file
        r.update(net=name, model=f"Siren {layers}x{width}", method=method, res=res)
        rows.append(r)
        print(f"{r['model']:>12} {method:>6} {res:>5}: {r['evaluations']:>11,d} evaluations "
              f"({r['evaluations'] / res ** 3:.2%} of the grid), {r['wall_time']:7.1f} s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['faces']:,d} faces", flush=True)
    for r in rows:
        dense = (r["net"], "dense", r["res"])
        r["vs_dense"] = compare(saved[(r["net"], "sparse", r["res"])], saved[dense]) \
            if r["method"] == "sparse" and dense in saved else ""

    report = render(rows, fits, shape, base, args, main_net, small_net, (load_start, os.getloadavg()[0]))
    print(report)
    out = Path(args.out)
    from sirenpde.atomic import atomic_open
    with atomic_open(out) as f:
        f.write(report)
    print(f"written to {out}")


def render(rows, fits, shape, base, args, main_net, small_net, load) -> str:
    lines = [
        "# Mesh extraction: dense vs sparse",
        "",
        f"- date: {datetime.date.today().isoformat()}; machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (1-min load average {load[0]:.1f} at start, {load[1]:.1f} at end), "
        f"torch {torch.__version__} with {args.threads} thread(s); "
        f"command: `python benchmarks/meshing.py{' --quick' if args.quick else ''}"
        f"{'' if args.quick or args.dense_max == 256 else f' --dense-max {args.dense_max}'}`",
        f"- shape: {shape}; bounds [-1, 1]^3; chunk_size 64; batch 16384; sparse safety 2.0 (default)",
        f"- main model: Siren {main_net[1]}x{main_net[0]}, {fits['main'][4]} Adam steps in {fits['main'][3]:.0f} s "
        f"(L1 sdf error on the last batch {fits['main'][2]:.4f}); small model: Siren {small_net[1]}x{small_net[0]}, "
        f"{fits['small'][4]} steps (error {fits['small'][2]:.4f}), cheap enough to run dense and sparse at "
        f"{max(r['res'] for r in rows if r['net'] == 'small')}",
        f"- peak RSS is VmHWM of a fresh process per row; importing torch and loading the model alone "
        f"peaks at {base['main']:.0f} MB (main) / {base['small']:.0f} MB (small)",
        "- evaluations: points passed to the network; fraction: of the res^3 dense grid",
        "",
        "| model | method | res | evaluations | fraction | wall time (s) | peak RSS (MB) | faces | watertight | vs dense |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['method']} | {r['res']} | {r['evaluations']:,d} | "
            f"{r['evaluations'] / r['res'] ** 3:.2%} | {r['wall_time']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{r['faces']:,d} | {'yes' if r['watertight'] else 'no'} | {r['vs_dense']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
