"""The training loop: sample every constraint, step the current phase, call the hooks."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from sirenpde.training.distributed import Sharding
from sirenpde.training.hooks import Recorder, Timer, call
from sirenpde.training.phases import Phase
from sirenpde.training.state import TrainState


def to_device(batches: list[dict], device: torch.device, dtype: torch.dtype) -> list[dict]:
    """Move every tensor to ``device``; real floating-point tensors take the model's ``dtype`` (a
    float64 model trains on float64 points), complex ones its complex counterpart (complex128 for
    float64), integer ones keep theirs."""
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64

    def move(v):
        if not torch.is_tensor(v):
            return v
        if v.is_floating_point():
            return v.to(device, dtype, non_blocking=True)
        if v.is_complex():
            return v.to(device, complex_dtype, non_blocking=True)
        return v.to(device, non_blocking=True)

    return [{k: move(v) for k, v in b.items()} for b in batches]


def check_finite(total: torch.Tensor, losses: torch.Tensor, names: Sequence[str], step: int) -> None:
    """Stop on a non-finite loss. In a distributed run the losses are already all-reduced, so
    every rank takes the same decision and none is left waiting."""
    if not torch.isfinite(total):
        raise FloatingPointError(
            f"loss became non-finite at step {step}: "
            + ", ".join(f"{name}={float(l):.3g}" for name, l in zip(names, losses))
            + ". Lower the learning rate or check the problem's data.")


def run(problem, loss_fn: Callable, phases: list[Phase], state: TrainState, recorder: Recorder,
        hooks: list, device: torch.device, sharding: Sharding, reduce: Callable) -> None:
    """Train from ``state.step`` to the end of the last phase.

    ``loss_fn(batches, scales)`` returns the per-constraint losses (a
    :class:`~sirenpde.training.loss.ConstraintLoss`, or it in DistributedDataParallel);
    ``sharding`` draws this process's share of each batch; ``reduce`` makes the run's losses of
    this process's (the identity in a one-process run)."""
    inner = getattr(loss_fn, "module", loss_fn)  # the loss module, inside DDP or not
    constraints, names = inner.constraints, inner.names  # a loss module may add terms (penalties)
    dtype = next(iter(loss_fn.parameters()), torch.empty(0)).dtype

    for phase in phases:
        if state.step >= phase.stop:
            continue
        sharding.check(constraints, phase.counts)
        state.phase = phase.name
        call(hooks, "on_phase", phase, state)
        while state.step < phase.stop:
            with Timer(state, device):
                coefficients = problem.coefficients(state.step, phases[0].stop)
                batches, scales = sharding.sample(constraints, phase.counts, state.generators, coefficients)
                batches = to_device(batches, device, dtype)
                call(hooks, "on_batch", state, batches, scales)  # e.g. the loss balance's update
                losses, total = phase.step(lambda b: loss_fn(b, scales), inner.total, batches, reduce)
                check_finite(total, losses, names, state.step)
                recorder.record(losses, total)
            state.step += 1
            call(hooks, "after_step", state)
    call(hooks, "on_end", state)
