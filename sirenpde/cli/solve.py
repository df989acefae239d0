"""``sirenpde list``, ``sirenpde solve NAME`` and ``sirenpde demo``.

The options take their choices and defaults from :mod:`sirenpde.registry`; the handlers import
the numerics (torch) only when they run, so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

from sirenpde.cli.checks import claims_output, nonnegative_int, positive_int
from sirenpde.registry import BALANCES, MODELS, OPTIMIZERS, SCHEDULES


def _kv(text: str):
    """Parse ``key=value`` problem options; values are read as JSON when they can be."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    key = key.replace("-", "_")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a plain string such as image=camera or path=/tmp/a.wav


def cmd_list(args) -> int:
    from sirenpde.problems import PROBLEMS

    print("problems:")
    for name, cls in sorted(PROBLEMS.items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"  {name:20s} {doc}")
    print("models: " + ", ".join(MODELS))
    return 0


OUTPUT_FILES = ("solution.h5", "solution.png", "solution.mp4", "solution.gif", "metrics.json", "model.pt",
                "render.png", "render.mp4", "render.gif")


def _preflight(args) -> None:
    """Everything ``solve`` needs, checked before the problem is built or a step is taken."""
    from sirenpde.cli import checks

    if args.checkpoint is not None:
        checks.output_file(args.checkpoint, "--checkpoint")
        if Path(args.checkpoint).exists() and not args.restart:
            checks.input_file(args.checkpoint, "--checkpoint")
    if args.init is not None:
        checks.input_file(args.init, "--init")
    checks.device(args.device)
    checks.positive_number(args.lr, "--lr")


def _model_kwargs(args) -> dict:
    kwargs = {}
    if args.hidden_features is not None:
        kwargs["hidden_features"] = args.hidden_features
    if args.hidden_layers is not None:
        kwargs["hidden_layers"] = args.hidden_layers
    return kwargs


@contextlib.contextmanager
def _all_or_nothing(out: Path):
    """If writing the outputs fails part way, remove the files it made, so a failed command leaves
    nothing that looks like a result (the folder itself, created by the claim when the command
    started, is removed by the claim if it is left empty)."""
    before = {p.name for p in out.iterdir()}
    try:
        yield
    except BaseException:
        for name in OUTPUT_FILES:
            if name not in before and (out / name).is_file():
                (out / name).unlink()
        raise


def _render_shape(args, problem):
    """The grid of ``--render-size``, checked before training (None without the flag)."""
    if args.render_size is None:
        return None
    if not hasattr(problem, "render"):
        raise ValueError(f"--render-size: {problem.name} is not fitted on a grid of pixels or voxels; it applies "
                         f"to image and video fits (image-fit, video-fit, the Poisson image problems)")
    from sirenpde.io.render import check_render_memory, parse_size

    shape = parse_size(args.render_size, problem.shape)
    check_render_memory(shape, problem.out_features)
    return shape


def _write_render(out, problem, model, shape) -> Path:
    from sirenpde.io.render import save_render

    name = "render.png" if len(shape) == 2 else "render.mp4"
    path = save_render(Path(out) / name, problem.render(model, shape), len(shape), getattr(problem, "fps", 25.0))
    print(f"rendered at {'x'.join(map(str, shape))} (fitted at {'x'.join(map(str, problem.shape))})")
    return path


@claims_output("out", "--out", OUTPUT_FILES)
def cmd_solve(args) -> int:
    from sirenpde.io import output
    from sirenpde.io.solution import init_from, save_model
    from sirenpde.problem_file import absolute_spec, is_file_spec, load_problem_file
    from sirenpde.problems import get_problem
    from sirenpde.training import distributed, fit

    _preflight(args)
    options = dict(args.option or [])
    if is_file_spec(args.name):  # a problem of the user's own file: recorded by its absolute path
        problem, problem_name = load_problem_file(args.name, options), absolute_spec(args.name)
    else:
        problem, problem_name = get_problem(args.name, **options), args.name
    render_shape = _render_shape(args, problem)
    model_kwargs = _model_kwargs(args)
    # built under the seed, so one command with one seed starts from the same weights every time
    model = problem.make_model(args.model, seed=args.seed, **model_kwargs)
    if args.init is not None:
        try:
            init_from(args.init, model, args.model, model_kwargs)
        except ValueError as err:
            raise ValueError(f"--init {args.init}: {err}") from None
    result = fit(problem, model, steps=args.steps, lr=args.lr, batch_size=args.batch_size, device=args.device,
                 seed=args.seed, progress=not args.quiet, checkpoint=args.checkpoint, optimizer=args.optimizer,
                 schedule=args.schedule, lbfgs_steps=args.lbfgs_steps, restart=args.restart,
                 balance=args.balance, gn_steps=args.gn_steps, gn_batch_size=args.gn_batch_size,
                 gn_refresh=args.gn_refresh, dtype=args.dtype)
    ranks = distributed.current()
    if ranks.is_writer:  # under torchrun every rank holds the same model; one writes it
        info = {"steps": result.steps, "seed": args.seed, "times": result.times,
                "init": None if args.init is None else str(args.init)}
        if hasattr(problem, "render"):  # for `sirenpde render` and Solution.render
            info["grid"] = list(problem.shape)
            info["fps"] = getattr(problem, "fps", None)
            info["render_offset"] = problem.render_offset(result.model)
        with _all_or_nothing(Path(args.out)):
            paths = output.write_solution(args.out, problem, result, args.model, options)
            if render_shape is not None:
                paths.append(_write_render(args.out, problem, result.model, render_shape))
            paths.append(save_model(Path(args.out) / "model.pt", result.model, problem_name, options, args.model,
                                    model_kwargs, result.metrics, info))
        for key, value in result.metrics.items():
            print(f"{key}: {value:.6g}")
        print(f"train time: {result.times['train_s']:.1f} s ({result.times['steps_per_s']:.2f} steps/s)")
        print("wrote " + ", ".join(str(p) for p in paths))
    ranks.barrier()
    return 0


