"""PEP 562 lazy attributes for package front doors: names are listed, modules load on first use."""
from __future__ import annotations

import importlib
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str],
                 submodules: tuple[str, ...] = ()) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package`` whose public names live in other modules.

    ``exports`` maps a public name to the module defining it; the module is imported when the name
    is first read, and the value cached in the package's namespace. ``submodules`` are imported
    when read as attributes (``package.sub`` without an ``import package.sub`` first).
    """
    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")  # the import binds it on the package
        module = exports.get(name)
        if module is None:
            # AttributeError lets `from package import submodule` fall back to importing the submodule
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(exports) | set(submodules))

    return __getattr__, __dir__
