"""Inpainting benchmark: the hypernetwork (set and CNN encoders) against classical baselines.

1. For each encoder in ``--encoders``: train an :class:`~sirenpde.hyper.inpainting.InpaintingModel`
   for a wall-time budget (``--budget-s`` shared equally between the encoders; the step count is
   set from a short timed calibration, with a cosine schedule over it).
2. Evaluate it and the baselines (mean training face, griddata linear and nearest,
   ``skimage.restoration.inpaint_biharmonic``, a Siren fitted to the context pixels alone) on the
   same 20 held-out faces and the same masks, at 10, 100 and 300 random pixels and the top half:
   MSE on [0, 1] over all pixels, and PSNR.

Writes ``benchmarks/results/inpainting.md`` and ``inpainting.png``. Run from the repository root:
``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/inpainting.py --budget-s 600 --threads 1``.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

from _data import command_line, report_head  # benchmarks/_data.py, beside this script
from sirenpde.hyper.inpainting import CONTEXTS, make_model
from sirenpde.hyper.inpainting_baselines import BASELINES, evaluate_baselines
from sirenpde.hyper.inpainting_report import inpainting_figure, markdown_table
from sirenpde.hyper.inpainting_train import InpaintingProblem, evaluate_model, fit_inpainting, table_rows
from sirenpde.io.atomic import atomic_open
from sirenpde.io.plotting import save_figure

OUT = Path(__file__).resolve().parent / "results" / "inpainting.md"
DIAGNOSTIC = "(diagnostic) Gaussian prior of the 80 faces"

# Sitzmann et al. 2020, Table 1: CelebA 32x32, context of 10, 100, 1000 pixels and the top half.
# From memory, not verified against the paper here; their third column is 1000 pixels, ours 300.
PAPER = {"paper: CNP (CelebA 32x32)": {10: 0.039, 100: 0.016, 300: 0.009, "half": 0.057},
         "paper: set encoder + hypernet": {10: 0.035, 100: 0.013, 300: 0.009, "half": 0.048},
         "paper: CNN encoder + hypernet": {10: 0.033, 100: 0.009, 300: 0.008, "half": 0.020}}


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="seconds: smoke sizes, not results")
    ap.add_argument("--budget-s", type=float, default=None, help="training wall time over all encoders (default 600)")
    ap.add_argument("--encoders", default="set,cnn", help="comma-separated: set, cnn")
    ap.add_argument("--images", type=int, default=32, help="images per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--latent", type=int, default=128)
    ap.add_argument("--hidden-features", type=int, default=64)
    ap.add_argument("--hidden-layers", type=int, default=3)
    ap.add_argument("--first-omega-0", type=float, default=10.0)
    ap.add_argument("--siren-steps", type=int, default=None, help="steps of the per-image Siren fit (default 300)")
    ap.add_argument("--test-images", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    quick = args.quick
    args.budget_s = (4.0 if quick else 600.0) if args.budget_s is None else args.budget_s
    args.siren_steps = (5 if quick else 300) if args.siren_steps is None else args.siren_steps
    args.encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    return args


def train_for(encoder, budget_s, problem, args):
    """``fit_inpainting`` for about ``budget_s``: the step count from 10 timed steps."""
    sizes = dict(latent=args.latent, hidden_features=args.hidden_features, hidden_layers=args.hidden_layers,
                 first_omega_0=args.first_omega_0)
    model = make_model(encoder, seed=args.seed, **sizes)
    probe = fit_inpainting(copy.deepcopy(model), 10, args.images, lr=args.lr, device="cpu", seed=args.seed + 1,
                           progress=False, problem=problem)
    steps = max(10, int(budget_s / (probe.times["train_s"] / 10)))
    result = fit_inpainting(model, steps, args.images, lr=args.lr, device="cpu", seed=args.seed, progress=False,
                            problem=problem, eval_every=max(1, steps // 5))
    return result, steps


def gaussian_fill(faces, masks, train_faces, mix=0.5, ell=1.5):
    """A diagnostic, not a baseline of the issue: the conditional mean of a Gaussian whose mean and
    covariance are the training faces' (with their mirror images), mixed half and half with a
    squared-exponential kernel of ``ell`` pixels (the mix and ``ell`` were picked on these test
    faces, so this is an optimistic reference for what a linear prior from 80 faces can do)."""
    import numpy as np

    x = np.concatenate([train_faces, train_faces[:, :, ::-1]]).reshape(2 * len(train_faces), -1)
    mu, cov = x.mean(0), np.cov(x.T)
    h = faces.shape[1]
    g = np.stack(np.meshgrid(np.arange(h), np.arange(h), indexing="ij"), -1).reshape(-1, 2)
    k = (1 - mix) * cov + mix * x.var() * np.exp(-((g[:, None] - g[None]) ** 2).sum(-1) / (2 * ell ** 2))
    out = {}
    for context, mask in masks.items():
        preds = []
        for face, m in zip(faces.reshape(len(faces), -1), np.asarray(mask).reshape(len(faces), -1)):
            o = np.nonzero(m > 0.5)[0]
            preds.append(mu + k[:, o] @ np.linalg.solve(k[np.ix_(o, o)] + 1e-4 * np.eye(len(o)), face[o] - mu[o]))
        pred = np.stack(preds).reshape(faces.shape)
        mse = float(np.mean((pred - faces) ** 2))
        out[context] = {"mse": mse, "psnr": float(10 * np.log10(1 / mse)), "prediction": pred}
    return out


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    problem = InpaintingProblem(eval_images=args.test_images)
    faces = problem.test_faces[:args.test_images]
    masks = {c: m[:len(faces)] for c, m in problem.masks.items()}
    results, runs = {}, {}
    for encoder in args.encoders:
        result, steps = train_for(encoder, args.budget_s / len(args.encoders), problem, args)
        model = result.model.cpu().eval()
        results[f"hypernetwork, {encoder} encoder"] = evaluate_model(model, faces, masks)
        runs[encoder] = {"steps": steps, "train_s": result.times["train_s"], "evaluations": result.evaluations,
                         "parameters": sum(p.numel() for p in model.parameters()), "config": model.config()}
        print(f"{encoder}: {steps} steps in {result.times['train_s']:.0f} s: {result.metrics}", flush=True)
    t0 = time.perf_counter()
    results.update(evaluate_baselines(faces.numpy(), masks, problem.train_faces.numpy(), methods=BASELINES,
                                      siren_steps=args.siren_steps))
    baselines_s = time.perf_counter() - t0
    results[DIAGNOSTIC] = gaussian_fill(faces.numpy(), masks, problem.train_faces.numpy())
    write(args, argv, problem, faces, masks, results, runs, baselines_s)


def verdict(results: dict) -> list[str]:
    """The issue's target: the hypernetwork beats every baseline at 10 and 100 pixels, and its
    error falls as the context grows (10 > 100 > 300)."""
    lines = []
    baselines = {m: r for m, r in results.items() if not m.startswith("hypernetwork") and m != DIAGNOSTIC}
    for method, rows in results.items():
        if not method.startswith("hypernetwork"):
            continue
        beats = {c: all(rows[c]["mse"] < b[c]["mse"] for b in baselines.values()) for c in (10, 100)}
        best = {c: min(baselines, key=lambda m: baselines[m][c]["mse"]) for c in (10, 100)}
        falls = rows[10]["mse"] > rows[100]["mse"] > rows[300]["mse"]
        lines.append(f"- {method}: beats every baseline at 10 px: **{'met' if beats[10] else 'missed'}** "
                     f"({rows[10]['mse']:.4f} against {best[10]} {baselines[best[10]][10]['mse']:.4f}); at 100 px: "
                     f"**{'met' if beats[100] else 'missed'}** ({rows[100]['mse']:.4f} against {best[100]} "
                     f"{baselines[best[100]][100]['mse']:.4f}); error falls as the context grows (10 > 100 > 300 px): "
                     f"**{'met' if falls else 'missed'}**")
    return lines


def write(args, argv, problem, faces, masks, results, runs, baselines_s):
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [*report_head("Inpainting benchmark: LFW faces, 25x25 grey", "inpainting.py", argv, args.quick),
             f"Data: the first 100 images of `skimage.data.lfw_subset()`, split by image (seed 1234) into 80 training "
             f"and 20 test faces; {len(faces)} test faces evaluated. Pre-training patches: 25x25 crops of "
             f"{', '.join(problem.patch_names)} (grey, downscaled to 96 px on the short side); the first 20% of the "
             f"steps on patches alone, then 10% patches among the faces. Masks: the same for every method "
             f"(seed 0). Metric: MSE over all 625 pixels on [0, 1] (context pixels included), PSNR = "
             f"10 log10(1 / MSE) of the mean.", "",
             "## Training", "", "| encoder | parameters | steps | train s | test MSE during training (step: 10 / 100 / 300 / half px) |",
             "|---|---|---|---|---|"]
    for enc, run in runs.items():
        trace = "; ".join(f"{e['step']}: " + " / ".join(f"{e[f'mse_{c}']:.4f}" for c in CONTEXTS)
                          for e in run["evaluations"])
        lines.append(f"| {enc} | {run['parameters']:,} | {run['steps']} | {run['train_s']:.0f} | {trace} |")
    lines += ["", f"Model: FiLM Siren {args.hidden_layers}x{args.hidden_features} (first w0 {args.first_omega_0:g}, then 30) "
              f"over pixel coordinates in [-1, 1]², FiLM network 1x256 ReLU, "
              f"latent {args.latent}, Adam lr {args.lr:g} (cosine), {args.images} images per step, loss = MSE over "
              f"all pixels + 0.1 mean z²; training masks: the top half (1/4) or 10-300 random pixels (log-uniform).",
              "", "## Results", "",
              markdown_table(results, CONTEXTS, PAPER), "",
              f"Baselines took {baselines_s:.0f} s. griddata linear falls back to the nearest context pixel outside "
              f"the context's convex hull (for the top half: the whole bottom half). The Siren fit is "
              f"`sirenpde.fit` of a 3x64 Siren (w0 30) to the context pixels alone, {args.siren_steps} Adam steps "
              f"at lr 1e-4, per image and context. The paper's rows (Sitzmann et al. 2020, Table 1, CelebA 32x32; "
              f"**from memory, unverified**) are for context only: other images, other resolution, their third "
              f"column is 1000 pixels where ours is 300 (of 625), and their MSE may be on another value range. "
              f"The diagnostic row is not a baseline of the issue and is left out of the target: the conditional mean "
              f"of a Gaussian with the training faces' mean and covariance mixed half and half with a smooth kernel "
              f"(1.5 px; mix and width picked on the test faces, so optimistic): what a linear prior learned from "
              f"80 faces can reach.", "",
              "## Target", "", *verdict(results), "", "![inpainting](inpainting.png)", ""]
    with atomic_open(out, "w") as f:
        f.write("\n".join(lines))
    with atomic_open(out.with_suffix(".json"), "w") as f:
        json.dump({"table": {m: {str(c): v for c, v in r.items()} for m, r in table_rows(results).items()},
                   "runs": runs, "command": command_line("inpainting.py", argv)}, f, indent=1, default=float)
    methods = [m for m in results if m != DIAGNOSTIC]
    fig = inpainting_figure(faces.numpy(), masks, results, shown=2, methods=methods)
    save_figure(fig, out.with_suffix(".png"), dpi=80)
    print("\n".join(lines[-8:]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
