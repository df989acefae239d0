"""``sirenpde.PDE``: your equation on your domain with your conditions, as a :class:`Problem`.

::

    import sirenpde as sp
    from sirenpde.geometry import Rectangle, Disk
    square = Rectangle([-0.5, -0.5], [0.5, 0.5])
    holes = Disk([0.3, 0.3], 0.1) | Disk([-0.3, 0.3], 0.1) | Disk([0.3, -0.3], 0.1) | Disk([-0.3, -0.3], 0.1)
    problem = sp.PDE(square - holes, lambda u: u.laplacian,
                     conditions=[sp.Dirichlet(square.boundary, 1.0), sp.Dirichlet(holes.boundary, 0.0)])
    result = sp.fit(problem, problem.make_model("siren"))

The equation is a loss term on uniform interior points of the domain, each soft condition one more
on its own points (:mod:`sirenpde.conditions`); hard conditions change the model instead
(:mod:`sirenpde.hard`). Being a :class:`~sirenpde.problem.Problem`, it trains with every engine,
checkpoints, DDP under ``torchrun``, and saves as ``model.pt``.
"""
from __future__ import annotations

import inspect
import math
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from sirenpde.conditions import Condition, code_aware
from sirenpde.problem import Constraint, Problem
from sirenpde.residual_probe import PROBE_POINTS, probe_residual, stack_residual

METRIC_SEED = 20240521  # the held-out points of ``metrics``: the same for every run of a problem


