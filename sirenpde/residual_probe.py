"""The contract of an ``sp.PDE`` residual: what it returns (:func:`stack_residual`) and what it
reads, found by calling it once on a small network (:func:`probe_residual`)."""
from __future__ import annotations

import torch
from torch import Tensor

from sirenpde.fields import field

PROBE_POINTS = 8
_PROBED: dict = {}  # (residual, sizes, constants, order, second) -> the probe's (order, second)


class _Reads:
    """A field that records which of its attributes a residual reads (how the order is inferred)."""

    def __init__(self, u):
        object.__setattr__(self, "_u", u)
        object.__setattr__(self, "read", set())

    def __getattr__(self, name):
        self.read.add(name)
        return getattr(self._u, name)


def _order_from_reads(read: set) -> tuple[int, str]:
    if "hessian" in read:
        return 2, "hessian"
    if "d2" in read:
        return 2, "diagonal"
    if "laplacian" in read:
        return 2, "laplacian"
    if read & {"grad", "jacobian"}:
        return 1, "diagonal"
    return 0, "diagonal"


def stack_residual(out, n, what: str) -> Tensor:
    """A residual's result as ``(..., n, k)``: a tensor ``(..., n)`` or ``(..., n, k)``, or a
    tuple/list of them (a system), stacked along the last axis. ``n`` is the number of points, or the
    leading shape ``(..., n)`` of the points (a family's stacked members: ``(B, n)``)."""
    lead = (n,) if isinstance(n, int) else tuple(n)
    text = ", ".join(str(v) for v in lead)
    parts = list(out) if isinstance(out, (tuple, list)) else [out]
    if not parts:
        raise ValueError(f"{what} returned an empty {type(out).__name__}")
    columns = []
    for i, p in enumerate(parts):
        name = what if len(parts) == 1 else f"{what}, component {i}"
        if not torch.is_tensor(p):
            raise ValueError(f"{name}: expected a tensor of shape ({text},) or ({text}, k), got {type(p).__name__}")
        shape = tuple(p.shape)
        if p.ndim == len(lead):
            p = p[..., None]
        if p.ndim != len(lead) + 1 or tuple(p.shape[:-1]) != lead:
            raise ValueError(f"{name}: expected shape ({text},) or ({text}, k) for {lead[-1]} points (one row per "
                             f"point), got {shape}")
        columns.append(p)
    return columns[0] if len(columns) == 1 else torch.cat(columns, dim=-1)


def probe_residual(pde, order, second) -> tuple[int, str]:
    """Call the residual once on a small network (autograd, every derivative available): it must
    run and return one row per point; what it reads from ``u`` gives the order. A residual probed
    before with the same sizes and constants is not probed again (a family builds a member per
    draw)."""
    try:
        key = (pde.residual, pde.in_features, pde.out_features, tuple(sorted(pde._kwargs)), order, second)
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _PROBED:
        return _PROBED[key]
    found = _probe_once(pde, order, second)
    if key is not None:
        if len(_PROBED) >= 256:
            _PROBED.clear()
        _PROBED[key] = found
    return found


def _probe_once(pde, order, second) -> tuple[int, str]:
    from sirenpde.nn import Siren

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = Siren(pde.in_features, pde.out_features, hidden_features=8, hidden_layers=1)
    columns = []
    for n in (PROBE_POINTS, PROBE_POINTS - 3):  # two sizes: a broadcast shows as columns = points
        x = pde.domain.sample_interior(n, torch.Generator().manual_seed(1))
        probe = _Reads(field(net, x, order=2, engine="autograd"))
        try:
            columns.append(pde._call(probe, probe.x).shape[-1])
        except ValueError:
            raise
        except Exception as err:
            raise ValueError(f"PDE {pde.name!r}: calling the residual on a field of {pde.out_features} "
                             f"component(s) at points ({n}, {pde.in_features}) failed: "
                             f"{type(err).__name__}: {err}") from err
    if columns[0] != columns[1]:
        raise ValueError(
            f"PDE {pde.name!r}: the residual returns as many columns as there are points ({columns[0]} "
            f"for {PROBE_POINTS} points, {columns[1]} for {PROBE_POINTS - 3}): an (n,) tensor was combined "
            f"with an (n, 1) one and broadcast to (n, n). For a scalar u, u.grad is (n, d) while u.value, "
            f"u.d2(i) and u.laplacian are (n, 1): write u.grad[:, i:i + 1], or u.d2(i)[:, 0]")
    found_order, found_second = _order_from_reads(probe.read)
    if order is not None and order not in (0, 1, 2):
        raise ValueError(f"PDE: order must be 0, 1 or 2, got {order!r}")
    return (found_order if order is None else int(order)), (found_second if second is None else second)
