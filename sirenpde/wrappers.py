"""One base for models that wrap another model (a hard boundary factor, a shape's normalisation).

:class:`ModelWrapper` forwards the inner model's capabilities: it has ``forward_jet`` and
``forward_grad`` exactly when the inner model has them (asking a wrapper of a plain module for
``forward_jet`` raises AttributeError, so ``sirenpde.field`` falls back to autograd), and it
passes ``params=`` through to the inner model. Parameter names are the wrapper's own
``named_parameters()`` names, ``<inner_name>.<inner name>`` (``inner.hidden.0.weight``).

A subclass changes what the wrapper computes by overriding the hooks :meth:`transform` (the
value), :meth:`transform_jet` (the derivatives) and :meth:`transform_grad` (first derivatives by
the reverse sweep); each receives the inner model's result. The defaults pass it on unchanged.
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from sirenpde.jets import Jet


class ModelWrapper(nn.Module):
    """A model computed from one inner model; see the module docstring.

    Parameters
    ----------
    inner : nn.Module mapping (n, d) to (n, m); registered under the class attribute
        ``inner_name`` ("inner" unless a subclass says otherwise), which also prefixes the
        parameter names
    """

    inner_name = "inner"

    def __init__(self, inner: nn.Module):
        super().__init__()
        if not isinstance(inner, nn.Module):
            raise ValueError(f"{type(self).__name__}: the inner model must be an nn.Module, "
                             f"got {type(inner).__name__}")
        self.add_module(self.inner_name, inner)
        self.in_features = getattr(inner, "in_features", None)
        self.out_features = getattr(inner, "out_features", None)

    @property
    def wrapped(self) -> nn.Module:
        """The inner model, whatever ``inner_name`` calls it."""
        return self._modules[self.inner_name]

    # -- hooks for subclasses --------------------------------------------------------------
    def transform(self, x: Tensor, value: Tensor) -> Tensor:
        """The wrapper's output from the inner model's output ``value`` at ``x``."""
        return value

    def transform_jet(self, x: Tensor, jet: Jet, order: int, second: str) -> Jet:
        """The wrapper's jet from the inner model's jet at ``x``."""
        return jet

    def transform_grad(self, x: Tensor, jet: Jet) -> Jet:
        """The wrapper's value and gradient from the inner model's reverse-sweep jet."""
        return jet

    # -- parameters --------------------------------------------------------------------------
    def inner_params(self, params: Optional[dict]) -> Optional[dict]:
        """``params`` by the wrapper's names -> by the inner model's names (None stays None).

        Raises ValueError on names that are not the inner model's parameters.
        """
        if params is None:
            return None
        prefix = self.inner_name + "."
        inner_names = {prefix + name for name, _ in self.wrapped.named_parameters()}
        unknown = sorted(set(params) - inner_names)
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown parameter names {unknown}; the wrapped "
                             f"parameters are named {prefix}<name>, e.g. {sorted(inner_names)[:3]}")
        return {name[len(prefix):]: t for name, t in params.items()}

    # -- the model protocol ------------------------------------------------------------------
    def forward(self, x: Tensor, params: Optional[dict] = None) -> Tensor:
        """The output at ``x``. ``params`` needs an inner model whose forward takes ``params=``
        (the built-in models and wrappers); for any other, use ``torch.func.functional_call``."""
        inner = self.inner_params(params)
        value = self.wrapped(x) if inner is None else self.wrapped(x, params=inner)
        return self.transform(x, value)

    def _capability(self, name: str, method):
        """``method`` when the inner model has ``name``; AttributeError otherwise, so that
        ``callable(getattr(wrapper, name, None))`` answers as it would for the inner model."""
        if not callable(getattr(self.wrapped, name, None)):
            raise AttributeError(f"{type(self).__name__} has no {name}: its inner model "
                                 f"{type(self.wrapped).__name__} has none")
        return method

    @property
    def forward_jet(self):
        """``forward_jet(x, order=2, second="diagonal", params=None)`` when the inner model has one."""
        return self._capability("forward_jet", self._forward_jet)

    @property
    def forward_grad(self):
        """``forward_grad(x, params=None)`` when the inner model has one."""
        return self._capability("forward_grad", self._forward_grad)

    def _forward_jet(self, x: Tensor, order: int = 2, second: str = "diagonal",
                     params: Optional[dict] = None) -> Jet:
        inner = self.inner_params(params)
        kwargs = {} if inner is None else {"params": inner}
        jet = self.wrapped.forward_jet(x, order=order, second=second, **kwargs)
        return self.transform_jet(x, jet, order, second)

    def _forward_grad(self, x: Tensor, params: Optional[dict] = None) -> Jet:
        inner = self.inner_params(params)
        jet = self.wrapped.forward_grad(x) if inner is None else self.wrapped.forward_grad(x, params=inner)
        return self.transform_grad(x, jet)
