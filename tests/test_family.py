"""Families as views of problems (sirenpde.hyper.family): members, stacked batches, ranges, metrics;
and poisson-bump, the member problem of poisson-family."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sirenpde.hyper import Family, get_family
from sirenpde.problems import FAMILIES, PROBLEMS, get_problem
from sirenpde.problems.poisson_bump import PoissonBump, reference_solution, source

H = 1e-3  # finite-difference step (float64)


def _fd_laplacian(points, member):
    lap = -4 * reference_solution(points, *member)
    for e in np.eye(2):
        lap = lap + reference_solution(points + H * e, *member) + reference_solution(points - H * e, *member)
    return lap / H**2


def _members():
    # random members plus corners of the range (the bump nearest the boundary is the hard case)
    fam = get_family("poisson-family")
    p = fam.sample(3, torch.Generator().manual_seed(3), dtype=torch.float64)
    return torch.cat([p, torch.tensor([[0.5, 0.5, 0.25], [-0.5, 0.5, 0.1]], dtype=torch.float64)])


def test_bump_reference_satisfies_the_pde_and_the_boundary_condition():
    rng = np.random.default_rng(0)
    inner = rng.uniform(-0.9, 0.9, (200, 2))
    t = rng.uniform(-1, 1, 50)
    edge = np.concatenate([np.stack([t, np.full(50, s)], 1) for s in (-1.0, 1.0)]
                          + [np.stack([np.full(50, s), t], 1) for s in (-1.0, 1.0)])
    for member in _members().tolist():
        f = source(torch.as_tensor(inner), member[:2], member[2])[:, 0].numpy()
        peak = 1 / (2 * np.pi * member[2] ** 2)
        # measured: at most 1.0e-3 of the peak (the series' Gibbs ripple from f's value on the boundary)
        assert np.abs(_fd_laplacian(inner, member) + f).max() < 2e-3 * peak, member
        assert np.abs(reference_solution(edge, *member)).max() < 1e-12


def test_stacked_members_residual_vanishes_on_each_members_reference_and_equals_the_single_problem():
    """The family draws each member's points with the member's own sampler and stacks them; the
    problem's own residual on the stack is each member's residual (to rounding, float64) and vanishes
    on the reference (finite differences, h = 1e-3: below 2e-3 of the unit-peak source); another
    member's data gives a real miss."""
    fam = get_family("poisson-family")
    p = _members()
    batch = fam.member_batch(0, p, 100, torch.Generator().manual_seed(0))
    assert batch["x"].shape == (5, 100, 2) and batch["f"].shape == (5, 100, 1) and batch["p"] is p
    assert batch["param/width"].shape == (5, 1, 1)
    x = batch["x"].double()
    lap = torch.stack([torch.as_tensor(_fd_laplacian(x[b].numpy(), m)) for b, m in enumerate(p.tolist())])
    u = SimpleNamespace(x=x, value=None, laplacian=lap[..., None])
    pde = fam.base.constraints()[0]
    r = pde.residual(u, batch)
    inner = (x.abs() < 0.9).all(-1)  # the series' Gibbs ripple sits at the boundary
    assert r.shape == (5, 100, 1) and r[inner].abs().max() < 2e-3
    for b, member in enumerate(p.tolist()):
        single = PoissonBump(*member)
        one = single.constraints()[0].sampler(100, torch.Generator().manual_seed(5))
        one = {**one, "x": x[b], "f": batch["f"][b], "scale": batch["scale"][b]}
        ub = SimpleNamespace(x=x[b], value=None, laplacian=lap[b][:, None])
        torch.testing.assert_close(single.constraints()[0].residual(ub, one), r[b], rtol=0, atol=1e-12)
    swapped = {**batch, "f": batch["f"].flip(0)}
    assert pde.residual(u, swapped).abs().max() > 0.1
    edges = fam.member_batch(1, p, 40, torch.Generator().manual_seed(1))
    assert edges["x"].shape == (5, 40, 2)
    assert max(abs(reference_solution(edges["x"][b].double().numpy(), *m)).max()
               for b, m in enumerate(p.tolist())) < 1e-12


