"""The training loop: sample every constraint, step the current phase, call the hooks."""
from __future__ import annotations

from typing import Sequence

import torch

from sirenpde.problem import Constraint
from sirenpde.training.hooks import Recorder, Timer, call
from sirenpde.training.phases import Phase
from sirenpde.training.state import TrainState


def sample_batches(constraints: Sequence[Constraint], counts: Sequence[int], generator: torch.Generator,
                   device: torch.device, coefficients: dict) -> list[dict]:
    """One batch per constraint, on ``device``, with the curriculum's current ``coefficients``."""
    batches = []
    for con, n in zip(constraints, counts):
        batch = con.sample(n, generator, coefficients)
        batches.append({k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()})
    return batches


def check_finite(total: torch.Tensor, losses: torch.Tensor, names: Sequence[str], step: int) -> None:
    if not torch.isfinite(total):
        raise FloatingPointError(
            f"loss became non-finite at step {step}: "
            + ", ".join(f"{name}={float(l):.3g}" for name, l in zip(names, losses))
            + ". Lower the learning rate or check the problem's data.")


def run(problem, loss_fn, phases: list[Phase], state: TrainState, recorder: Recorder, hooks: list,
        device: torch.device, finite=check_finite) -> None:
    """Train from ``state.step`` to the end of the last phase.

    ``loss_fn(batches)`` returns the per-constraint losses (a :class:`ConstraintLoss`, possibly
    wrapped for distributed training); ``finite`` stops the run on a non-finite loss."""
    constraints = loss_fn.constraints if hasattr(loss_fn, "constraints") else loss_fn.module.constraints
    names = [c.name for c in constraints]
    weights = [float(c.weight) for c in constraints]

    def total_of(losses):
        return sum(w * l for w, l in zip(weights, losses.unbind()))

    total_steps = phases[-1].stop
    for phase in phases:
        if state.step >= phase.stop:
            continue
        state.phase = phase.name
        call(hooks, "on_phase", phase, state)
        while state.step < phase.stop:
            with Timer(state, device):
                coefficients = problem.coefficients(state.step, phases[0].stop)
                batches = sample_batches(constraints, phase.counts, state.generator, device, coefficients)
                losses, total = phase.step(loss_fn, total_of, batches)
                finite(total, losses, names, state.step)
                recorder.record(losses, total)
            state.step += 1
            call(hooks, "after_step", state)
    if state.step != total_steps:
        raise RuntimeError(f"training loop ended at step {state.step}, expected {total_steps}")
    call(hooks, "on_end", state)
