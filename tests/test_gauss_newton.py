"""Gauss-Newton / Levenberg-Marquardt (sirenpde.training.gauss_newton and .jacobian) against exact
answers: residual vectors, damped steps, Jacobians, the memory check."""
import math

import pytest
import torch

from sirenpde.problem import Constraint
from sirenpde.training import gauss_newton as gn
from sirenpde.training.loss import ConstraintLoss

from _gn_helpers import X, _fixed, _siren


def test_residual_vector_matches_the_weighted_loss():
    fit = Constraint("fit", _fixed(X), lambda u, b: u.value - torch.sin(3 * b["x"]), weight=2.5)
    pde = Constraint("pde", _fixed(X[:40]), lambda u, b: u.laplacian + 9 * torch.sin(3 * b["x"]),
                     order=2, second="laplacian", weight=0.3)
    loss = ConstraintLoss(_siren(), [fit, pde], engine="jet")
    batches = [{"x": X}, {"x": X[:40]}]
    r = gn.residual_vector(loss, batches)
    assert r.shape == (104,)
    r = r.detach()
    assert math.isclose(0.5 * float(r @ r), float(loss.total(loss(batches)).detach()), rel_tol=1e-12)


@pytest.mark.parametrize("reduction", ["l1", "mean"])
def test_non_squares_are_refused(reduction):
    con = Constraint("c", _fixed(X), lambda u, b: u.value, reduction=reduction)
    with pytest.raises(ValueError, match="not a sum of squares"):
        gn.residual_vector(ConstraintLoss(_siren(), [con]), [{"x": X}])


def test_linear_least_squares_solved_in_one_step():
    # u = w x + b is linear in (w, b): one undamped Gauss-Newton step is the least-squares fit
    model = torch.nn.Linear(1, 1).double()
    target = lambda x: 0.7 * x - 0.2 + 0.05 * torch.cos(5 * x)  # not exactly representable
    con = Constraint("fit", _fixed(X), lambda u, b: u.value - target(b["x"]))
    loss = ConstraintLoss(model, [con], engine="autograd")
    r, J = gn.jacobian(loss, [{"x": X}])
    theta = gn.flatten(dict(model.named_parameters()))
    step = gn.damped_step(J, r, 1e-14)
    A = torch.cat([X, torch.ones_like(X)], dim=1)
    exact = torch.linalg.lstsq(A, target(X)).solution.squeeze(1)  # (w, b), the order of the parameters
    torch.testing.assert_close(theta + step, exact, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(30, 80), (80, 30)])
def test_woodbury_and_normal_equations_agree(shape):
    torch.manual_seed(1)
    J = torch.randn(*shape, dtype=torch.float64)
    r = torch.randn(shape[0], dtype=torch.float64)
    lam = 1e-3
    normal = -torch.linalg.solve(J.T @ J + lam * torch.eye(shape[1], dtype=J.dtype), J.T @ r)
    woodbury = -J.T @ torch.linalg.solve(J @ J.T + lam * torch.eye(shape[0], dtype=J.dtype), r)
    step = gn.damped_step(J, r, lam)
    for other in (normal, woodbury):
        assert float((step - other).norm() / other.norm()) < 1e-10


@pytest.mark.parametrize("engine", ["autograd", "jet"])
def test_jacobian_against_central_differences(engine):
    x = X[::8]
    pde = Constraint("pde", _fixed(x), lambda u, b: u.laplacian + u.value ** 2 - b["x"],
                     order=2, second="laplacian", weight=2.0)
    fit = Constraint("fit", _fixed(x[:3]), lambda u, b: u.value - 1.0)
    model = _siren(width=6)
    loss = ConstraintLoss(model, [pde, fit], engine=engine)
    batches = [{"x": x}, {"x": x[:3]}]
    r, J = gn.jacobian(loss, batches)
    like = dict(model.named_parameters())
    theta = gn.flatten(like)
    h = 1e-6
    columns = []
    for j in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[j] = h
        plus = gn.residual_vector(loss, batches, gn.unflatten(theta + e, like)).detach()
        minus = gn.residual_vector(loss, batches, gn.unflatten(theta - e, like)).detach()
        columns.append((plus - minus) / (2 * h))
    torch.testing.assert_close(J, torch.stack(columns, dim=1), rtol=1e-6, atol=1e-7)


