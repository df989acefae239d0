"""The Problem API: domains, constraints, and the base class every problem derives from.

A problem is a list of constraints. Each constraint draws its own points, evaluates the
network's field there with the derivatives it declares, and turns a residual into a loss::

    Constraint("pde", sampler=box.sampler(), order=2, second="laplacian",
               residual=lambda u, batch: u.laplacian + k**2 * u.value - f(u.x))
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

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


# -- identity: what makes two problems (or families) the same -----------------------------------
_OPTIONS = "_constructor_options"  # instance attribute: the outermost constructor's arguments
_BUILDING = "_constructor_running"  # set while that constructor runs (inner super() calls skip)


class RecordsOptions:
    """Records the arguments its (outermost) constructor was called with, so the object's
    identity is derived from all of its options instead of a hand-written list.

    Every subclass's ``__init__`` is wrapped when the class is defined: the outermost call binds
    its arguments against the signature, with the defaults applied (``**kwargs`` flattened), and
    stores them after the constructor returns; calls through ``super().__init__`` record nothing.
    Assigning an attribute named like an option after construction (``problem.absorption = 0``)
    updates the record, so a problem changed between two ``fit`` calls is another run.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_records_options", False):
            cls.__init__ = _recording(init)

    def __setattr__(self, name: str, value) -> None:
        record = self.__dict__.get(_OPTIONS)
        if record is not None and name in record:
            record[name] = value
        super().__setattr__(name, value)

    @property
    def constructor_options(self) -> dict:
        """Every argument of the constructor by name, defaults applied (a copy; values as given)."""
        return dict(self.__dict__.get(_OPTIONS, {}))

    def changed_options(self) -> dict:
        """The options that differ from their defaults: enough to rebuild the object by name."""
        init = type(self).__init__
        defaults = {k: p.default for k, p in inspect.signature(init).parameters.items()
                    if p.default is not inspect.Parameter.empty}
        return {k: v for k, v in self.constructor_options.items()
                if k not in defaults or fingerprint(v) != fingerprint(defaults[k])}

    def identity(self) -> dict:
        """Plain data that is equal for two objects built alike: the class, the name and every
        constructor option (arrays, tensors and objects by content, see :func:`fingerprint`)."""
        return {"class": type(self).__qualname__, "name": getattr(self, "name", None),
                "options": fingerprint(self.constructor_options)}


def _recording(init):
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if self.__dict__.get(_BUILDING):
            return init(self, *args, **kwargs)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return init(self, *args, **kwargs)  # the constructor's own error for a bad call
        bound.apply_defaults()
        options = {}
        for i, (name, value) in enumerate(bound.arguments.items()):
            kind = signature.parameters[name].kind
            if i == 0:
                continue  # self
            if kind is inspect.Parameter.VAR_KEYWORD:
                options.update(value)
            else:
                options[name] = list(value) if kind is inspect.Parameter.VAR_POSITIONAL else value
        object.__setattr__(self, _BUILDING, True)
        try:
            init(self, *args, **kwargs)
        finally:
            self.__dict__.pop(_BUILDING, None)
        object.__setattr__(self, _OPTIONS, options)

    __init__._records_options = True
    return __init__


def identity(obj) -> dict:
    """The identity of a problem for a checkpoint: :meth:`RecordsOptions.identity`, or for an
    object that does not record its options (a duck-typed problem of the training session) its
    class, name and public attributes, by content."""
    if isinstance(obj, RecordsOptions):
        return obj.identity()
    return {"class": type(obj).__qualname__, "name": getattr(obj, "name", None),
            "attributes": fingerprint(_public(obj))}


def fingerprint(value, _seen: Optional[set] = None):
    """``value`` as plain data that compares equal exactly when the values are the same.

    Numbers, strings, None and booleans stay as they are (a non-finite float becomes its
    string); lists and tuples become lists. A string or path naming an existing file becomes
    ``{"file", "sha256"}``, the name with a hash of the contents. Arrays and tensors become
    ``{"sha256", "shape", "dtype"}`` of their bytes (a numpy array and a tensor with the same
    content and dtype alike). An object recording its options gives its :meth:`identity`; a
    dataclass its fields; a mesh (``vertices`` and ``faces``) and an ``nn.Module`` (its
    ``state_dict``) their arrays; a function or class its ``module:qualname``; any other object
    its public attributes.
    """
    seen = set() if _seen is None else _seen
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        # a file's name stands for its data: the same path with other contents is another run
        return {"file": value, "sha256": _file_sha256(value)} if os.path.isfile(value) else value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, complex):
        return {"complex": [fingerprint(value.real), fingerprint(value.imag)]}
    if isinstance(value, np.generic):
        return fingerprint(value.item(), seen)
    if isinstance(value, (np.ndarray, Tensor)):
        return _array_fingerprint(value, seen)
    if id(value) in seen:
        return {"cycle": type(value).__qualname__}
    seen = seen | {id(value)}
    if isinstance(value, (list, tuple)):
        return [fingerprint(v, seen) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((fingerprint(v, seen) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): fingerprint(v, seen) for k, v in value.items()}
    if isinstance(value, RecordsOptions):
        return value.identity()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__qualname__,
                **{f.name: fingerprint(getattr(value, f.name), seen) for f in dataclasses.fields(value)}}
    if hasattr(value, "vertices") and hasattr(value, "faces"):
        return {"type": type(value).__qualname__, "vertices": fingerprint(np.asarray(value.vertices), seen),
                "faces": fingerprint(np.asarray(value.faces), seen)}
    if isinstance(value, torch.nn.Module):
        return {"type": type(value).__qualname__, "state": fingerprint(dict(value.state_dict()), seen)}
    if isinstance(value, functools.partial):
        return {"partial": fingerprint(value.func, seen), "args": fingerprint(value.args, seen),
                "keywords": fingerprint(value.keywords, seen)}
    if callable(value) and hasattr(value, "__qualname__"):
        return {"callable": f"{getattr(value, '__module__', '')}:{value.__qualname__}"}
    if hasattr(value, "__dict__"):
        return {"type": type(value).__qualname__, "attributes": fingerprint(_public(value), seen)}
    return {"type": type(value).__qualname__, "repr": repr(value)}


def _array_fingerprint(value, seen) -> dict:
    if isinstance(value, np.ndarray) and value.dtype == object:
        return {"array": fingerprint(value.tolist(), seen), "shape": list(value.shape)}
    if isinstance(value, Tensor):
        t = value.detach().cpu().contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        dtype = str(t.dtype).removeprefix("torch.")
    else:
        data, dtype = np.ascontiguousarray(value).tobytes(), str(value.dtype)
    return {"sha256": hashlib.sha256(data).hexdigest(), "shape": list(value.shape), "dtype": dtype}


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _public(obj) -> dict:
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


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
    model_kwargs: dict = {}

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
