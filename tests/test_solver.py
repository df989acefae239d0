"""The solver: it fits, resumes from checkpoints exactly, and reports bad settings clearly."""
import math

import numpy as np
import pytest
import torch

import sirenpde
from sirenpde import Box, Constraint
from sirenpde.problem import split_batch
from _sine1d import Sine1D


def small_model():
    torch.manual_seed(0)
    return sirenpde.Siren(1, 1, hidden_features=32, hidden_layers=1, first_omega_0=3.0, hidden_omega_0=3.0)


def test_residual_vanishes_on_the_exact_solution():
    p = Sine1D()

    class Exact(torch.nn.Module):
        def forward(self, x):
            return torch.sin(math.pi * x)

    cons = p.constraints()
    gen = torch.Generator().manual_seed(0)
    losses = sirenpde.training.compute_losses(cons, Exact(), [c.sampler(64, gen) for c in cons])
    assert all(l < 1e-10 for l in losses)


def test_fit_solves_a_1d_poisson_problem(device):
    import time  # local: the import block is being reorganised elsewhere

    t0 = time.perf_counter()
    res = sirenpde.fit(Sine1D(), small_model(), steps=300, progress=False, eval_every=100, device=device)
    wall = time.perf_counter() - t0
    assert next(res.model.parameters()).device.type == device.type
    assert res.metrics["rel_l2"] < 0.05, res.metrics
    assert len(res.history["pde"]) == 300 and len(res.history["total"]) == 300
    assert res.history["total"][-1] < 0.01 * res.history["total"][0]
    assert [e["step"] for e in res.evaluations] == [100, 200, 300]
    # train_s excludes evaluations, so it lies inside the wall time of the call; the rate is
    # the steps over it; the evaluations' clock never runs backwards and ends at train_s
    train_s = res.times["train_s"]
    assert 0 < train_s < wall, (train_s, wall)
    assert res.times["steps_per_s"] == pytest.approx(300 / train_s, rel=1e-12)
    clock = [e["train_s"] for e in res.evaluations]
    assert 0 < clock[0] < clock[1] < clock[2] == pytest.approx(train_s, rel=1e-9), clock


def test_fit_is_repeatable_and_resumes_exactly(tmp_path):
    """Same seed, same machine: bit-identical runs; a run killed after its step-20 checkpoint and
    started again with the same settings ends bit-identical to the uninterrupted run."""
    full = sirenpde.fit(Sine1D(), small_model(), steps=40, progress=False, schedule="cosine")
    again = sirenpde.fit(Sine1D(), small_model(), steps=40, progress=False, schedule="cosine")
    assert full.history["total"] == again.history["total"]
    ckpt = tmp_path / "run.pt"

    def kill(step, losses):
        if step == 24:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sirenpde.fit(Sine1D(), small_model(), steps=40, progress=False, schedule="cosine", checkpoint=ckpt,
                     checkpoint_every=10, callback=kill)
    assert sirenpde.training.checkpoints.saved_step(ckpt) == 20
    resumed = sirenpde.fit(Sine1D(), small_model(), steps=40, progress=False, schedule="cosine", checkpoint=ckpt,
                           checkpoint_every=10)
    assert resumed.history["total"] == full.history["total"]
    for a, b in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(a, b)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic save left no temporary files


def test_checkpoint_of_another_run_is_refused(tmp_path):
    ckpt = tmp_path / "run.pt"
    sirenpde.fit(Sine1D(), small_model(), steps=20, progress=False, checkpoint=ckpt)
    for change, field in ((dict(steps=10), "settings.steps"), (dict(steps=20, seed=3), "settings.seed"),
                          (dict(steps=20, lr=0.5), "settings.lr"), (dict(steps=20, optimizer="lbfgs"),
                                                                  "settings.optimizer")):
        with pytest.raises(ValueError, match=f"belongs to another run: {field} is .* restart=True"):
            sirenpde.fit(Sine1D(), small_model(), progress=False, checkpoint=ckpt, **change)
    with pytest.raises(ValueError, match="model.hidden_features is 32 there but 8 here"):
        sirenpde.fit(Sine1D(), sirenpde.Siren(1, 1, 8, 1, 3.0, 3.0), steps=20, progress=False, checkpoint=ckpt)
    # restart=True ignores the old file and overwrites it with the new run
    res = sirenpde.fit(Sine1D(), small_model(), steps=10, progress=False, checkpoint=ckpt, restart=True)
    assert len(res.history["total"]) == 10 and sirenpde.training.checkpoints.saved_step(ckpt) == 10