class PDE(Problem):
    """A PDE on a domain with boundary and initial conditions.

    Parameters
    ----------
    domain : a :class:`~sirenpde.geometry.Geometry` (a time domain for time-dependent problems)
    residual : callable ``residual(u)`` or ``residual(u, x)``, ``u`` the
        :class:`~sirenpde.fields.Field` at interior points ``x = u.x (n, d)``; returns what must
        vanish: ``(n,)``, ``(n, k)`` or a tuple/list of those (a system; the loss is the mean of
        the squares of all of them). Its keyword arguments named in ``parameters`` are passed from it
    conditions : sequence of conditions (:mod:`sirenpde.conditions`)
    reference : callable ``x (n, d) -> (n,)`` or ``(n, m)``, the exact solution (or anything
        :func:`sirenpde.references.as_reference` accepts); ``metrics`` then reports ``rel_l2`` on
        ``metric_points`` held-out interior points
    parameters : dict of constants passed to ``residual`` as keyword arguments
    name : str, shown in outputs
    out_features : int, components of ``u``; default: the reference's, else the longest value
        list of the conditions, else 1
    order, second : the derivatives the residual reads (0, 1 or 2; "laplacian", "diagonal" or
        "hessian"). Default: found by calling the residual once on a small probe network and
        recording what it reads from ``u`` (``laplacian`` alone: the cheapest jets; ``d2``: the
        diagonal; ``hessian``: all). Give them if the residual reads different derivatives on
        different calls.
    equation_share : float, the share of each batch's points given to the equation (the rest is
        split evenly among the soft conditions)
    metric_points : int, held-out interior points for ``metrics``
    width, depth : the default Siren's hidden width and hidden-to-hidden layers

    Defaults (chosen to work on a first try on a 2-core CPU): a 3x64 Siren whose first-layer
    frequency is ``10 / L`` with ``L`` the domain's largest half-extent (SIREN's frequency
    assumes coordinates in [-1, 1]; scaling by the domain keeps the same number of oscillations
    across it); Adam at 1e-3 with a cosine schedule, 2000 steps of 2048 points, and automatic loss
    balancing (``default_balance = "gradnorm"``).
    """

    name = "pde"
    default_steps = 2000
    default_lr = 1e-3
    default_schedule = "cosine"
    default_batch_size = 2048
    default_balance = "gradnorm"
    BASE_OMEGA = 10.0

    def __init__(self, domain, residual: Callable, conditions: Sequence[Condition] = (), reference=None,
                 parameters: Optional[dict] = None, name: str = "pde", out_features: Optional[int] = None,
                 order: Optional[int] = None, second: Optional[str] = None, equation_share: float = 2 / 3,
                 metric_points: int = 4096, width: int = 64, depth: int = 3):
        self.name = str(name)
        self.domain = domain
        self.residual = residual
        self.conditions = list(conditions)
        self.parameters = dict(parameters or {})
        self._check_arguments(equation_share, metric_points, width, depth)
        self.equation_share, self.metric_points = float(equation_share), int(metric_points)
        self.in_features = int(domain.dim)
        self._reference = self._as_reference(reference)
        self.out_features = self._infer_out_features(out_features)
        generator = torch.Generator().manual_seed(0)
        for cond in self.conditions:
            cond.check(domain, self.out_features, generator)
        from sirenpde.hard import hard_terms

        self.hard_terms = hard_terms(domain, self.conditions, self.out_features, generator)
        self._pass_x, self._kwargs = self._signature()
        self.order, self.second = self._probe(order, second)
        self.model_kwargs = {"siren": {"hidden_features": int(width), "hidden_layers": int(depth),
                                       "first_omega_0": first_omega(domain, self.BASE_OMEGA)},
                             **{m: {"hidden_features": int(width), "hidden_layers": int(depth)}
                                for m in ("relu", "tanh", "relu-pe", "fourier")}}
        self.constraints()  # refuses clashing names now, not at the first step

    # -- checks ------------------------------------------------------------------------------
    def _check_arguments(self, equation_share, metric_points, width, depth) -> None:
        for verb in ("dim", "bbox", "sample_interior", "sample_boundary", "distance"):
            if not hasattr(self.domain, verb):
                raise ValueError(f"PDE: domain must be a sirenpde.geometry domain (it has no {verb!r}), "
                                 f"got {type(self.domain).__name__}")
        if not callable(self.residual):
            raise ValueError(f"PDE: residual must be a function of the field u, got {type(self.residual).__name__}")
        for i, cond in enumerate(self.conditions):
            if not isinstance(cond, Condition):
                raise ValueError(f"PDE: conditions[{i}] must be a condition (sp.Dirichlet, sp.Neumann, ...), "
                                 f"got {type(cond).__name__}")
        if not (isinstance(equation_share, (int, float)) and 0 < equation_share < 1
                or (equation_share == 1 and not self._soft())):
            raise ValueError(f"PDE: equation_share must be in (0, 1), got {equation_share!r}")
        for label, value, low in (("metric_points", metric_points, 1), ("width", width, 1), ("depth", depth, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"PDE: {label} must be an integer >= {low}, got {value!r}")

    def _soft(self) -> list[Condition]:
        return [c for c in self.conditions if not c.hard]

    def _as_reference(self, reference):
        """A function reference, or a table (:func:`sirenpde.references.as_reference`)."""
        if reference is None:
            return None
        from sirenpde.references import as_reference

        try:
            ref = as_reference(reference, dim=self.in_features)
        except TypeError as err:
            raise ValueError(f"PDE: reference: {err}") from None
        if getattr(ref, "points", None) is not None and ref.dim != self.in_features:
            raise ValueError(f"PDE: the reference table has {ref.dim} coordinate columns but the domain is "
                             f"{self.in_features}-dimensional")
        return ref

    def _table(self) -> bool:
        return getattr(self._reference, "points", None) is not None

    def _reference_values(self, x: Tensor) -> Tensor:
        ref = self._reference(x)
        ref = torch.as_tensor(ref, dtype=x.dtype, device=x.device)
        return ref[:, None] if ref.ndim == 1 else ref

    def _infer_out_features(self, out_features) -> int:
        if out_features is not None:
            if isinstance(out_features, bool) or not isinstance(out_features, int) or out_features < 1:
                raise ValueError(f"PDE: out_features must be a positive integer, got {out_features!r}")
            return out_features
        if self._table():
            return int(self._reference.out_features)
        if self._reference is not None:
            x = self.domain.sample_interior(PROBE_POINTS, torch.Generator().manual_seed(0))
            ref = self._reference_values(x)
            if ref.ndim != 2 or ref.shape[0] != PROBE_POINTS:
                raise ValueError(f"PDE: reference must return (n,) or (n, m) for points (n, {self.domain.dim}), "
                                 f"got {tuple(ref.shape)} for n = {PROBE_POINTS}")
            return int(ref.shape[1])
        sizes = [len(c.value) for c in self.conditions if isinstance(c.value, (list, tuple)) and c.component is None]
        return max(sizes, default=1)

    def _signature(self) -> tuple[bool, dict]:
        """Whether the residual takes ``x`` after ``u``, and the keyword arguments it gets."""
        try:
            sig = inspect.signature(self.residual)
        except (TypeError, ValueError):
            return False, dict(self.parameters)
        params = sig.parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        unknown = sorted(k for k in self.parameters if k not in params and not takes_any)
        if unknown:
            raise ValueError(f"PDE: parameter {unknown[0]!r} is not an argument of the residual "
                             f"(its arguments: {', '.join(params)})")
        positional = [p for k, p in params.items() if k not in self.parameters
                      and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        required = [p for p in positional if p.default is p.empty]
        if not positional:
            raise ValueError("PDE: the residual must take the field u as its first argument")
        if len(required) > 2:
            raise ValueError(f"PDE: the residual takes (u) or (u, x), but it needs {len(required)} arguments: "
                             f"{', '.join(p.name for p in required)} (constants go in parameters=)")
        return len(required) == 2, dict(self.parameters)

    def _call(self, u, x: Tensor, batch: Optional[dict] = None) -> Tensor:
        """The residual at ``x``; a parameter a family varies comes from ``batch["param/<name>"]``
        (one value per member, ``(B, 1, 1)``) in place of the constant."""
        kwargs = self._kwargs
        if batch is not None:
            kwargs = {k: batch.get(f"param/{k}", v) for k, v in kwargs.items()}
        out = self.residual(u, x, **kwargs) if self._pass_x else self.residual(u, **kwargs)
        return stack_residual(out, tuple(x.shape[:-1]), f"PDE {self.name!r}: the residual")

    def member_options(self, values: dict) -> dict:
        """A family of a PDE varies constants of its residual (``parameters=``); a subclass with
        ``parameter_ranges`` varies its own options."""
        if self.parameter_ranges:
            return dict(values)
        return {"parameters": {**self.parameters, **values}}

    def _probe(self, order, second) -> tuple[int, str]:
        """The order and second derivatives the residual reads (:func:`~sirenpde.residual_probe.probe_residual`)."""
        return probe_residual(self, order, second)

    # -- the Problem API -----------------------------------------------------------------------
    def identity(self) -> dict:
        """Class, name and every constructor option, functions by their code (see
        :func:`sirenpde.conditions.function_fingerprint`)."""
        return {"class": type(self).__qualname__, "name": self.name,
                "options": code_aware(self.constructor_options)}

    def make_model(self, name: str = "siren", seed: Optional[int] = None, **overrides):
        """The network of :meth:`Problem.make_model`, wrapped by
        :class:`~sirenpde.hard.HardConditions` when a condition is hard."""
        model = super().make_model(name, seed=seed, **overrides)
        if not self.hard_terms:
            return model
        from sirenpde.hard import HardConditions

        return HardConditions(model, self.hard_terms, self.out_features)

    def constraints(self) -> list[Constraint]:
        domain = self.domain
        soft = self._soft()
        equation = Constraint("pde", sampler=lambda n, generator: {"x": domain.sample_interior(n, generator)},
                              residual=lambda u, batch: self._call(u, u.x, batch), order=self.order,
                              second=self.second, share=self.equation_share if soft else 1.0)
        out = [equation]
        names: dict[str, int] = {}
        for cond in soft:
            if cond.name is None:
                names[cond.kind] = names.get(cond.kind, 0) + 1
        seen: dict[str, int] = {}
        for cond in soft:
            seen[cond.kind] = seen.get(cond.kind, 0) + (cond.name is None)
            label = cond.name or (cond.kind if names[cond.kind] == 1 else f"{cond.kind}-{seen[cond.kind]}")
            out.append(cond.constraint(domain, self.out_features, label,
                                       share=(1 - self.equation_share) / len(soft)))
        labels = [c.name for c in out]
        twice = sorted({n for n in labels if labels.count(n) > 1})
        if twice:
            raise ValueError(f"PDE {self.name!r}: two loss terms are named {twice[0]!r}; give the conditions "
                             f"different names")
        return out

    def reference(self, x: Tensor) -> Tensor:
        if self._reference is None:
            raise NotImplementedError(f"problem {self.name!r} has no reference solution")
        return self._reference_values(x)

    def metric_points_tensor(self) -> Tensor:
        return self.domain.sample_interior(self.metric_points, torch.Generator().manual_seed(METRIC_SEED))

    def metrics(self, model) -> dict[str, float]:
        """With a reference: ``rel_l2``, ``||u - u_ref|| / ||u_ref||``, and ``max_abs``, the largest
        pointwise error, over a table's own points, or for a function over ``metric_points``
        held-out interior points (drawn from a fixed seed)."""
        if self._reference is None:
            return {}
        from sirenpde.evaluate import evaluate

        if self._table():
            x, ref = self._reference.points.float(), self._reference.values.numpy()
            u = evaluate(model, x)["value"].astype(np.float64).reshape(ref.shape)
            err = u - ref
            return {"rel_l2": float(np.linalg.norm(err) / np.linalg.norm(ref)), "max_abs": float(np.abs(err).max())}
        x = self.metric_points_tensor()
        u = evaluate(model, x)["value"].astype(np.float64)
        ref = self.reference(x.double()).detach().cpu().numpy()
        err = u - ref
        norm = float(np.linalg.norm(ref))
        return {"rel_l2": float(np.linalg.norm(err) / norm) if norm > 0 else float(np.linalg.norm(err)),
                "max_abs": float(np.abs(err).max())}

    def _grid(self, n: int = 101):
        """A plotting grid over the bounding box of a 1D or 2D domain (time counts): points
        ``(n^d, d)``, the axes, and which points are inside."""
        low, high = (np.asarray(v, dtype=float) for v in self.domain.bbox)
        axes = [np.linspace(a, b, n) for a, b in zip(low, high)]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
        x = torch.as_tensor(pts, dtype=torch.float32)
        return x, axes, self.domain.inside(x).numpy()

    def fields(self, model) -> dict[str, np.ndarray]:
        """On a 101-point grid per axis of a 1D or 2D domain: ``u`` (NaN outside the domain) and,
        with a reference, ``reference`` and ``error``; nothing for 3D and above."""
        if self.in_features > 2:
            return {}
        from sirenpde.evaluate import evaluate

        x, axes, inside = self._grid()
        shape = tuple(len(a) for a in axes)
        u = evaluate(model, x)["value"].astype(np.float64)
        u[~inside] = np.nan
        out = {"u": u.reshape(*shape, -1), **{f"axis{i}": a for i, a in enumerate(axes)}}
        if self._reference is not None and not self._table():
            ref = self.reference(x.double()).detach().cpu().numpy()
            ref[~inside] = np.nan
            out["reference"] = ref.reshape(*shape, -1)
            out["error"] = out["u"] - out["reference"]
        return out

    def figure(self, model, history):
        """A figure that suits the domain (:func:`sirenpde.io.domain_plots.pde_figure`): a 2D solution
        and its error drawn on the domain with its boundary, a space-time image for 1D + time, three
        slices for 3D; the error on a reference table's own points; the loss curves and weights."""
        from sirenpde.io.domain_plots import pde_figure

        return pde_figure(self, model, history, reference=self._reference)

    def describe(self) -> dict:
        return {"name": self.name, "domain": repr(self.domain), "conditions": [repr(c) for c in self.conditions],
                "order": self.order, "second": self.second, "out_features": self.out_features,
                "hard": [t.label for t in self.hard_terms]}

    def __repr__(self) -> str:
        return f"PDE({self.name!r}, {self.domain!r}, conditions={self.conditions!r})"


def first_omega(domain, base: float = 10.0) -> float:
    """The default first-layer frequency for ``domain``: ``base / L``, ``L`` its largest half-extent."""
    low, high = (np.asarray(v, dtype=float) for v in domain.bbox)
    return base / (float(np.max(high - low)) / 2 or math.inf)
