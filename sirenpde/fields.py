"""The field a residual is written against: ``u.value``, ``u.grad``, ``u.laplacian``...

``field(model, x, order)`` evaluates the model once with the fastest engine for the job,
for the built-in models: forward jets (``model.forward_jet``) for second derivatives, and for
first derivatives alone the reverse sweep (``model.forward_grad``) when the model has no more
outputs than inputs, forward jets otherwise; autograd for any other module.

Shapes (``n`` points, ``d`` coordinates, ``m`` output channels):

=============  ======================  ==========================
attribute      m == 1 (scalar field)   m > 1
=============  ======================  ==========================
``x``          (n, d)                  (n, d)
``value``      (n, 1)                  (n, m)
``grad``       (n, d)                  (n, m, d)
``laplacian``  (n, 1)                  (n, m)
``d2(i)``      (n, 1)                  (n, m)
``hessian``    (n, d, d)               (n, m, d, d)
=============  ======================  ==========================

A batch of ``B`` instances (points ``x (B, n, d)``, a hypernetwork's, or per-instance
``params``) puts ``B`` in front of every shape in the table: ``value (B, n, m)``, ``grad
(B, n, d)`` for a scalar field, and so on, with all three engines.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.func import functional_call

from sirenpde import operators
from sirenpde.jets import SECOND, Jet
from sirenpde.registry import ENGINES  # names readable without torch (the CLI's choices)


def supports_jets(model) -> bool:
    return callable(getattr(model, "forward_jet", None))


def supports_reverse(model) -> bool:
    return callable(getattr(model, "forward_grad", None))


class Field:
    """Value and derivatives of a model's output at points ``x`` (see module docstring)."""

    def __init__(self, x: Tensor, value: Tensor, order: int, engine: str,
                 jet: Optional[Jet] = None, second: str = "diagonal"):
        self.x = x
        self.value = value
        self.order = order
        self.engine = engine
        self.second = second
        self._jet = jet
        self._cache: dict = {}

    @property
    def out_features(self) -> int:
        return self.value.shape[-1]

    def _need(self, order: int, what: str) -> None:
        if self.order < order:
            raise RuntimeError(f"field was built with order={self.order}; {what} needs order >= {order}. "
                               f"Declare order={order} on the constraint or pass it to sirenpde.field.")

    def _squeeze(self, t: Tensor) -> Tensor:
        # channels-first per point; a scalar field drops the channel axis of derivatives
        return t.select(self.x.ndim - 1, 0) if self.out_features == 1 else t

    # -- first derivatives -----------------------------------------------------------------
    @property
    def jacobian(self) -> Tensor:
        """d value_j / d x_i as ``(n, m, d)`` for every field, scalar or not."""
        self._need(1, "jacobian/grad")
        if "jac" not in self._cache:
            if self._jet is not None:
                self._cache["jac"] = self._jet.grad.transpose(-1, -2)
            else:
                self._cache["jac"] = _jacobian(self.value, self.x)
        return self._cache["jac"]

    @property
    def grad(self) -> Tensor:
        return self._squeeze(self.jacobian)

    # -- second derivatives ----------------------------------------------------------------
    def _jet_part(self, name: str, what: str) -> Tensor:
        part = getattr(self._jet, name)
        if part is None:
            wanted = {"d2": "'diagonal' or 'hessian'", "hessian": "'hessian'", "lap": "any"}[name]
            raise RuntimeError(f"{what} is not available: this field was built by jets with "
                               f"second={self.second!r}; build it with second={wanted}")
        return part

    def _d2_all(self) -> Tensor:
        """Diagonal second derivatives as ``(n, d, m)`` (``B`` in front when batched)."""
        self._need(2, "second derivatives")
        if "d2" not in self._cache:
            if self._jet is not None:
                self._cache["d2"] = self._jet_part("d2", "d2(i)")
            else:
                jac = self.jacobian  # (..., n, m, d)
                cols = []
                for i in range(self.x.shape[-1]):
                    per_channel = [_grad(jac[..., j, i], self.x)[..., i] for j in range(self.out_features)]
                    cols.append(torch.stack(per_channel, dim=-1))
                self._cache["d2"] = torch.stack(cols, dim=-2)
        return self._cache["d2"]

    def d2(self, i: int) -> Tensor:
        """Second derivative along coordinate ``i``: ``(n, m)``."""
        d = self.x.shape[-1]
        if not 0 <= i < d:
            raise IndexError(f"coordinate index {i} out of range for {d}-dimensional input")
        return self._d2_all()[..., i, :]

    @property
    def laplacian(self) -> Tensor:
        """Sum of the diagonal second derivatives: ``(n, m)``."""
        if self._jet is not None and self._jet.lap is not None:
            self._need(2, "laplacian")
            return self._jet.lap
        return self._d2_all().sum(dim=-2)

    @property
    def hessian(self) -> Tensor:
        """Full Hessian: ``(n, d, d)`` for a scalar field, ``(n, m, d, d)`` otherwise."""
        self._need(2, "hessian")
        if "hess" not in self._cache:
            if self._jet is not None:
                h = self._jet_part("hessian", "hessian").movedim(-1, -3)
            else:
                jac = self.jacobian
                h = torch.stack([_jacobian(jac[..., j, :], self.x) for j in range(self.out_features)], dim=-3)
            self._cache["hess"] = h
        return self._squeeze(self._cache["hess"])


