"""Conditions (sirenpde.conditions) and hard conditions (sirenpde.hard) against closed forms.

Each condition's residual vanishes on an exact solution that satisfies it (float32 points, so
to ~1e-5), and a violated one does not; hard conditions hold exactly on boundary samples for a
random network, with every derivative engine agreeing.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import sirenpde as sp
from sirenpde.geometry import Disk, Interval, Rectangle
from sirenpde.hard import HardConditions

TOL = 2e-5


class Exact(nn.Module):
    """A closed-form field as a model: ``f(x) -> (n,) or (n, m)`` (the autograd engine)."""

    def __init__(self, f, out_features=1):
        super().__init__()
        self.f, self.out_features = f, out_features
        self.bias = nn.Parameter(torch.zeros(()))  # a parameter, so the model has a device

    def forward(self, x):
        u = self.f(x) + 0 * self.bias
        return u[:, None] if u.ndim == 1 else u


def residual_of(problem, model, name, n=256, seed=0):
    """The largest |residual| of the constraint ``name`` of ``problem`` on ``n`` of its points."""
    con = {c.name: c for c in problem.constraints()}[name]
    batch = con.sample(n, torch.Generator().manual_seed(seed))
    u = sp.field(model, batch["x"], order=con.order, engine="autograd")
    return con.residual(u, batch).abs().max().item()


def harmonic(x):
    return x[:, 0] ** 2 - x[:, 1] ** 2


def laplace(u):
    return u.laplacian


def test_dirichlet_on_a_harmonic_function():
    square = Rectangle([-1, -1], [1, 1])
    p = sp.PDE(square, laplace, conditions=[sp.Dirichlet(square.boundary, harmonic)])
    model = Exact(harmonic)
    assert residual_of(p, model, "pde") < 1e-4
    assert residual_of(p, model, "dirichlet") < TOL
    wrong = sp.PDE(square, laplace, conditions=[sp.Dirichlet(square.boundary, 0.5)])
    assert residual_of(wrong, model, "dirichlet") > 0.4


def test_neumann_and_robin_on_an_annulus():
    # u = x^2 + y^2: du/dn = 2 R on the outer circle (normal outwards) and -2 r on the hole's
    # circle (the domain's normal points into the hole)
    outer, hole = Disk([0, 0], 1.0), Disk([0, 0], 0.4)
    domain = outer - hole
    model = Exact(lambda x: x.square().sum(dim=1))
    p = sp.PDE(domain, lambda u: u.laplacian - 4,
               conditions=[sp.Neumann(outer.boundary, 2.0), sp.Neumann(hole.boundary, -0.8),
                           sp.Robin(outer.boundary, a=3.0, b=0.5, value=3.0 * 1.0 + 0.5 * 2.0),
                           sp.Robin(hole.boundary, a=lambda x: 1 + x[:, 0] ** 2, b=2.0,
                                    value=lambda x: (1 + x[:, 0] ** 2) * 0.16 - 1.6)])
    names = [c.name for c in p.constraints()]
    assert names == ["pde", "neumann-1", "neumann-2", "robin-1", "robin-2"]
    for name in names:
        assert residual_of(p, model, name) < 1e-4, name
    flipped = sp.PDE(domain, laplace, conditions=[sp.Neumann(hole.boundary, 0.8)])
    assert residual_of(flipped, model, "neumann") > 1.5  # the sign of the normal matters


def test_periodic_faces_and_translated_parts():
    square = Rectangle([0, 0], [1, 1])
    model = Exact(lambda x: torch.sin(2 * math.pi * x[:, 0]) + x[:, 1] ** 2)
    p = sp.PDE(square, laplace, conditions=[sp.Periodic(axis=0, derivative=True)])
    assert residual_of(p, model, "periodic") < TOL
    q = sp.PDE(square, laplace, conditions=[sp.Periodic(axis=1)])
    assert residual_of(q, model, "periodic") > 0.5  # not periodic in y
    # two holes that are translates of each other, 0.5 apart: sin(4 pi x) repeats there
    a, b = Disk([0.25, 0.5], 0.1), Disk([0.75, 0.5], 0.1)
    domain = square - (a | b)
    model = Exact(lambda x: torch.sin(4 * math.pi * x[:, 0]) + x[:, 1])
    r = sp.PDE(domain, laplace, conditions=[sp.Periodic(a.boundary, b.boundary, derivative=True)])
    batch = r.constraints()[1].sample(64, torch.Generator().manual_seed(0))
    assert torch.allclose(batch["x"][1::2] - batch["x"][0::2], torch.tensor([0.5, 0.0]), atol=1e-6)
    assert residual_of(r, model, "periodic") < 1e-4


def test_initial_and_initial_rate_on_a_time_domain():
    td = Interval(0, 1).over(0, 0.5)

    def heat(x):
        return torch.sin(math.pi * x[:, 0]) * torch.exp(-math.pi ** 2 * x[:, 1])

    p = sp.PDE(td, lambda u: u.grad[:, 1] - u.d2(0)[:, 0],
               conditions=[sp.Initial(lambda x: torch.sin(math.pi * x[:, 0])), sp.Dirichlet(td.boundary, 0.0)])
    assert (p.order, p.second) == (2, "diagonal")
    for name in ("pde", "initial", "dirichlet"):
        assert residual_of(p, Exact(heat), name) < 1e-4, name
    batch = p.constraints()[1].sample(32, torch.Generator().manual_seed(0))
    assert torch.all(batch["x"][:, 1] == 0)

    def wave(x):
        return torch.sin(math.pi * x[:, 0]) * torch.sin(2 * math.pi * x[:, 1])

    w = sp.PDE(td, lambda u: u.d2(1) - 4 * u.d2(0),
               conditions=[sp.Initial(0.0), sp.InitialRate(lambda x: 2 * math.pi * torch.sin(math.pi * x[:, 0]))])
    for name in ("pde", "initial", "initial-rate"):
        assert residual_of(w, Exact(wave), name) < 2e-4, name
    assert residual_of(w, Exact(heat), "initial-rate") > 1.0


def test_values_per_component_and_components():
    square = Rectangle([0, 0], [1, 1])
    model = Exact(lambda x: torch.stack([x[:, 0], 2 + 0 * x[:, 0], x[:, 1]], dim=1), out_features=3)
    p = sp.PDE(square, lambda u: u.laplacian, out_features=3,
               conditions=[sp.Dirichlet(square.boundary, lambda x: x, component=[0, 2]),
                           sp.Dirichlet(square.boundary, 2.0, component=1, name="middle"),
                           sp.Neumann(square.boundary, [0.0], component=1)])
    assert residual_of(p, model, "dirichlet") < TOL
    assert residual_of(p, model, "middle") < TOL
    assert residual_of(p, model, "neumann") < TOL
    with pytest.raises(ValueError, match="component 3"):
        sp.PDE(square, laplace, out_features=3, conditions=[sp.Dirichlet(square.boundary, 0.0, component=3)])
    with pytest.raises(ValueError, match="2 values per point"):
        sp.PDE(square, laplace, out_features=3, conditions=[sp.Dirichlet(square.boundary, [1.0, 2.0])])


def _max_error_on(domain, model, part, value, n=500):
    x, _ = domain.sample_boundary(n, torch.Generator().manual_seed(7), part=part)
    with torch.no_grad():
        return (model(x) - value(x)).abs().max().item()


def test_hard_dirichlet_holds_exactly_for_a_random_network():
    square = Rectangle([-0.5, -0.5], [0.5, 0.5])
    holes = Disk([0.3, 0.3], 0.1) | Disk([-0.3, -0.3], 0.1)
    domain = square - holes
    p = sp.PDE(domain, laplace, conditions=[sp.Dirichlet(square.boundary, lambda x: 1 + x[:, 0], hard=True),
                                            sp.Dirichlet(holes.boundary, -2.0, hard=True)])
    assert [c.name for c in p.constraints()] == ["pde"]
    model = p.make_model(seed=3)
    assert isinstance(model, HardConditions)
    assert _max_error_on(domain, model, square.boundary, lambda x: 1 + x[:, :1]) < 1e-5
    assert _max_error_on(domain, model, holes.boundary, lambda x: torch.full_like(x[:, :1], -2.0)) < 1e-5
    inner = torch.zeros(1)
    x = domain.sample_interior(200, torch.Generator().manual_seed(1))
    with torch.no_grad():
        inner = model.wrapped(x)
    assert inner.abs().mean() > 1e-3  # the network is not zero: the exactness comes from the transform


def test_hard_initial_and_lateral_dirichlet_together():
    td = Interval(0, 1).over(0, 1)
    p = sp.PDE(td, lambda u: u.grad[:, 1] - u.d2(0)[:, 0],
               conditions=[sp.Initial(lambda x: torch.sin(math.pi * x[:, 0]), hard=True),
                           sp.Dirichlet(td.boundary, 0.0, hard=True)])
    model = p.make_model(seed=0)
    assert _max_error_on(td, model, td.initial, lambda x: torch.sin(math.pi * x[:, :1])) < 1e-5
    assert _max_error_on(td, model, td.boundary, lambda x: torch.zeros_like(x[:, :1])) < 1e-5


@pytest.mark.parametrize("second", ["laplacian", "diagonal", "hessian"])
def test_hard_wrapper_engines_agree(second):
    square = Rectangle([0, 0], [1, 1])
    disk = Disk([0.5, 0.5], 0.2)
    p = sp.PDE(square - disk, laplace, out_features=2,
               conditions=[sp.Dirichlet(square.boundary, [1.0, 0.0], hard=True),
                           sp.Dirichlet(disk.boundary, lambda x: x.square().sum(1), hard=True, component=0)])
    model = p.make_model(seed=1).double()
    x = p.domain.sample_interior(40, torch.Generator().manual_seed(2)).double()
    jet = sp.field(model, x, order=2, second=second, engine="jet")
    auto = sp.field(model, x, order=2, engine="autograd")
    rev = sp.field(model, x, order=1, engine="reverse")
    for other in (auto, rev):
        assert torch.allclose(jet.value, other.value, atol=1e-10)
        assert torch.allclose(jet.jacobian, other.jacobian, atol=1e-8)
    assert torch.allclose(jet.laplacian, auto.laplacian, atol=1e-6)
    if second == "hessian":
        assert torch.allclose(jet.hessian, auto.hessian, atol=1e-6)


def test_refusals_name_the_condition():
    square = Rectangle([0, 0], [1, 1])
    elsewhere = Disk([3, 3], 0.5)
    with pytest.raises(ValueError, match="Dirichlet.*does not lie on the boundary"):
        sp.PDE(square, laplace, conditions=[sp.Dirichlet(elsewhere.boundary, 0.0)])
    with pytest.raises(ValueError, match="Initial.*time domain"):
        sp.PDE(square, laplace, conditions=[sp.Initial(0.0)])
    a, b = Disk([0, 0], 1.0), Disk([1, 0], 1.0)
    with pytest.raises(ValueError, match="changes sign inside the domain"):
        sp.PDE(a | b, laplace, conditions=[sp.Dirichlet(a.boundary, 0.0, hard=True)])
    with pytest.raises(ValueError, match="a value must be"):
        sp.Dirichlet(square.boundary, "zero")
    with pytest.raises(ValueError, match="either axis"):
        sp.Periodic(square.boundary)
    with pytest.raises(ValueError, match="prism"):
        sp.PDE(Disk([0, 0], 1.0), laplace, conditions=[sp.Periodic(axis=0)])
