"""Reference solutions given as tables of points and values, or as functions.

``as_reference(obj)`` accepts

- a callable ``x -> u`` (``(n, d)`` tensor to ``(n, m)`` or ``(n,)``): a :class:`FunctionReference`;
- a pair ``(points (n, d), values (n,) or (n, m))`` of arrays or tensors;
- a file: ``.npy`` (one ``(n, d + m)`` array), ``.txt`` / ``.dat`` / ``.csv`` (columns ``x y [t] u``
  separated by blanks or commas; lines starting with ``%`` or ``#`` are comments, as in PINNacle's
  COMSOL exports; a first line of names is a header), ``.h5`` / ``.hdf5`` (datasets ``points`` or
  ``x``, and ``values`` or ``u``).

A text table may hold a value per time column (PINNacle's time-dependent files: ``x y u@t0 u@t1
...``): give ``times=`` or let them be read from the header's ``@ t=...`` labels. It is expanded to
``(n * T, d + 1)`` points, time last (the package's convention), time-major: the ``n`` nodes at
``t0``, then at ``t1``...

Every table is checked before use: its size is bounded before anything is allocated (a ``.npy`` or
``.h5`` claiming more than :data:`MAX_ENTRIES` numbers is refused from its header; a text file by its
size in bytes, :data:`MAX_TEXT_BYTES`), a NaN or infinity is named with its row and column, and a
malformed line of a text file with the file and line number.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from sirenpde.io.inputs import first_non_finite, input_file

MAX_ENTRIES = 100_000_000  # numbers in one table (800 MB in float64)
MAX_TEXT_BYTES = 1 << 30  # a text table larger than 1 GiB is refused before it is read
TEXT = (".txt", ".dat", ".csv")
EXTENSIONS = (".npy", *TEXT, ".h5", ".hdf5")
CHUNK = 65_536  # points per model evaluation in relative_l2
TIME_LABEL = re.compile(r"@\s*t\s*=\s*([-+0-9.eE]+)")


class Reference:
    """A reference solution tabulated at ``points``.

    Attributes
    ----------
    points : (n, d) float64 tensor
    values : (n, m) float64 tensor
    source : where the table came from (a file name, or ``"arrays"``)
    """

    def __init__(self, points, values, source: str = "arrays"):
        points = _as_array(points, "points", source)
        values = _as_array(values, "values", source)
        if values.ndim == 1:
            values = values[:, None]
        if points.ndim == 1:
            points = points[:, None]
        if points.ndim != 2 or values.ndim != 2:
            raise ValueError(f"reference {source}: points must be (n, d) and values (n,) or (n, m), got shapes "
                             f"{points.shape} and {values.shape}")
        if len(points) != len(values):
            raise ValueError(f"reference {source}: {len(points)} points but {len(values)} values")
        if len(points) == 0:
            raise ValueError(f"reference {source}: the table is empty")
        for name, array in (("points", points), ("values", values)):
            bad = first_non_finite(array)
            if bad:
                raise ValueError(f"reference {source}: {name} has {bad}")
        self.points = torch.from_numpy(np.ascontiguousarray(points))
        self.values = torch.from_numpy(np.ascontiguousarray(values))
        self.source = source
        self._interpolators: dict = {}

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    @property
    def out_features(self) -> int:
        return self.values.shape[1]

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        return f"Reference({self.source}: {len(self)} points in {self.dim}D, {self.out_features} value(s) each)"

    def __call__(self, x, method: str = "linear") -> Tensor:
        """The table interpolated at ``x (k, d)``: ``(k, m)`` float64, on ``x``'s device.

        ``method="linear"``: piecewise linear over a Delaunay triangulation of the points
        (``np.interp`` in 1D, scipy's ``LinearNDInterpolator`` above), exact at the table's points;
        a point outside the points' convex hull is refused (ValueError), never extrapolated.
        ``method="nearest"``: the value of the nearest table point, for any ``x``."""
        device = x.device if torch.is_tensor(x) else torch.device("cpu")
        q = (x.detach().cpu().double().numpy() if torch.is_tensor(x) else np.asarray(x, dtype=np.float64))
        q = q.reshape(-1, self.dim) if q.ndim == 1 and self.dim == 1 else q
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"reference {self.source}: need points of shape (k, {self.dim}), got {tuple(q.shape)}")
        out = self._interpolator(method)(q)
        if method == "linear":
            off = np.isnan(out).any(axis=1)
            if off.any():
                raise ValueError(f"reference {self.source}: {int(off.sum())} of {len(q)} points lie outside the "
                                 f"table's convex hull (first {q[off][0].tolist()}); linear interpolation does "
                                 f"not extrapolate: use method='nearest' or points inside the table")
        return torch.from_numpy(np.asarray(out, dtype=np.float64).reshape(len(q), -1)).to(device)

    def _interpolator(self, method: str) -> Callable[[np.ndarray], np.ndarray]:
        if method not in ("linear", "nearest"):
            raise ValueError(f"unknown interpolation {method!r}; valid: 'linear', 'nearest'")
        if method not in self._interpolators:
            p, v = self.points.numpy(), self.values.numpy()
            if method == "nearest":
                from scipy.spatial import cKDTree

                tree = cKDTree(p)
                self._interpolators[method] = lambda q: v[tree.query(q)[1]]
            elif self.dim == 1:
                order = np.argsort(p[:, 0], kind="stable")
                xs, vs = p[order, 0], v[order]
                self._interpolators[method] = lambda q: np.stack(
                    [np.interp(q[:, 0], xs, vs[:, j], left=np.nan, right=np.nan) for j in range(vs.shape[1])], 1)
            else:
                from scipy.interpolate import LinearNDInterpolator

                self._interpolators[method] = LinearNDInterpolator(p, v)
        return self._interpolators[method]

    def relative_l2(self, model_or_fn) -> float:
        """``sqrt(mean((u - u_ref)^2)) / sqrt(mean(u_ref^2))`` over the table's own points (PINNacle's
        measure), ``u`` from a model (evaluated in chunks without gradients, in its dtype and on its
        device) or a function of an ``(n, d)`` float64 tensor."""
        from sirenpde.metrics import relative_l2

        # the ratio of root mean squares over the same points is the ratio of the norms
        return relative_l2(evaluate(model_or_fn, self.points).reshape(self.values.shape).numpy(),
                           self.values.numpy())


class FunctionReference:
    """A reference given as a function ``x -> u`` (an exact solution)."""

    points = None

    def __init__(self, fn: Callable[[Tensor], Tensor]):
        self.fn = fn
        self.source = getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, x: Tensor) -> Tensor:
        u = self.fn(x)
        return u.unsqueeze(-1) if u.ndim == 1 else u

    def relative_l2(self, model_or_fn, x: Tensor) -> float:
        """The relative L2 error at the points ``x (n, d)`` (a function has no points of its own)."""
        from sirenpde.metrics import relative_l2

        x = torch.as_tensor(x, dtype=torch.float64)
        ref = evaluate(self, x)
        return relative_l2(evaluate(model_or_fn, x).reshape(ref.shape).numpy(), ref.numpy())


def evaluate(model_or_fn, x: Tensor) -> Tensor:
    """``(n, m)`` float64 on the CPU: a module evaluated in chunks in its own dtype and device, or a
    function called on ``x``."""
    if isinstance(model_or_fn, torch.nn.Module):
        p = next(model_or_fn.parameters(), None)
        dtype, device = (p.dtype, p.device) if p is not None else (torch.float32, torch.device("cpu"))
        with torch.no_grad():
            parts = [model_or_fn(x[i:i + CHUNK].to(device, dtype)).double().cpu() for i in range(0, len(x), CHUNK)]
        u = torch.cat(parts)
    else:
        with torch.no_grad():
            u = torch.as_tensor(model_or_fn(x)).detach().double().cpu()
    return u.unsqueeze(-1) if u.ndim == 1 else u


def as_reference(obj, dim: Optional[int] = None, times: Optional[Sequence[float]] = None
                 ) -> Union[Reference, FunctionReference]:
    """A :class:`Reference` from a pair of arrays or a file, or a :class:`FunctionReference` from a
    callable (see the module's docstring for the formats).

    Parameters
    ----------
    dim : number of coordinate columns of a file's table (default: all but the last column); the
        remaining columns are the values
    times : the times of a text table with a value per time column (default: read from the
        header's ``@ t=...`` labels when there are two or more; otherwise the table is ``x ... u``)
    """
    if isinstance(obj, (Reference, FunctionReference)):
        return obj
    if isinstance(obj, (str, Path)):
        return read_reference(obj, dim, times)
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return Reference(obj[0], obj[1])
    if callable(obj):
        return FunctionReference(obj)
    raise TypeError(f"as_reference: expected a function x -> u, a pair (points, values) or a file path, "
                    f"got {type(obj).__name__}")


def read_reference(path, dim: Optional[int] = None, times: Optional[Sequence[float]] = None) -> Reference:
    """The table in the file ``path`` (``.npy``, ``.txt``/``.dat``/``.csv``, ``.h5``/``.hdf5``)."""
    path = input_file(path, EXTENSIONS, "reference table")
    ext = path.suffix.lower()
    if ext in TEXT:
        table, labels = read_text_table(path)
        times = list(times) if times is not None else labels
        if times is not None and len(times) >= 2:
            return _time_columns(table, times, path, dim)
        return _split(table, dim, path)
    if ext == ".npy":
        return _split(_read_npy(path), dim, path)
    return _read_h5(path)


def read_text_table(path: Path) -> tuple[np.ndarray, Optional[list[float]]]:
    """``(n, c)`` float64 from a text table, and the times of its ``@ t=`` header labels (or None)."""
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than the {MAX_TEXT_BYTES} a text reference table may have; "
                         f"save it as .npy or .h5")
    rows: list[list[float]] = []
    header: Optional[str] = None
    width = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            if text[0] in "%#":
                header = text[1:] if rows == [] else header
                continue
            words = text.replace(",", " ").split()
            try:
                row = [float(w) for w in words]
            except ValueError:
                if not rows and not any(_is_number(w) for w in words):
                    header = text  # a line of column names
                    continue
                bad = next(w for w in words if not _is_number(w))
                raise ValueError(f"{path}, line {number}: could not read {bad!r} as a number") from None
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise ValueError(f"{path}, line {number}: {len(row)} columns, but the table's first row has {width}")
            bad = [j for j, v in enumerate(row) if not math.isfinite(v)]
            if bad:
                raise ValueError(f"{path}, line {number}: column {bad[0] + 1} is {words[bad[0]]!r}, not a finite number")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no rows of numbers (only comments or blank lines)")
    labels = [float(t) for t in TIME_LABEL.findall(header)] if header else []
    return np.asarray(rows, dtype=np.float64), (labels if len(labels) >= 2 else None)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _split(table: np.ndarray, dim: Optional[int], path) -> Reference:
    if table.ndim != 2 or table.shape[1] < 2:
        raise ValueError(f"{path}: a reference table needs 2 or more columns (x ... u), got shape {table.shape}")
    dim = table.shape[1] - 1 if dim is None else int(dim)
    if not 1 <= dim < table.shape[1]:
        raise ValueError(f"{path}: dim={dim} coordinate columns, but the table has {table.shape[1]} columns")
    return Reference(table[:, :dim], table[:, dim:], source=Path(path).name)


def _time_columns(table: np.ndarray, times: Sequence[float], path, dim: Optional[int]) -> Reference:
    """``x ... u@t0 u@t1 ...`` -> points ``(n * T, d + 1)`` (time last, time-major), values ``(n * T, 1)``."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    d = table.shape[1] - len(times)
    if d < 1 or (dim is not None and int(dim) not in (d, d + 1)):
        raise ValueError(f"{path}: {len(times)} times but {table.shape[1]} columns: a table with a value per "
                         f"time has the coordinates, then one column per time")
    n = len(table)
    if n * len(times) * (d + 2) > MAX_ENTRIES:
        raise ValueError(f"{path}: {n} nodes x {len(times)} times is more than {MAX_ENTRIES} numbers")
    space = np.tile(table[:, :d], (len(times), 1))
    t = np.repeat(times, n)[:, None]
    values = table[:, d:].T.reshape(-1, 1)  # column j (time j) for every node, then the next time
    return Reference(np.concatenate([space, t], axis=1), values, source=Path(path).name)


def _check_size(shape, path) -> None:
    count = int(np.prod(shape, dtype=np.float64)) if len(shape) else 1
    if count > MAX_ENTRIES:
        raise ValueError(f"{path}: a table of shape {tuple(shape)} ({count} numbers) is more than the {MAX_ENTRIES} "
                         f"a reference may hold")


def _read_npy(path: Path) -> np.ndarray:
    fmt = np.lib.format
    with open(path, "rb") as f:
        try:  # the header alone: its shape is checked before the data is read
            version = fmt.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"format version {version[0]}.{version[1]} is not supported (1.0 or 2.0)")
            header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = header(f)
        except ValueError as err:
            raise ValueError(f"{path}: not a .npy file ({err})") from None
        if len(shape) != 2:
            raise ValueError(f"{path}: a .npy reference must be one (n, d + m) array, got shape {shape}")
        _check_size(shape, path)
        if dtype.hasobject or not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
            raise ValueError(f"{path}: a .npy reference must hold real numbers, got dtype {dtype}")
        f.seek(0)
        try:
            array = np.load(f, allow_pickle=False)
        except ValueError as err:  # fewer bytes than the header claims
            raise ValueError(f"{path}: damaged .npy file ({err})") from None
    return np.asarray(array, dtype=np.float64)


def _read_h5(path: Path) -> Reference:
    import h5py

    with h5py.File(path, "r") as f:
        found = {}
        for role, names in (("points", ("points", "x")), ("values", ("values", "u"))):
            name = next((n for n in names if n in f and isinstance(f[n], h5py.Dataset)), None)
            if name is None:
                raise ValueError(f"{path}: no dataset {' or '.join(map(repr, names))} (the reference's {role}); "
                                 f"found {sorted(f.keys())}")
            _check_size(f[name].shape, f"{path}:{name}")
            found[role] = np.asarray(f[name][()], dtype=np.float64)
    return Reference(found["points"], found["values"], source=path.name)


def _as_array(a, name: str, source: str) -> np.ndarray:
    if torch.is_tensor(a):
        a = a.detach().cpu().double().numpy()
    try:
        array = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"reference {source}: {name} are not numbers ({err})") from None
    _check_size(array.shape, f"reference {source} {name}")
    return array
