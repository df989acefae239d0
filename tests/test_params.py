"""Explicit parameters (``params=``) in every engine, batched instances, wrappers and jet products."""
import pytest
import torch
from torch import nn

from sirenpde.fields import field
from sirenpde.jets import Jet, multiply
from sirenpde.nn import MODELS, make_model, model_config
from sirenpde.problems.helmholtz_square import HardBoundary

KWARGS = {"siren": {"first_omega_0": 3.0, "hidden_omega_0": 2.0}, "relu-pe": {"num_frequencies": 2},
          "fourier": {"num_features": 6, "scale": 1.0}}
PARTS = ("value", "grad", "d2", "hessian", "lap")


def _model(name, seed, out_features=2):
    torch.manual_seed(seed)
    return make_model(name, 2, out_features, hidden_features=12, hidden_layers=2, **KWARGS.get(name, {})).double()


def _parts(jet: Jet):
    return {k: getattr(jet, k) for k in PARTS if getattr(jet, k) is not None}


def _engines(model, x, params=None):
    """Every engine's raw output, as a dict of tensors."""
    kw = {} if params is None else {"params": params}
    out = {"forward": model(x, **kw)}
    for second in ("diagonal", "laplacian", "hessian"):
        for k, v in _parts(model.forward_jet(x, 2, second, **kw)).items():
            out[f"jet-{second}-{k}"] = v
    for k, v in _parts(model.forward_grad(x, **kw)).items():
        out[f"reverse-{k}"] = v
    auto = field(model, x, order=2, engine="autograd", **kw)
    out.update({"autograd-value": auto.value, "autograd-grad": auto.grad, "autograd-hessian": auto.hessian})
    return out


def _x(*shape):
    return torch.rand(*shape, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 2 - 1


@pytest.mark.parametrize("name", list(MODELS))
def test_own_params_give_identical_results(name):
    model, x = _model(name, 0), _x(9)
    plain, explicit = _engines(model, x), _engines(model, x, dict(model.named_parameters()))
    for key in plain:
        assert torch.equal(plain[key], explicit[key]), key


@pytest.mark.parametrize("name", list(MODELS))
def test_other_params_equal_a_loaded_model(name):
    model, other, x = _model(name, 0), _model(name, 1), _x(9)
    loaded = _model(name, 0)
    loaded.load_state_dict(other.state_dict())
    want, got = _engines(loaded, x), _engines(model, x, dict(other.named_parameters()))
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-13, atol=1e-13, msg=key)


def test_missing_names_fall_back_to_the_module():
    model, other, x = _model("siren", 0), _model("siren", 1), _x(7)
    loaded = _model("siren", 0)
    loaded.output.weight.data.copy_(other.output.weight)
    got = model.forward_jet(x, params={"output.weight": other.output.weight})
    torch.testing.assert_close(got.d2, loaded.forward_jet(x).d2, rtol=1e-13, atol=1e-13)


def _stack(models):
    return {k: torch.stack([dict(m.named_parameters())[k] for m in models]) for k, _ in models[0].named_parameters()}


@pytest.mark.parametrize("name", list(MODELS))
def test_batched_params_equal_a_loop_of_instances(name):
    models = [_model(name, s) for s in range(3)]
    x = _x(3, 8)
    batched = _engines(models[0], x, _stack(models))
    loop = [_engines(m, x[b]) for b, m in enumerate(models)]
    for key in batched:
        want = torch.stack([one[key] for one in loop])
        assert batched[key].shape == want.shape, key
        torch.testing.assert_close(batched[key], want, rtol=1e-12, atol=1e-12, msg=key)


