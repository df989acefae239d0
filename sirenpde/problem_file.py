"""Problems defined in a user's own file: ``FILE.py:NAME`` (``sirenpde solve FILE.py:NAME``).

``NAME`` is a :class:`~sirenpde.problem.Problem` object defined at the top level of ``FILE.py``, or a
function (or Problem class) that returns one; ``-O key=value`` options are passed to the function as
keyword arguments. The file is run as a module named ``sirenpde_file_<stem>`` (not ``__main__``,
so code under ``if __name__ == "__main__":`` does not run), with its folder first on ``sys.path``
while it runs so it can import its neighbours. A saved ``model.pt`` records the file's absolute path,
so :func:`sirenpde.load` rebuilds the problem from the same file.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Optional

SPEC = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


def is_file_spec(text: str) -> bool:
    """Whether ``text`` reads ``FILE.py:NAME``."""
    return isinstance(text, str) and SPEC.match(text) is not None


def absolute_spec(text: str) -> str:
    """``FILE.py:NAME`` with ``FILE`` made absolute (what a saved model records)."""
    m = SPEC.match(text)
    return f"{Path(m['file']).resolve()}:{m['name']}"


def load_problem_file(text: str, options: Optional[dict] = None):
    """The problem ``FILE.py:NAME`` names (see the module docstring). ``FileNotFoundError`` for a
    missing file, ``ValueError`` for a missing name or an object that is not a problem."""
    from sirenpde.problem import Problem

    m = SPEC.match(text)
    if m is None:
        raise ValueError(f"expected FILE.py:NAME, got {text!r}")
    path, name = Path(m["file"]), m["name"]
    if not path.is_file():
        raise FileNotFoundError(f"{text}: file not found: {str(path)!r}")
    module = _run_file(path)
    options = dict(options or {})
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Problem))
        hint = f"; its problems: {', '.join(found)}" if found else "; it defines no Problem object"
        raise ValueError(f"{text}: {path.name} has no {name!r}{hint}")
    obj = getattr(module, name)
    if isinstance(obj, Problem):
        if options:
            raise ValueError(f"{text}: {name} is a problem object, so it takes no -O options "
                             f"(got {', '.join(sorted(options))}); make it a function of them")
        return obj
    builds = callable(obj) and (not isinstance(obj, type) or issubclass(obj, Problem))
    if not builds:
        raise ValueError(f"{text}: {name} is a {type(obj).__name__}, not a Problem (sp.PDE(...)) or a function "
                         f"returning one")
    try:
        problem = obj(**options)
    except TypeError as err:
        if options:
            raise ValueError(f"{text}: {name} does not take the options {sorted(options)}: {err}") from None
        raise
    if not isinstance(problem, Problem):
        raise ValueError(f"{text}: {name}() returned a {type(problem).__name__}, not a Problem (sp.PDE(...))")
    return problem


def _run_file(path: Path):
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"sirenpde_file_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module
