"""Training phases: a first optimiser (Adam by default), an optional L-BFGS finish and an optional
Gauss-Newton (Levenberg-Marquardt) finish on fixed points.

A phase owns its optimiser, its learning-rate schedule and its points per constraint, and covers
the steps ``[start, stop)`` of the run. ``Phase.step`` does one optimiser step on fixed batches.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from sirenpde import optim
from sirenpde.training.gauss_newton import GAUSS_NEWTON, LevenbergMarquardt

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

    def state_dict(self) -> dict:
        """What a checkpoint keeps of this phase: its optimiser's state."""
        return self.optimizer.state_dict()

    def shared_state(self) -> dict:
        """:meth:`state_dict` as the checkpoint's writer needs it, every rank's part included
        (every rank calls it)."""
        return self.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


class FinishDivergedWarning(RuntimeWarning):
    """An L-BFGS finish stopped at a step whose loss was not finite (the model is kept as it was)."""


@dataclass
class LBFGSPhase(Phase):
    """The L-BFGS finish, which keeps what the first phase reached: a step that ends with a
    non-finite loss or non-finite parameters (the strong-Wolfe search can leap on a loss whose
    weights span five orders of magnitude: PINNacle's Wave 1d-C after balanced Adam) is undone,
    the phase stops stepping (its remaining steps report the loss of the kept model) and a
    :class:`FinishDivergedWarning` says so, instead of the run ending in an error that loses the
    first phase's model. Every rank takes the same decision from the all-reduced loss."""

    halted: bool = False

    def step(self, loss_fn: LossFn, total_fn: Callable[[Tensor], Tensor], batches: Sequence[dict],
             reduce: Callable[[Tensor], Tensor] = lambda losses: losses.detach()) -> tuple[Tensor, Tensor]:
        if not self.halted:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            kept = [p.detach().clone() for p in params]
            losses, total = super().step(loss_fn, total_fn, batches, reduce)
            if bool(torch.isfinite(total)) and all(bool(torch.isfinite(p).all()) for p in params):
                return losses, total
            with torch.no_grad():
                for p, k in zip(params, kept):
                    p.copy_(k)
            self.halted = True
            warnings.warn(f"L-BFGS: a step of the finish gave a non-finite loss ({float(total):.3g}); the "
                          "finish stopped there and the model is the one before that step", FinishDivergedWarning,
                          stacklevel=2)
        losses = reduce(loss_fn(batches)).detach()
        return losses, total_fn(losses)


