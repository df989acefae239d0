"""``fit``: the front door of training, over the pieces of :mod:`sirenpde.training`."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Union

from torch import nn

from sirenpde.problem import Problem
from sirenpde.training.session import RunOptions, train
from sirenpde.training.setup import check_model, resolve_settings
from sirenpde.training.state import FitResult


def fit(problem: Problem, model: nn.Module, steps: Optional[int] = None, lr: Optional[float] = None,
        batch_size: Optional[int] = None, device: str = "auto", seed: int = 0, progress: bool = True,
        checkpoint: Optional[Union[str, Path]] = None, checkpoint_every: Optional[int] = None,
        optimizer: Optional[str] = None, schedule: Optional[str] = None, engine: str = "auto",
        eval_every: Optional[int] = None, callback: Optional[Callable[[int, dict], None]] = None,
        optimizer_options: Optional[dict] = None, lbfgs_steps: Optional[int] = None,
        lbfgs_batch_size: Optional[int] = None, restart: bool = False,
        distributed: Optional[bool] = None, balance: Optional[str] = None, gn_steps: Optional[int] = None,
        gn_batch_size: Optional[int] = None, gn_refresh: Optional[int] = None,
        dtype: Optional[str] = None) -> FitResult:
    """Fit ``model`` to ``problem``; the parameters are in ``help(sirenpde.fit)``."""
    settings = resolve_settings(problem, steps, lr, batch_size, optimizer, optimizer_options, schedule,
                                lbfgs_steps, lbfgs_batch_size, engine, seed, balance, gn_steps, gn_batch_size,
                                gn_refresh, dtype)
    check_model(problem, model)
    options = RunOptions(device, progress, checkpoint, checkpoint_every, eval_every, callback, restart, distributed)
    return train(problem, model, settings, options)


FIT_DOC = """Fit ``model`` to ``problem``.

    Parameters
    ----------
    problem : Problem
    model : nn.Module mapping ``(n, problem.in_features)`` to ``(n, problem.out_features)``
    steps : int, default ``problem.default_steps``; steps of ``optimizer``
    lr : float, default ``problem.default_lr`` (1e-4 unless the problem sets another)
    batch_size : int, default ``problem.default_batch_size``; points per step over all
        constraints, split by their shares
    device : "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", ...
    seed : int; seeds the sampling generator (a ``torch.Generator``; torch's global RNG is
        left alone). The model's initial weights are the caller's: build the model under a seed
        (``problem.make_model(..., seed=...)``) for a fully repeatable run
    progress : bool; show a tqdm progress bar
    checkpoint : path; saved every ``checkpoint_every`` steps (default: 10 times per run)
        and at the end; if the file exists, training resumes from it. A checkpoint records the
        run it belongs to (problem and options, model configuration, every setting below); one
        from another run is refused with the differing field named
    restart : bool; ignore an existing ``checkpoint`` file and start afresh (it is overwritten)
    distributed : None (default: distributed exactly when launched by ``torchrun`` with
        ``WORLD_SIZE > 1``), True or False. Distributed runs use DistributedDataParallel (NCCL on
        CUDA, gloo on the CPU); ``batch_size`` stays the global batch, each rank drawing its share;
        rank 0 alone shows progress, evaluates and writes checkpoints; every rank returns the same
        metrics
    optimizer : "adam", "lbfgs" or "gauss-newton"; default ``problem.default_optimizer`` ("adam"
        unless the problem sets another). "gauss-newton" runs the whole fit as Levenberg-Marquardt
        steps (see ``gn_steps`` for what a step is): ``steps`` of them (default
        ``problem.default_gn_run_steps`` or 200) on ``gn_batch_size`` points (``batch_size`` when
        only that is given); ``lr`` and ``schedule`` do not apply, ``optimizer_options`` are the
        damping's (``{"lam": 1e-3}``, the initial damping; ``lam_min``, ``lam_max``; ``accept``, the
        least ratio of actual to predicted decrease that accepts a step), ``balance`` sets the
        condition weights once, at the first step, and keeps them, and no finish follows;
        ``dtype`` defaults to the
        problem's ``default_dtype`` (float64 for helmholtz-square's recipe)
    schedule : "none", "cosine", "warmup-cosine", "exponential" or "step"; the learning-rate schedule;
        default ``problem.default_schedule`` (None, a constant rate, unless the problem sets one)
    engine : derivative engine, "auto", "jet", "reverse" or "autograd" (see :func:`sirenpde.field`)
    eval_every : int; record ``problem.metrics(model)`` every that many steps in
        ``result.evaluations`` (their time is excluded from ``train_s``)
    callback : called as ``callback(step, losses)`` after every step
    optimizer_options : dict, extra keyword arguments of the torch optimiser (``{"betas": (0.9,
        0.99)}`` for Adam, ``{"max_iter": 50}`` for L-BFGS); default for Adam:
        ``problem.default_adam_options`` (none unless the problem sets them)
    lbfgs_steps : int, L-BFGS steps (learning rate 1, strong-Wolfe line search, 20 iterations
        each) after the ``steps`` of ``optimizer``: a second-order finish, which converges much
        faster than Adam near a minimum of a smooth loss. Default ``problem.default_lbfgs_steps``
        (0 unless the problem sets it). The history and evaluations run on through both phases;
        a problem's curriculum (``problem.coefficients``) sees step numbers past ``steps`` during
        the finish
    lbfgs_batch_size : int, points per L-BFGS step, default ``problem.default_lbfgs_batch_size``
        or ``batch_size``. L-BFGS wants the same points in every evaluation of one step; a
        problem whose sampler returns all its points for a large enough batch (the pixel
        problems) gives it a fixed loss, others a fresh batch per step
    gn_steps : int, Gauss-Newton steps with Levenberg-Marquardt damping after the L-BFGS finish (or
        after ``steps``), on ``gn_batch_size`` points drawn at the phase's first step and kept for
        ``gn_refresh`` steps (see :mod:`sirenpde.training.gauss_newton`). Each step builds the
        Jacobian of every residual entry with respect to every parameter (points x parameters,
        refused before training when it exceeds the memory available) and solves the smaller of
        the two damped systems by Cholesky: the finish that reaches losses far below Adam's, best
        in float64 (``dtype="float64"``). Constraints must use ``reduction="mse"``. Under
        torchrun each rank builds the rows of its points, every rank gathers them and takes rank
        0's step. Default ``problem.default_gn_steps`` (0 unless the problem sets it)
    gn_batch_size : int, points of a Gauss-Newton phase (over all constraints, split by their
        shares), default ``problem.default_gn_batch_size`` or ``min(batch_size, 1024)``
    gn_refresh : int, draw new points for the Gauss-Newton phase every that many steps; 0 (the
        default unless ``problem.default_gn_refresh`` sets another) keeps the first points for
        the whole phase
    dtype : None, "float32" or "float64"; the model is converted to it before training (and
        returned in it); None keeps the model's own, except in a Gauss-Newton run of a problem
        with a ``default_dtype``. Points and residuals follow the
        model. A loss near 1e-10 needs float64: float32 stops near 1e-7 relative to the start
    balance : None, "none", "gradnorm" or "gradmax"; automatic weights for the condition terms
        (every constraint but the equations) from the gradients of each term, updated every 10
        steps of the first phase (see :mod:`sirenpde.training.balance`); recorded per step in
        ``history["weight/<name>"]``. Default ``problem.default_balance`` (None: the constraints'
        own weights, unchanged)

    Returns
    -------
    FitResult with the trained model, the loss history, the metrics, the timing and the evaluations.
    """
fit.__doc__ = FIT_DOC
