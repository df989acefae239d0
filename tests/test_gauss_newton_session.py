"""Gauss-Newton in training sessions: finishes and whole runs in fit, settings and identity, resume,
float64 runs and files, the command line, balancing, an L-BFGS finish that diverges."""
import math

import pytest
import torch

import sirenpde
from _sine1d import Sine1D
from sirenpde.nn import Siren


class Poisson1D(Sine1D):
    """tests/_sine1d.py's problem with its own name, 200 Adam steps and float64 metrics."""

    name = "gn-poisson-1d"
    default_steps = 200

    def metrics(self, model):
        x = torch.linspace(-1, 1, 201, dtype=torch.float64).unsqueeze(-1)
        with torch.no_grad():
            pred = model(x)
        exact = torch.sin(math.pi * x)
        return {"rel_l2": float((pred - exact).norm() / exact.norm())}


def _fit(gn_steps, **kw):
    problem = Poisson1D()
    torch.manual_seed(0)
    model = Siren(1, 1, 16, 1, first_omega_0=3.0, hidden_omega_0=3.0).double()
    return sirenpde.fit(problem, model, progress=False, engine="jet", gn_steps=gn_steps, gn_batch_size=64, **kw)


def test_fit_with_a_gauss_newton_finish_beats_adam_by_orders_of_magnitude():
    adam = _fit(0)
    finish = _fit(30)
    assert len(finish.history["total"]) == 200 + 30
    # measured: total 9.0e-3 -> 3.9e-8, relative L2 2.4e-3 -> 5.5e-6
    assert finish.history["total"][-1] < 1e-6 < adam.history["total"][-1]
    assert finish.metrics["rel_l2"] < 1e-2 * adam.metrics["rel_l2"], (adam.metrics, finish.metrics)


def test_fit_refuses_a_gauss_newton_finish_too_large_for_memory(monkeypatch):
    from sirenpde.meshing import cost
    monkeypatch.setattr(cost, "available_memory", lambda: 10_000)
    with pytest.raises(ValueError, match="fewer points or a smaller network"):
        _fit(5, steps=1)


def test_gauss_newton_settings_enter_the_identity_only_when_used():
    from sirenpde.training.setup import resolve_settings, run_identity
    problem = Poisson1D()
    model = Siren(1, 1, 8, 1).double()
    args = (problem, 10, None, None, "adam", None, None, 0, None, "auto", 0)
    plain = run_identity(problem, model, resolve_settings(*args))["settings"]
    assert "gn_steps" not in plain and "gn_batch_size" not in plain  # older checkpoints resume
    used = run_identity(problem, model, resolve_settings(*args, gn_steps=5, gn_batch_size=32))["settings"]
    assert used["gn_batch_size"] == 32 and "gn_steps" not in used  # the finish can be lengthened
    with pytest.raises(ValueError, match="gn_steps"):
        resolve_settings(*args, gn_steps=-1)



def test_a_whole_gauss_newton_run_in_float64_from_a_float32_model():
    problem = Poisson1D()
    torch.manual_seed(0)
    model = Siren(1, 1, 16, 1, first_omega_0=3.0, hidden_omega_0=3.0)  # float32 as built
    result = sirenpde.fit(problem, model, optimizer="gauss-newton", steps=40, gn_batch_size=64, dtype="float64",
                          progress=False)
    assert next(result.model.parameters()).dtype == torch.float64
    assert len(result.history["total"]) == 40 and len(result.history["gn/damping"]) == 40
    # measured: total 6.5 -> 2.2e-11, relative L2 3.0e-7 after 40 steps
    assert result.history["total"][-1] < 1e-10, result.history["total"][-5:]
    assert result.metrics["rel_l2"] < 1e-4, result.metrics


def test_gauss_newton_run_refuses_what_it_cannot_do():
    problem = Poisson1D()
    model = Siren(1, 1, 8, 1)
    for kwargs, match in (({"lbfgs_steps": 3}, "a finish after a Gauss-Newton run"),
                          ({"gn_steps": 3}, "a finish after a Gauss-Newton run"),
                          ({"optimizer_options": {"betas": (0.9, 0.99)}}, "unknown Gauss-Newton option 'betas'"),
                          ({"dtype": "float16"}, "dtype must be one of")):
        with pytest.raises(ValueError, match=match):
            sirenpde.fit(problem, model, optimizer="gauss-newton", steps=1, progress=False, **kwargs)


