"""Boundary and initial conditions: objects that become loss terms (or an exact output transform).

A condition names where it holds (a :class:`~sirenpde.geometry.BoundaryPart` such as
``square.boundary``, or the initial slice of a time domain) and what it asks of the field ``u``
there; :class:`sirenpde.PDE` turns each into a :class:`~sirenpde.problem.Constraint` for its domain:

=====================================  ===========================  =======
condition                              residual on its points       order
=====================================  ===========================  =======
``Dirichlet(part, g)``                 u - g                        0
``Neumann(part, g)``                   du/dn - g                    1
``Robin(part, a, b, g)``               a u + b du/dn - g            1
``Periodic(axis=i)`` / ``(pa, pb)``    u(x) - u(x + shift)          0 (1)
``Initial(g)``                         u(x, t0) - g                 0
``InitialRate(g)``                     u_t(x, t0) - g               1
=====================================  ===========================  =======

``n`` is the domain's outward unit normal at the point (from ``sample_boundary``), so
``du/dn = grad u . n``. Time is the last column of ``x``.

Values (``g``, and Robin's ``a`` and ``b``) are a number (every selected component), a sequence of
numbers (one per selected component), or a callable of the points ``x (n, d)`` returning ``(n,)``
or ``(n, k)``. ``component`` selects output components (an index or a list; default all).
``weight`` multiplies the term's loss. ``Dirichlet(..., hard=True)`` and ``Initial(..., hard=True)``
are imposed exactly by the model instead (see :mod:`sirenpde.hard`): their callables are then
evaluated inside the domain too, so they must be defined there.
"""
from __future__ import annotations

import numbers
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

from sirenpde.identity import RecordsOptions, fingerprint
from sirenpde.problem import Constraint

Value = Union[float, Sequence[float], Callable[[Tensor], Tensor]]
PROBE_POINTS = 8  # points each condition is tried on when its PDE is built


def function_fingerprint(f) -> dict:
    """A function by its code as well as its name, so that two lambdas of one file (or an edited
    residual) are different runs: the qualified name, a digest of the bytecode and constants
    (nested functions included), the defaults and the values its closure captured."""
    import hashlib

    code = getattr(f, "__code__", None)
    if code is None:
        return fingerprint(f)
    digest = hashlib.sha256()

    def walk(c):
        digest.update(c.co_code)
        digest.update(repr(c.co_names).encode())
        for const in c.co_consts:
            if hasattr(const, "co_code"):
                walk(const)
            else:
                digest.update(repr(const).encode())

    walk(code)
    cells = [cell.cell_contents for cell in (f.__closure__ or ()) if _cell_filled(cell)]
    return {"callable": f"{getattr(f, '__module__', '')}:{f.__qualname__}", "code": digest.hexdigest(),
            "defaults": code_aware(list(f.__defaults__ or ())), "closure": code_aware(cells)}


def _cell_filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def code_aware(value):
    """:func:`~sirenpde.identity.fingerprint` with plain functions (lambdas, ``def``) by their code."""
    if isinstance(value, (list, tuple)):
        return [code_aware(v) for v in value]
    if isinstance(value, dict):
        return {str(k): code_aware(v) for k, v in value.items()}
    if callable(value) and hasattr(value, "__code__") and not isinstance(value, type):
        return function_fingerprint(value)
    if hasattr(value, "geometry") and hasattr(value, "name") and type(value).__name__ == "BoundaryPart":
        return {"part": value.name, "geometry": fingerprint(value.geometry)}
    return fingerprint(value)


