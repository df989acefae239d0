"""Poisson reconstruction of the camera image: PSNR against wall time, package defaults vs the
paper's recipe, side by side in one run.

* package defaults: ``sirenpde.fit(problem, problem.make_model("siren"))``: the problem's model,
  learning rate, batch and steps, its L-BFGS finish, and the automatic derivative engine;
* paper's recipe: a 3x256 Siren with omega_0 = 30, Adam, learning rate 1e-4, every pixel every step,
  nested autograd.

For each problem and recipe the metric is recorded every ``--eval-every`` steps (every step of
an L-BFGS finish, whose steps are 20 iterations each) against the training wall time (evaluation excluded); the script reports when each run first reaches
``--target`` dB and the ratio of those times. A run ends at its budget, at ``--max-steps``, or (gradient problems)
once it reaches the target unless ``--run-past-target``.

    python benchmarks/poisson.py [--size 128] [--budget-s 800] [--laplacian-budget-s 240] [--target 30]
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import sirenpde
from _data import command_line  # benchmarks/_data.py, beside this script
from sirenpde.io.atomic import atomic_open
from sirenpde.io.plotting import save_figure, subplots

RECIPES = {
    "package defaults": {},
    "paper recipe": {"lr": 1e-4, "engine": "autograd", "batch": "all", "optimizer_options": {"betas": (0.9, 0.999)},
                     "lbfgs_steps": 0,
                     "model": {"hidden_features": 256, "hidden_layers": 3, "first_omega_0": 30.0}},
}


class _Stop(Exception):
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--budget-s", type=float, default=800.0, help="training wall-time budget per run")
    ap.add_argument("--laplacian-budget-s", type=float, default=240.0,
                    help="budget of the poisson-laplacian runs (no target there)")
    ap.add_argument("--max-steps", type=int, default=None, help="cap on the (first-optimiser) steps of every run")
    ap.add_argument("--run-past-target", action="store_true",
                    help="keep training a gradient run after it reaches the target")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--target", type=float, default=30.0)
    ap.add_argument("--problems", nargs="+", default=["poisson-gradient", "poisson-laplacian"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results", help="folder of poisson.md and poisson.png")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    # one tiny fit first so that torch's one-off start-up costs fall on neither recipe
    sirenpde.fit(sirenpde.get_problem("poisson-gradient", size=8), sirenpde.Siren(2, 1, 16, 1), steps=2,
                 progress=False)
    curves = {}
    for name in args.problems:
        for label, recipe in RECIPES.items():
            curves[(name, label)] = run_with_curve(name, recipe, args)
            c = curves[(name, label)]
            best = max((e["psnr"] for e in c), default=float("nan"))
            print(f"{name:18s} {label:16s} steps {c[-1]['step'] if c else 0:5d}  best PSNR {best:.2f} dB", flush=True)
    lines = [f"Camera {args.size}x{args.size}; budget {args.budget_s:.0f} s per gradient run, "
             f"{args.laplacian_budget_s:.0f} s per Laplacian run; {_cpu()}, "
             f"{torch.get_num_threads()} torch threads, "
             f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}", "",
             f"Command: `{command_line('poisson.py', argv)}`",
             "", "Times are training wall time; the PSNR evaluations are excluded.", "",
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
    lines += ["", "## Curves (step, training s, PSNR dB)", ""]
    for (name, label), c in curves.items():
        lines.append(f"- {name}, {label}: " + ", ".join(f"({e['step']}, {e['train_s']:.0f}, {e['psnr']:.2f})" for e in c))
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "poisson.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(curves, args, out / "poisson.png")
    print("\n".join(lines))
    return {"curves": curves, "reach": reach}


def _cpu() -> str:
    try:
        names = [l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                 if l.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else platform.machine()}, {len(names) or '?'} cores"


def run_with_curve(name, recipe, args) -> list[dict]:
    """PSNR every ``eval_every`` steps against training wall time (evaluations excluded)."""
    problem = sirenpde.get_problem(name, image="camera", size=args.size)
    torch.manual_seed(args.seed)
    if "model" in recipe:
        model = sirenpde.Siren(2, 1, **recipe["model"])
    else:
        model = problem.make_model("siren")
    kwargs = {"lr": recipe.get("lr"), "engine": recipe.get("engine", "auto"),
              "optimizer_options": recipe.get("optimizer_options"), "lbfgs_steps": recipe.get("lbfgs_steps")}
    if recipe.get("batch") == "all":
        kwargs["batch_size"] = problem.n_pixels
    if args.max_steps is not None:
        kwargs["steps"] = args.max_steps
    elif "model" in recipe:
        kwargs["steps"] = 10**6  # the paper's recipe has no step count: the budget ends it
    finish_from = kwargs.get("steps", problem.default_steps)  # L-BFGS steps are evaluated one by one
    budget = args.laplacian_budget_s if name == "poisson-laplacian" else args.budget_s
    stop_at_target = name != "poisson-laplacian" and not args.run_past_target
    curve: list[dict] = []
    clock = {"train_s": 0.0, "since": time.perf_counter()}

    def callback(step, losses):
        clock["train_s"] += time.perf_counter() - clock["since"]
        if (step + 1) % args.eval_every == 0 or step >= finish_from:
            curve.append({"step": step + 1, "train_s": clock["train_s"], **problem.metrics(model)})
            if stop_at_target and curve[-1]["psnr"] >= args.target:
                raise _Stop("target reached")
        if clock["train_s"] > budget:
            raise _Stop(f"budget of {budget:.0f} s used")
        clock["since"] = time.perf_counter()

    try:
        sirenpde.fit(problem, model, progress=False, seed=args.seed, callback=callback, **kwargs)
    except _Stop as stop:
        print(f"  {name}, {'paper' if 'model' in recipe else 'defaults'}: {stop} after "
              f"{curve[-1]['step'] if curve else 0} steps", flush=True)
    return curve


def plot(curves, args, path: Path) -> None:
    fig, axes = subplots(1, len(args.problems), figsize=(6 * len(args.problems), 4), squeeze=False)
    for ax, name in zip(axes[0], args.problems):
        for (n, label), c in curves.items():
            if n == name and c:
                ax.plot([e["train_s"] for e in c], [e["psnr"] for e in c], label=label)
        ax.axhline(args.target, color="gray", ls=":")
        ax.set(title=f"{name}, camera {args.size}px", xlabel="training wall time (s)", ylabel="PSNR (dB)")
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


if __name__ == "__main__":
    main()
