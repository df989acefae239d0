"""Models: shapes, bad input, and the paper's activation statistics at initialisation."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from sirenpde.nn import (MODELS, FourierFeatureMLP, PositionalEncodingMLP, ReLUMLP, Siren, TanhMLP,
                         build_from_config, make_model, model_config)


def arcsine_cdf(y):
    return 0.5 + np.arcsin(np.clip(y, -1, 1)) / np.pi


def siren_activations(model: Siren, x: torch.Tensor):
    """Pre-activations omega_0 (W h + b) and post-activations sin(.) of every sine layer."""
    pre, post = [], []
    h = x
    with torch.no_grad():
        for i, layer in enumerate(model.hidden):
            z = model._w0(i) * layer(h)
            h = torch.sin(z)
            pre.append(z.flatten().numpy())
            post.append(h.flatten().numpy())
    return pre, post


@pytest.mark.parametrize("shift", [0.0, 1000.0])
def test_siren_activation_statistics_at_init(shift):
    # Paper, section 3.2: after the first layer, pre-activations are N(0, 1) and
    # post-activations arcsine on [-1, 1], whatever the depth; shifting the input by 1000
    # changes nothing (the first layer's phases are already uniform).
    torch.manual_seed(0)
    model = Siren(1, 1, hidden_features=1024, hidden_layers=6)
    x = torch.linspace(-1, 1, 512).unsqueeze(-1) + shift
    pre, post = siren_activations(model, x)
    # Layer 1 reads exact arcsine inputs (E sin^2 = 1/2), so its pre-activations are N(0, 1).
    # Deeper layers read sin(N(0, s^2)), whose E sin^2 = (1 - exp(-2 s^2))/2 is below 1/2:
    # the std settles near 0.89 (measured 0.89-0.93 here), which the paper's "approximately"
    # covers; the tolerances below state that.
    assert abs(pre[1].std() - 1.0) < 0.02 and stats.kstest(pre[1], "norm").statistic < 0.01
    for k in range(1, len(pre)):
        z = pre[k]
        assert abs(z.mean()) < 0.05, f"layer {k}: mean {z.mean():.3f}"
        assert abs(z.std() - 1.0) < 0.15, f"layer {k}: std {z.std():.3f}"
        ks = stats.kstest(z / z.std(), "norm").statistic
        assert ks < 0.02, f"layer {k}: KS distance of the standardised pre-activation to N(0,1) {ks:.4f}"
    for k in range(len(post)):
        # sin of an exact N(0,1) sits at KS 0.043 from the arcsine law, sin(N(0, 0.89^2)) at ~0.07
        ks = stats.kstest(post[k], arcsine_cdf).statistic
        assert ks < 0.08, f"layer {k}: KS distance to arcsine {ks:.4f}"


def test_siren_statistics_fail_for_a_bad_init():
    # the check above can fail: doubling the hidden weights doubles the pre-activation std
    torch.manual_seed(0)
    model = Siren(1, 1, hidden_features=512, hidden_layers=3)
    with torch.no_grad():
        for layer in model.hidden[1:]:
            layer.weight.mul_(2.0)
    pre, _ = siren_activations(model, torch.linspace(-1, 1, 1024).unsqueeze(-1))
    assert pre[2].std() > 1.5


def test_siren_init_bounds():
    torch.manual_seed(0)
    m = Siren(2, 3, hidden_features=64, hidden_layers=2, first_omega_0=30, hidden_omega_0=30)
    assert m.hidden[0].weight.abs().max() <= 1 / 2
    bound = math.sqrt(6 / 64) / 30
    for layer in list(m.hidden[1:]) + [m.output]:
        assert layer.weight.abs().max() <= bound
    assert len(m.hidden) == 3  # first layer + 2 hidden
    assert m(torch.zeros(5, 2)).shape == (5, 3)


@pytest.mark.parametrize("name", list(MODELS))
def test_models_shapes_and_config_round_trip(name, device):
    torch.manual_seed(0)
    m = make_model(name, 3, 2, hidden_features=16, hidden_layers=1).to(device)
    x = torch.rand(7, 3, device=device)
    assert m(x).shape == (7, 2)
    rebuilt = build_from_config(model_config(m)).to(device)
    rebuilt.load_state_dict(m.state_dict())
    assert torch.equal(rebuilt(x), m(x))


def test_encodings():
    pe = PositionalEncodingMLP(2, 1, hidden_features=8, hidden_layers=0, num_frequencies=4)
    x = torch.tensor([[0.25, -0.5]])
    enc = pe.encode(x)
    assert enc.shape == (1, 2 * (2 * 4 + 1))
    # sin(2^k pi x) for k = 0..3 of the first coordinate
    expected = torch.sin(torch.tensor([1, 2, 4, 8]) * math.pi * 0.25)
    assert torch.allclose(enc[0, 2:10:2], expected, atol=1e-6)
    ff = FourierFeatureMLP(2, 1, hidden_features=8, num_features=32, scale=5.0, seed=3)
    ff2 = FourierFeatureMLP(2, 1, hidden_features=8, num_features=32, scale=5.0, seed=3)
    assert torch.equal(ff.frequencies, ff2.frequencies)
    std = ff.frequencies.std().item() / (2 * math.pi)
    assert 3.5 < std < 6.5


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="unknown model 'sine'.*siren, relu"):
        make_model("sine", 2, 1)
    with pytest.raises(ValueError, match="hidden_features must be a positive integer"):
        Siren(2, 1, hidden_features=0)
    with pytest.raises(ValueError, match=r"expects input of shape \(n, 2\), got \(4, 3\)"):
        Siren(2, 1, hidden_features=8)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="omega_0"):
        Siren(2, 1, first_omega_0=-1)
    with pytest.raises(ValueError, match="num_frequencies"):
        PositionalEncodingMLP(2, 1, num_frequencies=0)
    with pytest.raises(ValueError, match="scale"):
        FourierFeatureMLP(2, 1, scale=0)
    for cls in (ReLUMLP, TanhMLP):
        with pytest.raises(ValueError, match="hidden_layers"):
            cls(2, 1, hidden_layers=-1)
