"""Jets against nested autograd: one training step of a 3x256 Siren on 16,384 points.

For 2D and 3D inputs and for a loss on the gradient and on the Laplacian, time a full
step (forward with derivatives, loss, backward to the parameters) with each engine,
alternating the engines so all see the same machine load, and check that they give the
same loss and parameter gradients. Engines: forward jets and nested autograd for both losses,
and for the gradient loss also the explicit reverse sweep (``engine="reverse"``, what
``engine="auto"`` picks for a scalar field's first derivatives).

    python benchmarks/derivatives.py [--points 16384] [--repeats 5] [--out benchmarks/results/derivatives.md]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from sirenpde import Siren, field
from sirenpde.io.atomic import atomic_open


def step(model, x, target, what: str, engine: str):
    model.zero_grad(set_to_none=True)
    if what == "gradient":
        u = field(model, x, order=1, engine=engine)
        loss = (u.grad - target).square().mean()
    else:
        u = field(model, x, order=2, second="laplacian", engine=engine)
        loss = (u.laplacian - target).square().mean()
    loss.backward()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in model.parameters()]
    return loss.detach(), torch.cat([g.flatten() for g in grads])


def bench(d: int, what: str, points: int, repeats: int) -> dict:
    torch.manual_seed(0)
    model = Siren(d, 1, hidden_features=256, hidden_layers=3)
    x = torch.rand(points, d) * 2 - 1
    target = torch.randn(points, d if what == "gradient" else 1)
    engines = ("jet", "reverse", "autograd") if what == "gradient" else ("jet", "autograd")
    times = {e: [] for e in engines}
    out = {}
    for engine in engines:  # warm-up, and the accuracy check
        out[engine] = step(model, x, target, what, engine)
    for _ in range(repeats):
        for engine in engines:
            t0 = time.perf_counter()
            step(model, x, target, what, engine)
            times[engine].append(time.perf_counter() - t0)
    la, ga = out["autograd"]
    med = {e: statistics.median(times[e]) for e in engines}
    row = {"dim": d, "loss on": what, "autograd_s": med["autograd"]}
    for e in engines[:-1]:
        le, ge = out[e]
        row.update({f"{e}_s": med[e], f"{e}_speedup": med["autograd"] / med[e],
                    f"{e}_loss_rel_diff": float((le - la).abs() / la.abs()),
                    f"{e}_grad_rel_diff": float((ge - ga).norm() / ga.norm())})
    return row


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=16384)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/derivatives.md")
    args = ap.parse_args(argv)
    rows = []
    for d in (2, 3):
        for what in ("gradient", "laplacian"):
            r = bench(d, what, args.points, args.repeats)
            rows.append(r)
            print(f"{d}D {what:9s} autograd {r['autograd_s']:.3f} s" + "".join(
                f"  {e} {r[e + '_s']:.3f} s ({r[e + '_speedup']:.2f}x, loss diff {r[e + '_loss_rel_diff']:.1e}, "
                f"grad diff {r[e + '_grad_rel_diff']:.1e})" for e in ("jet", "reverse") if e + "_s" in r), flush=True)
    lines = [f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
             f"torch {torch.__version__}; {args.points} points, median of {args.repeats} alternating steps; "
             f"{time.strftime('%Y-%m-%d')}", "",
             "| input | loss on | engine | step (s) | autograd step (s) | speedup | loss rel. diff | param-grad rel. diff |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for e in ("jet", "reverse"):
            if e + "_s" in r:
                lines.append(f"| {r['dim']}D | {r['loss on']} | {e} | {r[e + '_s']:.3f} | {r['autograd_s']:.3f} | "
                             f"{r[e + '_speedup']:.2f}x | {r[e + '_loss_rel_diff']:.1e} | {r[e + '_grad_rel_diff']:.1e} |")
    with atomic_open(Path(args.out), "w") as f:
        f.write("\n".join(lines) + "\n")
    return rows


if __name__ == "__main__":
    main()