def field(model: nn.Module, x: Tensor, order: int = 2, second: str = "diagonal",
          engine: str = "auto", hessian: bool = False, params: Optional[dict] = None) -> Field:
    """Evaluate ``model`` at ``x`` with derivatives up to ``order`` (0, 1 or 2).

    Parameters
    ----------
    model : nn.Module or callable mapping (n, d) to (n, m)
    x : (n, d) tensor, or (B, n, d) for a batch of instances (see the module docstring)
    order : int
        Highest derivative order needed.
    second : {"diagonal", "laplacian", "hessian"}
        Which second derivatives the jets carry for order 2: the diagonal (``d2(i)`` and
        ``laplacian``), the Laplacian alone (cheapest), or the full Hessian too. The
        autograd engine computes any of them on demand.
    engine : {"auto", "jet", "reverse", "autograd"}
        "jet": forward jets, any order. "reverse": value and first derivatives by one explicit
        reverse sweep (order <= 1). "autograd": ``torch.autograd.grad`` with ``create_graph``.
        "auto" picks, for the built-in models, jets for second derivatives and, for first
        derivatives alone, the sweep when ``out_features <= in_features`` (one row per output
        against one per input coordinate) and jets otherwise; autograd for other modules.
    hessian : bool
        Shorthand for ``second="hessian"``.
    params : mapping from parameter name to tensor, optional
        Replaces the model's own parameters for this evaluation (names as in
        ``model.named_parameters()``, a leading instance axis ``B`` allowed with ``x (B, n, d)``);
        passed to ``forward_jet`` / ``forward_grad``, and through ``torch.func.functional_call``
        for the autograd engine.
    """
    if hessian:
        second = "hessian"
    if second not in SECOND:
        raise ValueError(f"second must be one of {', '.join(SECOND)}, got {second!r}")
    if engine not in ENGINES:
        raise ValueError(f"unknown derivative engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    if not isinstance(x, Tensor) or x.ndim not in (2, 3):
        raise ValueError(f"x must be an (n, d) or (B, n, d) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    # For first derivatives alone, reverse mode carries one row per output back through the
    # layers and forward jets one row per input coordinate; the explicit sweep also avoids
    # double backward (benchmarks/derivatives.py). For second derivatives jets win by 1.9-2.5x.
    if engine == "auto":
        if order == 1 and supports_reverse(model) and _out_features(model) <= x.shape[-1]:
            engine = "reverse"
        elif supports_jets(model):
            engine = "jet"
    if engine == "reverse":
        if order > 1:
            raise ValueError("engine='reverse' gives first derivatives only; use 'jet' or 'autograd' for order 2")
        if not supports_reverse(model):
            raise ValueError(f"engine='reverse' needs a model with forward_grad; {type(model).__name__} has none")
        jet = model.forward_grad(x) if params is None else model.forward_grad(x, params=params)
        return Field(x, jet.value, order, "reverse", jet=jet, second=second)
    if engine == "jet":
        if not supports_jets(model):
            raise ValueError(f"engine='jet' needs a model with forward_jet; {type(model).__name__} has none")
        jet = (model.forward_jet(x, order=order, second=second) if params is None
               else model.forward_jet(x, order=order, second=second, params=params))
        return Field(x, jet.value, order, "jet", jet=jet, second=second)
    if order > 0 and not x.requires_grad:
        x = x.detach().requires_grad_(True)
    if params is not None:
        unknown = sorted(set(params) - {name for name, _ in model.named_parameters()})
        if unknown:
            raise ValueError(f"field: unknown parameter names {unknown} for {type(model).__name__}")
    value = model(x) if params is None else functional_call(model, dict(params), (x,))
    if value.ndim == x.ndim - 1:
        value = value.unsqueeze(-1)
    return Field(x, value, order, "autograd", second=second)


def _grad(u: Tensor, x: Tensor) -> Tensor:
    """Per-point gradient of ``u`` (one value per point, any leading axes) with respect to ``x``."""
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _jacobian(u: Tensor, x: Tensor) -> Tensor:
    """``u (..., n, m)`` -> ``(..., n, m, d)``; the unbatched case is :func:`operators.jacobian`."""
    if x.ndim == 2:
        return operators.jacobian(u, x)
    return torch.stack([_grad(u[..., j], x) for j in range(u.shape[-1])], dim=-2)


def _out_features(model) -> int:
    out = getattr(model, "out_features", None)
    return out if isinstance(out, int) else 1 << 30