@claims_output("out", "--out")
def cmd_demo(args) -> int:
    """Poisson reconstruction of the camera image from its gradients, then a shape."""
    from sirenpde.cli.shape import demo_shape
    from sirenpde.io import output
    from sirenpde.problems import get_problem
    from sirenpde.training import fit

    out = Path(args.out)
    size = 32 if args.quick else 64
    steps, lbfgs_steps = (40, 2) if args.quick else (200, 10)
    print(f"[1/2] poisson-gradient: camera image at {size}x{size}, {steps} Adam + {lbfgs_steps} L-BFGS steps")
    problem = get_problem("poisson-gradient", image="camera", size=size)
    model = problem.make_model("siren", hidden_features=128)
    t0 = time.perf_counter()
    result = fit(problem, model, steps=steps, lbfgs_steps=lbfgs_steps, progress=not args.quiet, device=args.device)
    output.write_solution(out / "poisson-gradient", problem, result, "siren", {"image": "camera", "size": size})
    print(f"poisson-gradient PSNR: {result.metrics['psnr']:.2f} dB "
          f"(mean removed; {time.perf_counter() - t0:.0f} s)  -> {out / 'poisson-gradient'}")
    print("[2/2] shape reconstruction from a point cloud sampled on a torus")
    stats = demo_shape(out / "shape", quick=args.quick, progress=not args.quiet)
    print(f"shape Chamfer-L1: {stats['chamfer_l1']:.5f} (unit cube)  -> {out / 'shape'}")
    return 0


def add_solve_commands(sub) -> None:
    """Register ``list``, ``solve`` and ``demo`` on an argparse subparsers object."""
    p = sub.add_parser("list", help="list the problems and models")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("solve", help="fit a network to a registered problem and write fields, a figure and metrics")
    p.add_argument("name", help="problem name (see `sirenpde list`), or FILE.py:NAME for a problem (sp.PDE) "
                                "or a function returning one, defined in your own file")
    p.add_argument("-O", "--option", type=_kv, action="append", metavar="KEY=VALUE",
                   help="problem option, e.g. -O size=64 -O image=camera (repeatable)")
    # no argparse choices: a bad name reaches make_model, whose message lists the valid ones
    p.add_argument("--model", default=MODELS.default,
                   help=f"{', '.join(MODELS)} (default {MODELS.default})")
    p.add_argument("--hidden-features", type=positive_int, default=None, help="network width")
    p.add_argument("--hidden-layers", type=nonnegative_int, default=None, help="hidden-to-hidden layers")
    p.add_argument("--steps", type=nonnegative_int, default=None, help="default: the problem's")
    p.add_argument("--lr", type=float, default=None, help="default: the problem's (1e-4 for most)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="default: the problem's")
    p.add_argument("--optimizer", default=None, choices=OPTIMIZERS,
                   help=f"default: the problem's ({OPTIMIZERS.default} unless it names another); gauss-newton "
                        "runs every step as Levenberg-Marquardt on --gn-batch-size points")
    p.add_argument("--lbfgs-steps", type=nonnegative_int, default=None,
                   help="L-BFGS steps after the --steps (default: the problem's; 10 for the Poisson problems)")
    p.add_argument("--gn-steps", type=nonnegative_int, default=None,
                   help="Gauss-Newton (Levenberg-Marquardt) steps after the --steps and --lbfgs-steps: the finish "
                        "that reaches 1e-5 where Adam stops at 1e-3 (default: the problem's, usually 0)")
    p.add_argument("--gn-batch-size", type=positive_int, default=None,
                   help="points of a Gauss-Newton phase (default: the problem's, or min(batch size, 1024)); "
                        "its Jacobian is points x parameters")
    p.add_argument("--gn-refresh", type=nonnegative_int, default=None,
                   help="draw new Gauss-Newton points every that many steps (default 0: keep the first)")
    p.add_argument("--dtype", default=None, choices=["float32", "float64"],
                   help="train in this precision (default: float32, or the problem's with its default "
                        "Gauss-Newton recipe); losses near 1e-10 need float64")
    p.add_argument("--balance", default=None, choices=list(BALANCES),
                   help="automatic weights of the condition terms: gradnorm (the default of sp.PDE problems), "
                        "gradmax, or none (their fixed weights; the default of the built-in problems)")
    p.add_argument("--schedule", default=None, choices=["none", *SCHEDULES],
                   help="learning-rate schedule (default: the problem's, usually none)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file: saved during training, resumed if present (it must belong to this run)")
    p.add_argument("--restart", action="store_true",
                   help="start afresh even if the --checkpoint file exists (it is overwritten)")
    p.add_argument("--init", default=None, metavar="MODEL.pt",
                   help="start from the weights of a model.pt written by an earlier solve (same model)")
    p.add_argument("--render-size", default=None, metavar="SIZE",
                   help="also render the fitted image or video at another resolution: a factor (4x) or an exact "
                        "size (HxW, or TxHxW for a video); written as render.png / render.mp4")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("demo", help="solve poisson-gradient on the camera image and reconstruct a shape")
    p.add_argument("--out", default="sirenpde-demo", help="output folder (default ./sirenpde-demo)")
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="a smaller, faster demo (for smoke tests)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
