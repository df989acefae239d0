"""The training loop: sample every constraint, sum the weighted losses, step the optimiser."""
from __future__ import annotations

import time
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch
from torch import nn

from sirenpde.fields import field
from sirenpde.problem import Problem, split_batch
from sirenpde import checkpoints, optim


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : the trained module (on the device it was trained on)
    history : dict name -> list of float, the loss of every constraint and ``"total"`` per step
    metrics : dict, ``problem.metrics(model)`` after training
    times : dict, ``train_s`` (wall time of the steps), ``metrics_s``, ``steps_per_s``
    evaluations : list of dict, the metrics every ``eval_every`` steps with ``step`` and
        ``train_s`` (training wall time up to that step, evaluation time excluded)
    """

    model: nn.Module
    history: dict[str, list[float]]
    metrics: dict[str, float]
    times: dict[str, float]
    steps: int
    evaluations: list[dict] = dc_field(default_factory=list)


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """"auto" is CUDA when available, else the CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but CUDA is not available; use device='cpu' or 'auto'")
    return dev


def compute_losses(problem_constraints, model, batches, engine: str = "auto") -> list[torch.Tensor]:
    """One loss per constraint (unweighted) on the given batches."""
    losses = []
    for con, batch in zip(problem_constraints, batches):
        u = field(model, batch["x"], order=con.order, second=con.second, engine=engine)
        r = con.residual(u, batch)
        if not torch.is_tensor(r):
            raise TypeError(f"constraint {con.name!r}: residual must return a tensor, got {type(r).__name__}")
        losses.append(con.loss(r))
    return losses


