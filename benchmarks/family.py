"""Any registered family: one conditioned model for all members, against per-member fits.

1. The family trained with its registered defaults (or ``--steps``, ``--members-per-step``,
   ``--points``, ``--lr``), scored on ``--held-out`` members it never saw, each by its own problem's
   ``metrics()`` (for plate-family: the finite-difference reference at its nodes).
2. Side by side in the same run, ``--fit-members`` of those held-out members (spread over the list)
   fitted one by one with ``sirenpde.fit`` and the member problem's own defaults (the same Siren the
   problem builds by itself), from scratch: their error and time.
3. Prediction time (``family.predict``: a plain Siren from the conditioned model, median of 20), the
   speed-up over a per-member fit, and the break-even count (family training time / mean fit time).

Writes ``benchmarks/results/family-<name>.md`` and ``.json``. From the repository root:

    .venv/bin/python benchmarks/family.py plate-family --fit-members 16 --threads 1
    .venv/bin/python benchmarks/family.py helmholtz-family --held-out 32 --fit-members 0 --threads 1
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from _data import report_head  # benchmarks/_data.py, beside this script

HERE = Path(__file__).resolve().parent
TARGETS = {  # issue #23: (median, p90) of the held-out members; plate: ratio to per-member fits
    "helmholtz-family": "held-out median <= 5e-2, p90 <= 1e-1, within 30 min on 2 cores",
    "poisson-family": "no worse than before the refactor (median 5.4e-3, p90 8.4e-3)",
    "plate-family": "median <= 3x the per-member fits' median, prediction >= 1000x faster than a fit",
}


def parse(argv):
    from sirenpde.problems import FAMILIES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("family", choices=list(FAMILIES))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--members-per-step", type=int, default=None)
    ap.add_argument("--points", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--conditioning", default=None, choices=["film", "full", "concat"])
    ap.add_argument("--held-out", type=int, default=16, help="held-out members scored (default 16)")
    ap.add_argument("--fit-members", type=int, default=4, help="held-out members also fitted one by one")
    ap.add_argument("--fit-steps", type=int, default=None, help="per-member fit steps (default: the problem's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke sizes (seconds), not results")
    ap.add_argument("--out", default=None, help="default benchmarks/results/family-<name>.md")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    import sirenpde as sp
    from sirenpde.hyper import fit_family, get_family

    family = get_family(args.family)
    if args.quick:
        args.steps, args.held_out, args.fit_steps = args.steps or 3, min(args.held_out, 2), args.fit_steps or 3
        args.fit_members = min(args.fit_members, 1)
    model = family.make_model(args.conditioning, seed=args.seed)
    t0 = time.perf_counter()
    result = fit_family(family, model, args.steps, args.members_per_step, args.points, lr=args.lr, seed=args.seed,
                        progress=not args.quick, eval_members=args.held_out, device="cpu")
    train_s = result.times["train_s"]
    wall_s = time.perf_counter() - t0
    model = result.model.cpu().eval()
    p = family.held_out(args.held_out, dtype=torch.float64)
    errors = result.metrics["rel_l2"]
    rows = [{**family.values(row), "family_rel_l2": e} for row, e in zip(p, errors)]

    times = []
    for _ in range(20):
        t = time.perf_counter()
        family.predict(model, p[0])
        times.append(time.perf_counter() - t)
    predict_s = statistics.median(times)

    picked = [round(i * (len(p) - 1) / max(1, args.fit_members - 1)) for i in range(args.fit_members)]
    for i in sorted(set(picked)):
        member = family.member(p[i])
        t = time.perf_counter()
        fitted = sp.fit(member, member.make_model(seed=args.seed), steps=args.fit_steps, seed=args.seed, progress=False)
        rows[i]["fit_s"] = time.perf_counter() - t
        rows[i]["fit_rel_l2"] = float(fitted.metrics["rel_l2"])
        print(f"member {i} {family.values(p[i])}: family {errors[i]:.3e}, own fit {rows[i]['fit_rel_l2']:.3e} "
              f"in {rows[i]['fit_s']:.0f} s", flush=True)
    write(args, argv, family, model, result, train_s, wall_s, predict_s, rows)


def write(args, argv, family, model, result, train_s, wall_s, predict_s, rows):
    from sirenpde.io.atomic import atomic_open

    fitted = [r for r in rows if "fit_rel_l2" in r]
    med = statistics.median(r["family_rel_l2"] for r in rows)
    p90 = result.metrics["p90"]
    summary = {"family": family.name, "problem": family.base.name, "conditioning": model.config()["mode"],
               "config": model.config(), "parameters": sum(t.numel() for t in model.parameters()),
               "settings": result.settings, "train_s": train_s, "wall_s": wall_s, "held_out": len(rows),
               "median": med, "p90": p90, "predict_s": predict_s, "rows": rows}
    if fitted:
        fit_med = statistics.median(r["fit_rel_l2"] for r in fitted)
        fam_same = statistics.median(r["family_rel_l2"] for r in fitted)
        fit_s = statistics.mean(r["fit_s"] for r in fitted)
        summary.update(fit_median=fit_med, family_median_on_fitted=fam_same, fit_s=fit_s,
                       ratio=fam_same / fit_med, speedup=fit_s / predict_s, break_even=train_s / fit_s)
    out = Path(args.out) if args.out else HERE / "results" / f"family-{family.name}.md"
    lines = [*report_head(f"Family benchmark: {family.name}", "family.py",
                          argv if argv is not None else sys.argv[1:], args.quick),
             f"Threads: {args.threads}.", "",
             f"{family!r}; {model.config()['mode']} conditioning, {summary['parameters']:,} parameters, "
             f"config `{model.config()}`.", "",
             f"Training: {result.settings['steps']} Adam steps (lr {result.settings['lr']:g}, "
             f"{result.settings['schedule']}), {result.settings['batch_size']} members per step; "
             f"{train_s:.0f} s of training ({wall_s:.0f} s with evaluations).", "",
             "| held-out members | median rel L2 | p90 rel L2 | target |", "|---|---|---|---|",
             f"| {len(rows)} | {med:.3e} | {p90:.3e} | {TARGETS.get(family.name, '')} |", ""]
    if fitted:
        lines += [f"Per-member fits (`sirenpde.fit(member, member.make_model())`, the problem's defaults: "
                  f"its own steps, lr and batch) on {len(fitted)} of the "
                  f"held-out members, side by side:", "",
                  "| " + " | ".join(family.names) + " | family rel L2 | own fit rel L2 | own fit s |",
                  "|" + "---|" * (len(family.names) + 3)]
        for r in fitted:
            lines.append("| " + " | ".join(f"{r[n]:.4g}" for n in family.names)
                         + f" | {r['family_rel_l2']:.3e} | {r['fit_rel_l2']:.3e} | {r['fit_s']:.0f} |")
        lines += ["", f"Median over the fitted members: family {summary['family_median_on_fitted']:.3e}, own fits "
                  f"{summary['fit_median']:.3e} (ratio {summary['ratio']:.2f}); prediction {predict_s * 1e3:.2f} ms "
                  f"against {summary['fit_s']:.0f} s per fit ({summary['speedup']:,.0f}x); break-even after "
                  f"{summary['break_even']:.1f} members (family training / one fit).", ""]
    lines += ["Every held-out member:", "", "| " + " | ".join(family.names) + " | rel L2 |",
              "|" + "---|" * (len(family.names) + 1)]
    lines += ["| " + " | ".join(f"{r[n]:.4g}" for n in family.names) + f" | {r['family_rel_l2']:.3e} |" for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    with atomic_open(out.with_suffix(".json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
