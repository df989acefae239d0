"""Derivatives: autograd operators on closed-form fields, jets against autograd, gradcheck."""

import pytest
import torch

from sirenpde import field, operators
from sirenpde.nn import MODELS, Siren, make_model

torch.manual_seed(0)


def closed_form_points(n=64, d=3, dtype=torch.float64, device="cpu"):
    return (torch.rand(n, d, dtype=dtype) * 2 - 1).to(device).requires_grad_(True)


def test_operators_on_closed_form_fields(device):
    # u = sin(a.x) * exp(b.x): grad, Laplacian and Hessian in closed form; float64, tol 1e-12
    x = closed_form_points(device=device)
    a = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, device=device)
    b = torch.tensor([0.3, 0.1, -0.7], dtype=torch.float64, device=device)
    s, c, e = torch.sin(x @ a), torch.cos(x @ a), torch.exp(x @ b)
    u = (s * e).unsqueeze(-1)
    grad = (c * e)[:, None] * a + (s * e)[:, None] * b
    hess = ((-s * e)[:, None, None] * torch.outer(a, a) + (c * e)[:, None, None] * (torch.outer(a, b) + torch.outer(b, a))
            + (s * e)[:, None, None] * torch.outer(b, b))
    lap = hess.diagonal(dim1=1, dim2=2).sum(-1, keepdim=True)
    assert torch.allclose(operators.gradient(u, x), grad, atol=1e-12)
    assert torch.allclose(operators.laplacian(u, x), lap, atol=1e-12)
    assert torch.allclose(operators.hessian(u, x), hess, atol=1e-12)
    # vector field v = (x0 x1, x1^2, sin x2): divergence x1 + 2 x1 + cos x2, Jacobian by hand
    v = torch.stack([x[:, 0] * x[:, 1], x[:, 1] ** 2, torch.sin(x[:, 2])], dim=1)
    div = 3 * x[:, 1] + torch.cos(x[:, 2])
    assert torch.allclose(operators.divergence(v, x)[:, 0], div, atol=1e-12)
    jac = operators.jacobian(v, x)
    assert torch.allclose(jac[:, 0, 1], x[:, 0], atol=1e-12)
    assert torch.allclose(jac[:, 2, 2], torch.cos(x[:, 2]), atol=1e-12)
    assert torch.allclose(jac[:, 1, 0], torch.zeros(64, dtype=torch.float64, device=device))


def test_operator_errors():
    x = torch.rand(4, 2)
    with pytest.raises(ValueError, match="requires_grad"):
        operators.gradient(x.sum(1), x)
    x.requires_grad_(True)
    with pytest.raises(ValueError, match="use jacobian"):
        operators.gradient(x * 2, x)
    with pytest.raises(ValueError, match="same number of points"):
        operators.gradient(x[:2, :1], x)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("d,m", [(1, 1), (2, 1), (3, 2)])
def test_jets_match_autograd_float32(name, d, m, device):
    # the two engines agree to 1e-5 relative in float32 (relative to the field's scale)
    torch.manual_seed(1)
    model = make_model(name, d, m, hidden_features=64, hidden_layers=2).to(device)
    x = (torch.rand(256, d) * 2 - 1).to(device)
    jet = field(model, x, order=2, hessian=True, engine="jet")
    lap_only = field(model, x, order=2, second="laplacian", engine="jet")
    ref = field(model, x, order=2, engine="autograd")
    for attr in ("value", "grad", "laplacian", "hessian"):
        a, b = getattr(jet, attr), getattr(ref, attr)
        assert a.shape == b.shape, attr
        scale = b.abs().max().clamp_min(1e-6)
        assert ((a - b).abs().max() / scale) < 1e-5, f"{name} {attr}"
    scale = ref.laplacian.abs().max().clamp_min(1e-6)
    assert ((lap_only.laplacian - ref.laplacian).abs().max() / scale) < 1e-5
    for i in range(d):
        assert ((jet.d2(i) - ref.d2(i)).abs().max() / scale) < 1e-5


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("d,m", [(1, 1), (2, 1), (3, 2), (2, 3)])
def test_reverse_sweep_matches_autograd_float32(name, d, m, device):
    # value and gradient of the explicit reverse sweep against autograd, 1e-5 relative in float32,
    # and the parameter gradients of a gradient loss (trained with one plain backward) likewise
    torch.manual_seed(4)
    model = make_model(name, d, m, hidden_features=64, hidden_layers=2).to(device)
    x = (torch.rand(256, d) * 2 - 1).to(device)
    target = torch.randn(256, m, d).squeeze(1).to(device)
    grads = {}
    for engine in ("reverse", "autograd"):
        u = field(model, x, order=1, engine=engine)
        assert u.engine == engine and u.grad.shape == ((256, d) if m == 1 else (256, m, d))
        model.zero_grad()
        ((u.grad - target) ** 2).mean().backward()
        grads[engine] = (u.value.detach(), u.grad.detach(),
                         [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()])
    (va, ga, pa), (vb, gb, pb) = grads["reverse"], grads["autograd"]
    assert (va - vb).abs().max() <= 1e-5 * vb.abs().max()
    assert (ga - gb).abs().max() <= 1e-5 * gb.abs().max()
    assert sum(float(b.norm()) for b in pb) > 0
    for a, b in zip(pa, pb):  # a parameter the loss ignores has no gradient in one, zeros in the other
        assert (a - b).norm() <= 1e-4 * b.norm(), name


