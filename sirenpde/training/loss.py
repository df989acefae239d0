"""The training loss as a module: the one place where the model is called during training.

``ConstraintLoss(model, constraints)(batches)`` evaluates every constraint's field and residual on
its batch and returns the per-constraint losses. Input derivatives (jets, the reverse sweep or
autograd) are all taken inside ``forward``, so wrapping this module in
``DistributedDataParallel`` all-reduces the gradients of everything that feeds the loss.

:func:`unreachable_parameters` finds the parameters that no loss term reaches (the output bias
under a loss on derivatives alone): DDP refuses them, and they would never train anyway.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from sirenpde.fields import field
from sirenpde.problem import Batch, Constraint
from sirenpde.training.loop import to_device


class ConstraintLoss(nn.Module):
    """Per-constraint (unweighted) losses of ``model`` on one batch per constraint.

    Parameters
    ----------
    model : nn.Module mapping ``(n, in)`` to ``(n, out)``
    constraints : the problem's constraints, in the order of the batches
    engine : derivative engine passed to :func:`sirenpde.field`
    """

    def __init__(self, model: nn.Module, constraints: Sequence[Constraint], engine: str = "auto"):
        super().__init__()
        self.model = model
        self.constraints = list(constraints)
        self.engine = engine
        # one entry per loss term: the constraints', and any a subclass appends (a penalty)
        self.names = [c.name for c in self.constraints]
        self.weights = [float(c.weight) for c in self.constraints]

    def forward(self, batches: Sequence[Batch], scales: Optional[Sequence[float]] = None) -> Tensor:
        """``(k,)`` tensor: the loss of each of the ``k`` constraints on its batch, times
        ``scales`` when given (a rank's share of a distributed batch)."""
        if len(batches) != len(self.constraints):
            raise ValueError(f"ConstraintLoss: {len(self.constraints)} constraints but {len(batches)} batches")
        losses = []
        for con, batch in zip(self.constraints, batches):
            u = field(self.model, batch["x"], order=con.order, second=con.second, engine=self.engine)
            r = con.residual(u, batch)
            if not torch.is_tensor(r):
                raise TypeError(f"constraint {con.name!r}: residual must return a tensor, got {type(r).__name__}")
            losses.append(con.loss(r))
        losses = torch.stack(losses)
        if scales is not None:
            losses = losses * torch.as_tensor(scales, dtype=losses.dtype, device=losses.device)
        return losses

    def total(self, losses: Tensor) -> Tensor:
        """The weighted sum of the per-constraint losses that the optimiser minimises."""
        return sum(w * l for w, l in zip(self.weights, losses.unbind()))


class UnreachableParameterWarning(UserWarning):
    """Some parameters get no gradient from any loss term, so training leaves them as they are."""


PROBE_COUNT = 4  # samples per constraint in the probe: enough to build every term's graph, cheap


def unreachable_parameters(loss: ConstraintLoss, problem, counts: Sequence[int], steps: int,
                           device: torch.device) -> dict[str, nn.Parameter]:
    """The trainable parameters of ``loss`` that get no gradient at all from its weighted total,
    by name (as in ``loss.model.named_parameters()``), in order.

    A probe: one forward on the run's samples per constraint ``counts`` (points, or members of a
    family), capped at :data:`PROBE_COUNT`, drawn from a generator of its own so the run's
    sampling streams are untouched, with the curriculum's coefficients at step 0 of ``steps``;
    then the gradient of the total by ``torch.autograd.grad``, which leaves ``.grad`` alone.
    Only a gradient that does not exist counts: one that is zero at these points (a term weighted
    0 by a curriculum, a zero-initialised layer before it) can become nonzero later. Whether a
    gradient exists is a property of the loss's graph, not of the points or the weights, so every
    rank, and a resumed run, find the same parameters.
    """
    named = [(name.removeprefix("model."), p) for name, p in loss.named_parameters() if p.requires_grad]
    if not named:
        return {}
    generator = torch.Generator().manual_seed(0)
    coefficients = problem.coefficients(0, steps)
    batches = [con.sample(max(1, min(int(n), PROBE_COUNT)), generator, coefficients)
               for con, n in zip(loss.constraints, counts)]
    batches = to_device(batches, device, next(loss.parameters()).dtype)  # as the loop converts them
    grads = torch.autograd.grad(loss.total(loss(batches)), [p for _, p in named], allow_unused=True)
    return {name: p for (name, p), g in zip(named, grads) if g is None}


def compute_losses(constraints: Sequence[Constraint], model: nn.Module, batches: Sequence[Batch],
                   engine: str = "auto") -> list[Tensor]:
    """One loss per constraint (unweighted) on the given batches, as a list."""
    return list(ConstraintLoss(model, constraints, engine)(batches).unbind())
