"""Training phases: a first optimiser (Adam by default), an optional L-BFGS finish and an optional
Gauss-Newton (Levenberg-Marquardt) finish on fixed points.

A phase owns its optimiser, its learning-rate schedule and its points per constraint, and covers
the steps ``[start, stop)`` of the run. ``Phase.step`` does one optimiser step on fixed batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from sirenpde import optim
from sirenpde.training.gauss_newton import LevenbergMarquardt

LossFn = Callable[[Sequence[dict]], Tensor]


@dataclass
class Phase:
    """Steps ``[start, stop)`` of a run with one optimiser.

    Attributes
    ----------
    name : ``"adam"``, ``"lbfgs"`` (the optimiser's registry name) or ``"gauss-newton"``
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


@dataclass
class GaussNewtonPhase(Phase):
    """Levenberg-Marquardt steps on the points of the phase's first step, kept for the whole phase
    (the loop's later batches are drawn, so the sampling streams advance as in any phase, and
    ignored). ``optimizer`` is a :class:`~sirenpde.training.gauss_newton.LevenbergMarquardt`;
    ``loss`` the (unwrapped) loss module."""

    loss: Optional[object] = None
    points: Optional[list] = None

    def step(self, loss_fn: LossFn, total_fn: Callable[[Tensor], Tensor], batches: Sequence[dict],
             reduce: Callable[[Tensor], Tensor] = lambda losses: losses.detach()) -> tuple[Tensor, Tensor]:
        if self.points is None:
            self.points = list(batches)
        self.optimizer.step(self.loss, self.points)
        losses = reduce(loss_fn(self.points))
        return losses, total_fn(losses)


def plan_phases(params: list, settings, counts: list[int], lbfgs_counts: list[int],
                gn_counts: Optional[list[int]] = None, loss=None) -> list[Phase]:
    """The phases of a run: ``settings.steps`` of ``settings.optimizer``, then ``settings.lbfgs_steps``
    of L-BFGS (if any), then ``settings.gn_steps`` of Gauss-Newton (if any) on the loss module
    ``loss``. ``counts``, ``lbfgs_counts`` and ``gn_counts`` are the points per constraint of each."""
    steps, lbfgs_steps = settings.steps, settings.lbfgs_steps
    opt = optim.make_optimizer(settings.optimizer, params, settings.lr, settings.optimizer_options)
    phases = [Phase(settings.optimizer, 0, steps, opt, optim.make_schedule(settings.schedule, opt, steps), counts)]
    if lbfgs_steps:
        # learning rate 1 with the strong-Wolfe line search: the step length comes from the search
        phases.append(Phase("lbfgs", steps, steps + lbfgs_steps, optim.make_optimizer("lbfgs", params, 1.0),
                            None, lbfgs_counts))
    gn_steps = getattr(settings, "gn_steps", 0)
    if gn_steps:
        if loss is None or gn_counts is None:
            raise ValueError("plan_phases: a Gauss-Newton finish needs the loss module and its points per constraint")
        start = steps + lbfgs_steps
        phases.append(GaussNewtonPhase("gauss-newton", start, start + gn_steps, LevenbergMarquardt(),
                                       None, gn_counts, loss))
    return phases


def phase_at(phases: list[Phase], step: int) -> Phase:
    """The phase that step ``step`` belongs to (the last one once the run is over)."""
    for phase in phases:
        if step < phase.stop:
            return phase
    return phases[-1]
