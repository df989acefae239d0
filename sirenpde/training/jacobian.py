"""The least-squares residual vector of a loss module and its Jacobian ``J = dr/dtheta``.

Every ``"mse"`` constraint contributes ``w_i mean(r_i^2)`` to the loss; stacking the residuals scaled
by ``sqrt(2 w_i / n_i)`` into one vector ``r`` (:func:`residual_vector`) makes the loss ``0.5 |r|^2``.
:class:`Jacobian` builds ``J`` point by point where a residual allows (``torch.func.vmap`` of the
reverse-mode Jacobian of one point's residual, checked once against a vector-Jacobian product), by
batched reverse sweeps otherwise. :mod:`sirenpde.training.gauss_newton` steps with it.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor

from sirenpde.fields import field
from sirenpde.problem import Batch

# rows of J a reverse sweep computes at once: bounds the memory of the batched backward
JACOBIAN_CHUNK = 64


def _named_params(loss_module, params: Optional[dict]) -> dict[str, Tensor]:
    if params is not None:
        return dict(params)
    return {name: p for name, p in loss_module.model.named_parameters() if p.requires_grad}


def _check_least_squares(loss_module, batches: Sequence[Batch]) -> None:
    constraints = loss_module.constraints
    if len(batches) != len(constraints):
        raise ValueError(f"gauss-newton: {len(constraints)} constraints but {len(batches)} batches")
    if len(loss_module.weights) != len(constraints):
        raise ValueError("gauss-newton: the loss has terms beyond its constraints (a penalty); "
                         "only a weighted sum of squared residuals has a Gauss-Newton step")
    for con, w in zip(constraints, loss_module.weights):
        if con.reduction != "mse":
            raise ValueError(f"gauss-newton: constraint {con.name!r} has reduction {con.reduction!r}, "
                             "which is not a sum of squares; only reduction='mse' has a Gauss-Newton step")
        if w < 0:
            raise ValueError(f"gauss-newton: constraint {con.name!r} has negative weight {w}")


def residual_vector(loss_module, batches: Sequence[Batch], params: Optional[dict] = None,
                    sizes: Optional[Sequence[int]] = None) -> Tensor:
    """``(N,)`` tensor: every constraint's residual entries times ``sqrt(2 w_i / n_i)``, stacked,
    so that ``0.5 * (r ** 2).sum()`` equals ``loss_module.total(loss_module(batches))``.

    ``loss_module`` is a :class:`~sirenpde.training.loss.ConstraintLoss`; ``params`` (names as in
    ``loss_module.model.named_parameters()``) replaces the model's own parameters when given.
    ``sizes`` are the ``n_i`` when these batches are one rank's share of a larger system (every
    rank's entries of constraint ``i`` together); by default each residual's own number of entries.
    """
    _check_least_squares(loss_module, batches)
    model, engine = loss_module.model, loss_module.engine
    if params is not None:
        params = {**{n: p for n, p in model.named_parameters()}, **params}
    rows = []
    for i, (con, w, batch) in enumerate(zip(loss_module.constraints, loss_module.weights, batches)):
        u = field(model, batch["x"], order=con.order, second=con.second, engine=engine, params=params)
        r = con.residual(u, batch).reshape(-1)
        n = r.numel() if sizes is None else sizes[i]
        rows.append(r * math.sqrt(2.0 * w / max(n, 1)))
    return torch.cat(rows)


def residual_sizes(loss_module, batches: Sequence[Batch]) -> list[int]:
    """The number of residual entries of each constraint on ``batches`` (one forward; with a graph,
    which the autograd engine's derivatives need)."""
    return [int(_constraint_residual(loss_module, con, batch, None).numel())
            for con, batch in zip(loss_module.constraints, batches)]


def flatten(params: dict[str, Tensor]) -> Tensor:
    """``(P,)``: the parameters' entries, in the dict's order."""
    return torch.cat([p.detach().reshape(-1) for p in params.values()])


def unflatten(theta: Tensor, like: dict[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of :func:`flatten`: views of ``theta`` shaped like ``like``'s entries."""
    out, i = {}, 0
    for name, p in like.items():
        out[name] = theta[i:i + p.numel()].view_as(p)
        i += p.numel()
    return out


def _constraint_residual(loss_module, con, batch: Batch, params: dict) -> Tensor:
    u = field(loss_module.model, batch["x"], order=con.order, second=con.second, engine=loss_module.engine,
              params=params)
    return con.residual(u, batch).reshape(-1)


def _reverse_rows(r: Tensor, theta: Tensor, chunk_size: int, out: Tensor) -> Tensor:
    """``dr/dtheta`` into ``out`` ``(rows, P)``, row block by row block: one batched reverse sweep
    through the whole graph of ``r`` per ``chunk_size`` rows (the general path: any residual, any
    engine)."""
    eye = torch.eye(r.numel(), dtype=r.dtype, device=r.device)
    for start in range(0, r.numel(), chunk_size):
        seeds = eye[start:start + chunk_size]
        (g,) = torch.autograd.grad(r, theta, seeds, retain_graph=True, is_grads_batched=True, allow_unused=True)
        out[start:start + len(seeds)] = 0.0 if g is None else g
    return out


def _pointwise_rows(loss_module, con, batch: Batch, scale: float, like: dict[str, Tensor], full: dict,
                    chunk: int, out: Tensor) -> Tensor:
    """``dr/dtheta`` of one constraint into ``out`` ``(rows, P)``, when each point's residual
    depends on that point alone: ``torch.func.vmap`` over the points of ``jacrev`` of one point's
    residual, ``chunk`` points at a time. Every batch entry with one row per point is split with
    the points; the others are shared. Raises when the residual cannot run one point at a time
    under ``vmap``, or gives another number of rows (the caller falls back to
    :func:`_reverse_rows`)."""
    n = batch["x"].shape[0]
    split = {k: v for k, v in batch.items() if torch.is_tensor(v) and v.ndim >= 1 and v.shape[0] == n}
    shared = {k: v for k, v in batch.items() if k not in split}
    frozen = {k: v.detach() for k, v in full.items() if k not in like}
    theta = {k: v.detach() for k, v in like.items()}
    # jacrev refuses complex inputs (a source term on complex points): they travel as real pairs
    complex_keys = {k for k, v in split.items() if v.is_complex()}
    split = {k: torch.view_as_real(v) if k in complex_keys else v for k, v in split.items()}

    def one(theta: dict, point: dict) -> Tensor:
        point = {k: torch.complex(v[..., 0], v[..., 1]) if k in complex_keys else v for k, v in point.items()}
        b = {**shared, **{k: v.unsqueeze(0) for k, v in point.items()}}
        return _constraint_residual(loss_module, con, b, {**frozen, **theta}) * scale

    per_point = torch.func.vmap(torch.func.jacrev(one), in_dims=(None, 0))
    row = 0
    for start in range(0, n, chunk):
        jac = per_point(theta, {k: v[start:start + chunk] for k, v in split.items()})
        m = next(iter(jac.values())).shape[0]  # (points, rows per point, *parameter shape)
        block = torch.cat([jac[k].reshape(m, -1, like[k].numel()) for k in like], dim=2).reshape(-1, out.shape[1])
        if row + len(block) > len(out):
            raise ValueError(f"{con.name}: more rows one point at a time than for the whole batch ({len(out)})")
        out[row:row + len(block)] = block
        row += len(block)
    if row != len(out):
        raise ValueError(f"{con.name}: {row} rows one point at a time, {len(out)} for the whole batch")
    return out


class Jacobian:
    """Builds ``(r, J)`` for a loss module's constraints, choosing per constraint the fastest exact
    way and remembering it.

    A constraint whose residual at a point depends on that point alone (every built-in equation
    and condition but periodic pairs) gets its rows from ``vmap`` over the points of the
    reverse-mode Jacobian of one point's residual (:func:`_pointwise_rows`): linear in the points,
    5-6x faster than batched reverse sweeps at 560 points (8,577 parameters) and more as the
    points grow. The first build checks the result against one vector-Jacobian product of the
    whole batch (``J^T v`` for a random ``v``, to a tolerance of the dtype) and falls back to
    batched reverse sweeps through the whole constraint (:func:`_reverse_rows`) when that fails or
    when the residual cannot run under ``vmap`` (``.item()``, numpy, autograd inside); ``modes``
    records the choice per constraint name (``"pointwise"`` or ``"reverse"``).
    """

    def __init__(self, chunk: int = 256, reverse_chunk: int = JACOBIAN_CHUNK):
        self.chunk, self.reverse_chunk = int(chunk), int(reverse_chunk)
        self.modes: dict[str, str] = {}
        self.reasons: dict[str, str] = {}

    def __call__(self, loss_module, batches: Sequence[Batch], params: Optional[dict] = None,
                 sizes: Optional[Sequence[int]] = None) -> tuple[Tensor, Tensor]:
        """``(r, J)`` as :func:`jacobian` (``sizes`` as in :func:`residual_vector`)."""
        _check_least_squares(loss_module, batches)
        like = _named_params(loss_module, params)
        full = {**{n: p for n, p in loss_module.model.named_parameters()}, **like}
        theta = flatten(like).requires_grad_(True)
        views = {**full, **unflatten(theta, like)}
        residuals = []  # (constraint, batch, scaled residual with its graph, scale)
        for i, (con, w, batch) in enumerate(zip(loss_module.constraints, loss_module.weights, batches)):
            r = _constraint_residual(loss_module, con, batch, views)
            scale = math.sqrt(2.0 * w / max(r.numel() if sizes is None else sizes[i], 1))
            residuals.append((con, batch, r * scale, scale))
        # one (N, P) tensor filled in place: J is the largest thing a step holds, and only once
        J = theta.new_empty(sum(r.numel() for _, _, r, _ in residuals), theta.numel())
        row = 0
        for con, batch, r, scale in residuals:
            out = J[row:row + r.numel()]
            if not (self.modes.get(con.name, "pointwise") == "pointwise"
                    and self._try_pointwise(loss_module, con, batch, scale, like, full, r, theta, out)):
                _reverse_rows(r, theta, self.reverse_chunk, out)
            row += r.numel()
        return torch.cat([r.detach() for _, _, r, _ in residuals]), J.detach()

    def _try_pointwise(self, loss_module, con, batch, scale, like, full, r, theta, out) -> bool:
        try:
            rows = _pointwise_rows(loss_module, con, batch, scale, like, full, self.chunk, out)
        except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError) as err:
            self._fall_back(con.name, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            return False
        if con.name not in self.modes:  # first build: one vector-Jacobian product must agree
            gen = torch.Generator(device=r.device).manual_seed(0)  # torch's global stream is the user's
            v = torch.randn(r.numel(), dtype=r.dtype, device=r.device, generator=gen)
            (g,) = torch.autograd.grad(r, theta, v, retain_graph=True, allow_unused=True)
            g = torch.zeros_like(theta) if g is None else g
            err = float((rows.T @ v - g).norm())
            tol = (1e-9 if r.dtype == torch.float64 else 1e-4) * max(float(g.norm()), float(rows.norm()), 1e-30)
            if not err <= tol:
                self._fall_back(con.name, f"J^T v differs from one reverse sweep by {err:.3g} (tolerance {tol:.3g}): "
                                          "the residual couples points")
                return False
            self.modes[con.name] = "pointwise"
        return True

    def _fall_back(self, name: str, reason: str) -> None:
        self.modes[name], self.reasons[name] = "reverse", reason


def jacobian(loss_module, batches: Sequence[Batch], params: Optional[dict] = None,
             chunk_size: int = JACOBIAN_CHUNK, mode: str = "auto") -> tuple[Tensor, Tensor]:
    """``(r, J)``: the residual vector ``(N,)`` of :func:`residual_vector` and its Jacobian
    ``(N, P)`` with respect to the parameters flattened in ``named_parameters()`` order.

    ``mode="auto"`` builds each constraint's rows point by point where its residual allows (see
    :class:`Jacobian`); ``mode="reverse"`` uses batched reverse sweeps, ``chunk_size`` rows each,
    for every constraint (``torch.autograd.grad`` with ``is_grads_batched``; works with every
    derivative engine, the autograd one included, whose input derivatives are differentiated once
    more).
    """
    if mode not in ("auto", "reverse"):
        raise ValueError(f"jacobian: mode must be 'auto' or 'reverse', got {mode!r}")
    builder = Jacobian(reverse_chunk=chunk_size)
    if mode == "reverse":
        builder.modes = {con.name: "reverse" for con in loss_module.constraints}
    return builder(loss_module, batches, params)