def test_shared_weights_on_batched_points_and_mixed_params():
    models = [_model("tanh", s) for s in range(2)]
    x = _x(2, 6)
    torch.testing.assert_close(models[0].forward_jet(x).d2, torch.stack([models[0].forward_jet(p).d2 for p in x]),
                               rtol=1e-13, atol=1e-13)
    # only the output layer per instance, the hidden layers shared
    mixed = {"output.weight": torch.stack([m.output.weight for m in models])}
    got = models[0].forward_grad(x, params=mixed).grad
    for b, m in enumerate(models):
        loaded = _model("tanh", 0)
        loaded.output.weight.data.copy_(m.output.weight)
        torch.testing.assert_close(got[b], loaded.forward_grad(x[b]).grad, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("engine,order", [("jet", 2), ("reverse", 1), ("autograd", 2)])
def test_batched_field_equals_a_loop(engine, order):
    models = [_model("siren", s, out_features=1) for s in range(3)]
    x = _x(3, 5)
    u = field(models[0], x, order=order, engine=engine, params=_stack(models), second="hessian")
    assert u.value.shape == (3, 5, 1) and u.grad.shape == (3, 5, 2)
    for b, m in enumerate(models):
        one = field(m, x[b], order=order, engine=engine, second="hessian")
        torch.testing.assert_close(u.value[b], one.value, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(u.grad[b], one.grad, rtol=1e-12, atol=1e-12)
        if order == 2:
            torch.testing.assert_close(u.laplacian[b], one.laplacian, rtol=1e-11, atol=1e-11)
            torch.testing.assert_close(u.d2(1)[b], one.d2(1), rtol=1e-11, atol=1e-11)
            torch.testing.assert_close(u.hessian[b], one.hessian, rtol=1e-11, atol=1e-11)


def test_gradcheck_through_batched_params_in_the_jet_engine():
    model = _model("siren", 0, out_features=1)
    names = ["hidden.1.weight", "hidden.0.bias", "output.weight"]
    tensors = [dict(model.named_parameters())[k].detach().expand(2, *dict(model.named_parameters())[k].shape)
               .clone().requires_grad_(True) for k in names]
    x = _x(2, 4)

    def fn(*ts):
        jet = model.forward_jet(x, 2, "laplacian", params=dict(zip(names, ts)))
        return jet.value, jet.grad, jet.lap

    assert torch.autograd.gradcheck(fn, tensors)


def test_bad_params_refused():
    model, x = _model("siren", 0), _x(4)
    with pytest.raises(ValueError, match=r"unknown parameter names \['hidden.9.weight'\]"):
        model(x, params={"hidden.9.weight": torch.zeros(12, 12)})
    with pytest.raises(ValueError, match=r"params\['output.bias'\] has shape \(3,\)"):
        model.forward_jet(x, params={"output.bias": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"need points of shape \(2, n, d\)"):
        model.forward_grad(x, params={"output.bias": torch.zeros(2, 2, dtype=torch.float64)})
    with pytest.raises(ValueError, match="unknown parameter names"):
        field(model, x, order=1, engine="autograd", params={"nope": torch.zeros(1)})


def test_hidden_features_is_stored():
    model = _model("relu-pe", 0)
    assert model.hidden_features == 12 and model_config(model)["hidden_features"] == 12


# -- wrappers ------------------------------------------------------------------------------

def test_hard_boundary_passes_params_and_batches():
    inner = [_model("siren", s, out_features=1) for s in range(2)]
    net = HardBoundary(inner[0], low=-1.0, high=1.0)
    names = [k for k, _ in net.named_parameters()]
    assert names[0] == "inner.hidden.0.weight"
    x = _x(2, 6)
    stacked = {f"inner.{k}": v for k, v in _stack(inner).items()}
    for engine, order in (("jet", 2), ("reverse", 1), ("autograd", 2)):
        u = field(net, x, order=order, engine=engine, params=stacked, second="hessian")
        for b, m in enumerate(inner):
            one = field(HardBoundary(m, -1.0, 1.0), x[b], order=order, engine="autograd")
            torch.testing.assert_close(u.grad[b], one.grad, rtol=1e-11, atol=1e-11)
            if order == 2:
                torch.testing.assert_close(u.hessian[b], one.hessian, rtol=1e-10, atol=1e-10)
    edge = torch.tensor([[-1.0, 0.3], [1.0, -0.7], [0.2, -1.0], [0.9, 1.0]], dtype=torch.float64)
    assert net(edge, params={k: v[0] for k, v in stacked.items()}).abs().max() == 0.0
    with pytest.raises(ValueError, match=r"unknown parameter names \['hidden.0.weight'\]"):
        net(edge, params={"hidden.0.weight": inner[1].hidden[0].weight})


def test_hard_boundary_reverse_sweep_equals_autograd():
    net = HardBoundary(_model("tanh", 0, out_features=1))
    x = torch.rand(20, 2, dtype=torch.float64)
    rev, auto = field(net, x, order=1, engine="reverse"), field(net, x, order=1, engine="autograd")
    torch.testing.assert_close(rev.grad, auto.grad, rtol=1e-12, atol=1e-12)
    assert field(net, x, order=1).engine == "reverse"


def test_wrapper_capabilities_follow_the_inner_model():
    plain = HardBoundary(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)))
    assert not callable(getattr(plain, "forward_jet", None)) and not hasattr(plain, "forward_grad")
    assert callable(getattr(HardBoundary(_model("relu", 0)), "forward_jet", None))


# -- jet algebra -----------------------------------------------------------------------------

class _Product(nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a(x) * self.b(x)


@pytest.mark.parametrize("second", ["diagonal", "laplacian", "hessian"])
def test_multiply_equals_autograd(second):
    a, b = _model("siren", 0, out_features=1), _model("tanh", 1, out_features=3)
    x = _x(2, 7)  # a batch of two point sets: the product rule works on any leading axes
    prod = multiply(a.forward_jet(x, 2, second), b.forward_jet(x, 2, second))
    auto = field(_Product(a, b), x, order=2, engine="autograd")
    torch.testing.assert_close(prod.value, auto.value, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(prod.grad.transpose(-1, -2), auto.grad, rtol=1e-12, atol=1e-12)
    lap = prod.lap if second == "laplacian" else prod.d2.sum(dim=-2)
    torch.testing.assert_close(lap, auto.laplacian, rtol=1e-10, atol=1e-10)
    if second == "hessian":
        torch.testing.assert_close(prod.hessian.movedim(-1, -3), auto.hessian, rtol=1e-10, atol=1e-10)


def test_a_wrapper_may_name_its_inner_model():
    from sirenpde.wrappers import ModelWrapper

    class Named(ModelWrapper):  # how ShapeModel keeps its ``net`` attribute and file keys
        inner_name = "net"

    inner, other = _model("siren", 0), _model("siren", 1)
    wrapped = Named(inner)
    assert wrapped.net is inner and [k for k, _ in wrapped.named_parameters()][0] == "net.hidden.0.weight"
    x = _x(5)
    params = {f"net.{k}": v for k, v in other.named_parameters()}
    torch.testing.assert_close(field(wrapped, x, order=2, params=params).laplacian,
                               field(other, x, order=2).laplacian, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(field(wrapped, x, order=1, engine="autograd", params=params).grad,
                               field(other, x, order=1).grad, rtol=1e-13, atol=1e-13)
