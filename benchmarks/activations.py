"""SIREN against ReLU, ReLU with positional encoding, tanh and random Fourier features.

One model of each kind, matched in parameter count, is fitted to every registered problem of
``BENCH_PROBLEMS`` with the same steps, batch and learning rate. Writes to ``--out``:
``results.md`` (a table per problem and a comparison with the paper's Poisson PSNR),
``results.json`` (every number, per seed, with the metric curves), ``<problem>_curves.png``
(metric against steps and wall time) and ``<problem>_fields.png`` (each model's output, its
gradient and its Laplacian).

    python benchmarks/activations.py --quick          # 2 CPU cores, < 20 min
    python benchmarks/activations.py --full           # the paper's sizes, for a GPU
    python benchmarks/activations.py --smoke --problems image-fit --out /tmp/act
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

import sirenpde
from sirenpde.io.atomic import atomic_open
from sirenpde.problems import PROBLEMS
from sirenpde.problems.audio_fit import AudioFit
from sirenpde.problems.pixels import PixelProblem
from sirenpde.training import resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the report half, next to this script
from _data import command_line, data_dir, shown  # noqa: E402
from activations_report import (numeric_metrics, paper_section, picture_panels, plot_curves,  # noqa: E402
                                plot_fields, primary_metric, reference_panels, table)

BENCH_PROBLEMS = ("image-fit", "image-fit-rgb", "audio-fit", "video-fit", "poisson-gradient", "poisson-laplacian",
                  "gradient-composite", "helmholtz", "helmholtz-square", "wave", "sdf")
ROW_PROBLEM = {"image-fit-rgb": "image-fit"}  # rows that are a registered problem with other options
MODEL_NAMES = ("siren", "relu", "relu-pe", "tanh", "fourier")  # siren first: the others match its size
# Per mode: ``image``/``poisson`` image sides in pixels, ``audio`` samples kept, ``batch`` points per
# step of the problems without sampled data (None: the problem's default), ``grid`` the evaluation
# grid of the PDE problems, ``mesh`` whether the SDF is meshed for its metrics, ``video`` the frames
# and the longer side of the video clip (None: the problem's default clip).
MODES = {
    "smoke": dict(width=16, layers=1, steps=4, eval_every=2, seeds=1, image=12, poisson=12, audio=200,
                  batch=64, grid=16, mesh=False, threads=1, video=(4, 12)),
    "quick": dict(width=64, layers=3, steps=300, eval_every=30, seeds=2, image=64, poisson=32, audio=2000,
                  batch=1024, grid=64, mesh=False, threads=1, video=(24, 96)),
    "full": dict(width=256, layers=3, steps=10000, eval_every=500, seeds=1, image=512, poisson=256,
                 audio=None, batch=None, grid=None, mesh=True, threads=None, video=(None, None)),
}
DATA = data_dir()
# The paper's SIREN first-layer omega_0 and the package's Fourier-feature scale, at 256 samples per axis.
W0_AT_256, FOURIER_SCALE_AT_256 = 30.0, 10.0
SIZE_KEYS = ("hidden_features", "hidden_layers")


# -- problems and models ----------------------------------------------------------------------
def problem_kwargs(name: str, mode: dict) -> dict:
    """Wanted constructor arguments; a tuple key lists alternative names for one argument."""
    grid = {("metric_n", "grid_n", "resolution"): mode["grid"]}
    image, poisson = {"size": mode["image"]}, {"size": mode["poisson"]}
    frames, side = mode["video"]
    wanted = {"image-fit": image, "image-fit-rgb": {**image, "image": "astronaut", "color": True},
              "video-fit": {"frames": frames, "size": side},
              "audio-fit": {"max_samples": mode["audio"]}, "poisson-gradient": poisson,
              "poisson-laplacian": poisson, "gradient-composite": poisson,
              "helmholtz": grid, "helmholtz-square": grid, "wave": grid,
              "sdf": {("cloud", "path", "xyz"): str(DATA / "bunny_50k.xyz"),
                      "reference_mesh": str(DATA / "bunny.obj") if mode["mesh"] else None}}
    return {k: v for k, v in wanted.get(name, {}).items() if v is not None}


def build_problem(name: str, mode: dict, extra: dict):
    """The problem built with the mode's arguments its constructor accepts, then ``extra``.
    Returns ``(problem, arguments used, names of wanted arguments it does not take)``."""
    cls = PROBLEMS[ROW_PROBLEM.get(name, name)]
    params = inspect.signature(cls).parameters
    open_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    used, dropped = {}, []
    for key, value in problem_kwargs(name, mode).items():
        names = key if isinstance(key, tuple) else (key,)
        hit = next((n for n in names if n in params), names[0] if open_kw else None)
        if hit is None:
            dropped.append("/".join(names))
        else:
            used[hit] = value
    used.update(extra)
    return cls(**used), used, dropped


def resolution(problem) -> int | None:
    """Samples along the shortest axis of the problem's data, for problems fitting sampled data (of a
    video the shortest image axis: its frame count sets no spatial frequency)."""
    if isinstance(problem, PixelProblem):
        return int(min(problem.shape[-2:]))
    if isinstance(problem, AudioFit):
        return int(np.size(problem.signal))
    return None


def encoding_kwargs(problem, name: str) -> dict:
    """Input-frequency settings for ``n`` samples per axis of the problem's data, unless the
    problem sets its own (``problem.model_kwargs``); none for problems without sampled data.

    Positional encoding: the paper's Nyquist rule, ``floor(log2(n / 4))`` frequencies.
    SIREN: the paper's first-layer omega_0 = 30 from 256 px up, ``30 n / 256`` below: at 32 px,
    omega_0 = 30 puts 1.9 radians of phase between neighbouring pixels, and derivative supervision
    at the pixel centres is then met by an aliased field (zero loss, wrong image).
    Fourier features: scale ``10 n / 256``, the package default at 256 samples and a fixed
    fraction of the Nyquist frequency ``n / 4`` at every size.
    """
    n = resolution(problem)
    if n is None:
        return {}
    kw = {}
    if name == "siren":
        kw["first_omega_0"] = W0_AT_256 * min(1.0, n / 256)
    elif name == "relu-pe":
        kw["num_frequencies"] = max(1, int(math.floor(math.log2(max(n / 4, 2)))))
    elif name == "fourier":
        kw["scale"] = FOURIER_SCALE_AT_256 * n / 256
    own = problem.model_kwargs.get(name, {})
    return {k: v for k, v in kw.items() if k not in own}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_width(problem, name: str, target: int, layers: int, kw: dict) -> int:
    """The hidden width whose parameter count is closest to ``target``. The count is a quadratic
    ``a2 h^2 + a1 h + a0`` in the width ``h``, so three small models determine it exactly."""
    p1, p2, p3 = (n_params(problem.make_model(name, hidden_features=h, hidden_layers=layers, **kw))
                  for h in (1, 2, 3))
    a2 = (p3 - 2 * p2 + p1) / 2
    a1 = p2 - p1 - 3 * a2
    a0 = p1 - a1 - a2
    c = a0 - target
    root = (-a1 + math.sqrt(a1 * a1 - 4 * a2 * c)) / (2 * a2) if a2 else -c / a1
    candidates = {max(1, math.floor(root)), max(1, math.ceil(root))}
    return int(min(candidates, key=lambda h: abs(a2 * h * h + a1 * h + a0 - target)))


def build_models(problem, mode: dict, scale_frequencies: bool = True) -> dict[str, dict]:
    """Width and kwargs of each model, matched in parameter count to a SIREN of ``mode['width']``.
    Without ``scale_frequencies`` the models keep their (or the problem's) input frequencies."""
    layers, specs, target = mode["layers"], {}, None
    for name in MODEL_NAMES:
        kw = {k: v for k, v in problem.model_kwargs.get(name, {}).items() if k not in SIZE_KEYS}
        if name == "fourier":  # as many features as units (Tancik et al.: 256 at width 256)
            kw.setdefault("num_features", mode["width"])
        kw.update(encoding_kwargs(problem, name) if scale_frequencies else {})
        if name == "siren":
            width = mode["width"]
            target = n_params(problem.make_model(name, hidden_features=width, hidden_layers=layers, **kw))
        else:
            width = matched_width(problem, name, target, layers, kw)
        kw.update(hidden_features=width, hidden_layers=layers)
        count = n_params(problem.make_model(name, **kw))
        specs[name] = {"kwargs": kw, "params": count, "params_ratio": count / target}
    return specs


def run_model(problem, name: str, spec: dict, seed: int, args, steps: int, lr: float, batch):
    """Fit one model with one seed: ``(record, trained model or None if it diverged)``."""
    torch.manual_seed(seed)
    model = problem.make_model(name, **spec["kwargs"], **({"seed": seed} if name == "fourier" else {}))
    start = _floats({"step": 0, "train_s": 0.0, **problem.metrics(model)})
    try:
        # the same Adam steps for every model: no L-BFGS finish (the Poisson problems default to one)
        res = sirenpde.fit(problem, model, steps=steps, lr=lr, batch_size=batch, device=args.device,
                           seed=seed, progress=False, eval_every=args.eval_every, lbfgs_steps=0)
    except FloatingPointError as err:
        return {"seed": seed, "status": f"diverged: {err}", "metrics": {}, "train_s": None,
                "evaluations": [start]}, None
    record = {"seed": seed, "status": "ok", "metrics": _floats(res.metrics), "train_s": res.times["train_s"],
              "final_loss": res.history["total"][-1],
              "evaluations": [start] + [_floats(e) for e in res.evaluations]}
    return record, res.model


def step_time(problem, name: str, spec: dict, lr: float, batch, args, steps: int = 12) -> float:
    """Seconds per training step of one model, from a short fit after two warm-up steps."""
    torch.manual_seed(0)
    model = problem.make_model(name, **spec["kwargs"], **({"seed": 0} if name == "fourier" else {}))
    kw = dict(lr=lr, batch_size=batch, device=args.device, progress=False, lbfgs_steps=0)
    sirenpde.fit(problem, model, steps=2, **kw)
    return sirenpde.fit(problem, model, steps=steps, **kw).times["train_s"] / steps


def _floats(d: dict) -> dict:
    return {k: float(v) if isinstance(v, (int, float, np.number)) else v for k, v in d.items()}


def write_outputs(out: Path, header: dict, results: dict, skipped: dict) -> Path:
    h = header
    freq = ("each model's defaults (`--fixed-frequencies`)" if h["fixed_frequencies"] else
            "scaled to the data's n samples per axis: SIREN first-layer omega_0 = 30 min(1, n/256) (the "
            "paper's 30 from 256 px up), positional encoding floor(log2(n/4)) frequencies (the paper's "
            "Nyquist rule), Fourier-feature scale 10 n/256; problems without sampled data keep the "
            "defaults, and a problem's own model settings win")
    lines = ["# Activation benchmark: SIREN vs ReLU, ReLU+PE, tanh, Fourier features", "",
             f"Run: `{h['command']}` ({h['mode']}), device {h['device']}, {h['cpus']} CPUs visible, torch "
             f"{h['torch']}, {h['threads'] or 'default'} torch thread(s). Load average {h['load_start']:.1f} "
             f"at the start and {h['load_end']:.1f} at the end: other jobs on the machine slow every model "
             f"alike, so wall times compare within this run only. Total {h['total_s'] / 60:.1f} min.", "",
             f"Rule: every model of a problem trains with the same learning rate ({h['lr_rule']}), Adam, "
             + ("the steps that take SIREN's wall time (`--match-time`: each model's time per step measured on "
                "a short probe first; the table's steps column) " if h["match_time"] else "the same steps ")
             + "and the same batch (all pixels or samples every step for data-fitting problems; a video draws "
             "its fraction of voxels). "
             f"Widths are chosen so that parameter counts match a {h['width']}-wide SIREN with "
             f"{h['layers']} hidden-to-hidden layers. Metrics are mean ± std over {h['seeds']} seed(s).", "",
             f"Input frequencies: {freq}. Fourier features: as many as SIREN has units.", ""]
    for p, entry in results.items():
        settings = "; ".join(f"{n} " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in m["kwargs"].items() if k not in SIZE_KEYS)
                             for n, m in entry["models"].items() if len(m["kwargs"]) > len(SIZE_KEYS))
        lines += [f"## {p}", "", f"Problem arguments: `{entry['problem_kwargs']}`; lr {entry['lr']}; batch "
                  f"{entry['batch']}. Model settings: {settings or 'defaults'}."]
        if entry["dropped"]:
            lines.append(f"Wanted arguments the problem does not take: {entry['dropped']}.")
        lines += ["", *table(entry), ""]
        lines += [f"![{p} {kind}]({entry[kind]})" for kind in ("curves", "fields") if entry.get(kind)] + [""]
    lines += paper_section(results) + ["## Skipped or failed problems", ""]
    lines += [f"- {p}: {why}" for p, why in skipped.items()] or ["none"]
    with atomic_open(out / "results.md") as f:
        f.write("\n".join(lines) + "\n")
    with atomic_open(out / "results.json") as f:
        json.dump({"settings": header, "results": results, "skipped": skipped}, f, indent=1, default=str)
    return out / "results.md"


