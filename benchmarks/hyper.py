"""Hypernetwork benchmark on poisson-family: one model for the whole family, against per-member fits.

1. Family training for a wall-time budget (``--budget-s``; the step count is set from a short
   timed calibration, with a cosine schedule over it): held-out median / p90 relative L2 over
   ``--members`` members (issue target: median <= 1e-2, p90 <= 3e-2 after <= 20 min on 2 cores).
2. Amortisation, side by side in this run, on ``--fit-members`` held-out members: the time of one
   prediction (``model.instance(z)``, a plain Siren) against a per-member ``fit`` of
   ``family.member(p)`` from scratch (the same Siren architecture, evaluated every
   ``--eval-every`` steps) to the prediction's error; the break-even count (family training time
   / per-member fit time to that error); and a per-member fit warm-started from the prediction
   against the from-scratch fit: steps to reach the from-scratch fit's final error.
3. ``--ablation``: film, full and concat at matched parameter counts (concat's Siren width,
   full's Siren and head widths chosen to match film's count), each trained for ``--ablation-budget-s``,
   held-out error against training time in one table and one plot.

Writes ``benchmarks/results/hyper.md`` (and ``hyper.png`` with ``--ablation``). Run from the
repository root: ``.venv/bin/python benchmarks/hyper.py --quick``.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

from _data import report_head  # benchmarks/_data.py, beside this script
from sirenpde.hyper import get_family
from sirenpde.hyper.fit import fit_family
from sirenpde.io.atomic import atomic_open
from sirenpde.nn import Siren
from sirenpde.training import fit

OUT = Path(__file__).resolve().parent / "results" / "hyper.md"


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one to two minutes: smoke sizes, not results")
    ap.add_argument("--budget-s", type=float, default=None, help="family training wall time (default 1200; quick 40)")
    ap.add_argument("--conditioning", default="film", choices=["film", "full", "concat"])
    ap.add_argument("--members", type=int, default=None, help="held-out members (default 64; quick 16)")
    ap.add_argument("--instances", type=int, default=None, help="members per step (default 16; quick 8)")
    ap.add_argument("--points", type=int, default=None, help="points per member and step (default 128; quick 64)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--fit-members", type=int, default=None, help="members fitted one by one (default 3; quick 1)")
    ap.add_argument("--fit-steps", type=int, default=None, help="steps of a per-member fit (default 3000; quick 150)")
    ap.add_argument("--fit-lr", type=float, default=1e-4, help="per-member fit learning rate (PoissonBump's default)")
    ap.add_argument("--fit-batch", type=int, default=None, help="points per step of a per-member fit (default 2048; quick 512)")
    ap.add_argument("--eval-every", type=int, default=None, help="evaluation interval of per-member fits (default 50; quick 25)")
    ap.add_argument("--ablation", action="store_true", help="film / full / concat at matched parameter counts")
    ap.add_argument("--ablation-budget-s", type=float, default=None, help="per mode (default budget / 3)")
    ap.add_argument("--ablation-only", action="store_true",
                    help="only the conditioning ablation, on --family (no family run, no per-member fits)")
    ap.add_argument("--family", default="poisson-family", choices=["poisson-family", "helmholtz-family"],
                    help="the family of --ablation-only (default poisson-family)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    quick = args.quick
    for name, full, small in (("budget_s", 1200.0, 20.0), ("members", 64, 16), ("fit_members", 3, 1),
                              ("instances", 16, 8), ("points", 128, 64), ("fit_steps", 3000, 100), ("fit_batch", 2048, 512), ("eval_every", 50, 25)):
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    if args.ablation_budget_s is None:
        args.ablation_budget_s = args.budget_s / 3
    return args


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def train_for(family, model, budget_s, args, eval_points=10):
    """fit_family for about ``budget_s`` of training: the step count from 20 timed steps (on a
    loaded machine the run can take longer than planned; the table reports the time it took)."""
    probe = fit_family(family, copy.deepcopy(model), 20, args.instances, args.points, lr=args.lr, device="cpu",
                       seed=args.seed + 1, progress=False, eval_members=1)
    per_step = probe.times["train_s"] / 20
    steps = max(20, int(budget_s / per_step))
    result = fit_family(family, model, steps, args.instances, args.points, lr=args.lr, device="cpu", seed=args.seed,
                        progress=False, eval_members=args.members, eval_every=max(1, steps // eval_points))
    return result, steps


def steps_to(evaluations, target):
    """(step, train_s) of the first evaluation at or below ``target``, else None."""
    for e in evaluations:
        if e["rel_l2"] <= target:
            return e["step"], e["train_s"]
    return None


def per_member(family, model, p, args):
    """Prediction vs from-scratch vs warm-started fits for member ``p``."""
    z = family.condition(p[None].float())[0]
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        siren = model.instance(z)
        times.append(time.perf_counter() - t0)
    predict_s = statistics.median(times)
    problem = family.member(p)
    predicted = problem.metrics(siren)["rel_l2"]
    common = dict(steps=args.fit_steps, lr=args.fit_lr, batch_size=args.fit_batch, device="cpu", seed=args.seed,
                  progress=False, eval_every=args.eval_every)
    torch.manual_seed(args.seed)
    scratch = fit(problem, Siren(**model.siren_config), **common)
    warm = fit(problem, model.instance(z), **common)
    final = scratch.evaluations[-1]["rel_l2"]
    reach = steps_to(scratch.evaluations, predicted)
    warm_reach = steps_to([{"step": 0, "train_s": 0.0, "rel_l2": predicted}] + warm.evaluations, final)
    return {"p": p.tolist(), "predict_s": predict_s, "predicted": predicted, "scratch_final": final,
            "scratch_steps": args.fit_steps, "scratch_s": scratch.times["train_s"], "reach": reach,
            "warm_reach": warm_reach, "warm_final": warm.evaluations[-1]["rel_l2"]}


def full_count(family, width: int, heads: int) -> int:
    """Parameters of the ``full`` hypernetwork: per Siren tensor of ``n`` entries one head of
    ``c -> heads -> n`` (one ReLU layer), i.e. ``heads (c + 1) + n (heads + 1)``."""
    kw = {**family.siren_kwargs, "hidden_features": width}
    siren = Siren(family.in_features, family.out_features, **{k: kw[k] for k in
                  ("hidden_features", "hidden_layers", "first_omega_0", "hidden_omega_0")})
    sizes = [p.numel() for p in siren.parameters()]
    return sum(heads * (family.cond_features + 1) + n * (heads + 1) for n in sizes)


def matched_models(family, seed):
    """film at the family's size; concat (its Siren width) and full (its Siren width and head width,
    heads at least 4 wide) sized to film's parameter count."""
    film = family.make_model("film", seed=seed)
    target = count(film)
    with torch.device("meta"):
        concat = min(range(16, 257, 2), key=lambda w: abs(count(family.make_model("concat", hidden_features=w)) - target))
    full = min(((w, h) for w in range(8, 65, 2) for h in range(4, 65)),
               key=lambda wh: (abs(full_count(family, *wh) - target), -wh[1]))
    return {"film": film, "full": family.make_model("full", seed=seed, hidden_features=full[0], hyper_hidden=full[1]),
            "concat": family.make_model("concat", seed=seed, hidden_features=concat)}