@dataclass
class GaussNewtonPhase(Phase):
    """Levenberg-Marquardt steps on fixed points: the batch drawn at the phase's first step, kept
    for ``refresh`` steps (0: the whole phase) and then replaced by the batch the loop draws at
    that step (the loop draws a batch every step, so the sampling streams advance as in any
    phase, and the batches between refreshes are ignored). ``optimizer`` is a
    :class:`~sirenpde.training.gauss_newton.LevenbergMarquardt`; ``loss`` the (unwrapped) loss
    module. A checkpoint keeps the points, the steps taken on them and the damping, so a run
    resumed inside the phase continues bit for bit."""

    loss: Optional[object] = None
    refresh: int = 0
    rows: Optional[object] = None  # distributed.RankRows under torchrun, None in one process
    points: Optional[list] = None
    used: int = 0  # steps taken on the current points

    def step(self, loss_fn: LossFn, total_fn: Callable[[Tensor], Tensor], batches: Sequence[dict],
             reduce: Callable[[Tensor], Tensor] = lambda losses: losses.detach()) -> tuple[Tensor, Tensor]:
        if self.points is None or (self.refresh and self.used >= self.refresh):
            self.points, self.used = list(batches), 0
            self.optimizer.new_points()
        self.optimizer.step(self.loss, self.points, rows=self.rows)
        self.used += 1
        with torch.no_grad():
            losses = reduce(loss_fn(self.points))
        return losses, total_fn(losses)

    @property
    def damping(self) -> float:
        return self.optimizer.lam

    def state_dict(self) -> dict:
        return {"damping": self.optimizer.state_dict(), "points": self.points, "used": int(self.used)}

    def shared_state(self) -> dict:
        """:meth:`state_dict` with every rank's points (a collective under torchrun: every rank
        calls it); a checkpoint written by rank 0 then resumes every rank on its own points."""
        state = self.state_dict()
        if self.rows is not None:
            import torch.distributed as dist

            everyone: list = [None] * self.rows.world
            dist.all_gather_object(everyone, self.points)
            state["points"] = {"by_rank": everyone}
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore the damping and the points: this rank's share on as many ranks as the run had;
        on one process, every rank's shares joined (the union batch a one-process run draws from
        the same sampling streams); on any other number, none (new points are drawn at the next
        step, where the run leaves its bit-identical path anyway)."""
        self.optimizer.load_state_dict(state["damping"])
        points, self.used = state.get("points"), int(state.get("used", 0))
        shares = points["by_rank"] if isinstance(points, dict) else None if points is None else [points]
        world = self.rows.world if self.rows is not None else 1
        if shares is not None and len(shares) == world:
            points = shares[self.rows.ranks.rank if self.rows is not None else 0]
        elif shares is not None and world == 1:
            from sirenpde.training.distributed import concat_batches

            points = [concat_batches([share[i] for share in shares], f"constraint {i}") for i in range(len(shares[0]))]
        else:
            points = None
        self.points = points


def plan_phases(params: list, settings, counts: list[int], lbfgs_counts: list[int],
                gn_counts: Optional[list[int]] = None, loss=None, rows=None) -> list[Phase]:
    """The phases of a run: ``settings.steps`` of ``settings.optimizer``, then ``settings.lbfgs_steps``
    of L-BFGS (if any), then ``settings.gn_steps`` of Gauss-Newton (if any) on the loss module
    ``loss``. ``counts``, ``lbfgs_counts`` and ``gn_counts`` are the points per constraint of each."""
    steps, lbfgs_steps = settings.steps, settings.lbfgs_steps
    if settings.optimizer == GAUSS_NEWTON:
        if loss is None:
            raise ValueError("plan_phases: a Gauss-Newton run needs the loss module")
        phases: list[Phase] = [GaussNewtonPhase(GAUSS_NEWTON, 0, steps, _damping(settings), None, counts, loss,
                                                settings.gn_refresh, rows)]
    else:
        opt = optim.make_optimizer(settings.optimizer, params, settings.lr, settings.optimizer_options)
        phases = [Phase(settings.optimizer, 0, steps, opt, optim.make_schedule(settings.schedule, opt, steps),
                        counts)]
    if lbfgs_steps:
        # learning rate 1 with the strong-Wolfe line search: the step length comes from the search
        phases.append(LBFGSPhase("lbfgs", steps, steps + lbfgs_steps, optim.make_optimizer("lbfgs", params, 1.0),
                                 None, lbfgs_counts))
    gn_steps = getattr(settings, "gn_steps", 0)
    if gn_steps:
        if loss is None or gn_counts is None:
            raise ValueError("plan_phases: a Gauss-Newton finish needs the loss module and its points per constraint")
        start = steps + lbfgs_steps
        phases.append(GaussNewtonPhase(GAUSS_NEWTON, start, start + gn_steps, _damping(settings), None, gn_counts,
                                       loss, settings.gn_refresh, rows))
    return phases


def _damping(settings) -> LevenbergMarquardt:
    return LevenbergMarquardt(**(settings.optimizer_options or {})) if settings.optimizer == GAUSS_NEWTON \
        else LevenbergMarquardt()


def phase_at(phases: list[Phase], step: int) -> Phase:
    """The phase that step ``step`` belongs to (the last one once the run is over)."""
    for phase in phases:
        if step < phase.stop:
            return phase
    return phases[-1]
