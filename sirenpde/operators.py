"""Differential operators by autograd, as pure functions of ``(u, x)``.

``x`` is an ``(n, d)`` tensor with ``requires_grad=True`` and ``u`` was computed from it
point by point (row i of u depends only on row i of x), so summing over points before
differentiating gives per-point derivatives. All results keep the graph
(``create_graph=True``) so they can enter a loss.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _check(u: Tensor, x: Tensor) -> None:
    if not x.requires_grad:
        raise ValueError("x must require grad (call x.requires_grad_() before computing u)")
    if u.shape[0] != x.shape[0]:
        raise ValueError(f"u and x must have the same number of points, got {tuple(u.shape)} and {tuple(x.shape)}")


def gradient(u: Tensor, x: Tensor) -> Tensor:
    """Gradient of a scalar field: u ``(n,)`` or ``(n, 1)`` -> ``(n, d)``."""
    _check(u, x)
    if u.ndim == 2 and u.shape[1] != 1 or u.ndim > 2:
        raise ValueError(f"gradient needs a scalar field of shape (n,) or (n, 1), got {tuple(u.shape)}; "
                         "use jacobian for vector fields")
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def jacobian(u: Tensor, x: Tensor) -> Tensor:
    """Jacobian of a vector field: u ``(n, m)`` -> ``(n, m, d)``."""
    _check(u, x)
    u = u.reshape(u.shape[0], -1)
    return torch.stack([gradient(u[:, j], x) for j in range(u.shape[1])], dim=1)


def divergence(v: Tensor, x: Tensor) -> Tensor:
    """Divergence of a vector field: v ``(n, d)`` -> ``(n, 1)``."""
    _check(v, x)
    if v.shape != x.shape:
        raise ValueError(f"divergence needs v with the shape of x {tuple(x.shape)}, got {tuple(v.shape)}")
    div = sum(gradient(v[:, i], x)[:, i] for i in range(x.shape[1]))
    return div.unsqueeze(-1)


def laplacian(u: Tensor, x: Tensor) -> Tensor:
    """Laplacian of a scalar field: u ``(n,)`` or ``(n, 1)`` -> ``(n, 1)``."""
    return divergence(gradient(u, x), x)


def hessian(u: Tensor, x: Tensor) -> Tensor:
    """Hessian of a scalar field: u ``(n,)`` or ``(n, 1)`` -> ``(n, d, d)``."""
    return jacobian(gradient(u, x), x)