def test_damaged_or_foreign_checkpoint_is_an_error(tmp_path):
    ckpt = tmp_path / "run.pt"
    sirenpde.fit(Sine1D(), small_model(), steps=5, progress=False, checkpoint=ckpt)
    data = bytearray(ckpt.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4] = bytes(4 - i for i in range(4)) if data[mid:mid + 4] != bytes([4, 3, 2, 1]) else b"\0\0\0\0"
    ckpt.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged") as err:
        sirenpde.fit(Sine1D(), small_model(), steps=5, progress=False, checkpoint=ckpt)
    assert "weights_only" not in str(err.value)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="is not a sirenpde checkpoint") as err:
        sirenpde.fit(Sine1D(), small_model(), steps=5, progress=False, checkpoint=text)
    assert "weights_only" not in str(err.value)
    hostile = tmp_path / "hostile.pt"
    torch.save({"format": "sirenpde-checkpoint-2", "run": Sine1D}, hostile)  # a class: not plain data
    with pytest.raises(ValueError, match="is not a sirenpde checkpoint: it holds objects") as err:
        sirenpde.fit(Sine1D(), small_model(), steps=5, progress=False, checkpoint=hostile)
    assert "weights_only" not in str(err.value)


def test_optimizer_and_schedule_options():
    res = sirenpde.fit(Sine1D(), small_model(), steps=15, lr=0.5, optimizer="lbfgs", progress=False)
    assert res.metrics["rel_l2"] < 1e-3, res.metrics  # measured 2.7e-5
    # 10 Adam steps at 1e-3 with cosine decay: measured loss 68.1 -> 34.4 (x0.50) and rel L2
    # 0.847 -> 0.636; bounds x0.65 and 0.75 (a schedule that stalled the rate would fail both)
    res = sirenpde.fit(Sine1D(), small_model(), steps=10, schedule="cosine", progress=False)
    total = res.history["total"]
    assert len(total) == 10 and total[-1] < 0.65 * total[0], total
    assert res.metrics["rel_l2"] < 0.75, res.metrics


@pytest.mark.parametrize("name, closed_form", [
    # rate at step t of T = 120 with base rate 2: each schedule's formula, written out here
    ("cosine", lambda t, T: 0.02 + (2.0 - 0.02) * 0.5 * (1 + math.cos(math.pi * t / T))),
    ("exponential", lambda t, T: 2.0 * 0.01 ** (t / T)),
    ("step", lambda t, T: 2.0 * 0.5 ** ((t >= T // 2) + (t >= 3 * T // 4))),
    ("warmup-cosine", lambda t, T: 2.0 * (0.01 + 0.99 * t / 6 if t < 6 else
                                          0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (t - 6) / 114)))),
])
def test_schedule_rates_follow_their_closed_form(name, closed_form):
    from sirenpde.optim import make_schedule

    steps = 120
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=2.0)
    sched = make_schedule(name, opt, steps)
    for t in range(steps + 1):
        # torch's recursive forms accumulate rounding: measured below 1e-14 relative
        assert opt.param_groups[0]["lr"] == pytest.approx(closed_form(t, steps), rel=1e-12), (name, t)
        opt.step()
        sched.step()


def test_warmup_cosine_schedule_values():
    """Linear from 1% to the full rate over the first 5% of the steps, then a cosine to 1%."""
    from sirenpde.optim import make_schedule

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=2.0)
    sched = make_schedule("warmup-cosine", opt, 200)  # warm-up: 10 steps
    rates = []
    for _ in range(201):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[0] == pytest.approx(0.02) and rates[5] == pytest.approx(2 * (0.01 + 0.99 * 0.5))
    assert rates[10] == pytest.approx(2.0) and max(rates) == pytest.approx(2.0)
    assert rates[105] == pytest.approx(2 * (0.01 + 0.99 * 0.5))  # half-way through the cosine
    assert rates[200] == pytest.approx(0.02) == min(rates[10:])
    # 10 steps under warm-up then cosine: measured loss 68.1 -> 36.6 (x0.54) and rel L2 0.847 ->
    # 0.658; bounds x0.7 and 0.76
    res = sirenpde.fit(Sine1D(), small_model(), steps=10, schedule="warmup-cosine", progress=False)
    total = res.history["total"]
    assert len(total) == 10 and total[-1] < 0.7 * total[0], total
    assert res.metrics["rel_l2"] < 0.76, res.metrics


