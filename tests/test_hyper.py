"""Conditioned Sirens and encoders (sirenpde.hyper): batched engines, exact initialisation, instances."""
import pytest
import torch

from sirenpde.fields import field
from sirenpde.hyper import CNNEncoder, SetEncoder, conditioned_siren
from sirenpde.nn import Siren

MODES = ("film", "full", "concat")
SMALL = {"hidden_features": 10, "hidden_layers": 2, "first_omega_0": 4.0, "hidden_omega_0": 3.0}
EXTRA = {"film": {"film_hidden": 8}, "full": {"hyper_hidden": 8}, "concat": {}}


def _model(mode, seed=0):
    torch.manual_seed(seed)
    model = conditioned_siren(mode, 2, 1, 3, **SMALL, **EXTRA[mode]).double()
    if mode == "film":  # leave the exact start so that z matters
        with torch.no_grad():
            model.film[-1].weight.normal_(0, 0.3)
            model.film[-1].bias.normal_(0, 0.3)
    return model


def _inputs(b=3, n=6):
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(b, 3, generator=gen, dtype=torch.float64)
    x = torch.rand(b, n, 2, generator=gen, dtype=torch.float64) * 2 - 1
    return z, x


@pytest.mark.parametrize("mode", MODES)
def test_batched_engines_equal_a_loop_of_instances(mode):
    model = _model(mode)
    z, x = _inputs()
    value = model(z, x)
    jet = model.forward_jet(z, x, 2, "hessian")
    rev = model.forward_grad(z, x)
    assert value.shape == (3, 6, 1) and jet.hessian.shape == (3, 6, 2, 2, 1)
    for b in range(3):
        one = model.instance(z[b])
        assert isinstance(one, Siren)
        ref = one.forward_jet(x[b], 2, "hessian")
        torch.testing.assert_close(value[b], one(x[b]), rtol=1e-12, atol=1e-12)
        for part in ("value", "grad", "d2", "hessian"):
            torch.testing.assert_close(getattr(jet, part)[b], getattr(ref, part), rtol=1e-11, atol=1e-11)
        torch.testing.assert_close(rev.grad[b], ref.grad, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("mode", MODES)
def test_engines_equal_autograd_on_the_bound_model(mode):
    model = _model(mode)
    z, x = _inputs()
    bound = model.bind(z)
    auto = field(bound, x, order=2, engine="autograd")
    for engine, order in (("jet", 2), ("reverse", 1)):
        u = field(bound, x, order=order, engine=engine, second="hessian")
        assert u.value.shape == (3, 6, 1) and u.grad.shape == (3, 6, 2)
        torch.testing.assert_close(u.grad, auto.grad, rtol=1e-11, atol=1e-11)
        if order == 2:
            torch.testing.assert_close(u.laplacian, auto.laplacian, rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(u.hessian, auto.hessian, rtol=1e-10, atol=1e-10)


class _JetCall(torch.nn.Module):
    """forward = the conditioned model's Laplacian jet, so functional_call can swap its weights."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, z, x):
        jet = self.model.forward_jet(z, x, 2, "laplacian")
        return jet.value, jet.grad, jet.lap


CONDITIONING_PARAM = {"film": "film.0.weight", "full": "heads.1.0.weight", "concat": "cond_weight"}


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_through_the_conditioning(mode):
    model = _model(mode)
    z, x = _inputs(2, 3)
    name = CONDITIONING_PARAM[mode]
    weight = dict(model.named_parameters())[name].detach().clone().requires_grad_(True)
    wrapped = _JetCall(model)

    def fn(z, w):
        return torch.func.functional_call(wrapped, {f"model.{name}": w}, (z, x))

    assert torch.autograd.gradcheck(fn, (z.requires_grad_(True), weight))


def test_film_at_initialisation_is_exactly_the_plain_siren():
    torch.manual_seed(0)
    model = conditioned_siren("film", 2, 1, 3, **SMALL).double()
    z, x = _inputs()
    params = model.instance_params(z)
    for i, lin in enumerate(model.siren.hidden):
        for b in range(3):
            assert torch.equal(params[f"hidden.{i}.weight"][b], lin.weight)
            assert torch.equal(params[f"hidden.{i}.bias"][b], lin.bias)
    torch.testing.assert_close(model(z, x), torch.stack([model.siren(p) for p in x]), rtol=1e-14, atol=1e-14)
    torch.manual_seed(0)
    plain = Siren(2, 1, **SMALL).double()  # the same draws as the template: the paper's init
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), model.siren.parameters()))


def test_concat_equals_a_siren_on_concatenated_inputs():
    model = _model("concat")
    z, x = _inputs()
    wide = Siren(5, 1, **SMALL).double()
    state = {k: v.clone() for k, v in model.siren.state_dict().items()}
    state["hidden.0.weight"] = torch.cat([model.siren.hidden[0].weight, model.cond_weight], dim=1)
    wide.load_state_dict(state)
    xz = torch.cat([x, z[:, None, :].expand(3, 6, 3)], dim=-1)
    torch.testing.assert_close(model(z, x), torch.stack([wide(p) for p in xz]), rtol=1e-12, atol=1e-12)


def test_full_mode_registers_only_trained_parameters_and_has_penalties():
    model = _model("full")
    z, x = _inputs()
    names = [n for n, _ in model.named_parameters()]
    assert all(n.startswith("heads.") for n in names)
    loss = model(z, x).square().mean() + model.penalty(z)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    pen = model.penalties(z)
    params = model.instance_params(z)
    total = sum(t.numel() for t in params.values())
    want = sum(t.square().sum() for t in params.values()) / total
    torch.testing.assert_close(pen["weights"], want)
    torch.testing.assert_close(pen["latent"], z.square().mean())


def test_instance_refuses_a_batch_and_bad_shapes_are_refused():
    model = _model("film")
    z, x = _inputs()
    with pytest.raises(ValueError, match=r"need one condition of shape \(3,\)"):
        model.instance(z)
    with pytest.raises(ValueError, match="3 conditions but points for 2 instances"):
        model(z, x[:2])
    with pytest.raises(ValueError, match=r"conditions must be \(B, 3\)"):
        model(z[:, :2], x)
    shared = model(z, x[0])  # (n, d) points are shared by every instance
    torch.testing.assert_close(shared[1], model.instance(z[1])(x[0]), rtol=1e-12, atol=1e-12)


def test_set_encoder_pools_and_masks():
    torch.manual_seed(0)
    enc = SetEncoder(2, 1, 5, hidden_features=8).double()
    x = torch.rand(2, 7, 2, dtype=torch.float64)
    v = torch.rand(2, 7, 1, dtype=torch.float64)
    z = enc(x, v)
    assert z.shape == (2, 5)
    perm = torch.randperm(7)
    torch.testing.assert_close(enc(x[:, perm], v[:, perm]), z)  # a set: order does not matter
    mask = torch.zeros(2, 7)
    mask[:, :4] = 1
    torch.testing.assert_close(enc(x, v, mask), enc(x[:, :4], v[:, :4]))
    with pytest.raises(ValueError, match="no observed context point"):
        enc(x, v, torch.zeros(2, 7))


def test_cnn_encoder_reads_only_observed_pixels():
    torch.manual_seed(0)
    enc = CNNEncoder(1, 6, width=4, layers=2).double()
    image = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    mask = (torch.rand(2, 1, 16, 16) < 0.3).double()
    z = enc(image, mask)
    assert z.shape == (2, 6)
    changed = image + (1 - mask) * 5.0  # unobserved pixels must not matter
    torch.testing.assert_close(enc(changed, mask), z)
    assert not torch.allclose(enc(image, torch.ones_like(mask)), z)
    with pytest.raises(ValueError, match="mask must be"):
        enc(image, mask[:, :, :8])
