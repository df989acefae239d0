"""One training session: everything ``fit`` (and ``fit_family``) do once the settings are known."""
from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch import nn

from sirenpde.training import checkpoints, gauss_newton
from sirenpde.training.balance import make_balance
from sirenpde.training.distributed import (Sharding, broadcast_object, lost_ranks_reported, reducer, rows_of, setup,
                                           wrap)
from sirenpde.training.hooks import Recorder, make_hooks
from sirenpde.training.loop import run
from sirenpde.training.loss import ConstraintLoss, UnreachableParameterWarning, unreachable_parameters
from sirenpde.training.phases import plan_phases
from sirenpde.training.setup import Settings, batch_counts, gn_counts, run_identity
from sirenpde.training.state import FitResult, TrainState, plain, timing

FRESH_HINT = "Pass restart=True (CLI: --restart) to start afresh, or use another checkpoint path."


@dataclass
class RunOptions:
    """How a session runs, as opposed to what it trains (see :class:`Settings`)."""

    device: str = "auto"
    progress: bool = True
    checkpoint: Optional[Union[str, Path]] = None
    checkpoint_every: Optional[int] = None
    eval_every: Optional[int] = None
    callback: Optional[Callable[[int, dict], None]] = None
    restart: bool = False
    distributed: Optional[bool] = None


def train(problem, model: nn.Module, settings: Settings, options: RunOptions, loss_class=ConstraintLoss,
          counts=batch_counts) -> FitResult:
    """Train ``model`` on ``problem``'s constraints, resuming from ``options.checkpoint`` if it exists.

    ``counts(constraints, settings)`` gives the samples of each constraint per step in the first
    phase and in the L-BFGS finish (default: the batch split by the constraints' shares)."""
    ranks, dev = setup(options.distributed, options.device)
    whole_gn = settings.optimizer == gauss_newton.GAUSS_NEWTON
    model = (model.to(dev) if settings.dtype is None else model.to(dev, getattr(torch, settings.dtype))).train()
    loss = loss_class(model, problem.constraints(), settings.engine)
    first, finish = counts(loss.constraints, settings)
    gn_points = gn_counts(loss.constraints, settings) if settings.gn_steps or whole_gn else None
    if whole_gn:
        first = gn_points
    if gn_points:  # refuse before training; at least one residual entry per point
        gauss_newton.check_memory(sum(gn_points), sum(p.numel() for p in model.parameters() if p.requires_grad),
                                  next(model.parameters()).dtype)
    # frozen before the progress bar starts (the message stays on its own line) and before DDP wraps
    with frozen_unreachable(problem, loss, first, settings.steps, ranks, dev):
        # every parameter stays in the optimisers, frozen ones too (see frozen_unreachable)
        phases = plan_phases(list(model.parameters()), settings, first, finish, gn_points, loss, rows_of(ranks))
        identity = run_identity(problem, model, settings)
        ckpt = options.checkpoint
        resume = ckpt is not None and Path(ckpt).exists() and not options.restart
        # a resumed run keeps its sampling streams; on more ranks than it had, it adds streams
        shards = max(checkpoints.saved_shards(ckpt), ranks.world) if resume else ranks.world
        sharding = Sharding(ranks, shards)
        state = TrainState.fresh(loss.names, phases[0].name, sharding.generators(settings.seed), shards)
        if resume:
            checkpoints.restore(ckpt, model, phases, state, identity, FRESH_HINT)
        recorder = Recorder(loss.names)
        reduce = reducer(ranks)
        balance = make_balance(settings.balance, loss, state, phases[0].stop, reduce, once=whole_gn)
        hooks = balance + make_hooks(problem, model, phases, state, recorder, ranks, identity,
                                     progress=options.progress, callback=options.callback,
                                     eval_every=options.eval_every, checkpoint=ckpt,
                                     checkpoint_every=options.checkpoint_every)
        with lost_ranks_reported(ranks, state):
            run(problem, wrap(loss, ranks, dev), phases, state, recorder, hooks, dev, sharding, reduce)
            t0 = time.perf_counter()
            metrics = broadcast_object(ranks, plain(problem.metrics(model)) if ranks.is_writer else None)
            evaluations = broadcast_object(ranks, state.evaluations)
    return FitResult(model, state.history, metrics, timing(state, time.perf_counter() - t0),
                     settings.total_steps, evaluations, asdict(settings))


@contextlib.contextmanager
def frozen_unreachable(problem, loss: nn.Module, counts, steps: int, ranks, device):
    """Freeze, for the run, the parameters that no loss term reaches, and say so (rank 0).

    DistributedDataParallel refuses a parameter that gets no gradient ("Expected to have finished
    reduction in the prior iteration"): the output bias under a loss on derivatives alone
    (poisson-gradient). Such a parameter never trains in one process either, so every run, on one
    rank or many, freezes it the same way and the runs agree. It stays in the optimisers: with no
    gradient Adam skips it and L-BFGS moves it by zero, and the optimisers' state, indexed by
    parameter position, keeps the layout of checkpoints written without freezing. ``requires_grad``
    is not saved, so a resumed run probes again; it is restored on the way out, so the model
    returned (or trained again on another problem) is as the caller gave it.
    """
    frozen = unreachable_parameters(loss, problem, counts, steps, device)
    if frozen and ranks.is_writer:
        # stacklevel 5 skips this generator, contextlib, train and fit (or fit_family): the
        # message points at the caller's line
        n = len(frozen)
        warnings.warn(f"{problem.name}: {n} parameter{'s' if n > 1 else ''} {'get' if n > 1 else 'gets'} no "
                      f"gradient from any loss term and {'are' if n > 1 else 'is'} frozen at the initial "
                      f"value: {', '.join(frozen)}", UnreachableParameterWarning, stacklevel=5)
    for p in frozen.values():
        p.requires_grad_(False)
    try:
        yield list(frozen)
    finally:
        for p in frozen.values():
            p.requires_grad_(True)
