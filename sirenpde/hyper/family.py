"""Families of problems: a problem with parameters, for a conditioned model to learn at once.

A :class:`Family` names its parameters and their ranges, draws parameter vectors ``p (n, P)``
(with a fixed held-out set from its own seed), and has constraints whose residuals read ``p``
from the batch. A family batch leads with the instance axis: ``batch["x"] (B, n, d)`` and
``batch["p"] (B, P)``, and a family constraint's sampler is called as ``sampler(p, n, generator)``
(``n`` points for each of the ``B`` members); otherwise it is an ordinary
:class:`~sirenpde.problem.Constraint` (name, order, second, weight, share, reduction, ``loss``).
``instance(p)`` is the ordinary single :class:`~sirenpde.problem.Problem` of one member.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor

from sirenpde.problem import Constraint, Problem, RecordsOptions


class Family(RecordsOptions):
    """Base class of the families; subclasses set the attributes and the methods that raise.

    Like a problem, a family records its constructor's arguments (:class:`RecordsOptions`):
    :meth:`options` and :meth:`identity` are derived from them, never listed by hand.

    Attributes
    ----------
    name : str
    in_features, out_features : int, of every member's field
    parameters : dict name -> (low, high), the trained range of each parameter, in order
    held_out_seed : int, seed of :meth:`held_out`
    extrapolate : bool, allow parameters outside the ranges (a constructor argument)
    """

    name: str = "family"
    in_features: int = 2
    out_features: int = 1
    parameters: dict[str, tuple[float, float]] = {}
    held_out_seed: int = 20260101
    model_kwargs: dict = {}  # the Siren's size and frequencies for this family's conditioned model
    default_steps, default_instances, default_points, default_lr = 2000, 16, 256, 1e-3

    def __init__(self, extrapolate: bool = False):
        self.extrapolate = bool(extrapolate)
        self.low = torch.tensor([lo for lo, _ in self.parameters.values()], dtype=torch.float64)
        self.high = torch.tensor([hi for _, hi in self.parameters.values()], dtype=torch.float64)

    def make_model(self, mode: str = "film", seed: Optional[int] = None, **overrides):
        """A conditioned Siren (``mode`` film, full or concat) sized for this family; with ``seed``
        its weights are drawn under that seed in a forked RNG state."""
        from sirenpde.hyper.conditioned import conditioned_siren

        kwargs = {**self.model_kwargs, **overrides}
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(int(seed))
            return conditioned_siren(mode, self.in_features, self.out_features, self.cond_features, **kwargs)

    def model_field(self, value: Tensor, x: Tensor, p: Tensor) -> Tensor:
        """The member's field from the model's output ``value (B, n, m)`` at ``x`` (a family that
        trains on a field minus a known part adds it back here; the identity by default)."""
        return value

    def instance_options(self, p) -> dict:
        """Options that rebuild the member problem ``instance(p)`` by its registered name (stored
        with a predicted model): the member's constructor options that differ from their defaults."""
        return self.instance(p).changed_options()

    def options(self) -> dict:
        """Constructor arguments besides ``extrapolate``, enough to rebuild the family (for saving)."""
        return {k: v for k, v in self.constructor_options.items() if k != "extrapolate"}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.parameters)

    @property
    def cond_features(self) -> int:
        """Length of a parameter vector, and of the condition made from it."""
        return len(self.parameters)

    # -- parameters ---------------------------------------------------------------------------
    def sample(self, n: int, generator: Optional[torch.Generator] = None, dtype=torch.float32) -> Tensor:
        """``n`` parameter vectors drawn uniformly from the ranges: ``(n, P)``."""
        u = torch.rand(int(n), self.cond_features, generator=generator, dtype=torch.float64)
        return (self.low + u * (self.high - self.low)).to(dtype)

    def held_out(self, n: int, dtype=torch.float32) -> Tensor:
        """A fixed set of ``n`` members drawn from the family's own seed (never trained on)."""
        return self.sample(n, torch.Generator().manual_seed(self.held_out_seed), dtype)

    def member_references(self, x: Tensor, p, solve) -> np.ndarray:
        """``solve(points (n, d) float64, member list)`` for every member ``b`` at ``x[b]`` (or the
        shared ``x (n, d)``), stacked: ``(B, n, ...)``. Results at shared points (the metric grid
        recurs at every evaluation) are cached per member in ``self._reference_cache``."""
        p = self.check(p)
        pts = x.detach().cpu().double().numpy()
        cache = self.__dict__.setdefault("_reference_cache", {})
        out = []
        for b, member in enumerate(p.double().tolist()):
            at = pts if pts.ndim == 2 else pts[b]
            key = (tuple(member), at.shape, at.tobytes()) if at is pts else None
            if key is not None and key in cache:
                out.append(cache[key])
                continue
            u = solve(at, member)
            if key is not None:
                cache[key] = u
            out.append(u)
        return np.stack(out)

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
        self.check_valid(p)
        return p

    def check_valid(self, p: Tensor) -> None:
        """Refuse parameters that make no sense even when extrapolating (override as needed)."""

    def condition(self, p: Tensor) -> Tensor:
        """The condition ``z (B, P)`` a model reads: each parameter mapped from its range to [-1, 1]."""
        lo, hi = self.low.to(p.dtype).to(p.device), self.high.to(p.dtype).to(p.device)
        return 2.0 * (p - lo) / (hi - lo) - 1.0

    # -- to be specialised --------------------------------------------------------------------
    def constraints(self) -> list[Constraint]:
        """Constraints whose samplers are ``(p, n, generator) -> batch`` and whose residuals read
        ``batch["p"] (B, P)`` beside the field at ``batch["x"] (B, n, d)``."""
        raise NotImplementedError

    def reference(self, x: Tensor, p: Tensor) -> Tensor:
        """The solution of member ``b`` at ``x[b]``: ``(B, n, out_features)`` (``x (n, d)`` is shared)."""
        raise NotImplementedError

    def metric_points(self) -> Tensor:
        """Points ``(n, d)`` at which :meth:`metrics` compares with the reference."""
        raise NotImplementedError

    def instance(self, p) -> Problem:
        """The ordinary single problem of the member ``p (P,)``."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def metrics(self, model, p) -> dict:
        """Relative L2 error per member on :meth:`metric_points`, with its median and 90th percentile.

        ``model`` is a conditioned model, called as ``model(z, x)`` with ``z = condition(p)``.
        Returns ``{"rel_l2": [B floats], "median": float, "p90": float}``.
        """
        p = self.check(p)
        x = self.metric_points()
        ref = self.reference(x, p).double()
        dtype = next(model.parameters()).dtype
        device = next(model.parameters()).device
        with torch.no_grad():
            u = model(self.condition(p.to(dtype).to(device)), x.to(dtype).to(device)).double().cpu()
        u = self.model_field(u, x.double(), p.double())
        err = ((u - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)).tolist()
        return {"rel_l2": err, "median": float(np.median(err)), "p90": float(np.percentile(err, 90))}