def test_lbfgs_finish_after_adam_and_its_resumption(tmp_path):
    kw = dict(lbfgs_batch_size=256, progress=False)
    adam = sirenpde.fit(Sine1D(), small_model(), steps=40, progress=False)
    both = sirenpde.fit(Sine1D(), small_model(), steps=30, lbfgs_steps=10, eval_every=10, **kw)
    assert both.steps == 40 and len(both.history["total"]) == 40
    assert both.history["total"][:30] == adam.history["total"][:30]  # the same Adam phase first
    assert [e["step"] for e in both.evaluations] == [10, 20, 30, 40]
    # measured: rel L2 3.0e-5 with the finish against 0.275 after 40 Adam steps
    assert both.metrics["rel_l2"] < 1e-3 < 0.1 < adam.metrics["rel_l2"], (both.metrics, adam.metrics)
    # a checkpoint written during the finish resumes into L-BFGS and ends where one run ends
    ckpt = tmp_path / "finish.pt"
    sirenpde.fit(Sine1D(), small_model(), steps=30, lbfgs_steps=4, checkpoint=ckpt, **kw)
    assert sirenpde.training.checkpoints.saved_step(ckpt) == 34
    resumed = sirenpde.fit(Sine1D(), small_model(), steps=30, lbfgs_steps=10, checkpoint=ckpt, **kw)
    assert np.allclose(resumed.history["total"], both.history["total"], rtol=1e-4, atol=0)
    assert abs(resumed.metrics["rel_l2"] - both.metrics["rel_l2"]) <= 1e-3 * both.metrics["rel_l2"]


def test_problem_default_lbfgs_steps_apply_unless_overridden():
    class Finished(Sine1D):
        default_lbfgs_steps = 2
        default_lbfgs_batch_size = 64

    assert sirenpde.fit(Finished(), small_model(), steps=5, progress=False).steps == 7
    assert sirenpde.fit(Finished(), small_model(), steps=5, lbfgs_steps=0, progress=False).steps == 5
    with pytest.raises(ValueError, match="lbfgs_steps must be >= 0"):
        sirenpde.fit(Finished(), small_model(), steps=5, lbfgs_steps=-1, progress=False)
    with pytest.raises(ValueError, match="lbfgs_batch_size must be >= 1"):
        sirenpde.fit(Finished(), small_model(), steps=5, lbfgs_batch_size=0, progress=False)


def test_problem_default_schedule_applies_unless_overridden():
    """A problem's ``default_schedule`` is used when ``fit`` gets none; "none" turns it off."""

    class CosineSine1D(Sine1D):
        default_schedule = "cosine"

    def losses(problem, **kw):
        return sirenpde.fit(problem, small_model(), steps=30, lr=1e-2, progress=False, **kw).history["total"]

    implicit = losses(CosineSine1D())
    assert implicit == losses(Sine1D(), schedule="cosine")
    constant = losses(CosineSine1D(), schedule="none")
    assert constant == losses(Sine1D())
    assert implicit != constant  # the learning rate really changed the trajectory


