"""Automatic loss balancing against fixed unit weights, on PINNacle's Poisson 2d-C.

Laplace's equation on the square [-0.5, 0.5]^2 minus four disks of radius 0.1 at (+-0.3, +-0.3),
u = 1 on the square's edges and 0 on the circles; relative L2 error over the 1,246 nodes of
PINNacle's finite-element reference (``<data>/pinnacle/poisson1_cg_data.dat``). Every run uses the
package's defaults for ``sp.PDE`` (model, learning rate, schedule, batch) and differs only in
``balance``: "none" (the conditions' unit weights), "gradnorm" (the default) and "gradmax" (the
paper's max/mean estimate). The extra cost of balancing is the ratio of seconds per step, measured
in the same process, one thread, schemes alternating seed by seed.

    python benchmarks/balance.py --steps 2000 --seeds 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from _data import report_head
from pinnacle import poisson_2d_c  # the task as a user writes it, and its score

HERE = Path(__file__).resolve().parent
SCHEMES = ("none", "gradnorm", "gradmax")


def run(scheme: str, seed: int, steps: int) -> dict:
    import sirenpde as sp

    problem, score = poisson_2d_c()  # as benchmarks/pinnacle.py writes it, scored on the FE nodes
    model = problem.make_model("siren", seed=seed)
    result = sp.fit(problem, model, steps=steps, seed=seed, balance=scheme, progress=False)
    weights = {k.removeprefix("weight/"): v[-1] for k, v in result.history.items() if k.startswith("weight/")}
    return {"scheme": scheme, "seed": seed, "l2re": score(result.model),
            "s_per_step": result.times["train_s"] / steps, "weights": weights}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smoke sizes: 20 steps, 1 seed")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "balance.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps, seeds = (20, 1) if args.quick else (args.steps, args.seeds)
    schemes = args.schemes.split(",")
    rows = []
    for seed in range(seeds):
        for scheme in schemes:  # alternating, so a change of load hits every scheme alike
            rows.append(run(scheme, seed, steps))
            r = rows[-1]
            print(f"{scheme:9s} seed {seed}: L2RE {r['l2re']:.4f}, {r['s_per_step'] * 1e3:.1f} ms/step, "
                  f"weights {r['weights']}", flush=True)
    write(args, rows, schemes, steps, seeds, sys.argv[1:] if argv is None else argv)
    return rows


def write(args, rows, schemes, steps, seeds, argv) -> None:
    base = statistics.median(r["s_per_step"] for r in rows if r["scheme"] == schemes[0])
    lines = report_head("Loss balancing on Poisson 2d-C (PINNacle)", "balance.py", argv, args.quick)
    lines += [(f"{steps} Adam steps, package defaults of `sp.PDE` otherwise; median of {seeds} seed(s); "
               f"L2RE over the reference's 1,246 nodes; time per step relative to `{schemes[0]}`."), "",
              f"| balance | L2RE median | L2RE per seed | ms/step | cost vs {schemes[0]} | final weights (seed 0) |",
              "|---|---|---|---|---|---|"]
    for scheme in schemes:
        mine = [r for r in rows if r["scheme"] == scheme]
        med = statistics.median(r["l2re"] for r in mine)
        per = ", ".join(f"{r['l2re']:.2e}" for r in mine)
        t = statistics.median(r["s_per_step"] for r in mine)
        w = ", ".join(f"{k} {v:.3g}" for k, v in mine[0]["weights"].items()) or "1 (fixed)"
        lines.append(f"| {scheme} | {med:.2e} | {per} | {t * 1e3:.1f} | {t / base:.3f}x | {w} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