def test_levenberg_marquardt_fits_below_1e_10():
    con = Constraint("fit", _fixed(X), lambda u, b: u.value - torch.sin(3 * b["x"]))
    loss = ConstraintLoss(_siren(), [con], engine="jet")
    history, lam = gn.levenberg_marquardt(loss, [{"x": X}], steps=100)
    assert history[-1] < 1e-10, history[-5:]
    assert all(b <= a for a, b in zip(history, history[1:]))  # rejected steps leave the loss alone
    assert float(loss.total(loss([{"x": X}])).detach()) == pytest.approx(history[-1], rel=1e-8)


def test_levenberg_marquardt_poisson_1d():
    # u'' = -pi^2 sin(pi x) on (-1, 1), u(+-1) = 0: u = sin(pi x)
    pde = Constraint("pde", _fixed(X), lambda u, b: u.laplacian + math.pi ** 2 * torch.sin(math.pi * b["x"]),
                     order=2, second="laplacian")
    ends = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    bc = Constraint("bc", _fixed(ends), lambda u, b: u.value, weight=10.0)
    model = _siren(width=16)
    loss = ConstraintLoss(model, [pde, bc], engine="jet")
    history, _ = gn.levenberg_marquardt(loss, [{"x": X}, {"x": ends}], steps=60)
    assert history[-1] < 1e-10, history[-5:]
    with torch.no_grad():
        error = (model(X) - torch.sin(math.pi * X)).abs().max()
    assert float(error) < 1e-4


def test_memory_check_refuses_before_allocating(monkeypatch):
    from sirenpde.meshing import cost
    monkeypatch.setattr(cost, "available_memory", lambda: 1_000_000)
    assert gn.memory_estimate(100, 200, torch.float64) == 8 * (100 * 200 + 2 * 100 ** 2 + 4 * 300)
    with pytest.raises(ValueError, match="fewer points or a smaller network") as info:
        gn.check_memory(10**6, 10**6, torch.float64)  # 8 TB: allocating it would fail or swap
    assert "1,000,000 bytes" in str(info.value)
    assert gn.check_memory(10, 10) > 0
    # levenberg_marquardt checks before building J
    con = Constraint("fit", _fixed(X), lambda u, b: u.value)
    monkeypatch.setattr(cost, "available_memory", lambda: 1000)
    with pytest.raises(ValueError, match="available"):
        gn.levenberg_marquardt(ConstraintLoss(_siren(), [con], engine="jet"), [{"x": X}], steps=1)



# --- the Jacobian, point by point and by reverse sweeps ------------------------------------------

def test_pointwise_jacobian_equals_reverse_sweeps_and_a_coupled_residual_falls_back():
    x = X[::4]
    pde = Constraint("pde", _fixed(x), lambda u, b: u.laplacian * b["k"] + u.value * b["c"],
                     order=2, second="laplacian", weight=0.7)
    # rows couple consecutive points (a periodic pair): one point at a time cannot give them
    pair = Constraint("pair", _fixed(x[:6]), lambda u, b: u.value[0::2] - u.value[1::2])
    grad = Constraint("grad", _fixed(x[:5]), lambda u, b: u.grad - 1.0, order=1, weight=3.0)
    model = _siren(width=8)
    loss = ConstraintLoss(model, [pde, pair, grad], engine="jet")
    k = torch.linspace(1.0, 2.0, len(x), dtype=torch.float64)[:, None]
    batches = [{"x": x, "k": k, "c": 0.5}, {"x": x[:6]}, {"x": x[:5]}]
    builder = gn.Jacobian(chunk=3)  # several chunks of points
    r, J = builder(loss, batches)
    assert builder.modes == {"pde": "pointwise", "pair": "reverse", "grad": "pointwise"}, builder.reasons
    r_rev, J_rev = gn.jacobian(loss, batches, mode="reverse")
    torch.testing.assert_close(r, r_rev, rtol=0, atol=0)
    torch.testing.assert_close(J, J_rev, rtol=1e-12, atol=1e-13)
    r2, J2 = builder(loss, batches)  # the modes are remembered: no second check, the same result
    assert torch.equal(J2, J)


