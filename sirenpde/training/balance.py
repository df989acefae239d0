"""Automatic loss balancing: the weights of the condition terms follow their gradients.

Learning-rate annealing after Wang, Teng & Perdikaris 2021 ("Understanding and mitigating gradient
pathologies in physics-informed neural networks", SIAM J. Sci. Comput., Algorithm 1). Every
``every`` steps of the first phase, the gradient of each constraint's *unweighted* loss with
respect to the trainable parameters is taken on the step's own batch, and each condition's weight
moves towards an estimate ``lam_hat_i``::

    lam_i <- (1 - alpha) * lam_i + alpha * lam_hat_i

The equations are the reference and keep the weights their constraints give them: the constraints
marked ``equation = True`` (an attribute a problem may set on a :class:`~sirenpde.problem.Constraint`),
or the first constraint when none is marked. Two estimates, picked by name (``fit(balance=...)``):

``"gradnorm"`` (the default scheme): ``lam_hat_i = ||g_ref|| / ||g_i||``, with ``g_ref`` the gradient
    of the weighted equation terms and ``g_i`` that of condition ``i``: after an update every
    weighted condition pulls the parameters as hard as the equations do. This is the norm form of
    Wang, Wang & Perdikaris 2023 ("An expert's guide to training PINNs"). It is chosen over the
    paper's max/mean ratio because it does not depend on the number of parameters: for two terms
    with gradients of the same distribution the max/mean ratio still grows like the largest of P
    samples over their mean (about 10 to 30 for a 3x256 Siren), so the conditions end up over-
    weighted by a factor that changes with the network's size.
``"gradmax"``: the paper's ``lam_hat_i = max|g_ref| / mean|g_i|`` (for comparison).

A condition's weight never falls below the weight it was given (its constraint's ``weight``, 1 by
default): balancing is there to lift conditions that the equations' gradients drown, and lowering
one lets the network satisfy the equation by ignoring the data. Measured on PINNacle's Heat 2d-MS
(u_t = u_xx / (500 pi)^2 + u_yy / pi^2 from a sin(20 pi x) initial value): without the floor the
initial condition's weight fell to 0.15 in 300 steps and the fit ended at L2RE 0.58, against 0.044
with fixed unit weights; where the conditions need lifting (Poisson 2d-C, whose weights rise to
~7,000) the floor never acts.

The L-BFGS and Gauss-Newton finishes keep the weights the first phase ended with: their steps
assume one objective. A whole Gauss-Newton run (``optimizer="gauss-newton"``) sets them once, at
its first step, to the estimate itself (``alpha`` 1), and keeps them: on PINNacle's Wave 1d-C the
conditions' weights come out at 1e3-1e5 against the equation's 1 and a 2x64 Siren reaches L2RE
2.5e-4 in 250 s, where unit weights crawl (0.22 after 128 s). A term whose gradient is zero or not finite keeps its weight.

Distributed runs: each rank's gradients are of its share of the batch scaled as in the training
loss, so their mean over ranks (one all-reduce of the stacked gradients, ``reduce``) is the
gradient on the union batch, and every rank computes the same weights from the same numbers, equal
to a one-process run on the union batch. The weights are recorded per step in the history as
``"weight/<name>"``; checkpoints save the history, and a resumed run takes its weights from it.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import Tensor


def norm_ratio(g_ref: Tensor, g: Tensor) -> Tensor:
    return g_ref.norm() / g.norm()


def max_mean_ratio(g_ref: Tensor, g: Tensor) -> Tensor:
    return g_ref.abs().max() / g.abs().mean()


BALANCES: dict[str, Optional[Callable[[Tensor, Tensor], Tensor]]] = {
    "none": None, "gradnorm": norm_ratio, "gradmax": max_mean_ratio}


def check_balance(balance) -> str:
    """``balance`` as a name of :data:`BALANCES` (None is ``"none"``), or ValueError."""
    balance = "none" if balance is None else balance
    if balance not in BALANCES:
        raise ValueError(f"unknown loss balance {balance!r}; valid: {', '.join(BALANCES)} (or None)")
    return balance


def equation_terms(constraints: Sequence) -> list[int]:
    """The indices of the reference terms: constraints with ``equation = True``, else the first."""
    marked = [i for i, c in enumerate(constraints) if getattr(c, "equation", False)]
    return marked or [0]


def term_gradients(loss, batches: Sequence[dict], scales, params: Sequence[Tensor]) -> Tensor:
    """``(k, P)``: the gradient of each of the ``k`` constraints' unweighted losses with respect to
    ``params`` (flattened, zeros where a term does not reach a parameter). ``loss`` is the inner
    loss module (not its DDP wrapper): these gradients are reduced by the caller."""
    losses = loss(batches, scales)[: len(loss.constraints)]
    rows = []
    for i in range(len(losses)):
        grads = torch.autograd.grad(losses[i], params, retain_graph=i + 1 < len(losses), allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for p, g in zip(params, grads)]))
    return torch.stack(rows).detach()


class Balance:
    """The hook that sets the condition weights of ``loss`` (a :class:`ConstraintLoss`, in place).

    Parameters
    ----------
    loss : the inner loss module; its ``weights`` list is what the optimiser's total reads
    scheme : a name of :data:`BALANCES` other than ``"none"``
    state : the run's :class:`~sirenpde.training.state.TrainState`; a resumed one carries the weights
    stop : the first phase's last step (exclusive): no updates after it
    reduce : mean over ranks of a tensor (the identity in one process)
    every, alpha : update period in steps and the moving average's step towards the estimate
    """

    EVERY = 10
    ALPHA = 0.1

    def __init__(self, loss, scheme: str, state, stop: int, reduce: Callable[[Tensor], Tensor],
                 every: Optional[int] = None, alpha: Optional[float] = None):
        self.loss, self.ratio, self.stop, self.reduce = loss, BALANCES[scheme], int(stop), reduce
        self.every = int(every or self.EVERY)
        self.alpha = float(self.ALPHA if alpha is None else alpha)
        self.reference = equation_terms(loss.constraints)
        self.terms = [i for i in range(len(loss.constraints)) if i not in self.reference]
        self.keys = {i: f"weight/{loss.names[i]}" for i in self.terms}
        self.floor = {i: float(loss.constraints[i].weight) for i in self.terms}
        for i, key in self.keys.items():
            saved = state.history.setdefault(key, [])
            if saved:  # a resumed run continues with the weights it had
                loss.weights[i] = float(saved[-1])

    def on_batch(self, state, batches: Sequence[dict], scales) -> None:
        if self.terms and state.step < self.stop and state.step % self.every == 0:
            self.update(batches, scales)
        for i, key in self.keys.items():
            state.history[key].append(float(self.loss.weights[i]))

    def update(self, batches: Sequence[dict], scales) -> None:
        params = [p for p in self.loss.parameters() if p.requires_grad]
        g = self.reduce(term_gradients(self.loss, batches, scales, params))
        g_ref = sum(self.loss.weights[i] * g[i] for i in self.reference)
        for i in self.terms:
            estimate = float(self.ratio(g_ref, g[i]))
            if estimate > 0 and estimate != float("inf"):  # NaN fails the first test
                moved = (1 - self.alpha) * self.loss.weights[i] + self.alpha * estimate
                # never below the weight the condition was given (see the module docstring)
                self.loss.weights[i] = max(self.floor[i], moved)


def make_balance(scheme: str, loss, state, stop: int, reduce, once: bool = False) -> list:
    """The balancing hook of a run, as a list (empty for ``"none"``). ``once``: the weights are
    set at the first step to the estimate itself and kept (a Gauss-Newton run, whose steps are
    judged against a fixed objective)."""
    if BALANCES[check_balance(scheme)] is None:
        return []
    if once:
        return [Balance(loss, scheme, state, 1, reduce, every=1, alpha=1.0)]
    return [Balance(loss, scheme, state, stop, reduce)]
