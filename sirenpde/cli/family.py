"""``sirenpde family train NAME`` and ``sirenpde family predict FILE``.

Nothing here imports torch at module level, so ``sirenpde --help`` stays fast; the handlers
import the numerics when they run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sirenpde.cli import checks
from sirenpde.cli.inpaint import ENCODERS
from sirenpde.cli.solve import OUTPUT_FILES  # predict writes what solve writes

CONDITIONINGS = ("film", "full", "concat")  # sirenpde.hyper.CONDITIONINGS, without importing torch


def _kv(text: str):
    """``name=value`` with a numeric value (a family parameter)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: expected a number, got {value!r}") from None


@checks.claims_output("out", "--out", ("family.pt", "metrics.json", "family.png", "inpainting.png"))
def cmd_train(args) -> int:
    # every option checked as spelled on the command line, before the family is built
    if args.lr is not None:
        checks.positive_number(args.lr, "--lr")
    checks.device(args.device)
    if args.checkpoint is not None:
        checks.output_file(args.checkpoint, "--checkpoint")
    if args.name == "inpainting":
        from sirenpde.cli.inpaint import train_inpainting

        args.conditioning = args.conditioning or "film"
        return train_inpainting(args)
    if args.encoder is not None:
        raise ValueError(f"--encoder is for the inpainting family, not {args.name!r}")
    from sirenpde.hyper import get_family
    from sirenpde.hyper.fit import fit_family
    from sirenpde.training import distributed

    family = get_family(args.name)
    d = family.defaults
    conditioning = args.conditioning or d["conditioning"]
    model = family.make_model(conditioning, seed=args.seed)
    steps = d["steps"] if args.steps is None else args.steps
    instances = d["members"] if args.instances is None else args.instances
    points = d["points"] if args.points is None else args.points
    lr = d["lr"] if args.lr is None else args.lr
    result = fit_family(family, model, steps, instances, points, lr=lr, device=args.device, seed=args.seed,
                        progress=not args.quiet, checkpoint=args.checkpoint, eval_members=args.members)
    args.conditioning = conditioning
    ranks = distributed.current()
    if ranks.is_writer:  # under torchrun rank 0 alone writes
        _write_family(args, family, result, steps, instances, points, lr)
    # the other ranks wait for it: a rank leaving the group while rank 0 still works made gloo
    # abort that rank now and then ("terminate called without an active exception")
    ranks.barrier()
    return 0


def _write_family(args, family, result, steps, instances, points, lr) -> None:
    from sirenpde.hyper.files import save_family
    from sirenpde.hyper.report import family_figure, held_out_table
    from sirenpde.io.atomic import atomic_open
    from sirenpde.io.plotting import save_figure

    model = result.model.cpu().eval()
    table = held_out_table(family, model, args.members)
    meta = {"family": family.name, "conditioning": args.conditioning, "config": model.config(),
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "ranges": {k: list(v) for k, v in family.parameters.items()},
            "steps": steps, "members_per_step": instances, "points_per_member": points, "lr": lr,
            "times": result.times, "final_loss": {k: v[-1] for k, v in result.history.items() if v},
            "held_out": table, "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [save_family(out / "family.pt", model, family, {"median": table["median"], "p90": table["p90"]},
                         {"steps": steps, "train_s": result.times.get("train_s")})]
    with atomic_open(out / "metrics.json", "w") as f:
        json.dump(meta, f, indent=2)
    paths.append(out / "metrics.json")
    paths.append(save_figure(family_figure(family, model, table), out / "family.png", dpi=90))
    print(f"held-out relative L2 over {args.members} members: median {table['median']:.4g}, p90 {table['p90']:.4g}")
    print(f"train time: {result.times['train_s']:.1f} s ({result.times['steps_per_s']:.2f} steps/s)")
    print("wrote " + ", ".join(str(p) for p in paths))


