"""Training: ``fit`` and the pieces it is built from.

- :mod:`~sirenpde.training.loss`: ``ConstraintLoss``, the module whose ``forward(batches)`` calls
  the model and returns the per-constraint losses (what distributed training wraps);
- :mod:`~sirenpde.training.phases`: the optimiser phases (Adam, then an optional L-BFGS finish);
- :mod:`~sirenpde.training.loop`: sampling and the loop over steps, with an explicit ``TrainState``;
- :mod:`~sirenpde.training.hooks`: history, progress, evaluation, checkpoints, callbacks;
- :mod:`~sirenpde.training.checkpoints`: resumable checkpoints that know their run;
- :mod:`~sirenpde.training.fit`: the front door.
"""
from sirenpde.training.fit import fit
from sirenpde.training.loss import ConstraintLoss, compute_losses
from sirenpde.training.state import FitResult, TrainState, resolve_device

__all__ = ["fit", "FitResult", "TrainState", "ConstraintLoss", "compute_losses", "resolve_device"]
