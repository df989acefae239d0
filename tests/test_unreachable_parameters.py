"""Parameters that no loss term reaches: found by a probe, frozen for the run, and named (one
process; tests/test_distributed_registry.py checks the same under 2 ranks)."""
from __future__ import annotations

import warnings

import pytest
import torch

import sirenpde
from sirenpde.problems import get_problem
from sirenpde.training.loss import ConstraintLoss, UnreachableParameterWarning, unreachable_parameters

CPU = torch.device("cpu")


def tiny(name: str, **options):
    problem = get_problem(name, **options)
    return problem, problem.make_model("siren", seed=2, hidden_features=16, hidden_layers=1)


def probe(problem, model):
    loss = ConstraintLoss(model, problem.constraints())
    return list(unreachable_parameters(loss, problem, [64] * len(loss.constraints), 10, CPU))


def test_probe_names_the_output_bias_under_a_loss_on_derivatives_alone(one_thread):
    problem, model = tiny("poisson-gradient", size=32)
    assert probe(problem, model) == ["output.bias"]
    assert all(p.grad is None for p in model.parameters())  # the probe leaves .grad alone


def test_probe_finds_nothing_when_a_term_reads_the_value(one_thread):
    problem, model = tiny("image-fit", size=32)
    assert probe(problem, model) == []


def test_parameters_the_caller_froze_are_neither_named_nor_thawed(one_thread):
    problem, model = tiny("poisson-gradient", size=32)
    model.output.bias.requires_grad_(False)
    assert probe(problem, model) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreachableParameterWarning)
        sirenpde.fit(problem, model, steps=2, lr=1e-3, batch_size=200, lbfgs_steps=0, progress=False)
    assert not model.output.bias.requires_grad


def test_a_gradient_that_is_zero_is_not_unreachable(one_thread):
    """Only a missing gradient counts: a zeroed output layer gives the hidden layers gradients of
    exactly zero, and they may train once it moves."""
    problem, model = tiny("image-fit", size=32)
    with torch.no_grad():
        model.output.weight.zero_()
    assert probe(problem, model) == []


def test_fit_freezes_the_bias_says_so_once_and_gives_it_back(one_thread):
    """5 Adam steps and 2 L-BFGS steps: the bias stays bit-identical, every other parameter moves,
    and the model comes back with every parameter trainable."""
    problem, model = tiny("poisson-gradient", size=32)
    init = {k: v.detach().clone() for k, v in model.named_parameters()}
    with pytest.warns(UnreachableParameterWarning) as caught:
        sirenpde.fit(problem, model, steps=5, lbfgs_steps=2, lr=1e-3, batch_size=200, progress=False)
    assert [str(w.message) for w in caught] == [
        "poisson-gradient: 1 parameter gets no gradient from any loss term and is frozen at the initial "
        "value: output.bias"]
    after = dict(model.named_parameters())
    assert torch.equal(after["output.bias"], init["output.bias"])
    assert all(not torch.equal(after[k], init[k]) for k in init if k != "output.bias")
    assert all(p.requires_grad for p in model.parameters())


def test_fit_of_a_problem_with_a_value_term_freezes_nothing(one_thread):
    problem, model = tiny("image-fit", size=32)
    init = {k: v.detach().clone() for k, v in model.named_parameters()}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreachableParameterWarning)
        sirenpde.fit(problem, model, steps=3, lr=1e-3, batch_size=200, progress=False)
    assert all(not torch.equal(v, init[k]) for k, v in model.named_parameters())


def test_a_run_with_a_frozen_bias_resumes_from_its_checkpoint(tmp_path, one_thread):
    """requires_grad is not saved: the resumed run probes again and freezes the same bias, so it
    finishes exactly as the uninterrupted run (Adam, then L-BFGS across the checkpoint)."""
    kw = dict(steps=6, lbfgs_steps=2, lr=1e-3, batch_size=200, seed=4, progress=False, checkpoint_every=2)

    def stop(step, losses):
        if step == 4:
            raise KeyboardInterrupt

    problem, model = tiny("poisson-gradient", size=32)
    init_bias = model.output.bias.detach().clone()
    with pytest.warns(UnreachableParameterWarning), pytest.raises(KeyboardInterrupt):
        sirenpde.fit(problem, model, checkpoint=tmp_path / "run.ckpt", callback=stop, **kw)
    with pytest.warns(UnreachableParameterWarning):
        resumed = sirenpde.fit(problem, tiny("poisson-gradient", size=32)[1],
                               checkpoint=tmp_path / "run.ckpt", **kw)
    with pytest.warns(UnreachableParameterWarning):
        whole = sirenpde.fit(problem, tiny("poisson-gradient", size=32)[1], **kw)
    assert resumed.history["total"] == whole.history["total"]
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(resumed.model.output.bias, init_bias)