def as_value(value, what: str) -> Callable[[Tensor], Tensor]:
    """``value`` as a function of the points ``x (n, d)`` returning ``(n, 1)`` or ``(n, k)``; points
    with leading instance axes ``(..., n, d)`` (a family's stacked members) give ``(..., n, k)``, a
    callable value being called on them flattened to ``(N, d)``."""
    if callable(value):
        def call_flat(x: Tensor) -> Tensor:
            out = value(x)
            if not torch.is_tensor(out):
                out = torch.as_tensor(out, dtype=x.dtype, device=x.device)
            if out.ndim == 0:
                out = out.expand(x.shape[0])
            if out.ndim == 1:
                out = out[:, None]
            if out.ndim != 2 or out.shape[0] != x.shape[0]:
                raise ValueError(f"{what}: a callable value must return (n,) or (n, k) for points "
                                 f"({x.shape[0]}, {x.shape[1]}), got shape {tuple(out.shape)}")
            return out.to(x.dtype)

        def call(x: Tensor) -> Tensor:
            if x.ndim == 2:
                return call_flat(x)
            out = call_flat(x.reshape(-1, x.shape[-1]))
            return out.reshape(*x.shape[:-1], out.shape[-1])
        return call
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        constant = torch.tensor([[float(value)]])
    else:
        try:
            constant = torch.as_tensor(value, dtype=torch.float64).reshape(1, -1)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{what}: a value must be a number, a list of numbers (one per component) or a "
                             f"function of the points x (n, d), got {value!r}") from None
    if constant.numel() == 0 or not torch.isfinite(constant).all():
        raise ValueError(f"{what}: a value must be finite numbers, got {value!r}")
    return lambda x: constant.to(x.dtype).to(x.device).expand(*x.shape[:-1], -1)


class Condition(RecordsOptions):
    """Base of the conditions. Subclasses set ``kind`` and ``order`` and implement :meth:`points`
    (where the condition holds) and :meth:`residual` (what must vanish there)."""

    kind = "condition"
    order = 0
    hard = False
    where = "part"  # a boundary part ("part"), the initial slice ("initial") or paired parts

    def __init__(self, part=None, value: Value = 0.0, weight: float = 1.0,
                 component: Optional[Union[int, Sequence[int]]] = None, name: Optional[str] = None):
        self.part, self.value, self.weight, self.component, self.name = part, value, float(weight), component, name
        self._g = as_value(value, self.label)
        if not (self.weight >= 0 and torch.isfinite(torch.tensor(self.weight))):
            raise ValueError(f"{self.label}: weight must be a finite number >= 0, got {weight!r}")

    @property
    def label(self) -> str:
        return self.name or type(self).__name__

    def identity(self) -> dict:
        return {"class": type(self).__qualname__, "options": code_aware(self.constructor_options)}

    # -- binding to a domain -------------------------------------------------------------------
    def components(self, out_features: int) -> list[int]:
        """The output components this condition constrains."""
        if self.component is None:
            return list(range(out_features))
        chosen = [self.component] if isinstance(self.component, numbers.Integral) else list(self.component)
        for c in chosen:
            if not isinstance(c, numbers.Integral) or not 0 <= c < out_features:
                raise ValueError(f"{self.label}: component {c!r} is not an output component of a field with "
                                 f"{out_features} (0 to {out_features - 1})")
        return [int(c) for c in chosen]

    def points(self, domain, n: int, generator: torch.Generator) -> dict:
        """The batch of ``n`` points where the condition holds: ``x (n, d)``, ``normal (n, d)``."""
        x, normal = domain.sample_boundary(n, generator, part=self.part)
        return {"x": x, "normal": normal}

    def residual(self, u, batch: dict, comps: list[int]) -> Tensor:
        raise NotImplementedError

    def check(self, domain, out_features: int, generator: torch.Generator) -> None:
        """Refuse, with ``ValueError`` naming the condition, what cannot work on ``domain``: a part
        that is not on its boundary, a component the field lacks, a value of the wrong size."""
        comps = self.components(out_features)
        try:
            batch = self.points(domain, PROBE_POINTS, generator)
        except ValueError as err:
            raise ValueError(f"{self.label}: {err}") from None
        for what, g in self._values():
            v = g(batch["x"])
            if v.shape[1] not in (1, len(comps)):
                raise ValueError(f"{self.label}: {what} gives {v.shape[1]} values per point, but the condition "
                                 f"holds for {len(comps)} component(s) {comps}")

    def _values(self) -> list[tuple[str, Callable]]:
        return [("the value", self._g)]

    def constraint(self, domain, out_features: int, name: str, share: float = 1.0) -> Constraint:
        """This condition on ``domain`` as a loss term named ``name``."""
        comps = self.components(out_features)
        return Constraint(name, sampler=lambda n, generator: self.points(domain, n, generator),
                          residual=lambda u, batch: self.residual(u, batch, comps),
                          order=self.order, weight=self.weight, share=share)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.part!r}, {self.value!r})"


def _select(t: Tensor, comps: list[int]) -> Tensor:
    """Components ``comps`` of ``t (n, m)`` (no copy when they are all of them, in order)."""
    return t if comps == list(range(t.shape[-1])) else t[..., comps]


