"""Choices by name: one registry idiom for models, problems, optimisers, schedules, engines, noise.

A :class:`Registry` maps a name to what it stands for. An entry is either a target
``"module:attribute"``, imported on the first lookup, or a plain value (a setting that is only a
name, such as a derivative engine). The names themselves cost nothing to read, so the command
line builds its ``choices`` and defaults from the registries below without importing torch.

A bad name raises :class:`UnknownName`, which is a ``ValueError`` (bad input) and a ``KeyError``
(a missing key, for code written against a dict), with a message listing the valid names.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Optional


class UnknownName(KeyError, ValueError):
    """A name that a :class:`Registry` does not hold."""

    def __str__(self) -> str:  # KeyError's own str() would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(MutableMapping):
    """Names of one kind of choice, each mapped to a lazily imported target or a plain value.

    Parameters
    ----------
    kind : str, what one entry is ("model", "derivative engine"); used in messages
    entries : mapping name -> ``"module:attribute"`` (imported on lookup), or an iterable of
        names that stand for themselves
    default : str, optional, the name used when a caller gives none (must be an entry)
    """

    def __init__(self, kind: str, entries: Mapping[str, str] | Iterable[str], *,
                 default: Optional[str] = None):
        self.kind = kind
        # name -> (True, "module:attribute") until first looked up, then (False, the object)
        self._entries: dict[str, tuple[bool, Any]] = {}
        if isinstance(entries, Mapping):
            for name, target in entries.items():
                self.register(name, target)
        else:
            for name in entries:
                self._entries[str(name)] = (False, str(name))
        if default is not None and default not in self:
            raise ValueError(f"{kind} registry: default {default!r} is not one of {', '.join(self)}")
        self.default = default

    def register(self, name: str, target: str) -> None:
        """Add ``name`` for the object at ``target`` = ``"module:attribute"`` (imported on lookup)."""
        module, sep, attr = target.partition(":")
        if not (module and sep and attr):
            raise ValueError(f"{self.kind} registry: target for {name!r} must read 'module:attribute', "
                             f"got {target!r}")
        self._entries[name] = (True, target)

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def check(self, name: str) -> str:
        """``name`` if registered, else :class:`UnknownName` listing the valid names."""
        if name not in self._entries:
            raise UnknownName(f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self._entries)}")
        return name

    def __getitem__(self, name: str) -> Any:
        lazy, payload = self._entries[self.check(name)]
        if lazy:
            module, _, attr = payload.partition(":")
            payload = getattr(importlib.import_module(module), attr)
            self._entries[name] = (False, payload)
        return payload

    def __setitem__(self, name: str, value: Any) -> None:
        self._entries[name] = (False, value)

    def __delitem__(self, name: str) -> None:
        del self._entries[self.check(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, [{', '.join(self._entries)}])"


# The package's registries. Their names are read by the command line, so this module imports
# nothing heavy; the objects load on lookup.
MODELS = Registry("model", {
    "siren": "sirenpde.nn:Siren",
    "relu": "sirenpde.nn:ReLUMLP",
    "relu-pe": "sirenpde.nn:PositionalEncodingMLP",
    "tanh": "sirenpde.nn:TanhMLP",
    "fourier": "sirenpde.nn:FourierFeatureMLP",
}, default="siren")
# how sirenpde.fields.field takes derivatives; "auto" picks one per model and order
ENGINES = Registry("derivative engine", ("auto", "jet", "reverse", "autograd"), default="auto")
# "gauss-newton" is Levenberg-Marquardt on the least-squares loss (sirenpde.training.gauss_newton),
# not a torch optimiser; the problem's default_optimizer picks when none is given
OPTIMIZERS = Registry("optimizer", ("adam", "lbfgs", "gauss-newton"), default="adam")
SCHEDULES = Registry("schedule", ("cosine", "warmup-cosine", "exponential", "step"))
BALANCES = Registry("loss balance", ("none", "gradnorm", "gradmax"))  # sirenpde.training.balance.BALANCES
# fit_sdf's weighting of the on-surface term: the paper's, a looser one, or picked by roughness
NOISE_SETTINGS = Registry("noise setting", ("auto", "clean", "noisy"), default="auto")
# fit_sdf's quality levels (sirenpde.shapes.recipe): time against accuracy
QUALITIES = Registry("quality level", ("fast", "default", "best"), default="default")