def _plain(metrics: dict) -> dict:
    """Numpy and 0-d torch scalars as Python numbers, so metrics print and serialise plainly."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        out[key] = value
    return out


def fit(problem: Problem, model: nn.Module, steps: Optional[int] = None, lr: Optional[float] = None,
        batch_size: Optional[int] = None, device: str = "auto", seed: int = 0, progress: bool = True,
        checkpoint: Optional[Union[str, Path]] = None, checkpoint_every: Optional[int] = None,
        optimizer: str = "adam", schedule: Optional[str] = None, engine: str = "auto",
        eval_every: Optional[int] = None, callback: Optional[Callable[[int, dict], None]] = None,
        optimizer_options: Optional[dict] = None, lbfgs_steps: Optional[int] = None,
        lbfgs_batch_size: Optional[int] = None) -> FitResult:
    """Fit ``model`` to ``problem``.

    Parameters
    ----------
    problem : Problem
    model : nn.Module mapping ``(n, problem.in_features)`` to ``(n, problem.out_features)``
    steps : int, default ``problem.default_steps``; steps of ``optimizer``
    lr : float, default ``problem.default_lr`` (1e-4 unless the problem sets another)
    batch_size : int, default ``problem.default_batch_size``; points per step over all
        constraints, split by their shares
    device : "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", ...
    seed : int; seeds the model-independent sampling generator and torch's global RNG
    progress : bool; show a tqdm progress bar
    checkpoint : path; saved every ``checkpoint_every`` steps (default: 10 times per run)
        and at the end; if the file exists, training resumes from it
    optimizer : "adam" or "lbfgs"
    schedule : "none", "cosine", "warmup-cosine", "exponential" or "step"; the learning-rate schedule; default
        ``problem.default_schedule`` (None, a constant rate, unless the problem sets one)
    engine : derivative engine, "auto", "jet", "reverse" or "autograd" (see :func:`sirenpde.field`)
    eval_every : int; record ``problem.metrics(model)`` every that many steps in
        ``result.evaluations`` (their time is excluded from ``train_s``)
    callback : called as ``callback(step, losses)`` after every step
    optimizer_options : dict, extra keyword arguments of the torch optimiser (``{"betas": (0.9,
        0.99)}`` for Adam, ``{"max_iter": 50}`` for L-BFGS); default for Adam:
        ``problem.default_adam_options`` (none unless the problem sets them)
    lbfgs_steps : int, L-BFGS steps (learning rate 1, strong-Wolfe line search, 20 iterations
        each) after the ``steps`` of ``optimizer``: a second-order finish, which converges much
        faster than Adam near a minimum of a smooth loss. Default ``problem.default_lbfgs_steps``
        (0 unless the problem sets it). The history and evaluations run on through both phases;
        a problem's ``on_step`` sees step numbers past ``steps`` during the finish
    lbfgs_batch_size : int, points per L-BFGS step, default ``problem.default_lbfgs_batch_size``
        or ``batch_size``. L-BFGS wants the same points in every evaluation of one step; a
        problem whose sampler returns all its points for a large enough batch (the pixel
        problems) gives it a fixed loss, others a fresh batch per step
    """
    steps = problem.default_steps if steps is None else int(steps)
    lr = problem.default_lr if lr is None else float(lr)
    batch_size = problem.default_batch_size if batch_size is None else int(batch_size)
    schedule = getattr(problem, "default_schedule", None) if schedule is None else schedule
    lbfgs_steps = int(getattr(problem, "default_lbfgs_steps", 0) if lbfgs_steps is None else lbfgs_steps)
    if lbfgs_batch_size is None:
        lbfgs_batch_size = getattr(problem, "default_lbfgs_batch_size", None) or batch_size
    lbfgs_batch_size = int(lbfgs_batch_size)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if lbfgs_steps < 0:
        raise ValueError(f"lbfgs_steps must be >= 0, got {lbfgs_steps}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if lbfgs_batch_size < 1:
        raise ValueError(f"lbfgs_batch_size must be >= 1, got {lbfgs_batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    _check_model(problem, model)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    model = model.to(dev)
    model.train()
    constraints = problem.constraints()
    counts = split_batch(constraints, batch_size)
    gen = torch.Generator().manual_seed(seed)
    if optimizer_options is None and optimizer == "adam":
        optimizer_options = getattr(problem, "default_adam_options", None)
    opt = optim.make_optimizer(optimizer, model.parameters(), lr, optimizer_options)
    sched = optim.make_schedule(schedule, opt, steps)
    total_steps = steps + lbfgs_steps

    def start_finish():
        return optim.make_optimizer("lbfgs", model.parameters(), 1.0), split_batch(constraints, lbfgs_batch_size)

    history = {c.name: [] for c in constraints}
    history["total"] = []
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        if checkpoints.saved_step(checkpoint) > steps:  # saved during the L-BFGS finish
            opt, counts = start_finish()
            sched = None
        start, history = checkpoints.load(checkpoint, model, opt, sched, gen)
    every = checkpoint_every or max(1, total_steps // 10)
    evaluations: list[dict] = []
    train_s = 0.0

    def closure_for(batches):
        def closure():
            opt.zero_grad(set_to_none=True)
            losses = compute_losses(constraints, model, batches, engine)
            total = sum(c.weight * l for c, l in zip(constraints, losses))
            total.backward()
            closure.losses = losses
            closure.total = total
            return total
        return closure

    bar = _progress(range(start, total_steps), progress, problem.name, start, total_steps)
    pending: list[torch.Tensor] = []
    for step in bar:
        t0 = time.perf_counter()
        if step == steps and lbfgs_steps:
            opt, counts = start_finish()
            sched = None
            if progress:
                bar.set_description(f"fit {problem.name} (L-BFGS)")
        problem.on_step(step, steps)
        batches = [_to(c.sampler(n, gen), dev, c.name) for c, n in zip(constraints, counts)]
        closure = closure_for(batches)
        opt.step(closure)
        if not torch.isfinite(closure.total):
            raise FloatingPointError(
                f"loss became non-finite at step {step}: "
                + ", ".join(f"{c.name}={l.item():.3g}" for c, l in zip(constraints, closure.losses))
                + ". Lower the learning rate or check the problem's data.")
        if sched is not None:
            sched.step()
        pending.append(torch.stack([l.detach() for l in closure.losses] + [closure.total.detach()]))
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        train_s += time.perf_counter() - t0
        last = step + 1 == total_steps
        if len(pending) >= 50 or last or (eval_every and (step + 1) % eval_every == 0) or callback:
            _flush(pending, history, constraints)
            if progress:
                bar.set_postfix(loss=f"{history['total'][-1]:.3g}")
        if callback is not None:
            callback(step, {k: v[-1] for k, v in history.items()})
        if eval_every and ((step + 1) % eval_every == 0 or last):
            evaluations.append({"step": step + 1, "train_s": train_s, **_plain(problem.metrics(model))})
            model.train()
        if checkpoint is not None and ((step + 1) % every == 0 or last):
            checkpoints.save(checkpoint, model, opt, sched, gen, step + 1, history)
    _flush(pending, history, constraints)
    t0 = time.perf_counter()
    metrics = _plain(problem.metrics(model))
    metrics_s = time.perf_counter() - t0
    done = total_steps - start
    times = {"train_s": train_s, "metrics_s": metrics_s,
             "steps_per_s": done / train_s if train_s > 0 else float("nan")}
    return FitResult(model, history, metrics, times, total_steps, evaluations)


def _check_model(problem: Problem, model: nn.Module) -> None:
    for attr in ("in_features", "out_features"):
        want, got = getattr(problem, attr), getattr(model, attr, None)
        if got is not None and got != want:
            raise ValueError(f"model has {attr}={got} but problem {problem.name!r} needs {attr}={want}")


def _to(batch, dev: torch.device, name: str) -> dict:
    if torch.is_tensor(batch):
        batch = {"x": batch}
    if "x" not in batch:
        raise ValueError(f"constraint {name!r}: sampler must return a dict with key 'x'")
    return {k: v.to(dev, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _flush(pending: list, history: dict, constraints) -> None:
    if not pending:
        return
    values = torch.stack(pending).cpu().numpy()
    names = [c.name for c in constraints] + ["total"]
    for j, name in enumerate(names):
        history[name].extend(float(v) for v in values[:, j])
    pending.clear()


def _progress(it, enabled: bool, name: str, start: int, steps: int):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=f"fit {name}", initial=start, total=steps, dynamic_ncols=True)
