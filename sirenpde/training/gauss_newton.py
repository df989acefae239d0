"""Gauss-Newton steps with Levenberg-Marquardt damping on a problem's least-squares loss.

Every ``"mse"`` constraint contributes ``w_i mean(r_i^2)`` to the loss. Stacking the residuals
scaled by ``sqrt(2 w_i / n_i)`` (``n_i`` the number of entries of ``r_i``) into one vector ``r``
makes the loss exactly ``0.5 |r|^2``; its Gauss-Newton model around ``theta`` is
``0.5 |r + J delta|^2`` with ``J = dr/dtheta`` of shape ``(N, P)``, and the damped step is

    delta = -(J^T J + lam I)^-1 J^T r = -J^T (J J^T + lam I)^-1 r,

the second (Woodbury) form costing one ``N x N`` Cholesky instead of a ``P x P`` one.

``J`` is built point by point where a residual allows (:class:`Jacobian`: ``torch.func.vmap`` of
the reverse-mode Jacobian of one point's residual, checked once against a vector-Jacobian
product), by batched reverse sweeps otherwise. :class:`LevenbergMarquardt` takes damped steps on
fixed points and adapts the damping; :class:`Rows` says where the rows live (one process here;
``distributed.RankRows`` gathers every rank's rows under torchrun).

These are functions of ``(loss_module, batches, params)``: the points stay fixed while they run,
and nothing here touches a training session (``training.phases.GaussNewtonPhase`` does that).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor

from sirenpde.problem import Batch
from sirenpde.training.jacobian import (JACOBIAN_CHUNK, Jacobian, _named_params, flatten,  # noqa: F401 (re-exported)
                                        jacobian, residual_sizes, residual_vector, unflatten)

GAUSS_NEWTON = "gauss-newton"  # the optimiser's name (fit's optimizer=, the phase's name)


def damped_step(J: Tensor, r: Tensor, lam: float) -> Tensor:
    """``(P,)``: ``-(J^T J + lam I)^-1 J^T r`` for ``J (N, P)``, ``r (N,)``, by one Cholesky of the
    smaller system: ``J J^T + lam I`` (Woodbury, when ``N < P``) or ``J^T J + lam I``.

    Raises ``torch.linalg.LinAlgError`` when the system is not positive definite (``lam`` too
    small for a rank-deficient ``J``).
    """
    n, p = J.shape
    if n < p:
        system = J @ J.T
        system.diagonal().add_(lam)
        y = torch.cholesky_solve(r.unsqueeze(1), torch.linalg.cholesky(system))
        return -(J.T @ y).squeeze(1)
    system = J.T @ J
    system.diagonal().add_(lam)
    g = (J.T @ r).unsqueeze(1)
    return -torch.cholesky_solve(g, torch.linalg.cholesky(system)).squeeze(1)


def memory_estimate(n_rows: int, n_params: int, dtype: torch.dtype = torch.float64) -> int:
    """Bytes a Gauss-Newton step holds at once: ``J``, the ``m x m`` system and its Cholesky
    factor (``m = min(N, P)``), and a few vectors. The graph of the residuals is not counted."""
    item = torch.empty((), dtype=dtype).element_size()
    m = min(n_rows, n_params)
    return int(item * (n_rows * n_params + 2 * m * m + 4 * (n_rows + n_params)))


def check_memory(n_rows: int, n_params: int, dtype: torch.dtype = torch.float64,
                 limit: Optional[int] = None) -> int:
    """The estimate of :func:`memory_estimate`; raises ``ValueError`` when it exceeds ``limit``
    (default: the memory available now). Does nothing when the limit is unknown."""
    from sirenpde.meshing import cost  # the same reading the mesher's check uses
    need = memory_estimate(n_rows, n_params, dtype)
    limit = cost.available_memory() if limit is None else limit
    if limit is not None and need > limit:
        raise ValueError(
            f"gauss-newton: J ({n_rows} residuals x {n_params} parameters, {dtype}) and its system "
            f"need about {need:,} bytes ({need / 2**30:.2f} GiB); only {limit:,} bytes "
            f"({limit / 2**30:.2f} GiB) are available. Use fewer points or a smaller network")
    return need


DAMPING_OPTIONS = ("lam", "lam_min", "lam_max", "accept")


def check_damping_options(options: dict) -> None:
    """Refuse options :class:`LevenbergMarquardt` does not take, or values it cannot use."""
    for key, value in options.items():
        if key not in DAMPING_OPTIONS:
            raise ValueError(f"unknown Gauss-Newton option {key!r}; valid options: {', '.join(DAMPING_OPTIONS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"Gauss-Newton option {key} must be a positive finite number, got {value!r}")


class Rows:
    """How the rows of one Gauss-Newton system are spread over processes: here, all in this one.
    :class:`sirenpde.training.distributed.RankRows` is the distributed counterpart (every rank's
    rows gathered on every rank; sums all-reduced; rank 0's step broadcast)."""

    world = 1

    def total(self, sizes: list[int]) -> list[int]:
        return list(sizes)

    def gather(self, t: Tensor) -> Tensor:
        return t

    def sum(self, value: float) -> float:
        return value

    def same(self, t: Tensor) -> Tensor:
        return t


class LevenbergMarquardt:
    """Levenberg-Marquardt damping over steps on fixed points: holds ``lam`` and the Jacobian at
    the current parameters (kept across rejected steps, rebuilt after an accepted one).

    A step is accepted when the actual decrease is at least ``accept`` times the decrease the
    Gauss-Newton model predicts (the ratio ``rho``). Nielsen's rule (1999) adapts ``lam``: on
    acceptance it is multiplied by ``max(1/10, 1 - (2 rho - 1)^3)`` (Nielsen has 1/3) and the growth ``nu`` reset to
    2; on rejection (or a failed Cholesky) multiplied by ``nu``, which doubles. Marquardt's fixed
    factors (10 up, 10 down) oscillated between accepting and rejecting on a 1D Poisson finish
    (loss 3e-5 after 30 steps against 1e-10 or below with this rule). ``state_dict`` holds
    ``lam`` and ``nu``, for checkpoints.
    """

    def __init__(self, lam: float = 1e-3, lam_min: float = 1e-15, lam_max: float = 1e15, accept: float = 1e-4):
        self.lam, self.nu = float(lam), 2.0
        self.lam_min, self.lam_max, self.accept = float(lam_min), float(lam_max), float(accept)
        self._linear = None  # (r, J) at the current parameters
        self.jacobian = Jacobian()

    def state_dict(self) -> dict:
        return {"lam": self.lam, "nu": self.nu}

    def load_state_dict(self, state: dict) -> None:
        self.lam, self.nu = float(state["lam"]), float(state.get("nu", 2.0))
        self._linear = None

    def new_points(self) -> None:
        """Forget the Jacobian: the next step is on other points."""
        self._linear = None

    def _reject(self) -> None:
        self.lam = min(self.lam * self.nu, self.lam_max)
        self.nu *= 2.0

    def step(self, loss_module, batches: Sequence[Batch], params: Optional[dict] = None,
             rows: Optional["Rows"] = None) -> tuple[float, bool]:
        """One damped step on ``batches``, updating ``params`` (default: the model's trainable
        parameters) in place when accepted; returns ``(loss, accepted)`` with ``loss`` the
        ``0.5 |r|^2`` after the step. ``rows`` joins the ranks of a distributed run (see
        :class:`Rows`): each contributes the rows of its own points, and every rank takes the
        same step."""
        rows = rows or Rows()
        target = _named_params(loss_module, params)
        if self._linear is None:
            sizes = rows.total(residual_sizes(loss_module, batches))  # one forward: N, before J exists
            dtype = next(iter(target.values())).dtype
            check_memory(sum(sizes), sum(p.numel() for p in target.values()), dtype)
            r, J = self.jacobian(loss_module, batches, target, sizes if rows.world > 1 else None)
            self._linear = (rows.gather(r), rows.gather(J), sizes)
        r, J, sizes = self._linear
        loss = 0.5 * float(r @ r)
        try:
            delta = damped_step(J, r, self.lam)
        except torch.linalg.LinAlgError:
            self._reject()
            return loss, False
        delta = rows.same(delta)  # bit for bit the same step on every rank
        predicted = loss - 0.5 * float((r + J @ delta).square().sum())
        trial = unflatten(flatten(target) + delta, target)
        r_new = residual_vector(loss_module, batches, trial, sizes if rows.world > 1 else None).detach()
        new_loss = 0.5 * rows.sum(float(r_new @ r_new))
        rho = (loss - new_loss) / predicted if predicted > 0 else -1.0
        if not (math.isfinite(new_loss) and rho >= self.accept):
            self._reject()
            return loss, False
        with torch.no_grad():
            for name, p in target.items():
                p.copy_(trial[name])
        self.lam = max(self.lam * max(0.1, 1.0 - (2.0 * rho - 1.0) ** 3), self.lam_min)
        self.nu = 2.0
        self._linear = None
        return new_loss, True


def levenberg_marquardt(loss_module, batches: Sequence[Batch], params: Optional[dict] = None,
                        steps: int = 50, lam0: float = 1e-3, tol: float = 0.0, **damping) -> tuple[list[float], float]:
    """``steps`` damped Gauss-Newton steps on fixed ``batches`` (see :class:`LevenbergMarquardt`,
    whose options ``damping`` passes on); updates ``params`` (default: the model's trainable
    parameters) in place. Returns ``(history, lam)``: the loss ``0.5 |r|^2`` before the first
    step and after each step (unchanged on a rejected step), and the final damping. Stops early
    once the loss is at most ``tol``. Works in the parameters' dtype: float64 parameters and
    batches give float64 steps.
    """
    lm = LevenbergMarquardt(lam0, **damping)
    target = _named_params(loss_module, params)
    r = residual_vector(loss_module, batches, target).detach()
    history = [0.5 * float(r @ r)]
    for _ in range(steps):
        if history[-1] <= tol:
            break
        loss, _ = lm.step(loss_module, batches, target)
        history.append(loss)
    return history, lm.lam
