"""The training loss as a module: the one place where the model is called during training.

``ConstraintLoss(model, constraints)(batches)`` evaluates every constraint's field and residual on
its batch and returns the per-constraint losses. Input derivatives (jets, the reverse sweep or
autograd) are all taken inside ``forward``, so wrapping this module in
``DistributedDataParallel`` all-reduces the gradients of everything that feeds the loss.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from sirenpde.fields import field
from sirenpde.problem import Batch, Constraint


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


def compute_losses(constraints: Sequence[Constraint], model: nn.Module, batches: Sequence[Batch],
                   engine: str = "auto") -> list[Tensor]:
    """One loss per constraint (unweighted) on the given batches, as a list."""
    return list(ConstraintLoss(model, constraints, engine)(batches).unbind())
