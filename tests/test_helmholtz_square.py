"""helmholtz-square: the residual on its exact solution, the hard-boundary wrapper, a short fit."""
import math

import pytest
import torch

from sirenpde.fields import field
from sirenpde.nn import Siren
from sirenpde.problems.helmholtz_square import HardBoundary, HelmholtzSquare
from sirenpde.training import fit
from torch import nn

from _helmholtz_helpers import ExactField as _Exact, residuals_at_samples as _residuals

# --------------------------------------------------------------------------------- helmholtz-square
def test_square_residual_vanishes_on_the_exact_solution():
    problem = HelmholtzSquare()
    exact = _Exact(problem.exact_torch, 1)
    res = _residuals(problem, exact)
    assert set(res) == {"pde", "boundary"}
    assert res["pde"][0].abs().max() < 1e-12
    assert res["boundary"][0].abs().max() < 1e-12
    assert problem.metrics(exact)["rel_l2"] < 1e-6  # float32 evaluation of the grid
    # A wrong sign of the source is caught: the residual is then 2u, O(1).
    wrong = _Exact(lambda x: -problem.exact_torch(x), 1)
    assert _residuals(problem, wrong)["pde"][0].abs().max() > 1.0


@pytest.mark.parametrize("second", ["diagonal", "laplacian", "hessian"])
def test_hard_boundary_jets_match_autograd(second):
    torch.manual_seed(0)
    net = HardBoundary(Siren(2, 2, 32, 2, first_omega_0=5.0, hidden_omega_0=5.0).double())
    x = torch.rand(64, 2, dtype=torch.float64)
    jet = field(net, x, order=2, second=second, engine="jet")
    auto = field(net, x, order=2, engine="autograd")
    assert torch.allclose(jet.value, auto.value, atol=1e-12)
    assert torch.allclose(jet.grad, auto.grad, atol=1e-10)
    assert torch.allclose(jet.laplacian, auto.laplacian, atol=1e-9)
    if second != "laplacian":
        assert torch.allclose(jet.d2(0), auto.d2(0), atol=1e-9)
    if second == "hessian":
        assert torch.allclose(jet.hessian, auto.hessian, atol=1e-9)
    edge = torch.tensor([[0.0, 0.3], [1.0, 0.7], [0.2, 0.0], [0.9, 1.0]], dtype=torch.float64)
    assert net(edge).abs().max() == 0.0


def test_hard_boundary_without_jets_uses_autograd():
    inner = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    net = HardBoundary(inner)
    u = field(net, torch.rand(5, 2, dtype=torch.float64), order=2)
    assert u.engine == "autograd" and u.laplacian.shape == (5, 1)


def test_hard_boundary_matches_its_closed_form_and_vanishes_on_the_edges():
    # u = B g on [-1, 2]^2 with g = sin(x) + y^2 and B = b(x) b(y), b(t) = 4 (t + 1)(2 - t) / 9:
    # value, gradient and Laplacian (product rule, written out here) to float64 rounding
    class G(nn.Module):
        def forward(self, x):
            return (torch.sin(x[:, 0]) + x[:, 1] ** 2)[:, None]

    low, high = -1.0, 2.0
    net = HardBoundary(G(), low=low, high=high)
    x = torch.rand(200, 2, dtype=torch.float64) * 3 - 1
    b = 4 * (x - low) * (high - x) / 9
    db, ddb = 4 * (low + high - 2 * x) / 9, torch.full_like(x, -8 / 9)
    g = torch.sin(x[:, 0]) + x[:, 1] ** 2
    dg = torch.stack([torch.cos(x[:, 0]), 2 * x[:, 1]], 1)
    lap_g = 2 - torch.sin(x[:, 0])
    B = b[:, 0] * b[:, 1]
    dB = torch.stack([db[:, 0] * b[:, 1], b[:, 0] * db[:, 1]], 1)
    lap_B = ddb[:, 0] * b[:, 1] + b[:, 0] * ddb[:, 1]
    u = field(net, x, order=2)
    torch.testing.assert_close(u.value[:, 0], B * g, rtol=0, atol=1e-14)
    torch.testing.assert_close(u.grad.reshape(200, 2), dB * g[:, None] + B[:, None] * dg, rtol=0, atol=1e-13)
    torch.testing.assert_close(u.laplacian[:, 0], lap_B * g + 2 * (dB * dg).sum(1) + B * lap_g,
                               rtol=0, atol=1e-12)
    # exactly zero on every edge, for this wrapper and for a jet-capable Siren inside it
    t = torch.rand(50, dtype=torch.float64) * 3 - 1
    edges = torch.cat([torch.stack([torch.full_like(t, c), t], 1) for c in (low, high)]
                      + [torch.stack([t, torch.full_like(t, c)], 1) for c in (low, high)])
    torch.manual_seed(0)
    siren = HardBoundary(Siren(2, 2, 16, 1).double(), low=low, high=high)
    assert net(edges).abs().max() == 0.0 and siren(edges).abs().max() == 0.0
    assert siren(x).abs().min() > 0  # and not zero everywhere


def test_square_short_fit_reaches_stated_error():
    # k0 = 2π, hard boundary, 2x64 sine network (omega_0 = k0), 300 full-batch Adam steps on the
    # 20x20 collocation grid; measured 6.7e-4 (seed 0) and 5.8e-4 (seed 1).
    problem = HelmholtzSquare(k0=2 * math.pi, hard_bc=True)
    torch.manual_seed(0)
    model = problem.make_model("siren", hidden_features=64, hidden_layers=2)
    assert isinstance(model, HardBoundary)
    result = fit(problem, model, steps=300, lr=1e-3, progress=False, seed=0)
    assert result.metrics["rel_l2"] < 3e-3, result.metrics


def test_square_rejects_bad_parameters():
    with pytest.raises(ValueError, match="multiple of pi"):
        HelmholtzSquare(k0=10.0)
    with pytest.raises(ValueError, match="points"):
        HelmholtzSquare(points=0)
