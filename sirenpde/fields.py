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
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

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
        return self.value.shape[1]

    def _need(self, order: int, what: str) -> None:
        if self.order < order:
            raise RuntimeError(f"field was built with order={self.order}; {what} needs order >= {order}. "
                               f"Declare order={order} on the constraint or pass it to sirenpde.field.")

    def _squeeze(self, t: Tensor) -> Tensor:
        # channels-first per point; a scalar field drops the channel axis of derivatives
        return t[:, 0] if self.out_features == 1 else t

    # -- first derivatives -----------------------------------------------------------------
    @property
    def jacobian(self) -> Tensor:
        """d value_j / d x_i as ``(n, m, d)`` for every field, scalar or not."""
        self._need(1, "jacobian/grad")
        if "jac" not in self._cache:
            if self._jet is not None:
                self._cache["jac"] = self._jet.grad.transpose(1, 2)
            else:
                self._cache["jac"] = operators.jacobian(self.value, self.x)
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
        """Diagonal second derivatives as ``(n, d, m)``."""
        self._need(2, "second derivatives")
        if "d2" not in self._cache:
            if self._jet is not None:
                self._cache["d2"] = self._jet_part("d2", "d2(i)")
            else:
                jac = self.jacobian  # (n, m, d)
                cols = []
                for i in range(self.x.shape[1]):
                    per_channel = [operators.gradient(jac[:, j, i], self.x)[:, i] for j in range(self.out_features)]
                    cols.append(torch.stack(per_channel, dim=-1))
                self._cache["d2"] = torch.stack(cols, dim=1)
        return self._cache["d2"]

    def d2(self, i: int) -> Tensor:
        """Second derivative along coordinate ``i``: ``(n, m)``."""
        d = self.x.shape[1]
        if not 0 <= i < d:
            raise IndexError(f"coordinate index {i} out of range for {d}-dimensional input")
        return self._d2_all()[:, i]

    @property
    def laplacian(self) -> Tensor:
        """Sum of the diagonal second derivatives: ``(n, m)``."""
        if self._jet is not None and self._jet.lap is not None:
            self._need(2, "laplacian")
            return self._jet.lap
        return self._d2_all().sum(dim=1)

    @property
    def hessian(self) -> Tensor:
        """Full Hessian: ``(n, d, d)`` for a scalar field, ``(n, m, d, d)`` otherwise."""
        self._need(2, "hessian")
        if "hess" not in self._cache:
            if self._jet is not None:
                h = self._jet_part("hessian", "hessian").permute(0, 3, 1, 2)
            else:
                jac = self.jacobian
                h = torch.stack([operators.jacobian(jac[:, j], self.x) for j in range(self.out_features)], dim=1)
            self._cache["hess"] = h
        return self._squeeze(self._cache["hess"])


def field(model: nn.Module, x: Tensor, order: int = 2, second: str = "diagonal",
          engine: str = "auto", hessian: bool = False) -> Field:
    """Evaluate ``model`` at ``x`` with derivatives up to ``order`` (0, 1 or 2).

    Parameters
    ----------
    model : nn.Module or callable mapping (n, d) to (n, m)
    x : (n, d) tensor
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
    """
    if hessian:
        second = "hessian"
    if second not in SECOND:
        raise ValueError(f"second must be one of {', '.join(SECOND)}, got {second!r}")
    if engine not in ENGINES:
        raise ValueError(f"unknown derivative engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    if not isinstance(x, Tensor) or x.ndim != 2:
        raise ValueError(f"x must be an (n, d) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    # For first derivatives alone, reverse mode carries one row per output back through the
    # layers and forward jets one row per input coordinate; the explicit sweep also avoids
    # double backward (benchmarks/derivatives.py). For second derivatives jets win by 1.9-2.5x.
    if engine == "auto":
        if order == 1 and supports_reverse(model) and _out_features(model) <= x.shape[1]:
            engine = "reverse"
        elif supports_jets(model):
            engine = "jet"
    if engine == "reverse":
        if order > 1:
            raise ValueError("engine='reverse' gives first derivatives only; use 'jet' or 'autograd' for order 2")
        if not supports_reverse(model):
            raise ValueError(f"engine='reverse' needs a model with forward_grad; {type(model).__name__} has none")
        jet = model.forward_grad(x)
        return Field(x, jet.value, order, "reverse", jet=jet, second=second)
    if engine == "jet":
        if not supports_jets(model):
            raise ValueError(f"engine='jet' needs a model with forward_jet; {type(model).__name__} has none")
        jet = model.forward_jet(x, order=order, second=second)
        return Field(x, jet.value, order, "jet", jet=jet, second=second)
    if order > 0 and not x.requires_grad:
        x = x.detach().requires_grad_(True)
    value = model(x)
    if value.ndim == 1:
        value = value.unsqueeze(-1)
    return Field(x, value, order, "autograd", second=second)


def _out_features(model) -> int:
    out = getattr(model, "out_features", None)
    return out if isinstance(out, int) else 1 << 30
