"""Explicit parameters: the ``params=`` argument that every built-in model's engines take.

``params`` maps parameter names, exactly as ``dict(model.named_parameters())`` spells them
(``hidden.0.weight``, ..., ``output.bias``: the convention of ``torch.func.functional_call``),
to tensors that replace the module's own for one call. A name left out falls back to the
module's own parameter. A tensor either has the parameter's own shape or one more leading
instance axis ``B`` (weight ``(B, out, in)``, bias ``(B, out)``), as a hypernetwork predicts
them; the points are then ``(B, n, d)``, instance ``b``'s points meeting instance ``b``'s weights.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import torch
from torch import Tensor, nn


def resolve_params(module: nn.Module, params: Optional[Mapping], x: Tensor) -> Optional[dict]:
    """Check ``params`` against ``module``'s parameters and the points ``x``.

    Returns None when ``params`` is None (the module's own weights, the fast path), otherwise
    a dict holding every parameter name: the given tensor, or the module's own.

    Raises
    ------
    ValueError
        On names the module does not have (naming them), on a tensor whose shape is neither the
        parameter's nor ``(B,) +`` its shape, on instance axes of different sizes, or on
        per-instance tensors with points that are not ``(B, n, d)``.
    """
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise ValueError(f"{type(module).__name__}: params must be a mapping from parameter name to tensor, "
                         f"got {type(params).__name__}")
    own = dict(module.named_parameters())
    unknown = sorted(set(params) - set(own))
    if unknown:
        raise ValueError(f"{type(module).__name__}: unknown parameter names {unknown}; "
                         f"the model's parameters are {sorted(own)}")
    instances = None
    for name, t in params.items():
        shape = tuple(own[name].shape)
        if not isinstance(t, Tensor):
            raise ValueError(f"{type(module).__name__}: params[{name!r}] must be a tensor, got {type(t).__name__}")
        if tuple(t.shape) == shape:
            continue
        if t.ndim != len(shape) + 1 or tuple(t.shape[1:]) != shape:
            raise ValueError(f"{type(module).__name__}: params[{name!r}] has shape {tuple(t.shape)}; expected "
                             f"{shape} or (B,) + {shape}")
        if instances is not None and t.shape[0] != instances:
            raise ValueError(f"{type(module).__name__}: params have instance axes of sizes {instances} and "
                             f"{t.shape[0]} ({name!r})")
        instances = t.shape[0]
    if instances is not None and (x.ndim != 3 or x.shape[0] != instances):
        raise ValueError(f"{type(module).__name__}: params for {instances} instances need points of shape "
                         f"({instances}, n, d), got {tuple(x.shape)}")
    return {**own, **params}


def linear(h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``h W^T + b`` for shared weights ``(out, in)`` or per-instance ``(B, out, in)``.

    ``h`` is ``(n, in)`` or ``(B, n, in)``; the result has its leading axes. The bias is shared
    ``(out,)`` or per-instance ``(B, out)``, independently of the weight.
    """
    if weight.ndim == 3:
        return torch.baddbmm(bias.unsqueeze(1) if bias.ndim == 2 else bias, h, weight.transpose(1, 2))
    if h.ndim == 2:
        return torch.addmm(bias, h, weight.T)
    out = (h.reshape(-1, h.shape[-1]) @ weight.T).reshape(*h.shape[:-1], weight.shape[0])
    return out + (bias.unsqueeze(1) if bias.ndim == 2 else bias)


def sweep_weight(weight: Tensor) -> Tensor:
    """A weight shaped for the reverse sweep's ``delta (..., out, n, features) @ weight``."""
    return weight.unsqueeze(1) if weight.ndim == 3 else weight