@checks.claims_output("out", "--out", OUTPUT_FILES)
def cmd_predict(args) -> int:
    from types import SimpleNamespace

    import torch

    from sirenpde.hyper.files import load_family
    from sirenpde.io import output
    from sirenpde.io.solution import save_model

    t0 = time.perf_counter()
    loaded = load_family(args.file, extrapolate=args.extrapolate)
    family = loaded.family
    given = dict(args.option or [])
    unknown = sorted(set(given) - set(family.names))
    missing = [n for n in family.names if n not in given]
    if unknown or missing:
        raise ValueError(f"{family.name}: give every parameter as -O name=value ({', '.join(family.names)}); "
                         + (f"unknown: {', '.join(unknown)}" if unknown else f"missing: {', '.join(missing)}"))
    p = torch.tensor([given[n] for n in family.names], dtype=torch.float64)
    siren = loaded.predict(p)  # checks the range first
    predict_s = time.perf_counter() - t0
    problem = family.member(p)
    metrics = problem.metrics(siren)
    options = family.member_options(p)
    result = SimpleNamespace(model=siren, metrics=metrics, history={}, steps=0,
                             times={"predict_s": predict_s})
    paths = output.write_solution(args.out, problem, result, "siren", options)
    paths.append(save_model(Path(args.out) / "model.pt", siren, problem.name, options, "siren", metrics=metrics,
                            info={"family": family.name, "family_file": Path(args.file).name,
                                  "predict_s": predict_s}))
    for key, value in metrics.items():
        print(f"{key}: {value:.6g}")
    print(f"prediction time: {predict_s * 1e3:.1f} ms")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _defaults_text() -> str:
    """Each registered family's training defaults, read from the registry (no torch import)."""
    from sirenpde.problems import FAMILIES

    rows = []
    for name, spec in FAMILIES.items():
        d = spec.get("defaults", {})
        rows.append(f"{name} ({spec['problem']}): {d.get('steps')} steps, lr {d.get('lr')}, {d.get('members')} members "
                    f"x {d.get('points')} points per step, {d.get('conditioning', 'film')}")
    return "; ".join(rows)


def add_family_commands(sub) -> None:
    from sirenpde.problems import FAMILIES

    fam = sub.add_parser("family", help="train one conditioned model on a family of problems, and predict members")
    fsub = fam.add_subparsers(dest="family_command", required=True)
    p = fsub.add_parser("train", help="train a hypernetwork on a family; writes family.pt, metrics.json, family.png",
                        description=f"Defaults by family: {_defaults_text()}; inpainting: see `sirenpde inpaint --help`.")
    p.add_argument("name", choices=[*FAMILIES, "inpainting"], help=f"family name ({', '.join(FAMILIES)}, inpainting)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--conditioning", default=None, choices=CONDITIONINGS,
                   help="film: per-layer scale and shift; full: the paper's hypernetwork; concat "
                        "(default: the family's, film for all registered ones)")
    p.add_argument("--encoder", default=None, choices=ENCODERS,
                   help="inpainting only: cnn (default, over the masked image) or set (over the context pixels)")
    p.add_argument("--steps", type=checks.nonnegative_int, default=None, help="default: the family's (see above)")
    p.add_argument("--instances", type=checks.positive_int, default=None,
                   help="members per step (default: the family's; inpainting: images, 32)")
    p.add_argument("--points", type=checks.positive_int, default=None,
                   help="points per member and step (default: the family's)")
    p.add_argument("--lr", type=float, default=None, help="default: the family's (cosine schedule)")
    p.add_argument("--members", type=checks.positive_int, default=64, help="held-out members in metrics.json (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
    p.add_argument("--checkpoint", default=None, help="checkpoint file: saved during training, resumed if present")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = fsub.add_parser("predict", help="write what `solve` writes for one member, from a trained family.pt")
    p.add_argument("file", help="family.pt written by `sirenpde family train`")
    p.add_argument("-O", "--option", type=_kv, action="append", metavar="NAME=VALUE",
                   help="one member parameter (repeat for each)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--extrapolate", action="store_true", help="allow parameters outside the trained range")
    p.set_defaults(func=cmd_predict)
