"""Conditions imposed exactly: the model's output is ``u = g + phi * N`` with ``N`` the network.

``phi`` vanishes exactly on the parts where a hard condition holds and is positive elsewhere in
the domain; ``g`` takes each part's value there, so ``u = g`` on those parts for any network ``N``
(Sukumar & Srivastava, CMAME 2022). With parts ``i = 1..k``, distances ``phi_i`` and values
``g_i`` (transfinite interpolation with weights ``1 / phi_i``)::

    phi = 1 / sum_i (1 / phi_i),     g = sum_i (g_i / phi_i) / sum_i (1 / phi_i)

computed as products (``w_i = prod_{j != i} phi_j``) so that a point on part ``i`` gives
``phi = 0`` and ``g = g_i`` without dividing by zero. Each output component has its own parts
(a component no hard condition names is the network's output unchanged).

A part's distance ``phi_i`` is the domain's :meth:`~sirenpde.geometry.Geometry.distance` when the
part is the domain's whole boundary; otherwise the part's own geometry's distance, with the sign
that is positive in the domain (a hole's distance is negative outside the hole). A part whose
geometry's distance changes sign inside the domain (the boundary of ``a`` in ``a | b`` runs
through ``b``) is refused: it would pin ``u`` on a curve inside the domain. On a time domain, the
initial slice has ``phi = t - t0`` and ``g(x, t) = g0(x, t0)``, and a spatial part's distance is
read on the spatial columns.

The wrapper keeps the inner model's fast engines: ``g`` and ``phi`` do not depend on the weights,
so their jets are computed by autograd on the points (cheap: a few closed-form functions) and
combined with the network's jet by the product rule.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn

from sirenpde.jets import Jet, multiply
from sirenpde.wrappers import ModelWrapper

Function = Callable[[Tensor], Tensor]  # points (n, d) -> (n,) or (n, m)
TINY = 1e-30


class HardTerm:
    """One exactly imposed condition: ``distance (n, d) -> (n,)`` (zero on its part, positive in
    the domain) and ``value (n, d) -> (n, 1) or (n, k)`` on the output ``components``."""

    def __init__(self, distance: Function, value: Function, components: list[int], label: str):
        self.distance, self.value, self.components, self.label = distance, value, list(components), label


def blend(terms: list[HardTerm], x: Tensor, out_features: int) -> tuple[Tensor, Tensor]:
    """``g (n, m)`` and ``phi (n, m)`` at ``x (n, d)`` (components without a hard term: 0 and 1)."""
    n = x.shape[0]
    g = [x.new_zeros(n) for _ in range(out_features)]
    phi = [x.new_ones(n) for _ in range(out_features)]
    # each term's distance and value once, whatever the number of components it holds on (a mesh's
    # distance is a ray-casting query, a fitted shape's a network forward)
    distances = [t.distance(x).reshape(n) for t in terms]
    values = [t.value(x) for t in terms]
    for c in range(out_features):
        mine = [i for i, t in enumerate(terms) if c in t.components]
        if not mine:
            continue
        d = [distances[i] for i in mine]
        v = [values[i][:, 0] if values[i].shape[1] == 1 else values[i][:, terms[i].components.index(c)]
             for i in mine]
        if len(mine) == 1:
            g[c], phi[c] = v[0], d[0]
            continue
        weights = [_product([d[j] for j in range(len(d)) if j != i]) for i in range(len(d))]
        total = sum(weights)
        safe = torch.where(total.abs() > TINY, total, torch.full_like(total, TINY))
        g[c] = sum(w * vi for w, vi in zip(weights, v)) / safe
        phi[c] = _product(d) / safe
    return torch.stack(g, dim=-1), torch.stack(phi, dim=-1)


def _product(values: list[Tensor]) -> Tensor:
    out = values[0]
    for v in values[1:]:
        out = out * v
    return out


def function_jet(f: Callable[[Tensor], Tensor], x: Tensor, order: int, second: str = "diagonal") -> Jet:
    """The jet of ``f: (N, d) -> (N, m)`` at ``x (..., n, d)`` by autograd (``f`` applied per point).

    The parts are detached from the graph unless ``x`` itself requires grad (a caller
    differentiating through the jet with respect to ``x``). Inside a ``torch.func`` transform (the
    Gauss-Newton Jacobian maps one point's residual over the points), where autograd on ``x``
    is not allowed, the derivatives come from ``torch.func.jacrev`` instead (:func:`_func_jet`)."""
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return _func_jet(f, x, order, second)
    keep = x.requires_grad
    lead, d = x.shape[:-1], x.shape[-1]
    xx = x.reshape(-1, d)
    xx = xx if keep else xx.detach().requires_grad_(order > 0)
    with torch.enable_grad():
        value = f(xx)
        m = value.shape[-1]
        jet = Jet(value)
        if order >= 1:
            create = keep or order >= 2
            grads = [_grad(value[:, j], xx, create) for j in range(m)]  # each (N, d)
            jet.grad = torch.stack(grads, dim=-1)  # (N, d, m)
        if order >= 2:
            rows = [[_grad(grads[j][:, i], xx, keep) for i in range(d)] for j in range(m)]  # [j][i] (N, d)
            _set_second(jet, torch.stack([torch.stack(r, dim=-2) for r in rows], dim=-1), second)
    parts = [jet.value, jet.grad, jet.d2, jet.hessian, jet.lap]
    if not keep:
        parts = [None if p is None else p.detach() for p in parts]
    shaped = [None if p is None else p.reshape(*lead, *p.shape[1:]) for p in parts]
    return Jet(*shaped)


def _func_jet(f: Callable[[Tensor], Tensor], x: Tensor, order: int, second: str) -> Jet:
    """:func:`function_jet` by ``torch.func.jacrev`` of ``f`` summed over the points (each point's
    value depends on that point alone, so the sum's derivative at a point is the point's own).
    The second derivatives are its Jacobian again, ``(m, n, d, n, d)``: meant for the few points
    one call sees under ``vmap``."""
    lead, d = x.shape[:-1], x.shape[-1]
    xx = x.reshape(-1, d)
    n = xx.shape[0]
    value = f(xx)
    jet = Jet(value)
    if order >= 1:
        summed = lambda z: f(z).sum(0)  # noqa: E731  (n, d) -> (m,)
        jet.grad = torch.func.jacrev(summed)(xx).permute(1, 2, 0)  # (m, n, d) -> (n, d, m)
        if order >= 2:
            full = torch.func.jacrev(torch.func.jacrev(summed))(xx)  # (m, n, d, n, d)
            idx = torch.arange(n, device=xx.device)
            _set_second(jet, full[:, idx, :, idx, :].permute(0, 2, 3, 1), second)  # (n, m, d, d) -> (n, d, d, m)
    parts = [jet.value, jet.grad, jet.d2, jet.hessian, jet.lap]
    return Jet(*[None if p is None else p.reshape(*lead, *p.shape[1:]) for p in parts])


def _set_second(jet: Jet, hess: Tensor, second: str) -> None:
    """Fill ``jet``'s second-order parts from its Hessian ``(N, d, d, m)``: the Laplacian alone, the
    diagonal, or the diagonal and the Hessian (``second``)."""
    diag = torch.diagonal(hess, dim1=1, dim2=2).movedim(-1, 1)  # (N, d, m)
    if second == "laplacian":
        jet.lap = diag.sum(dim=1)
    else:
        jet.d2 = diag
        if second == "hessian":
            jet.hessian = hess


def _grad(y: Tensor, x: Tensor, create: bool) -> Tensor:
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=create, retain_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _add(a: Jet, b: Jet) -> Jet:
    """The jet of ``a + b`` (parts both carry; a Laplacian from a diagonal where needed)."""
    def plus(p, q):
        return None if p is None or q is None else p + q

    out = Jet(a.value + b.value, plus(a.grad, b.grad), plus(a.d2, b.d2), plus(a.hessian, b.hessian))
    lap_a = a.lap if a.lap is not None else (a.d2.sum(dim=-2) if a.d2 is not None else None)
    lap_b = b.lap if b.lap is not None else (b.d2.sum(dim=-2) if b.d2 is not None else None)
    if a.lap is not None or b.lap is not None:
        out.lap = plus(lap_a, lap_b)
    return out


class HardConditions(ModelWrapper):
    """``u = g(x) + phi(x) * inner(x)`` for the :class:`HardTerm` s ``terms`` (module docstring).

    Has ``forward_jet`` / ``forward_grad`` exactly when the inner model has them; ``params=`` are
    named ``inner.<name>``. The terms are functions, not weights: a saved model stores the inner
    network's weights and is rebuilt by its problem's ``make_model``.
    """

    def __init__(self, inner: nn.Module, terms: list[HardTerm], out_features: Optional[int] = None):
        super().__init__(inner)
        self.terms = list(terms)
        m = out_features if out_features is not None else self.out_features
        if not isinstance(m, int):
            raise ValueError("HardConditions: the inner model does not say its out_features; pass out_features=")
        self.out_features = m

    def _gphi(self, x: Tensor) -> Tensor:
        """``[g, phi]`` stacked on the feature axis: ``(n, 2m)`` at ``x (n, d)``."""
        g, phi = blend(self.terms, x, self.out_features)
        return torch.cat([g, phi], dim=-1)

    def _split(self, jet: Jet) -> tuple[Jet, Jet]:
        m = self.out_features
        parts = [jet.value, jet.grad, jet.d2, jet.hessian, jet.lap]
        g = Jet(*[None if p is None else p[..., :m] for p in parts])
        phi = Jet(*[None if p is None else p[..., m:] for p in parts])
        return g, phi

    def transform(self, x: Tensor, value: Tensor) -> Tensor:
        lead, d = x.shape[:-1], x.shape[-1]
        gphi = self._gphi(x.reshape(-1, d)).reshape(*lead, -1)
        m = self.out_features
        return gphi[..., :m] + gphi[..., m:] * value

    def transform_jet(self, x: Tensor, jet: Jet, order: int, second: str) -> Jet:
        g, phi = self._split(function_jet(self._gphi, x, order, second))
        return _add(g, multiply(phi, jet))

    def transform_grad(self, x: Tensor, jet: Jet) -> Jet:
        g, phi = self._split(function_jet(self._gphi, x, 1))
        return _add(g, multiply(phi, jet))

    def extra_repr(self) -> str:
        return "terms=[" + ", ".join(t.label for t in self.terms) + "]"


def part_distance(domain, part, label: str, generator: torch.Generator) -> Function:
    """``phi (n, d) -> (n,)``: zero on ``part`` of ``domain``, positive in the domain (see the module
    docstring); ``ValueError`` naming ``label`` when no such function can be read off the geometry."""
    space = getattr(domain, "space", None)
    if part == domain.boundary and space is None:
        return domain.distance
    if space is not None:  # a time domain: the initial slice, or a spatial part on the lateral surface
        if getattr(part, "name", None) == "initial":
            t0 = float(domain.t0)
            return lambda x: x[:, -1] - t0
        if getattr(part, "name", None) == "final":
            raise ValueError(f"{label}: a hard condition at the final time is not supported; use hard=False")
        inner = space.boundary if part == domain.boundary else part
        spatial = part_distance(space, inner, label, generator)
        return lambda x: spatial(x[:, :-1])
    own = part.geometry.distance
    x = domain.sample_interior(2048, generator).double()
    values = own(x)
    sign = 1.0 if float(values.median()) > 0 else -1.0
    low, high = domain.bbox
    tol = 1e-6 * float(max(high - low))
    if bool((sign * values < -tol).any()):
        raise ValueError(f"{label}: the distance function of {part.geometry!r} changes sign inside the domain "
                         f"(its boundary runs through the domain's interior), so this part cannot be imposed "
                         f"hard; use hard=False")
    return own if sign > 0 else (lambda x: -own(x))


def hard_terms(domain, conditions, out_features: int, generator: torch.Generator) -> list[HardTerm]:
    """The hard conditions of ``conditions`` as :class:`HardTerm` s on ``domain``."""
    terms = []
    for cond in conditions:
        if not cond.hard:
            continue
        part = domain.initial if cond.where == "initial" else cond.part
        distance = part_distance(domain, part, cond.label, generator)
        value = cond._g
        if cond.where == "initial":
            t0 = float(domain.t0)
            value = _at_time(cond._g, t0)
        terms.append(HardTerm(_float_like(distance), value, cond.components(out_features), cond.label))
    return terms


def _at_time(g: Function, t0: float) -> Function:
    """``g`` read at ``t = t0`` (the last column), whatever the points' own time."""
    def at(x: Tensor) -> Tensor:
        x0 = torch.cat([x[:, :-1], torch.full_like(x[:, -1:], t0)], dim=1)
        return g(x0)
    return at


def _float_like(f: Function) -> Function:
    """``f`` returning the points' dtype (geometry distances compute in float64)."""
    return lambda x: f(x).to(x.dtype)
