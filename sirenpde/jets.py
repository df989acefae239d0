"""Jet propagation: value and derivatives of an MLP in one forward pass.

A jet of a hidden layer ``h`` holds, for ``n`` points in ``d`` input dimensions and
``m`` features (channels last everywhere):

* ``value``   ``(n, m)``          h
* ``grad``    ``(n, d, m)``       dh/dx_i
* ``d2``      ``(n, d, m)``       d2h/dx_i^2 (the diagonal of the Hessian)
* ``lap``     ``(n, m)``          the Laplacian alone, when the diagonal is not needed
* ``hessian`` ``(n, d, d, m)``    d2h/dx_i dx_j (only when asked for)

A linear layer acts on every part alike (the bias only on the value), so all parts are
stacked into one tall matrix and multiplied once: that single large matmul is what makes
jets cheaper than nested autograd on a CPU. An elementwise activation ``s`` acts by the
chain rule::

    h' = s(z),  dh' = s'(z) dz,  d2h' = s'(z) d2z + s''(z) dz**2
    H'_ij = s'(z) H_ij + s''(z) dz_i dz_j
    lap h' = s'(z) lap z + s''(z) sum_i dz_i**2

Carrying the Laplacian alone takes ``2 + d`` rows per point instead of ``1 + 2d``, which
is what makes a Laplacian loss cheaper than nested autograd.

Everything is plain torch, so the result is differentiable with respect to the
parameters (and to ``x``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

# An activation for jets returns s(z), s'(z), s''(z) (the last may be None when it is zero).
JetActivation = Callable[[Tensor], tuple[Tensor, Tensor, Optional[Tensor]]]


@dataclass
class Jet:
    """Value and derivatives of features with respect to the input coordinates."""

    value: Tensor
    grad: Optional[Tensor] = None
    d2: Optional[Tensor] = None
    hessian: Optional[Tensor] = None
    lap: Optional[Tensor] = None

    @property
    def order(self) -> int:
        if self.d2 is not None or self.hessian is not None or self.lap is not None:
            return 2
        return 1 if self.grad is not None else 0

    def _parts(self) -> list[Tensor]:
        return [p for p in (self.value, self.grad, self.d2, self.hessian, self.lap) if p is not None]

    def linear(self, weight: Tensor, bias: Optional[Tensor]) -> "Jet":
        """Apply ``z = h W^T + b`` to every part with one matmul."""
        parts = self._parts()
        m = self.value.shape[-1]
        sizes = [p.numel() // m for p in parts]
        flat = torch.cat([p.reshape(-1, m) for p in parts], dim=0) if len(parts) > 1 else parts[0]
        out = flat @ weight.T
        chunks = list(torch.split(out, sizes, dim=0))
        value = chunks.pop(0)
        if bias is not None:
            value = value + bias
        new = [value]
        for p in parts[1:]:
            new.append(chunks.pop(0).reshape(*p.shape[:-1], weight.shape[0]))
        return self._rebuild(new)

    def _rebuild(self, parts: list[Tensor]) -> "Jet":
        it = iter(parts)
        return Jet(
            value=next(it),
            grad=next(it) if self.grad is not None else None,
            d2=next(it) if self.d2 is not None else None,
            hessian=next(it) if self.hessian is not None else None,
            lap=next(it) if self.lap is not None else None,
        )

    def activate(self, act: JetActivation) -> "Jet":
        """Apply an elementwise activation by the chain rule."""
        s, ds, dds = act(self.value)
        grad = d2 = hessian = lap = None
        if self.grad is not None:
            dsu = ds.unsqueeze(1)
            grad = dsu * self.grad
            if self.d2 is not None:
                d2 = dsu * self.d2
                if dds is not None:
                    d2 = d2 + dds.unsqueeze(1) * self.grad.square()
            if self.hessian is not None:
                hessian = ds[:, None, None] * self.hessian
                if dds is not None:
                    outer = self.grad.unsqueeze(2) * self.grad.unsqueeze(1)
                    hessian = hessian + dds[:, None, None] * outer
            if self.lap is not None:
                lap = ds * self.lap
                if dds is not None:
                    lap = lap + dds * self.grad.square().sum(dim=1)
        return Jet(s, grad, d2, hessian, lap)

    def map_features(self, fn: Callable[[Tensor], Tensor]) -> "Jet":
        """Apply the same feature-axis linear map (e.g. a slice, a concat partner) to all parts."""
        return self._rebuild([fn(p) for p in self._parts()])


def concat(jets: list[Jet]) -> Jet:
    """Concatenate jets along the feature axis (they must carry the same parts)."""
    first = jets[0]
    parts = [j._parts() for j in jets]
    return first._rebuild([torch.cat(ps, dim=-1) for ps in zip(*parts)])


SECOND = ("diagonal", "laplacian", "hessian")


def _zero_second(x: Tensor, m: int, order: int, second: str, grad: Tensor) -> Jet:
    """Attach zero second-order parts of the kind ``second`` to a jet with value and grad."""
    if second not in SECOND:
        raise ValueError(f"second must be one of {SECOND}, got {second!r}")
    n, d = x.shape
    jet = Jet(grad.new_zeros(0), grad)
    if order < 2:
        return jet
    if second == "laplacian":
        jet.lap = x.new_zeros(n, m)
    else:
        jet.d2 = x.new_zeros(n, d, m)
        if second == "hessian":
            jet.hessian = x.new_zeros(n, d, d, m)
    return jet


def input_jet(x: Tensor, order: int, second: str = "diagonal") -> Jet:
    """The jet of the identity map x -> x: grad is the identity, second derivatives vanish."""
    n, d = x.shape
    if order == 0:
        return Jet(x)
    eye = torch.eye(d, dtype=x.dtype, device=x.device).expand(n, d, d)
    jet = _zero_second(x, d, order, second, eye)
    jet.value = x
    return jet


def first_linear(x: Tensor, weight: Tensor, bias: Optional[Tensor], order: int,
                 second: str = "diagonal") -> Jet:
    """``z = x W^T + b`` as a jet, without multiplying by the identity.

    dz/dx_i is column i of W for every point, and all second derivatives are zero, so the
    first layer costs one ordinary matmul whatever the order.
    """
    n = x.shape[0]
    value = x @ weight.T
    if bias is not None:
        value = value + bias
    if order == 0:
        return Jet(value)
    d = x.shape[1]
    grad = weight.T.unsqueeze(0).expand(n, d, weight.shape[0])
    jet = _zero_second(x, weight.shape[0], order, second, grad)
    jet.value = value
    return jet


# --- activations with their first two derivatives ------------------------------------------

def sine_activation(z: Tensor):
    """sin z with derivatives cos z and -sin z (SIREN folds its w0 into the weights)."""
    s, c = sin_cos(z)
    return s, c, -s


class _SinCos(torch.autograd.Function):
    """``(sin z, cos z)`` with a fused backward that reuses both outputs instead of recomputing
    them: ``dz = g_sin cos z - g_cos sin z``. Built from ordinary operations, so it can be
    differentiated again."""

    @staticmethod
    def forward(ctx, z):
        s, c = torch.sin(z), torch.cos(z)
        ctx.save_for_backward(s, c)
        return s, c

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        s, c = ctx.saved_tensors
        if g_cos is None:
            return g_sin * c
        if g_sin is None:
            return -g_cos * s
        return torch.addcmul(g_sin * c, g_cos, s, value=-1.0)


def sin_cos(z: Tensor) -> tuple[Tensor, Tensor]:
    """``(sin z, cos z)``, differentiable with one fused backward (see :class:`_SinCos`)."""
    return _SinCos.apply(z)


def tanh_activation(z: Tensor):
    t = torch.tanh(z)
    dt = 1.0 - t * t
    return t, dt, -2.0 * t * dt


def relu_activation(z: Tensor):
    # The second derivative is zero almost everywhere (a Dirac at 0 that no sample hits).
    return torch.relu(z), (z > 0).to(z.dtype), None


def sin_cos_halves(z: Tensor):
    """Jet activation for Fourier features on a duplicated pre-activation ``[z, z]``.

    The first half becomes sin z and the second cos z, so ``[sin z, cos z]`` and its
    derivatives come out of one elementwise pass.
    """
    a, b = z.chunk(2, dim=-1)
    sa, ca, sb, cb = torch.sin(a), torch.cos(a), torch.sin(b), torch.cos(b)
    return torch.cat([sa, cb], -1), torch.cat([ca, -sb], -1), torch.cat([-sa, -cb], -1)