def test_jacobian_of_the_reverse_engine_against_central_differences():
    x = X[::8]
    con = Constraint("grad", _fixed(x), lambda u, b: u.grad * u.value - b["x"], order=1)
    model = _siren(width=5)
    loss = ConstraintLoss(model, [con], engine="reverse")
    r, J = gn.jacobian(loss, [{"x": x}])
    like = dict(model.named_parameters())
    theta, h = gn.flatten(like), 1e-6
    columns = []
    for j in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[j] = h
        plus = gn.residual_vector(loss, [{"x": x}], gn.unflatten(theta + e, like)).detach()
        minus = gn.residual_vector(loss, [{"x": x}], gn.unflatten(theta - e, like)).detach()
        columns.append((plus - minus) / (2 * h))
    torch.testing.assert_close(J, torch.stack(columns, dim=1), rtol=1e-6, atol=1e-7)


def test_damping_options_are_checked():
    gn.check_damping_options({"lam": 1e-2, "accept": 1e-3})
    with pytest.raises(ValueError, match="unknown Gauss-Newton option 'lr'"):
        gn.check_damping_options({"lr": 1.0})
    with pytest.raises(ValueError, match="lam must be a positive"):
        gn.check_damping_options({"lam": -1})


# --- Gauss-Newton runs in fit ----------------------------------------------------------------------


@pytest.mark.parametrize("second", ["laplacian", "diagonal"])
def test_hard_conditions_take_the_pointwise_jacobian(second):
    """A hard Dirichlet condition's distance and value jets are taken with torch.func inside the
    per-point map (autograd on the points is not allowed there): the rows equal reverse sweeps."""
    import sirenpde as sp
    from sirenpde.geometry import Rectangle
    square = Rectangle([0.0, 0.0], [1.0, 1.0])
    residual = (lambda u: u.laplacian + u.value) if second == "laplacian" else (lambda u: u.d2(0) - 2 * u.d2(1))
    problem = sp.PDE(square, residual, conditions=[sp.Dirichlet(square.boundary, lambda x: x[:, :1] ** 2, hard=True)])
    model = problem.make_model(hidden_features=8, hidden_layers=1, seed=0).double()
    loss = ConstraintLoss(model, problem.constraints(), "auto")
    gen = torch.Generator().manual_seed(0)
    batches = [{k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v
                for k, v in con.sample(20, gen).items()} for con in loss.constraints]
    builder = gn.Jacobian(chunk=7)
    r, J = builder(loss, batches)
    assert set(builder.modes.values()) == {"pointwise"}, builder.reasons
    _, J_rev = gn.jacobian(loss, batches, mode="reverse")
    torch.testing.assert_close(J, J_rev, rtol=1e-11, atol=1e-12)


def _registry_problem_cases():
    from _dist_problems import registry_cases
    return [case for case in registry_cases() if not case.startswith("family:")]


@pytest.mark.parametrize("case", _registry_problem_cases())
def test_every_registered_problem_gets_its_jacobian_point_by_point(case):
    """Every registered problem (and the two user sp.PDEs of the distributed tests): a least-squares
    loss gets every constraint's rows point by point, equal to reverse sweeps through the whole
    batch; a loss that is not a sum of squares is refused by name."""
    from _dist_problems import make_registry_case
    from sirenpde.training.loop import to_device
    problem, model, counts, loss_class = make_registry_case(case)
    loss = loss_class(model, problem.constraints(), "auto")
    gen = torch.Generator().manual_seed(0)
    coefficients = problem.coefficients(0, 10)
    batches = to_device([con.sample(min(n, 40), gen, coefficients) for con, n in zip(loss.constraints, counts)],
                        torch.device("cpu"), torch.float64)
    if any(con.reduction != "mse" for con in loss.constraints):
        with pytest.raises(ValueError, match="not a sum of squares"):
            gn.Jacobian()(loss, batches)
        return
    builder = gn.Jacobian(chunk=16)
    r, J = builder(loss, batches)
    assert set(builder.modes.values()) == {"pointwise"}, builder.reasons
    r_rev, J_rev = gn.jacobian(loss, batches, mode="reverse")
    torch.testing.assert_close(r, r_rev, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(J, J_rev, rtol=1e-10, atol=1e-11)
