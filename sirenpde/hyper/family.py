"""Families: a registered problem (or any :class:`~sirenpde.problem.Problem`) with ranges for some
of its options, for one conditioned model to learn at once.

A family does not restate its problem. It builds the member of parameters ``p`` with
``problem.member(values)``, draws that member's points with the member's own samplers, and stacks
``B`` members into one batch with a leading instance axis: ``batch["x"] (B, n, d)``, every per-point
entry ``(B, n, ...)``, ``batch["p"] (B, P)`` and each parameter as ``batch["param/<name>"] (B, 1, 1)``.
The problem's own residuals run on that stack (they read what depends on a parameter from the batch
and index with ``...``), and its own ``metrics`` score a member: the references, residuals and
metrics of the single problem serve the family unchanged. See docs/ARCHITECTURE.md, "Families".

Registered families (``sirenpde.problems.FAMILIES``) name the problem, the options the members
share, the ranges (the problem's ``parameter_ranges`` unless given) and the training defaults.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from sirenpde.problem import Batch, Problem, RecordsOptions

MEMBER_CACHE = 256  # members kept built (the held-out set recurs at every evaluation)


def stack_batches(parts: list[Batch]) -> Batch:
    """Members' batches stacked along a new leading axis: tensors ``(B, n, ...)``; other entries
    (the curriculum's numbers) taken from the first."""
    out = {}
    for key, value in parts[0].items():
        if torch.is_tensor(value):
            shapes = {tuple(part[key].shape) for part in parts}
            if len(shapes) != 1:
                raise ValueError(f"family batch entry {key!r} differs in shape between members: {sorted(shapes)}")
            out[key] = torch.stack([part[key] for part in parts])
        else:
            out[key] = value
    return out


class Family(RecordsOptions):
    """A problem whose parameters vary over ranges.

    Parameters
    ----------
    problem : str (a registered problem's name) or a :class:`~sirenpde.problem.Problem`
    ranges : dict name -> (low, high); default the problem's ``parameter_ranges``
    extrapolate : bool, allow members outside the ranges (``check``)
    shift : names of parameters that are a position in the coordinates (one per coordinate): the
        conditioned model then takes the coordinates relative to it (``make_model``)
    name : str, the family's name (a registered family's)
    defaults : training defaults: ``steps``, ``lr``, ``members`` (per step), ``points`` (per member),
        ``conditioning``, ``model`` (``{"siren": {...}, "film": {...}}``, by model as for problems)
    **options : the problem's options every member shares
    """

    held_out_seed: int = 20260101

    def __init__(self, problem, ranges: Optional[dict] = None, extrapolate: bool = False,
                 shift: Optional[list] = None, name: Optional[str] = None, defaults: Optional[dict] = None,
                 **options):
        if isinstance(problem, str):
            from sirenpde.problems import get_problem

            self.problem_name = problem
            self.base = get_problem(problem, **options)
        elif isinstance(problem, Problem):
            if options:
                raise ValueError(f"Family: options {sorted(options)} are for a problem given by name; "
                                 f"build the problem with them instead")
            self.problem_name, self.base = None, problem
        else:
            raise ValueError(f"Family: problem must be a registered problem's name or a Problem, "
                             f"got {type(problem).__name__}")
        self.name = str(name or f"{self.base.name}-family")
        self.extrapolate = bool(extrapolate)
        self.parameters = self._check_ranges(self.base.parameter_ranges if ranges is None else ranges)
        self.low = torch.tensor([lo for lo, _ in self.parameters.values()], dtype=torch.float64)
        self.high = torch.tensor([hi for _, hi in self.parameters.values()], dtype=torch.float64)
        self.defaults = {"steps": 2000, "lr": 1e-3, "members": 16, "points": 256, "conditioning": "film",
                         "model": {}, **dict(defaults or {})}
        self.in_features, self.out_features = self.base.in_features, self.base.out_features
        self.shift = None if shift is None else self._check_shift(shift)
        self._members: OrderedDict = OrderedDict()

    def _check_ranges(self, ranges) -> dict:
        if not isinstance(ranges, dict) or not ranges:
            raise ValueError(f"{self.name}: a family needs parameter ranges (name -> (low, high)); problem "
                             f"{self.base.name!r} declares none (give ranges=)")
        known = self.base.parameter_ranges or getattr(self.base, "parameters", {})
        out = {}
        for key, bounds in ranges.items():
            if known and key not in known:
                raise ValueError(f"{self.name}: {key!r} is not a parameter of {self.base.name!r}; "
                                 f"its parameters: {', '.join(known)}")
            try:
                lo, hi = (float(v) for v in bounds)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name}: range of {key!r} must be (low, high), got {bounds!r}") from None
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f"{self.name}: range of {key!r} needs finite low < high, got {bounds!r}")
            out[str(key)] = (lo, hi)
        return out

    def _check_shift(self, shift) -> list[str]:
        names = [str(s) for s in shift]
        if len(names) != self.in_features or any(n not in self.parameters for n in names):
            raise ValueError(f"{self.name}: shift must name {self.in_features} parameters (one per coordinate) "
                             f"among {', '.join(self.parameters)}, got {shift!r}")
        return names

    # -- what a family is ---------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.parameters)

    @property
    def cond_features(self) -> int:
        """Length of a parameter vector, and of the condition made from it."""
        return len(self.parameters)

    def spec(self) -> dict:
        """Plain data that rebuilds the family (``family.pt``): name, problem, ranges, shift, options."""
        if self.problem_name is None:
            raise ValueError(f"{self.name}: a family over an unregistered problem cannot be saved and loaded by "
                             f"name; register the problem (sirenpde.problems.PROBLEMS)")
        options = {k: v for k, v in self.constructor_options.items()
                   if k not in ("problem", "ranges", "extrapolate", "shift", "name", "defaults")}
        return {"name": self.name, "problem": self.problem_name,
                "parameters": {k: [lo, hi] for k, (lo, hi) in self.parameters.items()},
                "shift": self.shift, "options": options}

    @property
    def siren_kwargs(self) -> dict:
        """The Siren of the family's conditioned models: its defaults' ``model["siren"]``, else the
        problem's own Siren (``model_kwargs["siren"]``)."""
        return dict(self.defaults["model"].get("siren", self.base.model_kwargs.get("siren", {})))

    def make_model(self, mode: Optional[str] = None, seed: Optional[int] = None, **overrides):
        """A conditioned Siren (``mode`` film, full or concat; default the family's) sized by the
        family's defaults (``model["siren"]``, else the problem's own Siren, then ``model[mode]``);
        with ``seed`` its weights are drawn under that seed in a forked RNG state."""
        from sirenpde.hyper.conditioned import conditioned_siren

        mode = mode or self.defaults["conditioning"]
        kwargs = {**self.siren_kwargs, **self.defaults["model"].get(mode, {}), **overrides}
        if self.shift is not None and "shift" not in kwargs:
            index = [self.names.index(n) for n in self.shift]
            kwargs["shift"] = {"index": index, "low": [self.parameters[n][0] for n in self.shift],
                               "high": [self.parameters[n][1] for n in self.shift]}
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(int(seed))
            return conditioned_siren(mode, self.in_features, self.out_features, self.cond_features, **kwargs)

    # -- members --------------------------------------------------------------------------------
    def values(self, p) -> dict:
        """Member ``p (P,)`` as ``{name: value}``."""
        return dict(zip(self.names, (float(v) for v in p)))

    def member(self, p) -> Problem:
        """The ordinary problem of member ``p (P,)`` (checked; the last few hundred are kept built)."""
        key = tuple(float(v) for v in self.check(p)[0].tolist())
        member = self._members.get(key)
        if member is None:
            member = self.base.member(self.values(key))
            self._members[key] = member
            if len(self._members) > MEMBER_CACHE:
                self._members.popitem(last=False)
        else:
            self._members.move_to_end(key)
        return member

    def member_options(self, p) -> dict:
        """Options that rebuild member ``p`` by the problem's registered name (those that differ
        from the problem's defaults)."""
        return self.member(p).changed_options()

    def sample(self, n: int, generator: Optional[torch.Generator] = None, dtype=torch.float32) -> Tensor:
        """``n`` parameter vectors drawn uniformly from the ranges: ``(n, P)``."""
        u = torch.rand(int(n), self.cond_features, generator=generator, dtype=torch.float64)
        return (self.low + u * (self.high - self.low)).to(dtype)

    def held_out(self, n: int, dtype=torch.float32) -> Tensor:
        """A fixed set of ``n`` members drawn from the family's own seed (never trained on)."""
        return self.sample(n, torch.Generator().manual_seed(self.held_out_seed), dtype)

    def member_batch(self, index: int, p: Tensor, n: int, generator: torch.Generator,
                     coefficients: Optional[dict] = None) -> Batch:
        """``n`` points of constraint ``index`` for each member of ``p (B, P)``, drawn by the
        members' own samplers and stacked: ``x (B, n, d)``, with ``p`` and ``param/<name> (B, 1, 1)``."""
        parts = []
        for row in p.double().tolist():
            con = self.member(row).constraints()[index]
            parts.append(con.sample(n, generator, coefficients))
        batch = stack_batches(parts)
        batch["p"] = p
        for j, name in enumerate(self.names):
            batch[f"param/{name}"] = p[:, j].reshape(-1, 1, 1)
        return batch

    def check(self, p) -> Tensor:
        """``p`` as a ``(B, P)`` tensor after checking its shape and, unless ``extrapolate``, that
        every parameter lies in its range (ValueError naming the parameter and the range)."""
        # numbers from Python (lists, the command line) stay float64: a member is named exactly
        p = p if torch.is_tensor(p) else torch.as_tensor(p, dtype=torch.float64)
        if p.ndim == 1:
            p = p[None]
        if p.ndim != 2 or p.shape[1] != self.cond_features:
            raise ValueError(f"{self.name}: parameters must be ({self.cond_features},) or (B, {self.cond_features}) "
                             f"for {', '.join(self.names)}; got shape {tuple(p.shape)}")
        if not torch.isfinite(p).all():
            raise ValueError(f"{self.name}: parameters must be finite, got {p.tolist()}")
        if not self.extrapolate:
            lo, hi = self.low.to(p.dtype), self.high.to(p.dtype)
            for j, name in enumerate(self.names):
                bad = (p[:, j] < lo[j]) | (p[:, j] > hi[j])
                if bad.any():
                    value = float(p[bad.nonzero()[0, 0], j])
                    raise ValueError(f"{self.name}: {name} = {value:g} is outside the trained range "
                                     f"[{float(lo[j]):g}, {float(hi[j]):g}]; pass extrapolate=True (command line: --extrapolate) to allow it")
        return p

    def condition(self, p: Tensor) -> Tensor:
        """The condition ``z (B, P)`` a model reads: each parameter mapped from its range to [-1, 1]."""
        lo, hi = self.low.to(p.dtype).to(p.device), self.high.to(p.dtype).to(p.device)
        return 2.0 * (p - lo) / (hi - lo) - 1.0

    def coefficients(self, step=None, steps=None) -> dict:
        """The problem's curriculum (the same for every member)."""
        return self.base.coefficients(step, steps)

    # -- evaluation -----------------------------------------------------------------------------
    def predict(self, model, p):
        """The plain Siren of member ``p (P,)`` from a conditioned ``model`` (range checked)."""
        p = self.check(p)
        dtype = next(model.parameters()).dtype
        return model.instance(self.condition(p.to(dtype))[0])

    def metrics(self, model, p, metric: str = "rel_l2") -> dict:
        """Each member's own ``metrics()[metric]`` for its predicted Siren, with the median and 90th
        percentile: ``{"rel_l2": [B floats], "median": float, "p90": float}``."""
        p = self.check(p)
        was = model.training
        model.eval()
        err = []
        for row in p:
            values = self.member(row).metrics(self.predict(model, row))
            if metric not in values:
                raise ValueError(f"{self.name}: problem {self.base.name!r} reports no {metric!r} metric")
            err.append(float(values[metric]))
        model.train(was)
        return {metric: err, "median": float(np.median(err)), "p90": float(np.percentile(err, 90))}

    def __repr__(self) -> str:
        ranges = ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in self.parameters.items())
        return f"Family({self.name!r}: {self.base.name} with {ranges})"
