"""One training session: everything ``fit`` (and ``fit_family``) do once the settings are known."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from torch import nn

from sirenpde.training import checkpoints
from sirenpde.training.distributed import Sharding, broadcast_object, lost_ranks_reported, reducer, setup, wrap
from sirenpde.training.hooks import Recorder, make_hooks
from sirenpde.training.loop import run
from sirenpde.training.loss import ConstraintLoss
from sirenpde.training.phases import plan_phases
from sirenpde.training.setup import Settings, batch_counts, run_identity
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
    model = model.to(dev).train()
    loss = loss_class(model, problem.constraints(), settings.engine)
    phases = plan_phases(list(model.parameters()), settings, *counts(loss.constraints, settings))
    identity = run_identity(problem, model, settings)
    ckpt = options.checkpoint
    resume = ckpt is not None and Path(ckpt).exists() and not options.restart
    # a resumed run keeps its sampling streams; on more ranks than it had, it adds streams
    sharding = Sharding(ranks, max(checkpoints.saved_shards(ckpt), ranks.world) if resume else ranks.world)
    state = TrainState.fresh(loss.names, phases[0].name, sharding.generators(settings.seed), sharding.shards)
    if resume:
        checkpoints.restore(ckpt, model, phases, state, identity, FRESH_HINT)
    recorder = Recorder(loss.names)
    hooks = make_hooks(problem, model, phases, state, recorder, ranks, identity, progress=options.progress,
                       callback=options.callback, eval_every=options.eval_every, checkpoint=ckpt,
                       checkpoint_every=options.checkpoint_every)
    with lost_ranks_reported(ranks, state):
        run(problem, wrap(loss, ranks, dev), phases, state, recorder, hooks, dev, sharding, reducer(ranks))
        t0 = time.perf_counter()
        metrics = broadcast_object(ranks, plain(problem.metrics(model)) if ranks.is_writer else None)
        evaluations = broadcast_object(ranks, state.evaluations)
    return FitResult(model, state.history, metrics, timing(state, time.perf_counter() - t0),
                     settings.total_steps, evaluations)