def _normal_derivative(u, normal: Tensor) -> Tensor:
    """``grad u . n`` per component: ``(n, m)``."""
    return (u.jacobian * normal.unsqueeze(-2)).sum(dim=-1)


class Dirichlet(Condition):
    """``u = value`` on ``part``. With ``hard=True`` the model is built to satisfy it exactly
    (``u = g + phi N``, see :mod:`sirenpde.hard`) and no loss term is added."""

    kind = "dirichlet"

    def __init__(self, part, value: Value = 0.0, hard: bool = False, weight: float = 1.0,
                 component=None, name: Optional[str] = None):
        super().__init__(part, value, weight, component, name)
        self.hard = bool(hard)

    def residual(self, u, batch, comps):
        return _select(u.value, comps) - self._g(batch["x"])


class Neumann(Condition):
    """``du/dn = value`` on ``part``, ``n`` the domain's outward unit normal."""

    kind = "neumann"
    order = 1

    def residual(self, u, batch, comps):
        return _select(_normal_derivative(u, batch["normal"]), comps) - self._g(batch["x"])


class Robin(Condition):
    """``a u + b du/dn = value`` on ``part`` (``n`` outward; ``a``, ``b`` numbers or functions of
    ``x`` like the value). The usual convective wall ``-k du/dn = h (u - u_inf)`` is
    ``Robin(part, a=h, b=k, value=h * u_inf)``."""

    kind = "robin"
    order = 1

    def __init__(self, part, a: Value = 1.0, b: Value = 1.0, value: Value = 0.0, weight: float = 1.0,
                 component=None, name: Optional[str] = None):
        super().__init__(part, value, weight, component, name)
        self.a, self.b = a, b
        self._a, self._b = as_value(a, f"{self.label} (a)"), as_value(b, f"{self.label} (b)")

    def _values(self):
        return [("the value", self._g), ("a", self._a), ("b", self._b)]

    def residual(self, u, batch, comps):
        x = batch["x"]
        dudn = _select(_normal_derivative(u, batch["normal"]), comps)
        return self._a(x) * _select(u.value, comps) + self._b(x) * dudn - self._g(x)