def test_parameters_are_sampled_in_range_and_checked():
    fam = get_family("poisson-family")
    p = fam.sample(500, torch.Generator().manual_seed(1))
    assert p.shape == (500, 3) and fam.names == ("cx", "cy", "width")
    # uniform over the box (per coordinate, in units of its range): the extremes reach within 3% of
    # both ends (chance of a gap: 0.97^500 = 2e-7), the mean is the midpoint (standard error 0.013;
    # tolerance 0.06)
    unit = ((p.double() - fam.low) / (fam.high - fam.low)).numpy()
    assert unit.min(0) == pytest.approx([0.0] * 3, abs=0.03) and unit.max(0) == pytest.approx([1.0] * 3, abs=0.03)
    assert unit.min() > -1e-6 and unit.max() < 1 + 1e-6
    assert unit.mean(0) == pytest.approx([0.5] * 3, abs=0.06)
    assert torch.equal(fam.held_out(8), get_family("poisson-family").held_out(8))
    assert not torch.equal(fam.held_out(8), fam.sample(8, torch.Generator().manual_seed(1)))
    z = fam.condition(torch.stack([fam.low, fam.high]))
    assert torch.equal(z, torch.tensor([[-1.0] * 3, [1.0] * 3], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"width = 0.3 is outside the trained range \[0.1, 0.25\]"):
        fam.check([0.0, 0.0, 0.3])
    with pytest.raises(ValueError, match=r"parameters must be \(3,\) or \(B, 3\)"):
        fam.check([0.0, 0.0])
    assert get_family("poisson-family", extrapolate=True).check([0.9, 0.0, 0.3]).shape == (1, 3)
    with pytest.raises(ValueError, match="width must be a finite number > 0"):
        get_family("poisson-family", extrapolate=True).member([0.0, 0.0, -0.1])
    with pytest.raises(ValueError, match="'k' is not a parameter of 'poisson-bump'"):
        Family("poisson-bump", ranges={"k": (1, 2)})
    with pytest.raises(ValueError, match="needs finite low < high"):
        Family("poisson-bump", ranges={"width": (0.2, 0.1)})


def test_metrics_are_each_members_own_metrics_of_its_predicted_siren():
    fam = get_family("poisson-family", metric_n=17)
    model = fam.make_model(seed=0, hidden_features=16, hidden_layers=1)
    p = fam.held_out(3, dtype=torch.float64)
    got = fam.metrics(model, p)
    want = [fam.member(row).metrics(model.instance(fam.condition(row[None].float())[0]))["rel_l2"] for row in p]
    assert got["rel_l2"] == pytest.approx(want, rel=1e-6) and got["median"] == pytest.approx(np.median(want))
    member = fam.member(p[1])
    assert isinstance(member, PoissonBump) and member.width == pytest.approx(float(p[1, 2]))
    assert fam.member_options(p[1]) == {"cx": float(p[1, 0]), "cy": float(p[1, 1]), "width": float(p[1, 2]),
                                        "metric_n": 17}
    with pytest.raises(ValueError, match="outside the trained range"):
        fam.member([0.7, 0.0, 0.2])


def test_an_instance_of_a_conditioned_model_warm_starts_fit_on_a_member():
    from sirenpde.training import fit

    fam = get_family("poisson-family", metric_n=17)
    cmodel = fam.make_model(seed=0, hidden_features=16, hidden_layers=2, first_omega_0=10.0)
    p = fam.held_out(1)
    member = fam.member(p[0])
    model = cmodel.instance(fam.condition(p))
    before = member.metrics(model)["rel_l2"]
    assert before == pytest.approx(fam.metrics(cmodel, p)["median"], rel=1e-5)
    # 40 Adam steps on the member: measured rel L2 1.01 -> 0.83 and training loss x0.07; bounds
    # x0.9 and x0.2
    result = fit(member, model, steps=40, lr=1e-3, batch_size=256, progress=False, seed=0)
    assert result.metrics["rel_l2"] < 0.9 * before, (before, result.metrics)
    assert result.history["total"][-1] < 0.2 * result.history["total"][0]


def test_reference_in_blocks_equals_one_block(monkeypatch):
    """The reference is summed a block of points at a time (bounded memory for any metric grid)."""
    import sirenpde.problems.poisson_bump as pb

    points = np.random.default_rng(3).uniform(-1, 1, (2500, 2))
    whole = reference_solution(points, 0.1, -0.2, 0.15)
    monkeypatch.setattr(pb, "REFERENCE_BLOCK", 7)
    blocks = reference_solution(points, 0.1, -0.2, 0.15)
    assert np.abs(whole).max() > 1e-3
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-14 * np.abs(whole).max())


@pytest.mark.parametrize("option, value", [("metric_n", 3000), ("metric_n", 1), ("boundary_weight", "x")])
def test_family_options_are_bounded_before_anything_is_built(option, value):
    with pytest.raises(ValueError, match=f"poisson-bump: {option} must be"):
        get_family("poisson-family", **{option: value})


def test_a_family_over_a_user_pde_reads_its_constant_from_the_batch():
    """sp.PDE's residual constants vary in a family: the stacked residual reads each member's value."""
    import sirenpde as sp
    from sirenpde.geometry import Rectangle

    square = Rectangle([0, 0], [1, 1])
    pde = sp.PDE(square, lambda u, x, k=1.0: u.laplacian + k * u.value, parameters={"k": 1.0},
                 conditions=[sp.Dirichlet(square.boundary, 0.0)])
    fam = Family(pde, ranges={"k": (1.0, 4.0)})
    p = torch.tensor([[1.0], [4.0]], dtype=torch.float64)
    batch = fam.member_batch(0, p, 6, torch.Generator().manual_seed(0))
    u = SimpleNamespace(x=batch["x"], value=torch.ones(2, 6, 1, dtype=torch.float64),
                        laplacian=torch.zeros(2, 6, 1, dtype=torch.float64))
    r = fam.base.constraints()[0].residual(u, batch)
    assert r.shape == (2, 6, 1) and torch.equal(r[:, :, 0], torch.tensor([[1.0] * 6, [4.0] * 6], dtype=torch.float64))
    assert fam.member(p[1]).parameters == {"k": 4.0}
    with pytest.raises(ValueError, match="cannot be saved"):
        fam.spec()


def test_every_registered_family_is_a_registered_problem_with_ranges():
    for name, spec in FAMILIES.items():
        assert spec["problem"] in PROBLEMS
        fam = get_family(name)
        assert set(fam.parameters) <= set(fam.base.parameter_ranges or fam.parameters)
        p = fam.held_out(2, dtype=torch.float64)
        member = fam.member(p[0])
        again = get_problem(spec["problem"], **fam.member_options(p[0]))
        assert again.identity() == member.identity()
        for i, con in enumerate(fam.base.constraints()):
            batch = fam.member_batch(i, p, 3, torch.Generator().manual_seed(0))
            assert batch["x"].shape == (2, 3, fam.in_features), (name, con.name)