def test_resume_inside_a_gauss_newton_phase_is_bit_identical(tmp_path):
    """Adam, then a Gauss-Newton finish whose points are refreshed every 4 steps; a run stopped
    inside the finish (past a refresh) and resumed from its checkpoint ends exactly as one run."""
    class Stop(Exception):
        pass

    def stop_at(step, losses):
        if step == 27:  # after the checkpoint of step 25: inside the finish, on its second points
            raise Stop

    kw = dict(steps=15, gn_steps=15, gn_refresh=4, checkpoint_every=5)
    whole = _fit(checkpoint=tmp_path / "a.pt", **{k: v for k, v in kw.items() if k != "gn_steps"},
                 gn_steps=kw["gn_steps"])
    with pytest.raises(Stop):
        _fit(checkpoint=tmp_path / "b.pt", callback=stop_at, **kw)
    resumed = _fit(checkpoint=tmp_path / "b.pt", **kw)
    assert resumed.history["total"] == whole.history["total"]
    assert resumed.history["gn/damping"] == whole.history["gn/damping"]
    for p, q in zip(whole.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    # the run's dtype is part of its identity: a float32 run does not resume a float64 checkpoint
    with pytest.raises(ValueError, match="dtype"):
        _fit(checkpoint=tmp_path / "b.pt", dtype="float32", **kw)


def test_a_float64_solution_loads_back_in_float64(tmp_path):
    import sirenpde
    from sirenpde.io.solution import save_model
    problem = sirenpde.get_problem("helmholtz-square", points=16, boundary_points=8)
    model = problem.make_model(hidden_features=8, hidden_layers=1, seed=1).double()
    save_model(tmp_path / "model.pt", model, "helmholtz-square", {"points": 16, "boundary_points": 8})
    loaded = sirenpde.load(tmp_path / "model.pt")
    assert next(loaded.model.parameters()).dtype == torch.float64
    x = torch.rand(50, 2, dtype=torch.float64)
    assert torch.equal(loaded(x), model(x).detach())  # not rounded through float32


def test_cli_solves_with_gauss_newton_in_float64(tmp_path, capsys):
    import json

    import sirenpde
    from sirenpde.cli.main import main
    out = tmp_path / "run"
    rc = main(["solve", "helmholtz-square", "-O", "points=64", "-O", "boundary_points=32", "--hidden-features",
               "16", "--hidden-layers", "1", "--optimizer", "gauss-newton", "--steps", "30", "--dtype", "float64",
               "--out", str(out), "-q"])
    assert rc == 0
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["steps"] == 30 and "gn/damping" not in meta["final_loss"]
    assert (meta["settings"]["optimizer"], meta["settings"]["dtype"]) == ("gauss-newton", "float64")
    assert meta["final_loss"]["total"] < 1e-6, meta["final_loss"]  # measured 1.1 -> 1.1e-8
    assert next(sirenpde.load(out / "model.pt").model.parameters()).dtype == torch.float64
    rc = main(["solve", "helmholtz-square", "--optimizer", "gauss-newton", "--lbfgs-steps", "2",
               "--out", str(tmp_path / "bad"), "-q"])
    assert rc == 2 and "a finish after a Gauss-Newton run" in capsys.readouterr().err


def test_helmholtz_square_defaults_to_its_gauss_newton_recipe():
    import sirenpde
    from sirenpde.training.setup import resolve_settings
    problem = sirenpde.get_problem("helmholtz-square")
    args = (problem, None, None, None, None, None, None, None, None, "auto", 0)
    default = resolve_settings(*args)
    assert (default.optimizer, default.steps, default.dtype) == ("gauss-newton", 150, "float64")
    assert default.gn_batch_size == 1024 + 256 and default.lbfgs_steps == 0  # every point, each step
    adam = resolve_settings(problem, None, None, None, "adam", None, None, None, None, "auto", 0)
    assert (adam.optimizer, adam.steps, adam.dtype, adam.schedule) == ("adam", 5000, None, "cosine")
    # Gauss-Newton asked for by name takes the recipe's precision unless told otherwise
    chosen = resolve_settings(problem, None, None, None, "gauss-newton", None, None, None, None, "auto", 0)
    assert chosen.dtype == "float64" and chosen.steps == 150
    told = resolve_settings(problem, None, None, None, "gauss-newton", None, None, None, None, "auto", 0,
                            dtype="float32")
    assert told.dtype == "float32"
    model = problem.make_model()
    assert sum(p.numel() for p in model.parameters()) == 8577  # 2x64: J is 1,280 x 8,577



def test_a_balanced_gauss_newton_run_sets_the_weights_once():
    """balance with a whole Gauss-Newton run: the condition weights take the gradient-norm estimate
    at the first step (no moving average) and keep it, so every step sees one objective."""
    problem = Poisson1D()
    torch.manual_seed(0)
    model = Siren(1, 1, 16, 1, first_omega_0=3.0, hidden_omega_0=3.0)
    result = sirenpde.fit(problem, model, optimizer="gauss-newton", steps=12, gn_batch_size=64, dtype="float64",
                          balance="gradnorm", progress=False)
    weights = result.history["weight/bc"]
    assert len(weights) == 12 and len(set(weights)) == 1, weights
    assert weights[0] > 10.0  # lifted from the given 10 (measured: 67.7)
    assert result.history["total"][-1] < 1e-3 * result.history["total"][0]


def test_a_diverging_lbfgs_finish_keeps_the_first_phase_model(monkeypatch):
    """An L-BFGS step that ends non-finite is undone and the finish stops, with a warning; the run
    returns the model Adam reached instead of raising and losing it."""
    from sirenpde.training.phases import FinishDivergedWarning
    real_step = torch.optim.LBFGS.step
    calls = []

    def diverging(self, closure):
        loss = real_step(self, closure)
        calls.append(1)
        if len(calls) == 2:  # the second L-BFGS step leaps to NaN
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.fill_(float("nan"))
        return loss

    monkeypatch.setattr(torch.optim.LBFGS, "step", diverging)
    snapshots = {}

    def keep(step, losses):
        snapshots[step] = [p.detach().clone() for p in model_of[0].parameters()]

    import sirenpde
    model_of = []
    real_fit = sirenpde.fit

    def fit_keeping(problem, model, **kwargs):
        model_of.append(model)
        return real_fit(problem, model, **kwargs)

    monkeypatch.setattr(sirenpde, "fit", fit_keeping)
    with pytest.warns(FinishDivergedWarning, match="non-finite loss"):
        finished = _fit(0, steps=20, lbfgs_steps=4, callback=keep)
    assert len(calls) == 2  # no step after the one that diverged
    assert len(finished.history["total"]) == 24 and all(math.isfinite(v) for v in finished.history["total"])
    # the model after the first L-BFGS step (step index 20) is the one returned
    for p, q in zip(finished.model.parameters(), snapshots[20]):
        assert torch.equal(p.detach(), q)
    assert not all(torch.equal(p, q) for p, q in zip(snapshots[19], snapshots[20]))  # that step moved it
    assert all(torch.isfinite(p).all() for p in finished.model.parameters())