def test_reverse_sweep_gradcheck_float64():
    # the sweep's gradient is differentiable in x (a second derivative through the fused sin/cos
    # backward) and in the parameters; gradgradcheck covers the fused backward itself
    from sirenpde.jets import sin_cos

    torch.manual_seed(5)
    model = Siren(2, 2, hidden_features=8, hidden_layers=1, first_omega_0=3.0, hidden_omega_0=3.0).double()
    x = (torch.rand(5, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x_: field(model, x_, order=1, engine="reverse").grad, (x,))
    w = model.hidden[1].weight.detach().clone().requires_grad_(True)
    wrapped = lambda w_: torch.func.functional_call(model, {"hidden.1.weight": w_}, (x.detach(),))
    assert torch.autograd.gradcheck(wrapped, (w,))
    grad_of_w = lambda w_: torch.func.functional_call(
        _GradOf(model), {"inner.hidden.1.weight": w_}, (x.detach(),))
    assert torch.autograd.gradcheck(grad_of_w, (w,))
    z = torch.randn(7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: torch.stack(sin_cos(t)), (z,))


class _GradOf(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, pts):
        return field(self.inner, pts, order=1, engine="reverse").grad


def test_jets_gradcheck_float64():
    # the jet's Laplacian and gradient are differentiable in x and in the parameters
    torch.manual_seed(2)
    model = Siren(2, 1, hidden_features=8, hidden_layers=1, first_omega_0=3.0, hidden_omega_0=3.0).double()
    x = (torch.rand(5, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)

    assert torch.autograd.gradcheck(lambda x_: field(model, x_, order=2, engine="jet").laplacian, (x,))
    assert torch.autograd.gradcheck(lambda x_: field(model, x_, order=1, engine="jet").grad, (x,))

    class Laplacian(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pts):
            return field(self.inner, pts, order=2, second="laplacian", engine="jet").laplacian

    # with respect to a weight matrix, through torch.func.functional_call
    wrapper = Laplacian(model)
    w = model.hidden[1].weight.detach().clone().requires_grad_(True)
    loss = lambda w_: torch.func.functional_call(wrapper, {"inner.hidden.1.weight": w_}, (x.detach(),))
    assert torch.autograd.gradcheck(loss, (w,))


def test_field_shapes_and_errors():
    model = Siren(2, 1, hidden_features=16, hidden_layers=1)
    x = torch.rand(10, 2)
    u = field(model, x, order=1)
    assert u.value.shape == (10, 1) and u.grad.shape == (10, 2) and u.engine == "reverse"
    assert field(model, x, order=2).engine == "jet"
    # more outputs than inputs: forward jets carry fewer rows than the reverse sweep
    assert field(Siren(2, 3, hidden_features=8, hidden_layers=1), x, order=1).engine == "jet"
    with pytest.raises(ValueError, match="first derivatives only"):
        field(model, x, order=2, engine="reverse")
    u = field(model, x, order=1, engine="jet")
    assert u.engine == "jet"
    with pytest.raises(RuntimeError, match="order >= 2"):
        u.laplacian
    lap_only = field(model, x, order=2, second="laplacian")
    with pytest.raises(RuntimeError, match="second='laplacian'"):
        lap_only.d2(0)
    with pytest.raises(ValueError, match="unknown derivative engine 'fast'"):
        field(model, x, engine="fast")
    with pytest.raises(ValueError, match="order must be 0, 1 or 2"):
        field(model, x, order=3)
    # any module works through autograd
    plain = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    v = field(plain, x, order=2)
    assert v.engine == "autograd" and v.laplacian.shape == (10, 1)
    with pytest.raises(ValueError, match="forward_jet"):
        field(plain, x, engine="jet")
    with pytest.raises(ValueError, match="forward_grad"):
        field(plain, x, order=1, engine="reverse")
    assert field(plain, x, order=1).engine == "autograd"


def test_field_vector_shapes(device):
    model = Siren(3, 2, hidden_features=16, hidden_layers=1).to(device)
    u = field(model, torch.rand(4, 3, device=device), order=2, hessian=True)
    assert u.grad.shape == (4, 2, 3) and u.laplacian.shape == (4, 2) and u.hessian.shape == (4, 2, 3, 3)
    assert u.value.device.type == u.laplacian.device.type == u.hessian.device.type == device.type
    assert u.d2(2).shape == (4, 2)
    with pytest.raises(IndexError):
        u.d2(3)


def test_relu_laplacian_is_zero_and_sine_first_layer_exact():
    # a one-layer Siren is sin(omega_0 (W x + b)) -> linear; its Laplacian is known exactly
    torch.manual_seed(3)
    m = Siren(2, 1, hidden_features=4, hidden_layers=0).double()
    x = torch.rand(20, 2, dtype=torch.float64)
    W, b, omega_0 = m.hidden[0].weight, m.hidden[0].bias, m.first_omega_0
    z = omega_0 * (x @ W.T + b)
    lap = -(torch.sin(z) * (omega_0**2) * (W**2).sum(1)) @ m.output.weight.T
    assert torch.allclose(field(m, x, order=2).laplacian, lap, atol=1e-10)
    relu = make_model("relu", 2, 1, hidden_features=8)
    assert field(relu, x.float(), order=2).laplacian.abs().max() == 0
