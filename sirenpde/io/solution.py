"""A solved problem you can load again: ``model.pt`` and :func:`load`.

``save_model(path, model, problem_name, options, ...)`` writes the trained weights with the model's
configuration, the problem's name and options and the metrics, in sirenpde's verified archive
format (:mod:`sirenpde.io.archive`). ``load(path)`` returns a :class:`Solution`: call it on points
for values, ask it for derivatives, its problem and its metrics.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from sirenpde.fields import Field, field
from sirenpde.io.archive import build_network, plain_data, read_archive, stored_dtype, write_archive
from sirenpde.nn import model_config

FORMAT = "sirenpde-solution-1"
WHAT = "saved sirenpde solution (model.pt)"


def save_model(path, model: nn.Module, problem_name: str, options: dict, model_name: str = "siren",
               model_kwargs: Optional[dict] = None, metrics: Optional[dict] = None,
               info: Optional[dict] = None) -> Path:
    """Write ``model`` as a loadable solution of ``problem_name`` with ``options``.

    A built-in network is stored with its configuration and loads without the problem; a wrapped
    one (a hard boundary condition, a shape's normalisation) is rebuilt on load by
    ``get_problem(problem_name, **options).make_model(model_name, **model_kwargs)``."""
    try:
        network = model_config(model)
    except ValueError:
        network = None
    from sirenpde import __version__

    return write_archive(path, {
        "format": FORMAT,
        "version": __version__,
        "problem": {"name": str(problem_name), "options": plain_data(dict(options))},
        "model": {"name": model_name, "kwargs": plain_data(dict(model_kwargs or {})), "network": network},
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "metrics": plain_data(dict(metrics or {})),
        "info": plain_data(dict(info or {})),
    })


class Solution:
    """A trained model together with the problem it solves.

    Attributes
    ----------
    model : the network (in eval mode, on the CPU unless moved)
    problem_name : str; options : dict, the problem's options
    metrics : dict, the metrics measured when it was saved
    info : dict, what else was recorded (steps, times, machine)
    """

    def __init__(self, model: nn.Module, problem_name: str, options: dict, metrics: dict, info: dict):
        self.model, self.problem_name, self.options = model, problem_name, options
        self.metrics, self.info = metrics, info
        self._problem = None

    @property
    def problem(self):
        """The problem it solves, rebuilt from its name and options on first use (a registered
        name, or the ``FILE.py:NAME`` of a problem defined in a file, which is run again)."""
        if self._problem is None:
            self._problem = rebuild_problem(self.problem_name, self.options)
        return self._problem

    @property
    def in_features(self) -> int:
        return int(self.model.in_features)

    def _points(self, x) -> torch.Tensor:
        t = torch.as_tensor(x)
        param = next(self.model.parameters())
        if t.ndim != 2 or t.shape[1] != self.in_features:
            raise ValueError(f"points must have shape (n, {self.in_features}) for {self.problem_name!r}, "
                             f"got {tuple(t.shape)}")
        return t.to(param.device, param.dtype)

    def __call__(self, x):
        """Values at points ``x (n, d)``: ``(n, m)``, numpy in, numpy out; tensors stay tensors."""
        with torch.no_grad():
            out = self.model(self._points(x))
        return out.cpu().numpy() if isinstance(x, np.ndarray) else out

    def field(self, x, order: int = 2, second: str = "diagonal", engine: str = "auto") -> Field:
        """Values and derivatives at ``x`` (see :func:`sirenpde.field`)."""
        return field(self.model, self._points(x), order=order, second=second, engine=engine)

    def evaluate(self, points, order: int = 0, chunk: int = 32768) -> dict[str, np.ndarray]:
        """Chunked evaluation: ``value (n, m)``, with order >= 1 ``grad (n, m, d)``, with order 2
        ``d2 (n, m, d)`` (the diagonal second derivatives) and ``laplacian (n, m)``."""
        return evaluate_chunks(self.model, self._points(points), order, chunk)

    @property
    def grid(self) -> tuple:
        """The sample grid of the data it was fitted on (an image's ``(H, W)``, a video's ``(T, H, W)``):
        recorded by ``sirenpde solve``, else read from the rebuilt problem; ``()`` for a problem
        without one."""
        if "grid" in self.info:
            return tuple(int(s) for s in self.info["grid"])
        return tuple(getattr(self.problem, "shape", ()))

    def render(self, size="1x", chunk: int = 65536) -> np.ndarray:
        """The fitted image or video on a grid of any resolution (see :func:`sirenpde.io.render.parse_size`):
        ``"4x"`` four times the fitted image's sides, ``"512x768"`` or ``(512, 768)`` an exact size.
        Returns ``shape`` (one output) or ``(*shape, C)``."""
        from sirenpde.io.render import check_shape, parse_size, render_grid

        base = self.grid
        if len(base) != self.in_features:
            raise ValueError(f"render: {self.problem_name!r} was not fitted on a grid of pixels or voxels")
        shape = check_shape(size) if isinstance(size, (tuple, list)) else parse_size(size, base, "size")
        if len(shape) != len(base):
            raise ValueError(f"render: {self.problem_name!r} renders {len(base)}-axis grids, got {shape}")
        offset = self.info.get("render_offset")
        if offset is None and "grid" not in self.info:  # a file without it: ask the problem
            offset = getattr(self.problem, "render_offset", lambda m: 0.0)(self.model)
        return render_grid(self.model, shape, chunk, float(offset or 0.0))

    def __repr__(self) -> str:
        return f"Solution({self.problem_name!r}, options={self.options}, metrics={self.metrics})"


def evaluate_chunks(model: nn.Module, x: torch.Tensor, order: int, chunk: int) -> dict[str, np.ndarray]:
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    parts: dict[str, list] = {}
    for i in range(0, len(x), chunk):
        u = field(model, x[i:i + chunk], order=order)
        got = {"value": u.value}
        if order >= 1:
            got["grad"] = u.jacobian
        if order == 2:
            got["d2"] = torch.stack([u.d2(i) for i in range(x.shape[1])], dim=-1)
            got["laplacian"] = u.laplacian
        for key, value in got.items():
            parts.setdefault(key, []).append(value.detach().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def rebuild_problem(name: str, options: dict):
    """The problem a saved model names: ``get_problem(name, **options)``, or for ``FILE.py:NAME``
    the problem defined in that file (:mod:`sirenpde.problem_file`)."""
    from sirenpde.problem_file import is_file_spec, load_problem_file

    if is_file_spec(name):
        return load_problem_file(name, options)
    from sirenpde.problems import get_problem

    return get_problem(name, **options)


def load(path, device: Union[str, torch.device] = "cpu", problem=None) -> Solution:
    """Read a ``model.pt`` written by ``sirenpde solve`` (or :func:`save_model`).

    ``problem``: the problem the model solves, when it cannot be rebuilt from the file's record (a
    :class:`sirenpde.PDE` built in Python and saved under its name): it builds a wrapped model
    (hard conditions) and becomes ``Solution.problem``."""
    state = read_archive(path, FORMAT, WHAT)
    for key in ("problem", "model", "state_dict", "metrics"):
        if key not in state:
            raise ValueError(f"{path}: {WHAT} lacks {key!r}")
    record, spec = state["problem"], state["model"]
    if spec.get("network") is not None:
        model = build_network(spec["network"], state["state_dict"], path, WHAT)
    else:
        if problem is None:  # a wrapped model (hard conditions) is rebuilt by its problem
            problem = rebuild_problem(record["name"], record["options"])
        model = problem.make_model(spec["name"], **spec["kwargs"])
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if expected != {k: tuple(v.shape) for k, v in state["state_dict"].items()}:
            raise ValueError(f"{path}: {WHAT}'s weights do not fit the model its problem builds")
        model.to(stored_dtype(state["state_dict"])).load_state_dict(state["state_dict"])
    model = model.to(device).eval()
    solution = Solution(model, record["name"], dict(record["options"]), dict(state["metrics"]),
                        dict(state.get("info") or {}))
    solution._problem = problem
    return solution


def init_from(path, model: nn.Module, model_name: str, model_kwargs: Optional[dict] = None) -> dict:
    """Copy the weights of the solution saved at ``path`` into ``model`` (a warm start).

    The saved model must be the same as ``model``: the same model name and, for a built-in
    network, the same configuration; otherwise ``ValueError`` names the first differing field.
    Returns the saved file's problem record (``{"name", "options"}``)."""
    state = read_archive(path, FORMAT, WHAT)
    spec, weights = state.get("model"), state.get("state_dict")
    if not isinstance(spec, dict) or not isinstance(weights, dict):
        raise ValueError(f"{path}: {WHAT} lacks its model or weights")
    if spec.get("name") != model_name:
        raise ValueError(f"{path}: saved with model {spec.get('name')!r}, but this run builds {model_name!r}")
    try:
        wanted = model_config(model)
    except ValueError:
        wanted = None
    saved = spec.get("network")
    if wanted is not None and isinstance(saved, dict):
        for key in sorted(set(wanted) | set(saved)):
            if wanted.get(key) != saved.get(key):
                raise ValueError(f"{path}: saved with {key} = {saved.get(key)!r}, but this run builds "
                                 f"{key} = {wanted.get(key)!r}")
    elif model_kwargs is not None and dict(spec.get("kwargs") or {}) != plain_data(dict(model_kwargs)):
        raise ValueError(f"{path}: saved with model options {spec.get('kwargs')!r}, but this run uses "
                         f"{plain_data(dict(model_kwargs))!r}")
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    stored = {k: tuple(v.shape) if torch.is_tensor(v) else None for k, v in weights.items()}
    if expected != stored:
        diff = sorted(k for k in set(expected) | set(stored) if expected.get(k) != stored.get(k))
        raise ValueError(f"{path}: its weight {diff[0]!r} has shape {stored.get(diff[0])}, but this run's "
                         f"model needs {expected.get(diff[0])}")
    model.load_state_dict(weights)
    return dict(state.get("problem") or {})
