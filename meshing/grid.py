"""The sampling grid and batched, validated evaluation of an SDF on its points.

Grid points are addressed by integer indices ``(i0, i1, i2)`` or by one linear index
``(i0 * n1 + i1) * n2 + i2``; every coordinate is computed by the same formula
(:meth:`Grid.points`), so a point evaluated by the dense and by the sparse extractor gets
bit-identical input.
"""
from __future__ import annotations

import contextlib
import numbers
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch


@dataclass(frozen=True)
class Grid:
    """A regular grid of ``shape`` points spanning ``lo`` to ``hi`` (both included).

    lo, hi : (3,) float
    shape : (3,) int, points per axis, each >= 2
    """

    lo: np.ndarray
    hi: np.ndarray
    shape: tuple

    @property
    def spacing(self) -> np.ndarray:
        """(3,) float: distance between neighbouring points along each axis."""
        return (self.hi - self.lo) / (np.asarray(self.shape, dtype=np.float64) - 1.0)

    @property
    def cells(self) -> np.ndarray:
        """(3,) int: cells per axis."""
        return np.asarray(self.shape, dtype=np.int64) - 1

    def lin(self, idx: np.ndarray) -> np.ndarray:
        """idx : (n, 3) int -> (n,) int64 linear indices."""
        idx = np.asarray(idx, dtype=np.int64)
        return (idx[..., 0] * self.shape[1] + idx[..., 1]) * self.shape[2] + idx[..., 2]

    def unravel(self, lin: np.ndarray) -> np.ndarray:
        """lin : (n,) int -> (n, 3) int64 indices."""
        lin = np.asarray(lin, dtype=np.int64)
        i2 = lin % self.shape[2]
        rest = lin // self.shape[2]
        return np.stack([rest // self.shape[1], rest % self.shape[1], i2], axis=-1)

    def points(self, idx: np.ndarray) -> np.ndarray:
        """idx : (n, 3) int or float grid coordinates -> (n, 3) float64 positions."""
        return self.lo + np.asarray(idx, dtype=np.float64) * self.spacing


def unique_sorted(a: np.ndarray) -> np.ndarray:
    """Sorted unique values of an integer array, by sorting (numpy 2's hash-based ``np.unique``
    is an order of magnitude slower on the millions of indices handled here)."""
    a = np.sort(np.asarray(a).ravel())
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def first_of_each(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (sorted unique keys, index of one occurrence of each in ``keys``)."""
    order = np.argsort(keys)
    ordered = keys[order]
    keep = np.ones(len(keys), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep], order[keep]


def parse_bounds(bounds) -> tuple[np.ndarray, np.ndarray]:
    """``((xmin, ymin, zmin), (xmax, ymax, zmax))`` or a (2, 3) array -> (lo, hi) float64."""
    try:
        arr = np.asarray(bounds, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bounds must be ((xmin, ymin, zmin), (xmax, ymax, zmax)); got {bounds!r}") from err
    if arr.shape != (2, 3):
        raise ValueError(
            "bounds must have shape (2, 3) as ((xmin, ymin, zmin), (xmax, ymax, zmax)); "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"bounds must be finite; got {arr.tolist()}")
    if np.any(arr[1] <= arr[0]):
        axes = [("x", "y", "z")[a] for a in range(3) if arr[1, a] <= arr[0, a]]
        raise ValueError(
            f"bounds enclose zero or negative volume: max <= min along {', '.join(axes)} "
            f"(min={arr[0].tolist()}, max={arr[1].tolist()})"
        )
    return arr[0].copy(), arr[1].copy()


def parse_resolution(resolution) -> tuple[int, int, int]:
    """An int or a 3-tuple of ints, each >= 2 (grid points per axis) -> 3-tuple."""
    values = (resolution,) * 3 if not isinstance(resolution, (tuple, list, np.ndarray)) else tuple(resolution)
    if len(values) != 3:
        raise ValueError(f"resolution must be an int or 3 ints (points per axis); got {resolution!r}")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise ValueError(f"resolution must be integer points per axis; got {resolution!r}")
        if v < 2:
            raise ValueError(f"resolution must be >= 2 points per axis; got {resolution!r}")
        out.append(int(v))
    return tuple(out)


Prepared = tuple[Callable, str, torch.device, torch.dtype]


def _module_device_dtype(module: torch.nn.Module) -> tuple[torch.device | None, torch.dtype]:
    for p in module.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return None, torch.float32


@contextlib.contextmanager
def prepared_sdf(sdf, device="auto", input_type="auto") -> Iterator[Prepared]:
    """Put a Module in eval mode on the chosen device for the duration; restore it afterwards.

    Yields ``(sdf, kind, device, dtype)`` where ``kind`` is ``"torch"`` or ``"numpy"``: the array
    type the sdf is called with. ``input_type="auto"`` means torch for ``torch.nn.Module`` and
    numpy (float64) for any other callable.
    """
    if not callable(sdf):
        raise ValueError(f"sdf must be a torch.nn.Module or a callable; got {type(sdf).__name__}")
    if input_type not in ("auto", "torch", "numpy"):
        raise ValueError(f"input_type must be 'auto', 'torch' or 'numpy'; got {input_type!r}")
    is_module = isinstance(sdf, torch.nn.Module)
    kind = input_type if input_type != "auto" else ("torch" if is_module else "numpy")
    own_device, dtype = _module_device_dtype(sdf) if is_module else (None, torch.float32)
    if device == "auto" or device is None:
        target = own_device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            target = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be 'auto', a device name or a torch.device; got {device!r}") from err
    if not is_module:
        yield sdf, kind, target, dtype
        return
    modes = [(m, m.training) for m in sdf.modules()]
    moved = own_device is not None and own_device != target
    if moved:
        sdf.to(target)
    sdf.eval()
    try:
        yield sdf, kind, target, dtype
    finally:
        for m, training in modes:
            m.training = training
        if moved:
            sdf.to(own_device)


class SdfEvaluator:
    """Evaluate an sdf at grid points in fixed-size batches and check what it returns.

    Every call to the sdf gets exactly ``batch_size`` points (the last batch is padded by
    repeating its last point): matrix-multiply kernels pick different code paths for different
    batch sizes, and a point's value must not depend on which other points share its batch, or
    the dense and the sparse extraction would differ in the last bits.
    """

    def __init__(self, sdf, kind: str, device, dtype, grid: Grid, batch_size: int):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        self.sdf, self.kind, self.device, self.dtype = sdf, kind, device, dtype
        self.grid, self.batch_size = grid, int(batch_size)
        self.evaluations = 0
        self.vmin, self.vmax = np.inf, -np.inf

    def __call__(self, lin: np.ndarray) -> np.ndarray:
        """lin : (n,) int64 linear point indices -> (n,) float32 sdf values."""
        lin = np.asarray(lin, dtype=np.int64)
        out = np.empty(len(lin), dtype=np.float32)
        for start in range(0, len(lin), self.batch_size):
            out[start:start + self.batch_size] = self._batch(lin[start:start + self.batch_size])
        return out

    def evaluate_range(self, start: int, stop: int, out: np.ndarray) -> None:
        """Evaluate linear indices ``start .. stop - 1`` into ``out`` (flat, float32) without
        materialising the whole index range."""
        if not out.flags.c_contiguous:
            raise ValueError("evaluate_range needs a C-contiguous output buffer")
        out = out.reshape(-1)
        for s in range(start, stop, self.batch_size):
            e = min(s + self.batch_size, stop)
            out[s - start:e - start] = self._batch(np.arange(s, e, dtype=np.int64))

    def _batch(self, lin: np.ndarray) -> np.ndarray:
        n = len(lin)
        if n == 0:
            return np.empty(0, dtype=np.float32)
        pts = self.grid.points(self.grid.unravel(lin))
        if n < self.batch_size:
            pts = np.concatenate([pts, np.repeat(pts[-1:], self.batch_size - n, axis=0)])
        if self.kind == "torch":
            with torch.no_grad():
                x = torch.from_numpy(pts).to(device=self.device, dtype=self.dtype)
                raw = self.sdf(x)
        else:
            raw = self.sdf(pts)
        if isinstance(raw, torch.Tensor):
            raw = raw.detach().to("cpu").numpy()
        values = np.asarray(raw)
        m = self.batch_size
        if values.shape not in ((m,), (m, 1)):
            raise ValueError(
                f"sdf returned shape {values.shape} for {m} points of shape ({m}, 3); "
                f"expected ({m},) or ({m}, 1)"
            )
        values = values.reshape(m)[:n].astype(np.float32)
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.argmax(bad))
            idx = tuple(int(i) for i in self.grid.unravel(lin[first:first + 1])[0])
            raise ValueError(
                f"sdf returned {int(bad.sum())} non-finite values (NaN or inf) in a batch of {n} points; "
                f"first at grid index {idx} of a {self.grid.shape} grid, point "
                f"{tuple(float(v) for v in pts[first])}, value {values[first]}"
            )
        self.evaluations += n
        if n:
            self.vmin = min(self.vmin, float(values.min()))
            self.vmax = max(self.vmax, float(values.max()))
        return values