class Periodic(Condition):
    """``u(x) = u(x + shift)`` for ``x`` on ``part_a`` (and the first derivatives too with
    ``derivative=True``).

    Either ``axis=i``: the two faces ``x_i = low`` and ``x_i = high`` of the domain's bounding box,
    for a domain that is a prism along axis ``i`` (a rectangle, a cuboid, an interval, a time
    domain over one, or a time domain over any space for its time axis ``-1``); points are drawn
    uniformly on the low face and shifted by the box's extent. Or two parts ``part_a``, ``part_b``
    that are translates of each other: points are drawn on ``part_a`` and moved by ``shift`` (by
    default the offset between the bounding boxes of the parts' geometries). A
    batch of ``n`` holds ``ceil(n / 2)`` pairs, each pair in consecutive rows.
    """

    kind = "periodic"

    def __init__(self, part_a=None, part_b=None, axis: Optional[int] = None, shift=None,
                 derivative: bool = False, weight: float = 1.0, component=None, name: Optional[str] = None):
        super().__init__(part_a, 0.0, weight, component, name)
        self.part_b, self.axis, self.shift, self.derivative = part_b, axis, shift, bool(derivative)
        self.order = 1 if self.derivative else 0
        if (axis is None) == (part_a is None or part_b is None):
            raise ValueError(f"{self.label}: give either axis=i (the two faces of the domain along axis i) or "
                             "two parts part_a, part_b (translates of each other)")
        self._shift: Optional[Tensor] = None if shift is None else torch.as_tensor(shift, dtype=torch.float32)

    def _face_shift(self, domain) -> tuple[int, Tensor]:
        low, high = domain.bbox
        d = len(low)
        if not isinstance(self.axis, numbers.Integral) or not -d <= self.axis < d:
            raise ValueError(f"{self.label}: axis must be an integer in [{-d}, {d - 1}], got {self.axis!r}")
        axis = int(self.axis) % d
        shift = torch.zeros(d)
        shift[axis] = float(high[axis] - low[axis])
        return axis, shift

    def points(self, domain, n, generator):
        pairs = (n + 1) // 2
        if self.axis is not None:
            axis, shift = self._face_shift(domain)
            xa = domain.sample_interior(pairs, generator).clone()
            xa[:, axis] = float(domain.bbox[0][axis])
        else:
            xa, _ = domain.sample_boundary(pairs, generator, part=self.part)
            shift = self._shift if self._shift is not None else self._part_shift(domain)
        xb = xa + shift.to(xa.dtype)
        return {"x": torch.stack([xa, xb], dim=1).reshape(2 * pairs, -1)}

    def _part_shift(self, domain) -> Tensor:
        """The translation taking ``part_a``'s geometry onto ``part_b``'s: the difference of their
        bounding boxes (exact for translates), refused when the boxes differ in size."""
        (la, ha), (lb, hb) = self.part.geometry.bbox, self.part_b.geometry.bbox
        shift = torch.as_tensor(lb - la, dtype=torch.float32)
        if not torch.allclose(torch.as_tensor(hb - ha, dtype=torch.float32), shift, atol=1e-6 * float(max(ha - la))):
            raise ValueError(f"{self.label}: {self.part!r} and {self.part_b!r} are not translates of each other "
                             f"(their bounding boxes differ in size); give shift=")
        return shift

    def check(self, domain, out_features, generator):
        self.components(out_features)
        if self.axis is None:
            for part in (self.part, self.part_b):
                try:
                    domain.sample_boundary(1, generator, part=part)
                except ValueError as err:
                    raise ValueError(f"{self.label}: {err}") from None
            if self._shift is not None and self._shift.shape != (domain.dim,):
                raise ValueError(f"{self.label}: shift must have {domain.dim} numbers, got {self.shift!r}")
        x = self.points(domain, 64, generator)["x"]
        xa, xb = x[0::2], x[1::2]
        low, high = domain.bbox
        scale = float(max(high - low))
        for side, pts in (("first", xa), ("second", xb)):
            off = domain.distance(pts.double()).abs().max().item() if self.axis is None else 0.0
            if not bool(domain.inside(pts).all()) or off > 1e-4 * scale:
                what = (f"the faces along axis {self.axis}" if self.axis is not None
                        else "part_b is not part_a moved by the shift")
                raise ValueError(f"{self.label}: the {side} points of a pair leave the domain's boundary: "
                                 f"{what} (the domain must be a prism along that axis, or give shift=)")

    def residual(self, u, batch, comps):
        a, b = _select(u.value, comps)[0::2], _select(u.value, comps)[1::2]
        r = a - b
        if self.derivative:
            jac = u.jacobian[:, comps, :]
            r = torch.cat([r, (jac[0::2] - jac[1::2]).flatten(1)], dim=1)
        return r

    def __repr__(self):
        where = f"axis={self.axis}" if self.axis is not None else f"{self.part!r}, {self.part_b!r}"
        return f"Periodic({where})"


class Initial(Condition):
    """``u(x, t0) = value`` on a :class:`~sirenpde.geometry.TimeDomain` (time: the last column). With
    ``hard=True`` the model is ``u = g(x, t0) + (t - t0) N`` and no loss term is added."""

    kind = "initial"
    where = "initial"

    def __init__(self, value: Value = 0.0, hard: bool = False, weight: float = 1.0, component=None,
                 name: Optional[str] = None):
        super().__init__(None, value, weight, component, name)
        self.hard = bool(hard)

    def points(self, domain, n, generator):
        initial = getattr(domain, "initial", None)
        if initial is None:
            raise ValueError(f"an initial condition needs a time domain (TimeDomain, or space.over(t0, t1)), "
                             f"got {domain!r}")
        x, normal = domain.sample_boundary(n, generator, part=initial)
        return {"x": x, "normal": normal}

    def residual(self, u, batch, comps):
        return _select(u.value, comps) - self._g(batch["x"])

    def __repr__(self):
        return f"{type(self).__name__}({self.value!r})"


class InitialRate(Initial):
    """``u_t(x, t0) = value`` on a time domain (a second-order-in-time equation's initial velocity)."""

    kind = "initial-rate"
    order = 1

    def __init__(self, value: Value = 0.0, weight: float = 1.0, component=None, name: Optional[str] = None):
        super().__init__(value, False, weight, component, name)

    def residual(self, u, batch, comps):
        return _select(u.jacobian[..., -1], comps) - self._g(batch["x"])


CONDITIONS = (Dirichlet, Neumann, Robin, Periodic, Initial, InitialRate)
