"""Automatic loss balancing (sirenpde/training/balance.py): the weights follow the gradients, are
part of the run's identity, recorded, resumed exactly, and equal on 2 ranks and 1 process."""
import math

import pytest
import torch

import sirenpde
from sirenpde import Box, Constraint, Problem
from sirenpde.training.balance import Balance, equation_terms, term_gradients
from sirenpde.training.distributed import Ranks, Sharding
from sirenpde.training.loss import ConstraintLoss
from sirenpde.training.setup import resolve_settings, run_identity
from sirenpde.training.state import TrainState


class Plate(Problem):
    """u_xx + u_yy = -2 pi^2 sin(pi x) sin(pi y) on [0, 1]^2, u = 0 on the edges (exact: the source's
    sine product); the edge term's gradient starts orders of magnitude below the equation's."""

    name = "plate"
    in_features = 2
    default_steps = 30
    default_batch_size = 96
    default_lr = 1e-3

    def __init__(self):
        self.box = Box([0.0, 0.0], [1.0, 1.0])

    def constraints(self):
        def source(x):
            return -2 * math.pi**2 * torch.sin(math.pi * x[:, :1]) * torch.sin(math.pi * x[:, 1:])

        return [Constraint("pde", self.box.sampler(), order=2, second="laplacian",
                           residual=lambda u, b: u.laplacian - source(u.x)),
                Constraint("edge", lambda n, g: {"x": self.box.sample_boundary(n, g)},
                           lambda u, b: u.value, share=0.5)]


def model(dtype=torch.float32):
    torch.manual_seed(0)
    return sirenpde.Siren(2, 1, hidden_features=16, hidden_layers=1, first_omega_0=3.0,
                          hidden_omega_0=3.0).to(dtype)


def test_balance_setting_resolves_from_the_problem_and_enters_the_identity():
    p = Plate()
    args = (None, None, None, "adam", None, None, None, None, "auto", 0)
    assert resolve_settings(p, *args).balance == "none"
    p.default_balance = "gradnorm"
    assert resolve_settings(p, *args).balance == "gradnorm"
    assert resolve_settings(p, *args, balance="none").balance == "none"
    with pytest.raises(ValueError, match="unknown loss balance 'magic'"):
        resolve_settings(p, *args, balance="magic")
    with pytest.raises(ValueError, match="unknown loss balance"):
        sirenpde.fit(Plate(), model(), steps=1, progress=False, balance="magic")
    # "none" stays out of the identity (older checkpoints resume); a scheme is in it
    ids = {b: run_identity(p, model(), resolve_settings(p, *args, balance=b))["settings"] for b in ("none", "gradnorm")}
    assert "balance" not in ids["none"] and ids["gradnorm"]["balance"] == "gradnorm"


def test_one_update_with_alpha_1_equalises_the_weighted_gradient_norms():
    """||w_edge g_edge|| = ||w_pde g_pde|| after an update that takes the estimate as it is (float64,
    to 1e-12), and the max/mean variant sets max|g_pde| / mean|g_edge| exactly."""
    p = Plate()
    for scheme, check in (("gradnorm", lambda g, w: (w * g[1]).norm() / g[0].norm()),
                          ("gradmax", lambda g, w: w * g[1].abs().mean() / g[0].abs().max())):
        loss = ConstraintLoss(model(torch.float64), p.constraints())
        state = TrainState.fresh(loss.names, "adam", {0: torch.Generator().manual_seed(0)})
        hook = Balance(loss, scheme, state, stop=10, reduce=lambda t: t, alpha=1.0)
        gen = torch.Generator().manual_seed(1)
        batches = [{"x": c.sample(40, gen)["x"].double()} for c in loss.constraints]
        hook.on_batch(state, batches, None)
        g = term_gradients(loss, batches, None, list(loss.parameters()))
        w = loss.weights[1]
        assert w > 10, w  # the edges were under-weighted by far
        assert abs(float(check(g, w)) - 1) < 1e-12
        assert state.history["weight/edge"] == [w] and "weight/pde" not in state.history
        assert loss.weights[0] == 1.0  # the reference keeps its weight


def test_a_weight_never_falls_below_the_one_the_condition_was_given():
    """An edge term whose gradient dwarfs the equation's (the equation scaled by 1e-4): the estimate
    is far below 1, and the weight stays at the constraint's own weight (2.5 here), exactly."""
    p = Plate()
    cons = p.constraints()
    quiet = Constraint("pde", cons[0].sampler, order=2, second="laplacian",
                       residual=lambda u, b: 1e-4 * cons[0].residual(u, b))
    edge = Constraint("edge", cons[1].sampler, cons[1].residual, share=0.5, weight=2.5)
    loss = ConstraintLoss(model(torch.float64), [quiet, edge])
    state = TrainState.fresh(loss.names, "adam", {0: torch.Generator().manual_seed(0)})
    hook = Balance(loss, "gradnorm", state, stop=10, reduce=lambda t: t, alpha=1.0)
    gen = torch.Generator().manual_seed(1)
    batches = [{"x": c.sample(40, gen)["x"].double()} for c in loss.constraints]
    g = term_gradients(loss, batches, None, list(loss.parameters()))
    assert float(g[0].norm() / g[1].norm()) < 0.1  # what the estimate alone would set
    hook.on_batch(state, batches, None)
    assert loss.weights[1] == 2.5 and state.history["weight/edge"] == [2.5]


