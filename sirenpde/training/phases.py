"""Training phases: a first optimiser (Adam by default) and an optional L-BFGS finish.

A phase owns its optimiser, its learning-rate schedule and its points per constraint, and covers
the steps ``[start, stop)`` of the run. ``Phase.step`` does one optimiser step on fixed batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from sirenpde import optim

LossFn = Callable[[Sequence[dict]], Tensor]


@dataclass
class Phase:
    """Steps ``[start, stop)`` of a run with one optimiser.

    Attributes
    ----------
    name : ``"adam"`` or ``"lbfgs"`` (the optimiser's registry name)
    start, stop : the run's step range this phase covers
    optimizer : the torch optimiser
    schedule : learning-rate scheduler or None (stepped once per step)
    counts : points per constraint in each step's batch
    """

    name: str
    start: int
    stop: int
    optimizer: torch.optim.Optimizer
    schedule: Optional[object]
    counts: list[int]

    def step(self, loss_fn: LossFn, total_fn: Callable[[Tensor], Tensor], batches: Sequence[dict],
             reduce: Callable[[Tensor], Tensor] = lambda losses: losses.detach()) -> tuple[Tensor, Tensor]:
        """One optimiser step; returns ``(losses, total)`` of the last loss evaluation.

        ``reduce`` turns this process's losses into the run's (an all-reduce over ranks in a
        distributed run); the closure returns the reduced total, so L-BFGS's line search takes
        the same decisions on every rank. L-BFGS evaluates the loss several times per step; the
        losses reported are those of its last evaluation, on the same batches."""
        last: list[tuple[Tensor, Tensor]] = []

        def closure() -> Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            losses = loss_fn(batches)
            total_fn(losses).backward()
            reduced = reduce(losses)
            total = total_fn(reduced)
            last[:] = [(reduced, total)]
            return total

        self.optimizer.step(closure)
        if self.schedule is not None:
            self.schedule.step()
        return last[0]


def plan_phases(params: list, settings, counts: list[int], lbfgs_counts: list[int]) -> list[Phase]:
    """The phases of a run: ``settings.steps`` of ``settings.optimizer``, then ``settings.lbfgs_steps``
    of L-BFGS (if any). ``counts`` and ``lbfgs_counts`` are the points per constraint of each."""
    steps, lbfgs_steps = settings.steps, settings.lbfgs_steps
    opt = optim.make_optimizer(settings.optimizer, params, settings.lr, settings.optimizer_options)
    phases = [Phase(settings.optimizer, 0, steps, opt, optim.make_schedule(settings.schedule, opt, steps), counts)]
    if lbfgs_steps:
        # learning rate 1 with the strong-Wolfe line search: the step length comes from the search
        phases.append(Phase("lbfgs", steps, steps + lbfgs_steps, optim.make_optimizer("lbfgs", params, 1.0),
                            None, lbfgs_counts))
    return phases


def phase_at(phases: list[Phase], step: int) -> Phase:
    """The phase that step ``step`` belongs to (the last one once the run is over)."""
    for phase in phases:
        if step < phase.stop:
            return phase
    return phases[-1]