def fmt_reach(r):
    return "not reached" if r is None else f"{r[0]} steps, {r[1]:.1f} s"


def run_ablation(family, args) -> list:
    ablation = []
    for mode, mm in matched_models(family, args.seed).items():
        res, st = train_for(family, mm, args.ablation_budget_s, args)
        ablation.append((mode, count(mm), mm.config(), res, st))
        print(f"ablation {mode}: {count(mm)} parameters, median {res.metrics['median']:.3e}, "
              f"p90 {res.metrics['p90']:.3e}", flush=True)
    return ablation


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    if args.ablation_only:
        family = get_family(args.family)
        ablation = run_ablation(family, args)
        lines = [*report_head(f"Conditioning ablation: {family.name}", "hyper.py", argv, args.quick),
                 *ablation_lines(args, ablation)]
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(out, "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"wrote {out}")
        return
    family = get_family("poisson-family")
    model = family.make_model(args.conditioning, seed=args.seed)
    print(f"family training: {args.conditioning}, {count(model)} parameters, budget {args.budget_s:g} s", flush=True)
    result, steps = train_for(family, model, args.budget_s, args)
    m = result.metrics
    train_s = result.times["train_s"]
    print(f"held-out median {m['median']:.3e}, p90 {m['p90']:.3e} after {steps} steps, {train_s:.0f} s", flush=True)

    model = result.model.eval()
    held = family.held_out(args.members).double()
    rows = []
    for i in range(min(args.fit_members, len(held))):
        r = per_member(family, model, held[i], args)
        rows.append(r)
        print(f"member {i}: predicted {r['predicted']:.3e} in {r['predict_s'] * 1e3:.2f} ms; scratch to that "
              f"error: {fmt_reach(r['reach'])}; scratch final {r['scratch_final']:.3e}; warm start to it: "
              f"{fmt_reach(r['warm_reach'])}", flush=True)

    ablation = run_ablation(family, args) if args.ablation else []

    write(args, argv, family, model, result, steps, rows, ablation)


def write(args, argv, family, model, result, steps, rows, ablation):
    m, train_s = result.metrics, result.times["train_s"]
    lines = [*report_head("Hypernetwork benchmark: poisson-family", "hyper.py", argv, args.quick),
             "## Family training", "",
             f"{args.conditioning} conditioning, config `{model.config()}`, {count(model)} parameters; "
             f"{steps} Adam steps (lr {args.lr:g}, cosine), {args.instances} members x {args.points} points per step; "
             f"training wall time {train_s:.0f} s (evaluations excluded).", "",
             "| held-out members | median rel L2 | p90 rel L2 | target |", "|---|---|---|---|",
             f"| {len(m['rel_l2'])} | {m['median']:.3e} | {m['p90']:.3e} | median <= 1e-2 "
             f"({'met' if m['median'] <= 1e-2 else 'missed'}), p90 <= 3e-2 ({'met' if m['p90'] <= 3e-2 else 'missed'}), "
             f"in <= 1200 s ({'met' if train_s <= 1200 else 'missed'}) |", "",
             "Held-out error against training time:", "",
             "| step | train s | median | p90 |", "|---|---|---|---|"]
    lines += [f"| {e['step']} | {e['train_s']:.0f} | {e['median']:.3e} | {e['p90']:.3e} |" for e in result.evaluations]
    lines += ["", "## Amortisation", "",
              f"Per-member fits of `family.member(p)` on the first {len(rows)} held-out members: the same Siren "
              f"(`{model.siren_config}`), {args.fit_steps} Adam steps at lr {args.fit_lr:g}, {args.fit_batch} points per "
              f"step, evaluated every {args.eval_every} steps. Prediction: `model.instance(z)` (median of 20).", "",
              "| member (cx, cy, width) | prediction ms | predicted rel L2 | scratch fit to that error | speed-up "
              "| break-even count | scratch final rel L2 | warm start to the scratch final | steps saved |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = ", ".join(f"{v:.3f}" for v in r["p"])
        if r["reach"] is None:
            speed, even = f"> {r['scratch_s'] / r['predict_s']:.0f}x (not reached)", f"< {train_s / r['scratch_s']:.1f}"
        else:
            speed, even = f"{r['reach'][1] / r['predict_s']:.0f}x", f"{train_s / max(r['reach'][1], 1e-9):.1f}"
        saved = ("n/a" if r["warm_reach"] is None else
                 f"{r['scratch_steps'] / max(r['warm_reach'][0], 1):.1f}x ({r['warm_reach'][0]} vs {r['scratch_steps']})")
        lines.append(f"| {p} | {r['predict_s'] * 1e3:.2f} | {r['predicted']:.3e} | {fmt_reach(r['reach'])} | {speed} | "
                     f"{even} | {r['scratch_final']:.3e} | {fmt_reach(r['warm_reach'])} | {saved} |")
    lines += ["", "Targets: speed-up >= 100x, break-even <= 20 members, warm start >= 5x fewer steps. "
              "'not reached': the from-scratch fit did not reach the prediction's error within its steps, so "
              "the speed-up is at least the ratio shown and the break-even count at most the one shown."]
    if ablation:
        lines += ["", *ablation_lines(args, ablation)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}")


def ablation_lines(args, ablation) -> list[str]:
    """The ablation's table (and its plot, written beside ``args.out``)."""
    lines = ["## Conditioning ablation (matched parameter counts)", "",
             f"Each mode trained for about {args.ablation_budget_s:g} s, {args.instances} members x {args.points} "
             f"points per step, lr {args.lr:g}; held-out error over {args.members} members.", "",
             "| mode | parameters | config | steps | train s | median | p90 |", "|---|---|---|---|---|---|---|"]
    for mode, n, cfg, res, st in ablation:
        lines.append(f"| {mode} | {n} | `{cfg}` | {st} | {res.times['train_s']:.0f} | {res.metrics['median']:.3e} "
                     f"| {res.metrics['p90']:.3e} |")
    plot_ablation(ablation, Path(args.out).with_suffix(".png"))
    return lines + ["", f"![held-out median against training time]({Path(args.out).with_suffix('.png').name})"]


def plot_ablation(ablation, path):
    from sirenpde.io.plotting import save_figure, subplots

    fig, ax = subplots(figsize=(6, 4))
    for mode, n, _, res, _ in ablation:
        ev = res.evaluations
        ax.plot([e["train_s"] for e in ev], [e["median"] for e in ev], marker="o", label=f"{mode} ({n} params)")
    ax.set_xlabel("training s")
    ax.set_ylabel("held-out median rel L2")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


if __name__ == "__main__":
    main()
