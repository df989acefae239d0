"""The Problem API: domains, constraints, and the base class every problem derives from.

A problem is a list of constraints. Each constraint draws its own points, evaluates the
network's field there with the derivatives it declares, and turns a residual into a loss::

    Constraint("pde", sampler=box.sampler(), order=2, second="laplacian",
               residual=lambda u, batch: u.laplacian + k**2 * u.value - f(u.x))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from sirenpde.identity import RecordsOptions, fingerprint, identity  # noqa: F401 (part of this API)
from sirenpde.jets import SECOND
from sirenpde.nn import make_model

Batch = dict[str, Tensor]
Sampler = Callable[[int, torch.Generator], Batch]
REDUCTIONS = ("mse", "l1", "mean")


class Box:
    """An axis-aligned box ``[low, high]`` in ``d`` dimensions."""

    def __init__(self, low: Sequence[float], high: Sequence[float]):
        self.low = torch.as_tensor(low, dtype=torch.float32).reshape(-1)
        self.high = torch.as_tensor(high, dtype=torch.float32).reshape(-1)
        if self.low.shape != self.high.shape:
            raise ValueError(f"Box: low and high differ in length: {self.low.tolist()} vs {self.high.tolist()}")
        if not torch.all(self.high > self.low):
            raise ValueError(f"Box: every high must exceed its low, got low={self.low.tolist()}, "
                             f"high={self.high.tolist()}")

    @property
    def dim(self) -> int:
        return self.low.numel()

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``n`` points uniformly in the box: ``(n, d)`` float32."""
        u = torch.rand(n, self.dim, generator=generator)
        return self.low + u * (self.high - self.low)

    def sample_boundary(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``n`` points uniformly on the boundary (faces weighted by their area): ``(n, d)``."""
        x = self.sample(n, generator)
        extent = self.high - self.low
        face_area = torch.stack([extent.prod() / extent[i] for i in range(self.dim)])
        axis = torch.multinomial(face_area.repeat(2), n, replacement=True, generator=generator)
        side, axis = axis // self.dim, axis % self.dim
        rows = torch.arange(n)
        x[rows, axis] = torch.where(side == 0, self.low[axis], self.high[axis])
        return x

    def grid(self, shape: Sequence[int]) -> Tensor:
        """A regular grid including the corners: ``(prod(shape), d)``, first axis slowest."""
        if len(shape) != self.dim:
            raise ValueError(f"Box.grid: need {self.dim} sizes, got {list(shape)}")
        axes = [torch.linspace(float(a), float(b), int(s)) for a, b, s in zip(self.low, self.high, shape)]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, self.dim)

    def sampler(self) -> Sampler:
        return lambda n, generator: {"x": self.sample(n, generator)}


@dataclass
class Constraint:
    """One term of the loss.

    Parameters
    ----------
    name : str
        Shown in the loss history and progress bar.
    sampler : callable ``(n, generator) -> dict``
        Draws a batch: ``"x"`` is ``(n, in_features)``; other entries (targets, normals)
        share the leading ``n``.
    residual : callable ``(u, batch) -> tensor``
        ``u`` is the :class:`~sirenpde.fields.Field` at ``batch["x"]``.
    order : int
        Highest derivative order the residual reads (0, 1 or 2).
    second : {"diagonal", "laplacian", "hessian"}
        For order 2, which second derivatives the jets carry ("laplacian" is cheapest).
    weight : float
        Multiplies the loss.
    share : float
        Relative share of each batch's points.
    reduction : {"mse", "l1", "mean"}
        Loss from the residual r: mean(r**2), mean(|r|) or mean(r).
    curriculum : bool
        The sampler reads the problem's current curriculum coefficients: it is called as
        ``sampler(n, generator, coefficients)`` (see :meth:`Problem.coefficients`).
    """

    name: str
    sampler: Sampler
    residual: Callable[[Any, Batch], Tensor]
    order: int = 0
    weight: float = 1.0
    share: float = 1.0
    reduction: str = "mse"
    second: str = "diagonal"
    hessian: bool = False
    curriculum: bool = False

    def __post_init__(self):
        if self.order not in (0, 1, 2):
            raise ValueError(f"constraint {self.name!r}: order must be 0, 1 or 2, got {self.order!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"constraint {self.name!r}: reduction must be one of {REDUCTIONS}, "
                             f"got {self.reduction!r}")
        if self.hessian:
            self.second = "hessian"
        if self.second not in SECOND:
            raise ValueError(f"constraint {self.name!r}: second must be one of {SECOND}, got {self.second!r}")
        if not (self.share > 0 and np.isfinite(self.share)):
            raise ValueError(f"constraint {self.name!r}: share must be positive, got {self.share!r}")
        if not np.isfinite(self.weight):
            raise ValueError(f"constraint {self.name!r}: weight must be finite, got {self.weight!r}")

    def sample(self, n: int, generator: torch.Generator, coefficients: Optional[dict] = None) -> Batch:
        """A batch of ``n`` points with the curriculum's ``coefficients`` merged in (residuals read
        them from the batch, e.g. ``batch["absorption"]``)."""
        coefficients = dict(coefficients or {})
        batch = self.sampler(n, generator, coefficients) if self.curriculum else self.sampler(n, generator)
        if torch.is_tensor(batch):
            batch = {"x": batch}
        if not isinstance(batch, dict) or "x" not in batch:
            raise ValueError(f"constraint {self.name!r}: sampler must return a dict with key 'x'")
        return {**coefficients, **batch}

    def loss(self, r: Tensor) -> Tensor:
        if self.reduction == "mse":
            return r.square().mean()
        if self.reduction == "l1":
            return r.abs().mean()
        return r.mean()


class Problem(RecordsOptions):
    """Base class of every problem. Subclasses set the attributes and ``constraints()``.

    A problem's identity (what a checkpoint must match) is :meth:`identity`: its class, name and
    every argument its constructor was called with (see :class:`RecordsOptions`).

    Attributes
    ----------
    name : str
    in_features, out_features : int
    default_steps, default_batch_size : int
    default_lr : float
    default_schedule : None or a schedule name (see :func:`sirenpde.fit`)
    default_adam_options : extra Adam arguments (e.g. betas) used when ``fit`` gets no
        ``optimizer_options`` and the optimizer is Adam
    default_lbfgs_steps : L-BFGS steps after the first optimiser's (0: none)
    default_lbfgs_batch_size : points per L-BFGS step (None: the batch size)
    """

    name: str = "problem"
    in_features: int = 1
    out_features: int = 1
    default_steps: int = 1000
    default_batch_size: int = 4096
    default_lr: float = 1e-4
    default_schedule: Optional[str] = None
    default_adam_options: dict = {}
    default_lbfgs_steps: int = 0
    default_lbfgs_batch_size: Optional[int] = None
    default_balance: Optional[str] = None  # loss balancing fit uses by default (training/balance.py)
    model_kwargs: dict = {}
    # options that may vary across a family (sirenpde.hyper.Family), with their default ranges
    parameter_ranges: dict = {}

    # -- members of a family -----------------------------------------------------------------------
    def member_options(self, values: dict) -> dict:
        """Constructor options that set the parameters ``values`` (name -> number); by default a
        parameter is the option of the same name."""
        return dict(values)

    def member(self, values: dict) -> "Problem":
        """This problem with the parameters ``values`` (name -> number) and every other option kept.

        Rule for a problem that can be a family's member (docs/ARCHITECTURE.md): its residuals read
        what depends on a parameter from the batch (its samplers put it there, per point), and work
        on fields and batches with leading instance axes ``(..., n, ...)``; then one residual serves a
        single problem and a stack of members."""
        unknown = sorted(set(values) - set(self.parameter_ranges))
        if unknown and self.parameter_ranges:
            raise ValueError(f"{self.name}: {unknown[0]!r} is not a parameter; its parameters are "
                             f"{', '.join(self.parameter_ranges)}")
        return type(self)(**{**self.constructor_options, **self.member_options(values)})

    def solution(self, model, x: Tensor) -> Tensor:
        """The solution a trained ``model`` represents at ``x (n, d)``: ``(n, out_features)`` float64
        (a problem that trains on a field minus a known part adds it back here)."""
        from sirenpde.evaluate import evaluate

        return torch.as_tensor(evaluate(model, x)["value"], dtype=torch.float64).reshape(len(x), -1)

    def region(self) -> tuple[list, list]:
        """Low and high corners of the region plots of this problem show."""
        domain = getattr(self, "domain", None)
        if domain is not None:
            low, high = domain.bbox
            return [float(v) for v in low], [float(v) for v in high]
        return [-1.0] * self.in_features, [1.0] * self.in_features

    def make_model(self, name: str = "siren", seed: Optional[int] = None, **overrides):
        """A built-in model sized for this problem, with the problem's defaults for that model
        (``model_kwargs[name]``, e.g. a high first-layer frequency for audio) under ``overrides``.

        With ``seed`` the initial weights are drawn from torch's RNG seeded with it inside a
        forked RNG state, so the same seed gives the same model and torch's global RNG is left
        as it was."""
        kwargs = {**self.model_kwargs.get(name, {}), **overrides}
        if seed is None:
            return make_model(name, self.in_features, self.out_features, **kwargs)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return make_model(name, self.in_features, self.out_features, **kwargs)

    def constraints(self) -> list[Constraint]:
        raise NotImplementedError

    def reference(self, x: Tensor) -> Tensor:
        """Exact or high-accuracy solution at ``x``: ``(n, out_features)``."""
        raise NotImplementedError(f"problem {self.name!r} has no reference solution")

    def metrics(self, model) -> dict[str, float]:
        """Numbers a user wants about a fitted model (error against the reference...)."""
        return {}

    def fields(self, model) -> dict[str, np.ndarray]:
        """Arrays on a plotting grid, saved to ``.h5`` by the command line."""
        return {}

    def figure(self, model, history: dict[str, list[float]]):
        """A matplotlib figure summarising the fit, or None."""
        return None

    def write_outputs(self, model, folder) -> list:
        """Files the problem writes into ``folder`` beside ``solution.h5`` and its figure (a video
        writes the fitted clip); returns their paths. None by default."""
        return []

    def coefficients(self, step: Optional[int] = None, steps: Optional[int] = None) -> dict:
        """The curriculum's coefficients before step ``step`` of ``steps`` (the first phase's
        steps), or their final values when ``step`` is None. The training loop merges them into
        every batch, so residuals read them from the batch and the problem object never changes
        during training. No curriculum by default: ``{}``."""
        return {}

    def describe(self) -> dict:
        """Parameters worth writing to metadata (not the identity: see :meth:`identity`)."""
        return {"name": self.name}


def split_batch(constraints: Sequence[Constraint], batch_size: int) -> list[int]:
    """Points per constraint for a batch of ``batch_size`` (at least one each)."""
    shares = np.array([c.share for c in constraints], dtype=float)
    counts = np.maximum(1, np.round(batch_size * shares / shares.sum()).astype(int))
    return counts.tolist()
