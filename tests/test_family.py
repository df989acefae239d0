"""Families of problems (sirenpde.hyper.family): parameters, ranges, references and residuals."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sirenpde.hyper.poisson_family import PoissonBump, PoissonFamily, reference_solution, source
from sirenpde.problem import Problem

H = 1e-3  # finite-difference step (float64)


def _fd_laplacian(points, member):
    lap = -4 * reference_solution(points, member)
    for e in np.eye(2):
        lap = lap + reference_solution(points + H * e, member) + reference_solution(points - H * e, member)
    return lap / H**2


def _members():
    # random members plus the corners of the range (the bump nearest the boundary is the hard case)
    fam = PoissonFamily()
    p = fam.sample(3, torch.Generator().manual_seed(3), dtype=torch.float64)
    return torch.cat([p, torch.tensor([[0.5, 0.5, 0.25], [-0.5, 0.5, 0.1]], dtype=torch.float64)])


def test_reference_satisfies_the_pde_and_the_boundary_condition():
    rng = np.random.default_rng(0)
    inner = rng.uniform(-0.9, 0.9, (200, 2))
    t = rng.uniform(-1, 1, 50)
    edge = np.concatenate([np.stack([t, np.full(50, s)], 1) for s in (-1.0, 1.0)]
                          + [np.stack([np.full(50, s), t], 1) for s in (-1.0, 1.0)])
    for member in _members().tolist():
        f = source(torch.as_tensor(inner), torch.tensor(member[:2]), torch.tensor(member[2]))[:, 0].numpy()
        peak = 1 / (2 * np.pi * member[2] ** 2)
        # measured: at most 1.0e-3 of the peak (the series' Gibbs ripple from f's value on the boundary)
        assert np.abs(_fd_laplacian(inner, member) + f).max() < 2e-3 * peak, member
        assert np.abs(reference_solution(edge, member)).max() < 1e-12


def test_family_residual_vanishes_on_the_reference():
    fam = PoissonFamily()
    p = _members()
    gen = torch.Generator().manual_seed(0)
    pde = fam.constraints()[0]
    batch = pde.sampler(p, 100, gen)
    assert batch["x"].shape == (5, 100, 2) and batch["p"] is p
    x = batch["x"].double().clamp(-0.9, 0.9)
    lap = torch.stack([torch.as_tensor(_fd_laplacian(x[b].numpy(), m)) for b, m in enumerate(p.tolist())])
    u = SimpleNamespace(x=x, value=fam.reference(x, p), laplacian=lap[..., None])
    r = pde.residual(u, {"x": x, "p": p})
    assert r.shape == (5, 100, 1)
    assert r.abs().max() < 2e-3  # the residual is scaled so that the source peaks at 1
    wrong = pde.residual(u, {"x": x, "p": p.flip(0)})  # other members' sources: a real miss
    assert wrong.abs().max() > 0.1
    boundary = fam.constraints()[1].sampler(p, 40, gen)
    edge_values = fam.reference(boundary["x"].double(), p)
    assert edge_values.abs().max() < 1e-12


def test_parameters_are_sampled_in_range_and_checked():
    fam = PoissonFamily()
    p = fam.sample(500, torch.Generator().manual_seed(1))
    assert p.shape == (500, 3)
    # uniform over the box low..high (per coordinate, in units of its range): the extremes reach
    # within 3% of both ends (chance of a gap: 0.97^500 = 2e-7) and never pass them by more than
    # float32 rounding, the mean is the midpoint (standard error 1/sqrt(12 * 500) = 0.013; tolerance
    # 0.06, 4.6 standard errors)
    unit = ((p.double() - fam.low) / (fam.high - fam.low)).numpy()
    assert unit.min(0) == pytest.approx([0.0] * 3, abs=0.03) and unit.max(0) == pytest.approx([1.0] * 3, abs=0.03)
    assert unit.min() > -1e-6 and unit.max() < 1 + 1e-6
    assert unit.mean(0) == pytest.approx([0.5] * 3, abs=0.06)
    assert torch.equal(fam.held_out(8), PoissonFamily().held_out(8))
    assert not torch.equal(fam.held_out(8), fam.sample(8, torch.Generator().manual_seed(1)))
    z = fam.condition(torch.stack([fam.low, fam.high]))
    assert torch.equal(z, torch.tensor([[-1.0] * 3, [1.0] * 3], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"width = 0.3 is outside the trained range \[0.1, 0.25\]"):
        fam.check([0.0, 0.0, 0.3])
    with pytest.raises(ValueError, match=r"parameters must be \(3,\) or \(B, 3\)"):
        fam.check([0.0, 0.0])
    assert PoissonFamily(extrapolate=True).check([0.9, 0.0, 0.3]).shape == (1, 3)
    with pytest.raises(ValueError, match="width must be positive"):
        PoissonFamily(extrapolate=True).check([0.0, 0.0, -0.1])


class _Oracle(torch.nn.Module):
    """A 'conditioned model' that returns the reference (to check metrics end to end)."""

    def __init__(self, fam, shift=0.0):
        super().__init__()
        self.fam, self.shift = fam, shift
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, z, x):
        p = self.fam.low + (z + 1) / 2 * (self.fam.high - self.fam.low)
        return self.fam.reference(x, p) * (1 + self.shift)


def test_metrics_and_instance():
    fam = PoissonFamily(metric_n=17)
    p = fam.held_out(3, dtype=torch.float64)
    exact = fam.metrics(_Oracle(fam), p)
    assert len(exact["rel_l2"]) == 3 and max(exact["rel_l2"]) < 1e-12
    off = fam.metrics(_Oracle(fam, shift=0.1), p)
    assert off["median"] == pytest.approx(0.1, rel=1e-9)
    member = fam.instance(p[1])
    assert isinstance(member, PoissonBump) and isinstance(member, Problem)
    x = fam.metric_points()
    torch.testing.assert_close(member.reference(x), fam.reference(x, p[1:2])[0])
    batch = member.constraints()[0].sampler(7, torch.Generator().manual_seed(0))
    assert batch["x"].shape == (7, 2)
    with pytest.raises(ValueError, match="outside the trained range"):
        fam.instance([0.7, 0.0, 0.2])


def test_an_instance_of_a_conditioned_model_warm_starts_fit_on_a_member():
    from sirenpde.hyper import conditioned_siren
    from sirenpde.training import fit

    fam = PoissonFamily(metric_n=17)
    torch.manual_seed(0)
    cmodel = conditioned_siren("film", 2, 1, fam.cond_features, hidden_features=16, hidden_layers=2,
                               first_omega_0=10.0)
    p = fam.held_out(1)
    member = fam.instance(p[0])
    model = cmodel.instance(fam.condition(p))
    before = member.metrics(model)["rel_l2"]
    assert before == pytest.approx(fam.metrics(cmodel, p)["median"], rel=1e-5)
    # 40 Adam steps on the member: measured rel L2 1.013 -> 0.828 (x0.82) and training loss
    # 0.103 -> 0.0074 (x0.072); bounds x0.9 and x0.2
    result = fit(member, model, steps=40, lr=1e-3, batch_size=256, progress=False, seed=0)
    assert result.metrics["rel_l2"] < 0.9 * before, (before, result.metrics)
    assert result.history["total"][-1] < 0.2 * result.history["total"][0]


def test_reference_in_blocks_equals_one_block(monkeypatch):
    """The reference is summed a block of points at a time (bounded memory for any metric grid): 2,500
    points in blocks of 7 equal one block of all to rounding (measured 0)."""
    import sirenpde.hyper.poisson_family as pf

    points = np.random.default_rng(3).uniform(-1, 1, (2500, 2))
    member = [0.1, -0.2, 0.15]
    whole = reference_solution(points, member)
    monkeypatch.setattr(pf, "REFERENCE_BLOCK", 7)
    blocks = reference_solution(points, member)
    assert np.abs(whole).max() > 1e-3
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-14 * np.abs(whole).max())


@pytest.mark.parametrize("option, value", [("metric_n", 3000), ("metric_n", 1), ("boundary_weight", "x")])
def test_family_options_are_bounded_before_anything_is_built(option, value):
    with pytest.raises(ValueError, match=f"poisson-family: {option} must be"):
        PoissonFamily(**{option: value})
