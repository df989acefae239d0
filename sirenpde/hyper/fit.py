"""``fit_family``: train a conditioned model on a whole family with the machinery of ``fit``.

A :class:`FamilyProblem` adapts a :class:`~sirenpde.hyper.family.Family` to what
:func:`sirenpde.training.session.train` expects of a problem: the problem's own constraints, whose
samplers draw stacked members (:meth:`Family.member_batch`). Its constraints count *members*:
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

    def __init__(self, family: Family, points: int, eval_members: int = EVAL_MEMBERS):
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise ValueError(f"points per member must be a positive integer, got {points!r}")
        if isinstance(eval_members, bool) or not isinstance(eval_members, int) or eval_members < 1:
            raise ValueError(f"eval_members must be a positive integer, got {eval_members!r}")
        self.family, self.points, self.eval_members = family, points, eval_members
        self.name = family.name
        self.in_features, self.out_features = family.in_features, family.out_features
        self.default_steps, self.default_lr = family.defaults["steps"], family.defaults["lr"]
        self.default_batch_size = family.defaults["members"]
        self.default_balance = getattr(family.base, "default_balance", None)  # the problem's loss balancing
        self._own = family.base.constraints()
        self.points_per_constraint = split_batch(self._own, points)

    def constraints(self) -> list[Constraint]:
        out = []
        for i, (con, m) in enumerate(zip(self._own, self.points_per_constraint)):
            out.append(Constraint(con.name, self._sampler(i, m), con.residual, order=con.order, weight=con.weight,
                                  share=con.share, reduction=con.reduction, second=con.second, curriculum=True))
        return out

    def _sampler(self, index: int, m: int):
        family = self.family

        def sample(n: int, generator: torch.Generator, coefficients: dict) -> Batch:
            # the members first, then their points, from the same stream: one shard is one draw
            return family.member_batch(index, family.sample(n, generator), m, generator, coefficients)

        return sample

    def coefficients(self, step=None, steps=None) -> dict:
        return self.family.coefficients(step, steps)

    def metrics(self, model) -> dict:
        return self.family.metrics(model, self.family.held_out(self.eval_members))

    def identity(self) -> dict:
        """What a checkpoint must match: the family (problem, options, ranges) and the sampling sizes."""
        from sirenpde.identity import identity

        return {"family": identity(self.family), "points_per_member": self.points,
                "eval_members": self.eval_members}

    def describe(self) -> dict:
        return {"name": self.name, "problem": self.family.base.name,
                "parameters": {k: list(v) for k, v in self.family.parameters.items()},
                "points_per_member": self.points, "eval_members": self.eval_members}


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
    the constraint's share of ``points``)."""
    per_constraint = [settings.batch_size] * len(constraints)
    return per_constraint, per_constraint


def fit_family(family: Family, model: Optional[ConditionedSiren] = None, steps: Optional[int] = None,
               members: Optional[int] = None, points: Optional[int] = None, lr: Optional[float] = None,
               device: str = "auto", seed: int = 0, progress: bool = True,
               checkpoint: Optional[Union[str, Path]] = None, checkpoint_every: Optional[int] = None,
               eval_every: Optional[int] = None, eval_members: int = EVAL_MEMBERS,
               callback: Optional[Callable[[int, dict], None]] = None, restart: bool = False,
               distributed: Optional[bool] = None, engine: str = "auto",
               schedule: Optional[str] = "cosine", balance: Optional[str] = None) -> FitResult:
    """Train a conditioned ``model`` on ``family``: every step draws ``members`` fresh members and
    ``points`` points for each (split among the problem's constraints by their shares).

    Parameters
    ----------
    family : Family (``sirenpde.hyper.get_family(name)`` or ``Family(problem, ranges)``)
    model : conditioned model; default ``family.make_model(seed=seed)`` (its defaults' conditioning)
    steps, members, points, lr : default the family's (``family.defaults``)
    device, seed, progress, checkpoint, checkpoint_every, eval_every, callback, restart,
    distributed, engine, schedule : as in :func:`sirenpde.fit` (Adam; ``schedule`` defaults to cosine)
    balance : loss balancing, default the problem's (``sp.PDE``: gradnorm)
    members : members per step (the global count under ``torchrun``: split by rank)
    eval_members : int, held-out members of the metrics (``family.held_out(eval_members)``)

    Returns
    -------
    FitResult; ``metrics`` is ``family.metrics`` on the held-out members: ``rel_l2`` per member
    (float list), ``median`` and ``p90``.
    """
    if model is None:
        model = family.make_model(seed=seed)
    if not isinstance(model, ConditionedSiren):
        raise ValueError(f"fit_family needs a conditioned model (sirenpde.hyper.conditioned_siren), "
                         f"got {type(model).__name__}")
    for attr, want in (("in_features", family.in_features), ("out_features", family.out_features),
                       ("cond_features", family.cond_features)):
        if getattr(model, attr) != want:
            raise ValueError(f"model has {attr}={getattr(model, attr)} but family {family.name!r} needs {want}")
    members = family.defaults["members"] if members is None else members
    points = family.defaults["points"] if points is None else points
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ValueError(f"members must be a positive integer, got {members!r}")
    problem = FamilyProblem(family, points, eval_members)
    settings = resolve_settings(problem, steps, lr, members, "adam", None, schedule, 0, None, engine, seed, balance)
    options = RunOptions(device, progress, checkpoint, checkpoint_every, eval_every, callback, restart, distributed)
    return train(problem, model, settings, options, family_loss(family), member_counts)
