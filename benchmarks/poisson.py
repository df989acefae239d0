"""Poisson reconstruction of the camera image: PSNR against wall time, package defaults vs the
paper's recipe, side by side in one run.

* package defaults: ``sirenpde.fit(problem, Siren(2, 1))`` with the problem's defaults and the
  automatic derivative engine;
* paper's recipe: Adam, learning rate 1e-4, every pixel every step, nested autograd.

For each problem and recipe the metric is recorded every ``--eval-every`` steps against the
training wall time (evaluation excluded); the script reports when each run first reaches
``--target`` dB and the ratio of those times.

    python benchmarks/poisson.py [--size 128] [--budget-s 600] [--target 30]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import sirenpde
from sirenpde.atomic import atomic_open, atomic_path

RECIPES = {
    "package defaults": {},
    "paper recipe": {"lr": 1e-4, "engine": "autograd", "batch": "all"},
}


class _Budget(Exception):
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--budget-s", type=float, default=600.0, help="wall-time budget per run")
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--target", type=float, default=30.0)
    ap.add_argument("--problems", nargs="+", default=["poisson-gradient", "poisson-laplacian"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/poisson")
    args = ap.parse_args(argv)
    out = Path(args.out)
    curves = {}
    for name in args.problems:
        for label, recipe in RECIPES.items():
            curves[(name, label)] = run_with_curve(name, recipe, args)
            c = curves[(name, label)]
            best = max((e["psnr"] for e in c), default=float("nan"))
            print(f"{name:18s} {label:16s} steps {c[-1]['step'] if c else 0:5d}  best PSNR {best:.2f} dB", flush=True)
    lines = [f"Camera {args.size}x{args.size}, 3x256 Siren, budget {args.budget_s:.0f} s per run; "
             f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
             f"{time.strftime('%Y-%m-%d')}", "",
             f"| problem | recipe | steps run | best PSNR (dB) | time to {args.target:g} dB (s) |", "|---|---|---|---|---|"]
    reach = {}
    for (name, label), c in curves.items():
        t = next((e["train_s"] for e in c if e["psnr"] >= args.target), None)
        reach[(name, label)] = t
        best = max((e["psnr"] for e in c), default=float("nan"))
        lines.append(f"| {name} | {label} | {c[-1]['step'] if c else 0} | {best:.2f} | "
                     f"{'not reached' if t is None else f'{t:.1f}'} |")
    for name in args.problems:
        a, b = reach.get((name, "package defaults")), reach.get((name, "paper recipe"))
        if a and b:
            lines.append(f"\n{name}: package defaults reach {args.target:g} dB {b / a:.2f}x sooner than the paper's recipe.")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "poisson.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with atomic_open(out / "curves.json", "w") as f:
        json.dump({f"{n} | {l}": c for (n, l), c in curves.items()}, f, indent=1)
    plot(curves, args, out / "psnr_vs_time.png")
    print("\n".join(lines))


def run_with_curve(name, recipe, args) -> list[dict]:
    """PSNR every ``eval_every`` steps against training wall time, until the budget runs out."""
    problem = sirenpde.get_problem(name, image="camera", size=args.size)
    torch.manual_seed(args.seed)
    model = sirenpde.Siren(2, 1, hidden_features=256, hidden_layers=3)
    kwargs = {"lr": recipe.get("lr"), "engine": recipe.get("engine", "auto")}
    if recipe.get("batch") == "all":
        kwargs["batch_size"] = problem.n_pixels
    curve: list[dict] = []
    start = time.perf_counter()

    def callback(step, losses):
        if (step + 1) % args.eval_every == 0:
            curve.append({"step": step + 1, "train_s": time.perf_counter() - start,
                          **problem.metrics(model)})
            curve[-1]["eval_s"] = time.perf_counter() - start - curve[-1]["train_s"]
        if time.perf_counter() - start > args.budget_s:
            raise _Budget

    try:
        sirenpde.fit(problem, model, steps=10**6, progress=False, seed=args.seed, callback=callback, **kwargs)
    except _Budget:
        print(f"  {name}: budget of {args.budget_s:.0f} s used after {len(curve) * args.eval_every} steps")
    # express times as training time only: subtract the evaluation time spent before each point
    spent = 0.0
    for e in curve:
        e["train_s"] -= spent
        spent += e.pop("eval_s")
    return curve


def plot(curves, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.problems), figsize=(6 * len(args.problems), 4), squeeze=False)
    for ax, name in zip(axes[0], args.problems):
        for (n, label), c in curves.items():
            if n == name and c:
                ax.plot([e["train_s"] for e in c], [e["psnr"] for e in c], label=label)
        ax.axhline(args.target, color="gray", ls=":")
        ax.set(title=f"{name}, camera {args.size}px", xlabel="training wall time (s)", ylabel="PSNR (dB)")
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


if __name__ == "__main__":
    main()
