"""Ablation of the shape-fit recipe: one configuration per run -> fit, mesh, scores, one JSON line.

Each candidate of the faster recipe is switched on alone against a base, on the clean 50k bunny
or fandisk input of ``benchmarks/sdf.py`` (same cloud, same scoring)::

    python benchmarks/sdf_recipe.py --steps 400 --tag base400
    python benchmarks/sdf_recipe.py --steps 400 --lr 3e-3 --tag lr3e-3
    python benchmarks/sdf_recipe.py --steps 400 --off-sampling spacing --tag spacing
    python benchmarks/sdf_recipe.py --steps 400 --init-scale 1.5 --tag init1.5
    python benchmarks/sdf_recipe.py --steps 400 --distill 100 --tag distill-guide100
    python benchmarks/sdf_recipe.py --steps 400 --hidden-features 256 --batch-size 2000 --tag w256-b2000
    python benchmarks/sdf_recipe.py --steps 380 --lbfgs-steps 1 --tag lbfgs1

``--distill N`` first regresses the network for N order-0 steps onto a coarse signed distance, the
distance to the nearest cloud point signed by the guide's winding number (where it knows the side),
on a pool of points around the cloud and in the cube, before the paper's loss takes over. Rows are
appended to ``--jsonl``; ``--table`` turns such a file into the Markdown table of RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _data import data_dir  # benchmarks/_data.py, beside this script


def guide_pool(problem, n: int = 400_000, seed: int = 0):
    """Points (a quarter uniform in the cube, the rest around cloud points with twice their
    10th-neighbour spacing) and the guide's signed distance there, where it knows the side."""
    from scipy.spatial import cKDTree

    pts = problem.points.numpy()
    spacing = torch.as_tensor(cKDTree(pts).query(pts, k=11, workers=-1)[0][:, -1], dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    n_uniform = n // 4
    idx = torch.randint(0, len(pts), (n - n_uniform,), generator=g)
    around = problem.points[idx] + torch.randn(n - n_uniform, 3, generator=g) * (2 * spacing[idx, None])
    x = torch.cat([torch.rand(n_uniform, 3, generator=g) * 2 - 1, around.clamp(-1, 1)])
    distance = torch.as_tensor(cKDTree(pts).query(x.numpy(), workers=-1)[0], dtype=torch.float32)
    _, sign = problem.guide.lookup(x)
    known = sign != 0
    return x[known], (sign * distance)[known]


def distill(shape, problem, steps: int, lr: float, batch: int) -> None:
    from sirenpde.problem import Constraint, Problem
    from sirenpde.training import fit

    x, target = guide_pool(problem)

    class Distill(Problem):
        name, in_features, out_features = "distill", 3, 1

        def constraints(self):
            def sampler(n, g):
                idx = torch.randint(0, len(x), (n,), generator=g)
                return {"x": x[idx], "target": target[idx]}

            return [Constraint("distill", sampler, lambda u, b: (u.value[:, 0] - b["target"]).abs(), order=0,
                               reduction="mean")]

    fit(Distill(), shape, steps=steps, lr=lr, batch_size=batch, device="cpu", progress=False)


def run(args) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from sdf import build_inputs
    from sirenpde.problems.sdf import SDF
    from sirenpde.shapes.fit import default_network, mesh_shape
    from sirenpde.shapes.metrics import evaluate_mesh
    from sirenpde.training import fit

    reference, inputs = build_inputs(Path(args.data), 0, 0.005, 0.1, args.shape)
    t0 = time.perf_counter()
    problem = SDF(inputs[args.case], off_sampling=args.off_sampling,
                  shares=tuple(float(s) for s in args.shares.split(",")))
    shape = default_network(problem, 0, args.init_scale, hidden_features=args.hidden_features,
                            hidden_layers=args.hidden_layers)
    if args.distill:
        distill(shape, problem, args.distill, args.lr, args.batch_size)
    setup_s = time.perf_counter() - t0
    result = fit(problem, shape, steps=args.steps, lr=args.lr, batch_size=args.batch_size, device="cpu",
                 progress=False, schedule=None if args.schedule == "none" else args.schedule,
                 lbfgs_steps=args.lbfgs_steps)
    shape.eval()
    scores = evaluate_mesh(mesh_shape(shape, args.resolution, device="cpu", progress=False), reference)
    return {**{k: v for k, v in vars(args).items() if k not in ("table", "jsonl", "data")},
            "fit_s": round(result.times["train_s"], 1), "setup_s": round(setup_s, 1),
            **{k: round(scores[k], 6) for k in ("chamfer_l1", "chamfer_l1_exact", "normal_consistency")}}


def table(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = ["| shape | run | steps | network | points/step | lr | fit s | setup s | Chamfer-L1 | exact | NC |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['shape']} | {r['tag']} | {r['steps']} | {r['hidden_layers'] + 1}x{r['hidden_features']} | "
                   f"{r['batch_size']} | {r['lr']:g} | {r['fit_s']} | {r['setup_s']} | {r['chamfer_l1']:.5f} | "
                   f"{r['chamfer_l1_exact']:.6f} | {r['normal_consistency']:.4f} |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", choices=("bunny", "fandisk"), default="bunny")
    p.add_argument("--case", default="clean-50k")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--hidden-features", type=int, default=128)
    p.add_argument("--hidden-layers", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=6000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", default="warmup-cosine")
    p.add_argument("--off-sampling", choices=("uniform", "spacing"), default="uniform")
    p.add_argument("--init-scale", type=float, default=1.0)
    p.add_argument("--distill", type=int, default=0, help="steps of the guide distillation first")
    p.add_argument("--lbfgs-steps", type=int, default=0)
    p.add_argument("--shares", default="0.4,0.2,0.4", help="surface, near, off-surface shares")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="run")
    p.add_argument("--data", default=str(data_dir()))
    p.add_argument("--jsonl", default="benchmarks/results/sdf_recipe.jsonl")
    p.add_argument("--table", action="store_true", help="print the table of --jsonl and stop")
    args = p.parse_args(argv)
    if args.table:
        print(table(Path(args.jsonl)))
        return
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    row = run(args)
    print(json.dumps(row), flush=True)
    with open(args.jsonl, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
