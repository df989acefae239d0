"""Evaluate a model and its derivatives on many points in chunks, returning numpy arrays."""
from __future__ import annotations

import numpy as np
import torch

from sirenpde.fields import field


def evaluate(model, x: torch.Tensor, order: int = 0, chunk: int = 16384) -> dict[str, np.ndarray]:
    """Model output (and ``grad``, ``laplacian`` for order >= 1, 2) at ``x`` ``(n, d)``.

    Points take the dtype of the model's parameters. Returns numpy arrays: ``value (n, m)``, ``grad`` as :class:`~sirenpde.fields.Field`
    shapes it, ``laplacian (n, m)``. Runs on the model's device, chunk by chunk, without
    keeping any graph.
    """
    first = next(iter(model.parameters()), None)
    dev = first.device if first is not None else torch.device("cpu")
    if first is not None and first.is_floating_point() and x.is_floating_point():
        x = x.to(first.dtype)  # a float64 model is evaluated at float64 points, a float32 one at float32
    was_training = model.training
    model.eval()
    out: dict[str, list] = {"value": []}
    if order >= 1:
        out["grad"] = []
    if order >= 2:
        out["laplacian"] = []
    try:
        for start in range(0, x.shape[0], chunk):
            xc = x[start:start + chunk].to(dev)
            with torch.set_grad_enabled(order > 0):
                u = field(model, xc, order=order, second="laplacian")
                out["value"].append(u.value.detach().cpu())
                if order >= 1:
                    out["grad"].append(u.grad.detach().cpu())
                if order >= 2:
                    out["laplacian"].append(u.laplacian.detach().cpu())
    finally:
        model.train(was_training)
    return {k: torch.cat(v).numpy() for k, v in out.items()}