# -- running ----------------------------------------------------------------------------------
def run_problem(p: str, args, mode: dict, extra: dict, out: Path) -> dict:
    """Fit every model to problem ``p`` with every seed, plot, and return its results entry."""
    problem, used, dropped = build_problem(p, mode, extra)
    # problems fitting sampled data (pixels, audio) train on all of it every step, as in the paper
    batch = None if resolution(problem) is not None else mode["batch"]
    lr = args.lr if args.lr is not None else problem.default_lr
    specs = build_models(problem, mode, not args.fixed_frequencies)
    steps = {name: mode["steps"] for name in specs}
    if args.match_time:  # every model gets the steps that take SIREN's time, from a short timed probe
        per_step = {name: step_time(problem, name, spec, lr, batch, args) for name, spec in specs.items()}
        steps = {name: max(1, round(mode["steps"] * per_step["siren"] / t)) for name, t in per_step.items()}
    print(f"\n== {p} ({used}); lr {lr}, {mode['steps']} steps; parameters: " + ", ".join(
        f"{n} {s['params']} (width {s['kwargs']['hidden_features']})" for n, s in specs.items()), flush=True)
    entry = {"problem_kwargs": {k: shown(v) for k, v in used.items()}, "dropped": dropped, "lr": lr,
             "batch": batch or "problem default",
             "steps": mode["steps"], "match_time": bool(args.match_time), "models": {},
             "problem_shape": list(problem.shape) if isinstance(problem, PixelProblem) else None}
    panels = {}
    for name, spec in specs.items():
        runs = []
        for seed in range(mode["seeds"]):
            run, model = run_model(problem, name, spec, seed, args, steps[name], lr, batch)
            runs.append(run)
            print(f"  {name:8s} seed {seed}: {run['status']}, {run['metrics']}, train {run['train_s']} s",
                  flush=True)
            if seed == 0 and model is not None:
                panels[name] = picture_panels(problem, model.cpu())
        entry["models"][name] = {**spec, "steps": steps[name], "runs": runs}
    entry["metric"] = primary_metric(numeric_metrics(entry))
    if entry["metric"]:
        entry["curves"] = f"{p}_curves.png"
        plot_curves(out / entry["curves"], f"{p}: {entry['metric']}", entry["metric"],
                    {n: m["runs"] for n, m in entry["models"].items()})
    if panels:
        entry["fields"] = f"{p}_fields.png"
        plot_fields(out / entry["fields"], p, reference_panels(problem), panels)
    print("\n".join(table(entry)), flush=True)
    return entry


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    for m in MODES:
        size.add_argument(f"--{m}", dest="mode", action="store_const", const=m, help=f"the {m} setting")
    ap.set_defaults(mode="quick")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "activations")
    ap.add_argument("--problems", nargs="+", default=list(BENCH_PROBLEMS), metavar="NAME",
                    help=f"subset of {', '.join(BENCH_PROBLEMS)}")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--seeds", type=int, help="number of seeds (0, 1, ...)")
    ap.add_argument("--width", type=int, help="SIREN width the other models are matched to")
    ap.add_argument("--eval-every", type=int)
    ap.add_argument("--lr", type=float, help="learning rate for every model (default: the problem's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fixed-frequencies", action="store_true",
                    help="keep every model's default input frequencies (SIREN omega_0 30, 10 PE frequencies, "
                    "Fourier scale 10) instead of scaling them to the data's resolution")
    ap.add_argument("--match-time", action="store_true",
                    help="give every model the steps that take SIREN's wall time (timed on a short probe), "
                         "so models compare at equal parameters and equal time, not equal steps")
    ap.add_argument("--threads", type=int, help="torch CPU threads (quick, smoke: 1, since these small "
                    "matrices gain little from more and extra threads spin on a shared machine)")
    ap.add_argument("--problem-kw", action="append", default=[], metavar="PROBLEM:KEY=VALUE",
                    help="extra constructor argument (value parsed as JSON when it can be)")
    args = ap.parse_args(argv)
    mode = dict(MODES[args.mode])
    for key in ("steps", "seeds", "width", "eval_every", "threads"):
        if getattr(args, key) is not None:
            mode[key] = getattr(args, key)
    args.eval_every = mode["eval_every"]
    extra: dict[str, dict] = {}
    for item in args.problem_kw:
        prob, _, rest = item.partition(":")
        key, eq, value = rest.partition("=")
        if not (key and eq):
            ap.error(f"--problem-kw {item!r}: expected PROBLEM:KEY=VALUE")
        extra.setdefault(prob, {})[key] = _json_or_text(value)
    bad = [p for p in [*args.problems, *extra] if p not in BENCH_PROBLEMS]
    if bad:
        ap.error(f"unknown problem(s) {bad}; choose from {', '.join(BENCH_PROBLEMS)}")
    return args, mode, extra


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare string such as a path


