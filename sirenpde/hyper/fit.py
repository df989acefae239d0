"""``fit_family``: train a conditioned model on a whole family with the machinery of ``fit``.

A :class:`FamilyProblem` adapts a :class:`~sirenpde.hyper.family.Family` to what
:func:`sirenpde.training.session.train` expects of a problem. Its constraints count *instances*:
the number the session passes as ``n`` to a sampler is a number of members, each drawn afresh
from the family's ranges and given ``points`` points of that constraint. Distributed sharding
therefore splits the members of a step across ranks (batch entries lead with the instance axis),
and each rank's losses are scaled by its share of the members.

:class:`FamilyLoss` is the training loss module: it conditions the model on each batch's
members inside ``forward`` (so DistributedDataParallel sees every parameter that feeds the loss)
and, for the paper's hypernetwork (``full``), adds its penalty as one more loss term.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

from sirenpde.fields import field
from sirenpde.hyper.conditioned import ConditionedSiren, HyperSiren
from sirenpde.hyper.family import Family
from sirenpde.problem import Batch, Constraint, split_batch
from sirenpde.training.loss import ConstraintLoss
from sirenpde.training.session import RunOptions, train
from sirenpde.training.setup import resolve_settings
from sirenpde.training.state import FitResult

EVAL_MEMBERS = 64  # held-out members the metrics are taken over (the benchmark's count)


class FamilyProblem:
    """A family seen as one problem by the training session.

    Parameters
    ----------
    family : Family
    points : int, points per member and step over all constraints, split by their shares
    eval_members : int, held-out members :meth:`metrics` evaluates
    """

    default_steps, default_lr, default_batch_size = 1000, 1e-4, 16

    def __init__(self, family: Family, points: int, eval_members: int = EVAL_MEMBERS):
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise ValueError(f"points_per_instance must be a positive integer, got {points!r}")
        if isinstance(eval_members, bool) or not isinstance(eval_members, int) or eval_members < 1:
            raise ValueError(f"eval_members must be a positive integer, got {eval_members!r}")
        self.family, self.points, self.eval_members = family, points, eval_members
        self.name = family.name
        self.in_features, self.out_features = family.in_features, family.out_features
        self._own = family.constraints()
        self.points_per_constraint = split_batch(self._own, points)

    def constraints(self) -> list[Constraint]:
        out = []
        for con, m in zip(self._own, self.points_per_constraint):
            out.append(Constraint(con.name, self._sampler(con, m), con.residual, order=con.order, weight=con.weight,
                                  share=con.share, reduction=con.reduction, second=con.second))
        return out

    def _sampler(self, con: Constraint, m: int):
        family = self.family

        def sample(n: int, generator: torch.Generator) -> Batch:
            # the members first, then their points, from the same stream: one shard is one draw
            return con.sampler(family.sample(n, generator), m, generator)

        return sample

    def coefficients(self, step=None, steps=None) -> dict:
        coefficients = getattr(self.family, "coefficients", None)
        return coefficients(step, steps) if coefficients is not None else {}

    def metrics(self, model) -> dict:
        return self.family.metrics(model, self.family.held_out(self.eval_members))

    def describe(self) -> dict:
        """What a checkpoint must match: the family, its options and ranges, the sampling sizes."""
        return {"name": self.name, "options": self.family.options(),
                "parameters": {k: list(v) for k, v in self.family.parameters.items()},
                "points_per_instance": self.points, "eval_members": self.eval_members}


class FamilyLoss(ConstraintLoss):
    """Per-constraint losses of a conditioned model on family batches (``x (B, n, d)``, ``p (B, P)``).

    For a :class:`~sirenpde.hyper.conditioned.HyperSiren` a last term ``penalty`` (weight 1)
    holds its regulariser at the conditions of the first constraint's members.
    """

    def __init__(self, model: ConditionedSiren, constraints: Sequence[Constraint], engine: str, family: Family):
        super().__init__(model, constraints, engine)
        self.family = family
        self.penalised = isinstance(model, HyperSiren)
        if self.penalised:
            self.names.append("penalty")
            self.weights.append(1.0)

    def forward(self, batches: Sequence[Batch], scales: Optional[Sequence[float]] = None) -> Tensor:
        if len(batches) != len(self.constraints):
            raise ValueError(f"FamilyLoss: {len(self.constraints)} constraints but {len(batches)} batches")
        losses, z0 = [], None
        for con, batch in zip(self.constraints, batches):
            z = self.family.condition(batch["p"])
            z0 = z if z0 is None else z0
            u = field(self.model.bind(z), batch["x"], order=con.order, second=con.second, engine=self.engine)
            r = con.residual(u, batch)
            if not torch.is_tensor(r):
                raise TypeError(f"constraint {con.name!r}: residual must return a tensor, got {type(r).__name__}")
            losses.append(con.loss(r))
        if self.penalised:
            losses.append(self.model.penalty(z0))
        losses = torch.stack(losses)
        if scales is not None:
            scales = list(scales) + ([scales[0]] if self.penalised else [])  # the penalty is a mean over members
            losses = losses * torch.as_tensor(scales, dtype=losses.dtype, device=losses.device)
        return losses


def family_loss(family: Family) -> Callable:
    """The ``loss_class(model, constraints, engine)`` of the session for ``family``."""
    return lambda model, constraints, engine: FamilyLoss(model, constraints, engine, family)


def member_counts(constraints, settings) -> tuple[list[int], list[int]]:
    """Every constraint draws ``settings.batch_size`` members per step (its points per member are
    the constraint's share of ``points_per_instance``)."""
    per_constraint = [settings.batch_size] * len(constraints)
    return per_constraint, per_constraint


def fit_family(family: Family, model: ConditionedSiren, steps: int, instances_per_step: int,
               points_per_instance: int, lr: float = 1e-4, device: str = "auto", seed: int = 0,
               progress: bool = True, checkpoint: Optional[Union[str, Path]] = None,
               checkpoint_every: Optional[int] = None, eval_every: Optional[int] = None,
               eval_members: int = EVAL_MEMBERS, callback: Optional[Callable[[int, dict], None]] = None,
               restart: bool = False, distributed: Optional[bool] = None, engine: str = "auto",
               schedule: Optional[str] = "cosine") -> FitResult:
    """Train ``model`` on ``family``: every step draws ``instances_per_step`` fresh members and
    ``points_per_instance`` points for each (split among the constraints by their shares).

    Parameters
    ----------
    family : Family
    model : conditioned model (``conditioned_siren(mode, family.in_features, family.out_features,
        family.cond_features, ...)``)
    steps, lr, seed, device, progress, checkpoint, checkpoint_every, eval_every, callback, restart,
    distributed, engine, schedule : as in :func:`sirenpde.fit` (Adam; ``schedule`` defaults to cosine)
    instances_per_step : int, members per step (the global count under ``torchrun``: split by rank)
    points_per_instance : int
    eval_members : int, held-out members of the metrics (``family.held_out(eval_members)``)

    Returns
    -------
    FitResult; ``metrics`` is ``family.metrics`` on the held-out members: ``rel_l2`` per member
    (float list), ``median`` and ``p90``.
    """
    if not isinstance(model, ConditionedSiren):
        raise ValueError(f"fit_family needs a conditioned model (sirenpde.hyper.conditioned_siren), "
                         f"got {type(model).__name__}")
    for attr, want in (("in_features", family.in_features), ("out_features", family.out_features),
                       ("cond_features", family.cond_features)):
        if getattr(model, attr) != want:
            raise ValueError(f"model has {attr}={getattr(model, attr)} but family {family.name!r} needs {want}")
    if isinstance(instances_per_step, bool) or not isinstance(instances_per_step, int) or instances_per_step < 1:
        raise ValueError(f"instances_per_step must be a positive integer, got {instances_per_step!r}")
    problem = FamilyProblem(family, points_per_instance, eval_members)
    settings = resolve_settings(problem, steps, lr, instances_per_step, "adam", None, schedule, 0, None, engine, seed)
    options = RunOptions(device, progress, checkpoint, checkpoint_every, eval_every, callback, restart, distributed)
    return train(problem, model, settings, options, family_loss(family), member_counts)
