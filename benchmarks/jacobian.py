"""The Gauss-Newton Jacobian: point by point (vmap of one point's jacrev) against batched reverse sweeps.

Both build the same ``(N, P)`` matrix (checked) for helmholtz-square's residuals at its points,
in float64; the two are timed alternately, ``--repeats`` times each, and the median ratio is
reported with the cost of the rest of a Levenberg-Marquardt step (``J J^T`` and its Cholesky).

    python benchmarks/jacobian.py --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from _data import report_head  # benchmarks/_data.py, beside this script

HERE = Path(__file__).resolve().parent
SIZES = [(16, 8, 64, 2), (32, 16, 64, 2), (32, 16, 150, 3)]  # (grid side, boundary per side, width, layers)


def case(side: int, per_side: int, width: int, layers: int, repeats: int) -> dict:
    import sirenpde as sp
    from sirenpde.training import gauss_newton as gn
    from sirenpde.training.loop import to_device
    from sirenpde.training.loss import ConstraintLoss

    problem = sp.get_problem("helmholtz-square", points=side * side, boundary_points=4 * per_side)
    model = problem.make_model(hidden_features=width, hidden_layers=layers, seed=0).double()
    loss = ConstraintLoss(model, problem.constraints(), "auto")
    gen = torch.Generator().manual_seed(0)
    batches = to_device([con.sample(10**9, gen) for con in loss.constraints], torch.device("cpu"), torch.float64)
    builder = gn.Jacobian()
    _, J = builder(loss, batches)  # the first build checks the per-point rows once
    _, J_rev = gn.jacobian(loss, batches, mode="reverse")
    agree = float((J - J_rev).abs().max() / J_rev.abs().max())
    times = {"pointwise": [], "reverse": []}
    for _ in range(repeats):
        for name in times:
            t0 = time.perf_counter()
            builder(loss, batches) if name == "pointwise" else gn.jacobian(loss, batches, mode="reverse")
            times[name].append(time.perf_counter() - t0)
    r = torch.randn(J.shape[0], dtype=J.dtype)
    t0 = time.perf_counter()
    gn.damped_step(J, r, 1e-6)
    solve = time.perf_counter() - t0
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"N": J.shape[0], "P": J.shape[1], "pointwise_s": med["pointwise"], "reverse_s": med["reverse"],
            "ratio": med["reverse"] / med["pointwise"], "solve_s": solve, "max_rel_difference": agree}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the smallest size, one repeat")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "jacobian.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = [case(*size, 1 if args.quick else args.repeats) for size in (SIZES[:1] if args.quick else SIZES)]
    lines = [*report_head("Gauss-Newton Jacobian: point by point vs reverse sweeps", "jacobian.py", argv, args.quick),
             "helmholtz-square residuals at its fixed points, float64; medians of alternating builds. `solve`: "
             "one damped step from J (J J^T or J^T J, Cholesky, back-substitution).", "",
             "| N rows | P parameters | point by point (s) | reverse sweeps (s) | speed-up | solve (s) | max rel. difference |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['N']:,} | {row['P']:,} | {row['pointwise_s']:.3f} | {row['reverse_s']:.2f} | "
                     f"{row['ratio']:.0f}x | {row['solve_s']:.2f} | {row['max_rel_difference']:.1e} |")
    from sirenpde.io.atomic import atomic_open

    with atomic_open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
