"""Identity derived, not listed: what makes two problems (or families) the same run.

A checkpoint may only be resumed by the run that wrote it, and "the same run" must not depend on a
list of options someone remembered to write: :class:`RecordsOptions` records every argument a
constructor was called with, and :func:`fingerprint` turns them (arrays, point clouds and input
files by content) into plain data that compares equal exactly when the values are the same.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import math
import os
from typing import Optional

import numpy as np
import torch
from torch import Tensor

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
