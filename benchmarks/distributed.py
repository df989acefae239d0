"""Distributed training throughput: the same fit on 1 and 2 ranks (DDP, gloo), side by side.

Two fits are timed, each with the same global batch on 1 rank and on 2 ranks of one thread each:
an SDF fit (4x256 Siren, the paper's loss: surface, normal, eikonal and off-surface terms, on a
20,000-point sphere cloud) and a ``helmholtz`` fit (the problem's defaults). Each run is launched
with ``torchrun --standalone --nproc_per_node N`` by this script, one after the other, so compare
the ratios within one run. Reported: steps/s and points/s after a warm-up, the speed-up at 2
ranks, and the all-reduce's share of a step (one ``all_reduce`` of every gradient, timed on its
own; DDP overlaps it with the backward pass, so this is an upper bound on what it costs).

    python benchmarks/distributed.py --quick     # about a minute
    python benchmarks/distributed.py             # the measured run (a few minutes)
    python benchmarks/distributed.py --device cuda --ranks 1   # the 1-GPU NCCL path on a GPU machine
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

from _data import command_line  # benchmarks/_data.py, beside this script

RESULTS = Path(__file__).resolve().parent / "results"
FITS = ("sdf", "helmholtz")


def sphere_cloud(path: Path, n: int = 20_000) -> Path:
    rng = np.random.default_rng(0)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    np.savetxt(path, np.hstack([d, d]), fmt="%.6f")
    return path


def worker(args) -> None:
    """One fit under torchrun; rank 0 writes its timings as JSON."""
    import torch
    import torch.distributed as dist

    import sirenpde
    from sirenpde.problems import get_problem

    torch.set_num_threads(1)
    if args.fit == "sdf":
        problem = get_problem("sdf", cloud=args.cloud)
        model = problem.make_model("siren", seed=0, hidden_features=256, hidden_layers=3)
    else:
        problem = get_problem("helmholtz")
        model = problem.make_model("siren", seed=0)
    problem.metrics = lambda m: {}  # throughput only
    stamps: list[float] = []
    sirenpde.fit(problem, model, steps=args.warmup + args.steps, batch_size=args.batch, progress=False,
                 device=args.device, lbfgs_steps=0, callback=lambda step, losses: stamps.append(time.perf_counter()))
    step_s = (stamps[-1] - stamps[args.warmup - 1]) / args.steps
    world = dist.get_world_size() if dist.is_initialized() else 1
    allreduce_s = float("nan")
    n_params = sum(p.numel() for p in model.parameters())
    if world > 1:
        flat = torch.zeros(n_params, device=next(model.parameters()).device)
        dist.all_reduce(flat)
        t0 = time.perf_counter()
        for _ in range(10):
            dist.all_reduce(flat)
        if flat.is_cuda:
            torch.cuda.synchronize()
        allreduce_s = (time.perf_counter() - t0) / 10
    if not dist.is_initialized() or dist.get_rank() == 0:
        Path(args.out).write_text(json.dumps({
            "fit": args.fit, "ranks": world, "batch": args.batch, "step_s": step_s,
            "points_per_s": args.batch / step_s, "allreduce_s": allreduce_s, "parameters": n_params,
            "device": str(next(model.parameters()).device)}))


def launch(fit: str, ranks: int, batch: int, steps: int, warmup: int, device: str, cloud: Path, tmp: Path) -> dict:
    out = tmp / f"{fit}-{ranks}.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
           __file__, "--worker", "--fit", fit, "--batch", str(batch), "--steps", str(steps),
           "--warmup", str(warmup), "--device", device, "--cloud", str(cloud), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{fit} on {ranks} ranks failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few steps, small batches")
    p.add_argument("--steps", type=int, default=None, help="timed steps (after the warm-up)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--fits", nargs="+", choices=FITS, default=list(FITS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(RESULTS / "distributed.md"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--fit", choices=FITS, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=3, help=argparse.SUPPRESS)
    p.add_argument("--cloud", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    steps = args.steps or (4 if args.quick else 20)
    batches = {"sdf": 2048 if args.quick else 12_000, "helmholtz": 2048 if args.quick else 8192}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cloud = sphere_cloud(tmp / "sphere.xyz")
        for fit in args.fits:
            for ranks in args.ranks:
                r = launch(fit, ranks, batches[fit], steps, 3, args.device, cloud, tmp)
                rows.append(r)
                print(f"{fit:10s} ranks={ranks} step {r['step_s']:.3f} s  {r['points_per_s']:,.0f} points/s"
                      + (f"  all-reduce {r['allreduce_s'] * 1e3:.1f} ms" if ranks > 1 else ""), flush=True)
    lines = [f"# Distributed throughput ({datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, "
             f"device {args.device})", "", f"Command: `{command_line('distributed.py', argv)}`",
             "", "| fit | ranks | global batch | step (s) | points/s | speed-up | all-reduce (ms) | share of a step |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = next(b for b in rows if b["fit"] == r["fit"] and b["ranks"] == min(args.ranks))
        share = r["allreduce_s"] / r["step_s"] if r["ranks"] > 1 else float("nan")
        lines.append(f"| {r['fit']} | {r['ranks']} | {r['batch']} | {r['step_s']:.3f} | {r['points_per_s']:,.0f} | "
                     f"{base['step_s'] / r['step_s']:.2f}x | {r['allreduce_s'] * 1e3:.1f} | {share:.1%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