def test_equations_are_the_marked_constraints_or_the_first():
    cons = Plate().constraints()
    assert equation_terms(cons) == [0]
    cons[1].equation = True
    assert equation_terms(cons) == [1]


def test_fit_records_the_weights_and_freezes_them_in_the_lbfgs_finish():
    r = sirenpde.fit(Plate(), model(), steps=25, lbfgs_steps=2, progress=False, balance="gradnorm")
    w = r.history["weight/edge"]
    assert len(w) == len(r.history["total"]) == 27
    assert w[0] > 1 and len(set(w[:10])) == 1 and w[10] != w[9] and w[20] != w[19]  # every 10 steps
    assert w[25] == w[26] == w[24]  # L-BFGS keeps the first phase's weights
    plain = sirenpde.fit(Plate(), model(), steps=5, progress=False)
    assert not any(k.startswith("weight/") for k in plain.history)


def test_a_resumed_run_continues_with_the_same_weights(tmp_path):
    """Killed after its step-20 checkpoint and resumed: bit-identical to the uninterrupted run,
    weights included (they come back from the checkpoint's history)."""
    full = sirenpde.fit(Plate(), model(), steps=40, progress=False, balance="gradnorm")
    ckpt = tmp_path / "run.pt"

    def kill(step, losses):
        if step == 24:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sirenpde.fit(Plate(), model(), steps=40, progress=False, balance="gradnorm", checkpoint=ckpt,
                     checkpoint_every=10, callback=kill)
    resumed = sirenpde.fit(Plate(), model(), steps=40, progress=False, balance="gradnorm", checkpoint=ckpt)
    assert resumed.history["weight/edge"] == full.history["weight/edge"]
    assert resumed.history["total"] == full.history["total"]
    with pytest.raises(ValueError, match="settings.balance"):  # an unbalanced run cannot take it over
        sirenpde.fit(Plate(), model(), steps=40, progress=False, checkpoint=ckpt)


def test_two_ranks_reduce_to_the_weights_of_one_process_on_the_union_batch():
    """What a 2-rank run computes, without launching one: each rank's term gradients on its shard,
    scaled as in training, averaged (what ``reduce`` does with an all-reduce), give the gradients of
    the union batch in one process, hence the same weights (float64, to 1e-12 relative). The weights
    depend on nothing else: a rank's own, unreduced gradients give other weights (negative control)."""
    p = Plate()
    counts = [41, 23]
    parts, per_rank = [], []
    for rank in range(2):
        sharding = Sharding(Ranks(rank, 2), 2)
        batches, scales = sharding.sample(p.constraints(), counts, sharding.generators(5), {})
        batches = [{"x": b["x"].double()} for b in batches]
        parts.append(batches)
        loss = ConstraintLoss(model(torch.float64), p.constraints())
        per_rank.append(term_gradients(loss, batches, scales, list(loss.parameters())))
    union = [{"x": torch.cat([parts[0][i]["x"], parts[1][i]["x"]])} for i in range(2)]
    loss = ConstraintLoss(model(torch.float64), p.constraints())
    g_union = term_gradients(loss, union, None, list(loss.parameters()))
    g_mean = (per_rank[0] + per_rank[1]) / 2
    assert float((g_mean - g_union).abs().max()) <= 1e-12 * float(g_union.abs().max())

    def weight(g):
        loss = ConstraintLoss(model(torch.float64), p.constraints())
        state = TrainState.fresh(loss.names, "adam", {})
        hook = Balance(loss, "gradnorm", state, stop=10, reduce=lambda t, g=g: g, alpha=0.5)
        hook.update(union, None)  # the reduced gradients replace whatever this process computed
        return loss.weights[1]

    assert abs(weight(g_mean) / weight(g_union) - 1) < 1e-12
    assert abs(weight(per_rank[0]) / weight(g_union) - 1) > 1e-3


def test_frozen_parameters_are_skipped():
    """A parameter with requires_grad False (the session freezes those no term reaches) is left out."""
    loss = ConstraintLoss(model(), Plate().constraints())
    params = [p for p in loss.parameters()]
    params[0].requires_grad_(False)
    state = TrainState.fresh(loss.names, "adam", {})
    gen = torch.Generator().manual_seed(0)
    batches = [c.sample(8, gen) for c in loss.constraints]
    Balance(loss, "gradnorm", state, stop=10, reduce=lambda t: t).update(batches, None)
    assert loss.weights[1] != 1.0