def test_bad_settings():
    p = Sine1D()
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        sirenpde.fit(p, small_model(), steps=1, optimizer="sgd", progress=False)
    with pytest.raises(ValueError, match="unknown schedule"):
        sirenpde.fit(p, small_model(), steps=1, schedule="linear", progress=False)
    with pytest.raises(ValueError, match="in_features=2 but problem 'sine-1d' needs in_features=1"):
        sirenpde.fit(p, sirenpde.Siren(2, 1, hidden_features=8), steps=1, progress=False)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        sirenpde.fit(p, small_model(), steps=1, batch_size=0, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            sirenpde.fit(p, small_model(), steps=1, device="cuda", progress=False)
    with pytest.raises(FloatingPointError, match="non-finite"):
        sirenpde.fit(p, small_model(), steps=50, lr=1e6, progress=False)


def test_checkpoint_from_another_model_is_rejected(tmp_path):
    ckpt = tmp_path / "a.pt"
    sirenpde.fit(Sine1D(), small_model(), steps=2, progress=False, checkpoint=ckpt)
    other = sirenpde.Siren(1, 1, hidden_features=16, hidden_layers=1)
    with pytest.raises(ValueError, match="belongs to another run: model.first_omega_0 is 3.0 there but 30.0"):
        sirenpde.fit(Sine1D(), other, steps=2, progress=False, checkpoint=ckpt)
    junk = tmp_path / "junk.pt"
    torch.save({"hello": 1}, junk)
    with pytest.raises(ValueError, match="not a sirenpde checkpoint"):
        sirenpde.fit(Sine1D(), small_model(), steps=4, progress=False, checkpoint=junk)


def test_constraint_and_box_validation():
    with pytest.raises(ValueError, match="order must be 0, 1 or 2"):
        Constraint("c", lambda n, g: {}, lambda u, b: u.value, order=3)
    with pytest.raises(ValueError, match="reduction"):
        Constraint("c", lambda n, g: {}, lambda u, b: u.value, reduction="max")
    with pytest.raises(ValueError, match="every high must exceed its low"):
        Box([0, 0], [1, 0])
    # boundary samples on an elongated box [0, 4] x [0, 1]: faces weighted by their length, so
    # x = 0 and x = 4 each get 1/10 of the points, y = 0 and y = 1 each 4/10 (equal weights would
    # give 1/4 each); every count within 4.5 binomial standard deviations (sqrt(n p (1 - p)) = 19
    # and 31 for n = 4000) of its share, and the free coordinate uniform along its face
    box = Box([0, 0], [4, 1])
    n = 4000
    x = box.sample_boundary(n, torch.Generator().manual_seed(0))
    faces = [x[:, 0] == 0, x[:, 0] == 4, x[:, 1] == 0, x[:, 1] == 1]
    assert bool(torch.stack(faces).any(0).all())
    for face, share in zip(faces, (0.1, 0.1, 0.4, 0.4)):
        count = int(face.sum())
        assert abs(count - n * share) < 4.5 * math.sqrt(n * share * (1 - share)), (count, n * share)
    along = x[faces[2] | faces[3], 0] / 4  # uniform on [0, 1]: mean 1/2, standard error 0.007
    assert float(along.mean()) == pytest.approx(0.5, abs=0.03)
    cons = Sine1D().constraints()
    assert split_batch(cons, 110) == [100, 10]


def test_metrics_are_plain_python_numbers():
    """numpy and 0-d torch scalars from problem.metrics come back as Python numbers."""

    class NumpyMetrics(Sine1D):
        def metrics(self, model):
            return {"a": np.float64(1.5), "b": torch.tensor(2.0), "c": np.int64(3), "d": "text"}

    res = sirenpde.fit(NumpyMetrics(), small_model(), steps=2, progress=False, eval_every=1)
    assert res.metrics == {"a": 1.5, "b": 2.0, "c": 3, "d": "text"}
    assert [type(v) for v in res.metrics.values()] == [float, float, int, str]
    assert all(type(e["a"]) is float for e in res.evaluations)


def test_optimizer_options_reach_the_optimizer():
    """Adam betas change the trajectory; (0.9, 0.999) given explicitly equals the default; an
    unknown option or lr among the options is a clear error."""
    def losses(**kw):
        return sirenpde.fit(Sine1D(), small_model(), steps=20, lr=1e-2, progress=False, **kw).history["total"]

    default = losses()
    assert losses(optimizer_options={"betas": (0.9, 0.999)}) == default
    assert losses(optimizer_options={"betas": (0.5, 0.9)}) != default
    with pytest.raises(ValueError, match="does not accept the options \\['momentum'\\]"):
        losses(optimizer_options={"momentum": 0.9})
    with pytest.raises(ValueError, match="learning rate as lr"):
        losses(optimizer_options={"lr": 1.0})


def test_problem_default_adam_options_apply_to_adam_only():
    class Betas(Sine1D):
        default_adam_options = {"betas": (0.5, 0.9)}

    def losses(problem, **kw):
        return sirenpde.fit(problem, small_model(), steps=20, lr=1e-2, progress=False, **kw).history["total"]

    assert losses(Betas()) == losses(Sine1D(), optimizer_options={"betas": (0.5, 0.9)})
    assert losses(Betas(), optimizer_options={}) == losses(Sine1D())  # explicit options win
    # L-BFGS does not take betas: the Adam default is not passed to it
    # and L-BFGS still fits: 2 steps take rel L2 from 0.847 to 8.0e-4 (measured; bound 1e-2)
    res = sirenpde.fit(Betas(), small_model(), steps=2, lr=0.5, optimizer="lbfgs", progress=False)
    assert len(res.history["total"]) == 2 and res.metrics["rel_l2"] < 1e-2, res.metrics