def main(argv=None) -> dict:
    """Run the benchmark; returns what ``results.json`` holds."""
    args, mode, extra = parse_args(argv)
    threads = torch.get_num_threads()
    try:
        if mode["threads"]:
            torch.set_num_threads(mode["threads"])
        return _run(args, mode, extra, argv)
    finally:
        torch.set_num_threads(threads)


def _run(args, mode: dict, extra: dict, argv) -> dict:
    args.out.mkdir(parents=True, exist_ok=True)
    t_all, load_start = time.perf_counter(), os.getloadavg()[0]
    results, skipped = {}, {}
    for p in args.problems:
        if ROW_PROBLEM.get(p, p) not in PROBLEMS:
            skipped[p] = "not registered in sirenpde.problems.PROBLEMS yet"
            print(f"[skip] {p}: not registered yet", flush=True)
            continue
        try:
            results[p] = run_problem(p, args, mode, extra.get(p, {}), args.out)
        except Exception as err:  # a broken problem is reported, and must not lose the others' results
            traceback.print_exc()
            skipped[p] = f"failed: {type(err).__name__}: {err}"
            print(f"[fail] {p}: {skipped[p]}", flush=True)
    header = {"command": command_line("activations.py", argv), "mode": args.mode,
              "device": str(resolve_device(args.device)), "cpus": os.cpu_count(), "torch": torch.__version__,
              "python": platform.python_version(), "load_start": load_start, "load_end": os.getloadavg()[0],
              "total_s": time.perf_counter() - t_all, "fixed_frequencies": args.fixed_frequencies,
              "match_time": args.match_time,
              "lr_rule": f"{args.lr} for all" if args.lr is not None else
              "each problem's default_lr: 1e-4, the paper's value, unless the problem sets another", **mode}
    path = write_outputs(args.out, header, results, skipped)
    print(f"\nwrote {path}" + (f"; skipped or failed: {', '.join(skipped)}" if skipped else ""), flush=True)
    return {"settings": header, "results": results, "skipped": skipped}


if __name__ == "__main__":
    main()
