"""Jet propagation: value and derivatives of an MLP in one forward pass.

A jet of a hidden layer ``h`` holds, for ``n`` points in ``d`` input dimensions and
``m`` features (channels last everywhere):

* ``value``   ``(n, m)``          h
* ``grad``    ``(n, d, m)``       dh/dx_i
* ``d2``      ``(n, d, m)``       d2h/dx_i^2 (the diagonal of the Hessian)
* ``lap``     ``(n, m)``          the Laplacian alone, when the diagonal is not needed
* ``hessian`` ``(n, d, d, m)``    d2h/dx_i dx_j (only when asked for)

A batch of ``B`` instances (a hypernetwork's, each with its own weights) puts one more axis
in front of every part: ``value (B, n, m)``, ``grad (B, n, d, m)``, and so on.

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
        """Apply ``z = h W^T + b`` to every part with one matmul.

        ``weight (out, m)`` and ``bias (out,)`` are shared by every point, whatever leading axes
        the parts carry; ``weight (B, out, m)`` and ``bias (B, out)`` act per instance on a
        batched jet whose parts all lead with the instance axis ``B``.
        """
        if weight.ndim == 3:
            return self._linear_batched(weight, bias)
        parts = self._parts()
        m = self.value.shape[-1]
        sizes = [p.numel() // m for p in parts]
        flat = torch.cat([p.reshape(-1, m) for p in parts], dim=0) if len(parts) > 1 else parts[0].reshape(-1, m)
        out = flat @ weight.T
        chunks = list(torch.split(out, sizes, dim=0))
        value = chunks.pop(0).reshape(*self.value.shape[:-1], weight.shape[0])
        if bias is not None:
            value = value + (bias.unsqueeze(1) if bias.ndim == 2 else bias)
        new = [value]
        for p in parts[1:]:
            new.append(chunks.pop(0).reshape(*p.shape[:-1], weight.shape[0]))
        return self._rebuild(new)

    def _linear_batched(self, weight: Tensor, bias: Optional[Tensor]) -> "Jet":
        parts = self._parts()
        b, m = self.value.shape[0], self.value.shape[-1]
        if self.value.ndim != 3 or weight.shape[0] != b:
            raise ValueError(f"batched weight of shape {tuple(weight.shape)} needs a jet of {weight.shape[0]} "
                             f"instances, value (B, n, m); got value {tuple(self.value.shape)}")
        sizes = [p[0].numel() // m for p in parts]
        flat = torch.cat([p.reshape(b, -1, m) for p in parts], dim=1) if len(parts) > 1 else parts[0]
        out = torch.bmm(flat, weight.transpose(1, 2))
        chunks = list(torch.split(out, sizes, dim=1))
        if bias is not None:
            chunks[0] = chunks[0] + (bias.unsqueeze(1) if bias.ndim == 2 else bias)
        return self._rebuild([c.reshape(*p.shape[:-1], weight.shape[1]) for c, p in zip(chunks, parts)])

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
        """Apply an elementwise activation by the chain rule (any leading axes)."""
        s, ds, dds = act(self.value)
        grad = d2 = hessian = lap = None
        if self.grad is not None:
            dsu = ds.unsqueeze(-2)
            grad = dsu * self.grad
            if self.d2 is not None:
                d2 = dsu * self.d2
                if dds is not None:
                    d2 = d2 + dds.unsqueeze(-2) * self.grad.square()
            if self.hessian is not None:
                hessian = ds[..., None, None, :] * self.hessian
                if dds is not None:
                    outer = self.grad.unsqueeze(-2) * self.grad.unsqueeze(-3)
                    hessian = hessian + dds[..., None, None, :] * outer
            if self.lap is not None:
                lap = ds * self.lap
                if dds is not None:
                    lap = lap + dds * self.grad.square().sum(dim=-2)
        return Jet(s, grad, d2, hessian, lap)


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
    lead, d = x.shape[:-1], x.shape[-1]
    jet = Jet(grad.new_zeros(0), grad)
    if order < 2:
        return jet
    if second == "laplacian":
        jet.lap = x.new_zeros(*lead, m)
    else:
        jet.d2 = x.new_zeros(*lead, d, m)
        if second == "hessian":
            jet.hessian = x.new_zeros(*lead, d, d, m)
    return jet


def input_jet(x: Tensor, order: int, second: str = "diagonal") -> Jet:
    """The jet of the identity map x -> x: grad is the identity, second derivatives vanish.

    ``x`` is ``(n, d)`` or batched ``(B, n, d)``; the parts lead with the same axes.
    """
    d = x.shape[-1]
    if order == 0:
        return Jet(x)
    eye = torch.eye(d, dtype=x.dtype, device=x.device).expand(*x.shape, d)
    jet = _zero_second(x, d, order, second, eye)
    jet.value = x
    return jet


def first_linear(x: Tensor, weight: Tensor, bias: Optional[Tensor], order: int,
                 second: str = "diagonal") -> Jet:
    """``z = x W^T + b`` as a jet, without multiplying by the identity.

    dz/dx_i is column i of W for every point, and all second derivatives are zero, so the
    first layer costs one ordinary matmul whatever the order. ``x (n, d)`` with ``weight
    (h, d)``; or batched ``x (B, n, d)`` with a shared ``weight (h, d)`` or per-instance
    ``weight (B, h, d)`` and ``bias (B, h)``.
    """
    if weight.ndim == 3:
        value = torch.bmm(x, weight.transpose(1, 2))
        if bias is not None:
            value = value + (bias.unsqueeze(1) if bias.ndim == 2 else bias)
        columns = weight.transpose(1, 2).unsqueeze(1)  # (B, 1, d, h)
    else:
        value = x @ weight.T
        if bias is not None:
            value = value + (bias.unsqueeze(1) if bias.ndim == 2 else bias)
        columns = weight.T
    if order == 0:
        return Jet(value)
    grad = columns.expand(*x.shape, weight.shape[-2])
    jet = _zero_second(x, weight.shape[-2], order, second, grad)
    jet.value = value
    return jet


def _laplacian_part(jet: Jet) -> Optional[Tensor]:
    if jet.lap is not None:
        return jet.lap
    return jet.d2.sum(dim=-2) if jet.d2 is not None else None


def multiply(a: Jet, b: Jet) -> Jet:
    """The jet of the pointwise product ``a * b`` of two jets, by the product rule.

    Both jets describe fields at the same points, with the same leading axes (points, or
    instances and points); their feature axes broadcast, so a scalar factor ``(n, 1)`` can
    multiply an ``(n, m)`` field. A part is in the result when both factors carry it, and a
    Laplacian when either carries one and the other a Laplacian or a diagonal::

        d(ab) = a db + b da,   d2(ab) = a d2b + 2 da db + b d2a,
        H(ab) = a Hb + da (x) db + db (x) da + b Ha,   lap(ab) = a lap b + 2 da . db + b lap a
    """
    out = Jet(a.value * b.value)
    if a.grad is None or b.grad is None:
        return out
    av, bv = a.value.unsqueeze(-2), b.value.unsqueeze(-2)
    out.grad = av * b.grad + a.grad * bv
    if a.d2 is not None and b.d2 is not None:
        out.d2 = av * b.d2 + 2 * a.grad * b.grad + a.d2 * bv
    if a.hessian is not None and b.hessian is not None:
        cross = a.grad.unsqueeze(-2) * b.grad.unsqueeze(-3)
        out.hessian = (av.unsqueeze(-2) * b.hessian + cross + cross.transpose(-2, -3)
                       + a.hessian * bv.unsqueeze(-2))
    if a.lap is not None or b.lap is not None:
        a_lap, b_lap = _laplacian_part(a), _laplacian_part(b)
        if a_lap is not None and b_lap is not None:
            out.lap = a.value * b_lap + 2 * (a.grad * b.grad).sum(dim=-2) + a_lap * b.value
    return out


# --- activations with their first two derivatives ------------------------------------------

def sine_activation(z: Tensor):
    """sin z with derivatives cos z and -sin z (SIREN folds its w0 into the weights)."""
    s, c = sin_cos(z)
    return s, c, -s


class _SinCos(torch.autograd.Function):
    """``(sin z, cos z)`` with a fused backward that reuses both outputs instead of recomputing
    them: ``dz = g_sin cos z - g_cos sin z``. Built from ordinary operations, so it can be
    differentiated again."""

    generate_vmap_rule = True  # usable under torch.func transforms (the Gauss-Newton Jacobian)

    @staticmethod
    def forward(z):
        return torch.sin(z), torch.cos(z)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*output)

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
