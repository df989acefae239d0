"""Networks: SIREN and the baselines it is compared with, on one MLP skeleton.

Every model maps ``(n, in_features)`` to ``(n, out_features)`` and also implements
``forward_jet(x, order, second)``, which returns the value and its derivatives with
respect to ``x`` in one pass (see :mod:`sirenpde.jets`), and ``forward_grad(x)``, the value
and first derivatives by one explicit reverse sweep.

All three take ``params=``: tensors by parameter name that replace the module's own for that
call, either of the parameters' own shapes or with a leading instance axis ``B`` for a batch
of instances at points ``(B, n, d)`` (see :mod:`sirenpde.params`).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from sirenpde import jets
from sirenpde.jets import Jet
from sirenpde.params import linear, resolve_params, sweep_weight
from sirenpde.registry import MODELS  # name -> class, defined there so names load without torch


class MLP(nn.Module):
    """Shared skeleton: input encoding, ``hidden_layers + 1`` activated layers, linear output.

    Subclasses set the activation (``_act`` for tensors, ``_act_jet`` for jets) and, if
    they encode their input, override ``encode`` / ``encode_jet``.
    """

    def __init__(self, in_features: int, out_features: int, hidden_features: int = 256,
                 hidden_layers: int = 3, encoded_features: Optional[int] = None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("hidden_features", hidden_features)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}")
        if not isinstance(hidden_layers, int) or hidden_layers < 0:
            raise ValueError(f"{type(self).__name__}: hidden_layers must be an integer >= 0, got {hidden_layers!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.hidden_features = hidden_features
        first_in = encoded_features or in_features
        sizes = [first_in] + [hidden_features] * (hidden_layers + 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.output = nn.Linear(hidden_features, out_features)

    # -- to be specialised ------------------------------------------------------------------
    def _act(self, z: Tensor, layer: int) -> Tensor:
        raise NotImplementedError

    def _act_jet(self, layer: int) -> jets.JetActivation:
        raise NotImplementedError

    def _affine(self, layer: int, params: Optional[dict] = None) -> tuple[Tensor, Tensor]:
        """Weight and bias that hidden layer ``layer`` applies before its activation, from
        ``params`` (resolved, every name present) or the module."""
        if params is None:
            lin = self.hidden[layer]
            return lin.weight, lin.bias
        return params[f"hidden.{layer}.weight"], params[f"hidden.{layer}.bias"]

    def _output_affine(self, params: Optional[dict] = None) -> tuple[Tensor, Tensor]:
        if params is None:
            return self.output.weight, self.output.bias
        return params["output.weight"], params["output.bias"]

    def _act_slope(self, z: Tensor, layer: int) -> tuple[Tensor, Tensor]:
        """The activation and its derivative at ``z``, both differentiable."""
        s, ds, _ = self._act_jet(layer)(z)
        return s, ds

    def encode(self, x: Tensor) -> Tensor:
        return x

    def encode_jet(self, x: Tensor, order: int, second: str) -> Optional[Jet]:
        """Jet of the encoding, or None when there is none (the first layer then reads x directly)."""
        return None

    # -- shared -----------------------------------------------------------------------------
    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        if x.ndim not in (2, 3) or x.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__} expects input of shape (n, {self.in_features}), "
                             f"got {tuple(x.shape)} (or (B, n, {self.in_features}) for a batch of instances)")

    def forward(self, x: Tensor, params: Optional[dict] = None) -> Tensor:
        """The output at ``x (n, in)`` as ``(n, out)``; batched ``x (B, n, in)`` gives ``(B, n, out)``.

        ``params`` : optional mapping from parameter name (as in ``named_parameters()``) to a
        tensor that replaces that parameter for this call, of its own shape or with a leading
        instance axis ``B``; names left out use the module's own (:mod:`sirenpde.params`).
        """
        self._check_input(x)
        p = resolve_params(self, params, x)
        h = self.encode(x)
        for i in range(len(self.hidden)):
            h = self._act(linear(h, *self._affine(i, p)), i)
        return linear(h, *self._output_affine(p))

    def forward_jet(self, x: Tensor, order: int = 2, second: str = "diagonal",
                    params: Optional[dict] = None) -> Jet:
        """Value and derivatives with respect to ``x`` of the output.

        Returns a :class:`~sirenpde.jets.Jet` with ``value (n, out)``, ``grad (n, d, out)``
        (order >= 1) and, for order 2, by ``second``: ``d2 (n, d, out)`` ("diagonal"),
        ``lap (n, out)`` ("laplacian", cheapest) or ``d2`` and ``hessian (n, d, d, out)``
        ("hessian"). Batched ``x (B, n, d)`` puts ``B`` in front of every part. ``params`` as
        in :meth:`forward`.
        """
        self._check_input(x)
        if order not in (0, 1, 2):
            raise ValueError(f"jet order must be 0, 1 or 2, got {order!r}")
        p = resolve_params(self, params, x)
        enc = self.encode_jet(x, order, second)
        weight, bias = self._affine(0, p)
        if enc is None:
            jet = jets.first_linear(x, weight, bias, order, second)
        else:
            jet = enc.linear(weight, bias)
        jet = jet.activate(self._act_jet(0))
        for i in range(1, len(self.hidden)):
            jet = jet.linear(*self._affine(i, p)).activate(self._act_jet(i))
        return jet.linear(*self._output_affine(p))

    def forward_grad(self, x: Tensor, params: Optional[dict] = None) -> Jet:
        """Value and first derivatives with respect to ``x`` by a forward pass and one explicit
        reverse sweep through the layers (reverse-mode first-order jet).

        The sweep carries ``out_features`` rows per point back through the layers where forward
        jets carry ``in_features``, and it is built from ordinary differentiable operations, so a
        loss on the gradient trains with one plain backward pass (no double backward). Returns a
        :class:`~sirenpde.jets.Jet` with ``value (n, out)`` and ``grad (n, d, out)``, with ``B``
        in front for batched ``x (B, n, d)``. ``params`` as in :meth:`forward`.
        """
        self._check_input(x)
        p = resolve_params(self, params, x)
        enc = self.encode_jet(x, 1, "diagonal")
        h = x if enc is None else enc.value
        weights, slopes = [], []
        for i in range(len(self.hidden)):
            weight, bias = self._affine(i, p)
            h, slope = self._act_slope(linear(h, weight, bias), i)
            weights.append(sweep_weight(weight))
            slopes.append(slope.unsqueeze(-3))  # room for the output axis: (..., 1, n, hidden)
        out_weight, out_bias = self._output_affine(p)
        value = linear(h, out_weight, out_bias)
        # delta[..., j, :, :] = d out_j / d (pre-activation of the current layer): (..., out, n, hidden)
        delta = slopes[-1] * out_weight.unsqueeze(-2)
        for weight, slope in zip(weights[:0:-1], slopes[-2::-1]):
            delta = (delta @ weight) * slope
        grad = delta @ weights[0]  # (..., out, n, first-layer inputs)
        if enc is None:
            grad = grad.movedim(-3, -1)
        else:  # chain rule through the fixed encoding, whose jet holds d enc / d x as (..., n, d, E)
            grad = torch.einsum("...mne,...nde->...ndm", grad, enc.grad)
        return Jet(value, grad)


class Siren(MLP):
    """Sine-activated MLP with the initialisation of Sitzmann et al. (2020).

    Layer ``i`` computes ``sin(w0_i (W h + b))`` with ``w0_0 = first_omega_0`` and
    ``w0_i = hidden_omega_0`` after; the output layer is linear. Weights of the first layer
    are drawn from U(-1/n, 1/n), later ones and their biases (output included) from
    U(-sqrt(6/n)/w0, sqrt(6/n)/w0) with ``n`` the fan-in, so that pre-activations
    ``w0 (W h + b)`` are close to N(0, 1) and post-activations close to the arcsine law.

    Parameters
    ----------
    in_features, out_features : int
    hidden_features : int
        Width of every hidden layer.
    hidden_layers : int
        Number of hidden-to-hidden layers (the paper's "3x256" is ``hidden_layers=3``).
    first_omega_0, hidden_omega_0 : float
        Frequency factors w0 of the first and of the later sine layers.
    """

    def __init__(self, in_features: int, out_features: int, hidden_features: int = 256,
                 hidden_layers: int = 3, first_omega_0: float = 30.0, hidden_omega_0: float = 30.0):
        super().__init__(in_features, out_features, hidden_features, hidden_layers)
        if not (first_omega_0 > 0 and hidden_omega_0 > 0):
            raise ValueError(f"Siren: omega_0 values must be positive, got {first_omega_0}, {hidden_omega_0}")
        self.first_omega_0 = float(first_omega_0)
        self.hidden_omega_0 = float(hidden_omega_0)
        with torch.no_grad():
            n = self.hidden[0].in_features
            self.hidden[0].weight.uniform_(-1.0 / n, 1.0 / n)
            for layer in list(self.hidden[1:]) + [self.output]:
                bound = math.sqrt(6.0 / layer.in_features) / self.hidden_omega_0
                layer.weight.uniform_(-bound, bound)
                # PyTorch's default bias, U(-1/sqrt(n), 1/sqrt(n)), would add w0^2/(3n) to the
                # variance of w0 (W h + b) (0.3 to 1.2 for n = 1024 to 256) and spoil the N(0, 1)
                # pre-activations; a bias drawn like the weights adds only 2/n.
                layer.bias.uniform_(-bound, bound)

    def _w0(self, layer: int) -> float:
        return self.first_omega_0 if layer == 0 else self.hidden_omega_0

    def _affine(self, layer: int, params: Optional[dict] = None) -> tuple[Tensor, Tensor]:
        # sin(w0 (W h + b)) computed as sin((w0 W) h + w0 b): scaling the small weight matrix
        # spares a multiplication of every (points x features) pre-activation, in every engine
        weight, bias = super()._affine(layer, params)
        w0 = self._w0(layer)
        return w0 * weight, w0 * bias

    def _act(self, z: Tensor, layer: int) -> Tensor:
        return torch.sin(z)

    def _act_jet(self, layer: int) -> jets.JetActivation:
        return jets.sine_activation

    def _act_slope(self, z: Tensor, layer: int) -> tuple[Tensor, Tensor]:
        return jets.sin_cos(z)

    def extra_repr(self) -> str:
        return f"first_omega_0={self.first_omega_0}, hidden_omega_0={self.hidden_omega_0}"


class ReLUMLP(MLP):
    """ReLU MLP with Kaiming-normal initialisation (its Laplacian is zero almost everywhere)."""

    def __init__(self, in_features: int, out_features: int, hidden_features: int = 256,
                 hidden_layers: int = 3, encoded_features: Optional[int] = None):
        super().__init__(in_features, out_features, hidden_features, hidden_layers, encoded_features)
        for layer in list(self.hidden) + [self.output]:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def _act(self, z: Tensor, layer: int) -> Tensor:
        return torch.relu(z)

    def _act_jet(self, layer: int) -> jets.JetActivation:
        return jets.relu_activation


class TanhMLP(MLP):
    """tanh MLP with Xavier initialisation."""

    def __init__(self, in_features: int, out_features: int, hidden_features: int = 256,
                 hidden_layers: int = 3):
        super().__init__(in_features, out_features, hidden_features, hidden_layers)
        for layer in list(self.hidden) + [self.output]:
            nn.init.xavier_normal_(layer.weight, gain=nn.init.calculate_gain("tanh"))
            nn.init.zeros_(layer.bias)

    def _act(self, z: Tensor, layer: int) -> Tensor:
        return torch.tanh(z)

    def _act_jet(self, layer: int) -> jets.JetActivation:
        return jets.tanh_activation


class PositionalEncodingMLP(ReLUMLP):
    """ReLU MLP on the NeRF positional encoding
    ``[x, sin(2^k pi x), cos(2^k pi x)]`` for k = 0 .. num_frequencies - 1."""

    def __init__(self, in_features: int, out_features: int, hidden_features: int = 256,
                 hidden_layers: int = 3, num_frequencies: int = 10, include_input: bool = True):
        if not isinstance(num_frequencies, int) or num_frequencies < 1:
            raise ValueError(f"num_frequencies must be a positive integer, got {num_frequencies!r}")
        encoded = in_features * (2 * num_frequencies + int(include_input))
        super().__init__(in_features, out_features, hidden_features, hidden_layers, encoded)
        self.num_frequencies = num_frequencies
        self.include_input = include_input
        # Row (k, i) of the frequency matrix is 2^k pi e_i.
        freqs = (2.0 ** torch.arange(num_frequencies)) * math.pi
        matrix = torch.einsum("k,ij->kij", freqs, torch.eye(in_features)).reshape(-1, in_features)
        self.register_buffer("frequencies", matrix)

    def encode(self, x: Tensor) -> Tensor:
        z = x @ self.frequencies.T
        parts = [x] if self.include_input else []
        return torch.cat(parts + [torch.sin(z), torch.cos(z)], dim=-1)

    def encode_jet(self, x: Tensor, order: int, second: str) -> Jet:
        z = jets.first_linear(x, self.frequencies, None, order, second)
        trig = jets.concat([z, z]).activate(jets.sin_cos_halves)
        return jets.concat([jets.input_jet(x, order, second), trig]) if self.include_input else trig

    def extra_repr(self) -> str:
        return f"num_frequencies={self.num_frequencies}, include_input={self.include_input}"


class FourierFeatureMLP(ReLUMLP):
    """ReLU MLP on random Fourier features ``[sin(2 pi B x), cos(2 pi B x)]``, B ~ N(0, scale^2)
    (Tancik et al. 2020). ``B`` is a fixed buffer drawn with ``seed``."""

    def __init__(self, in_features: int, out_features: int, hidden_features: int = 256,
                 hidden_layers: int = 3, num_features: int = 256, scale: float = 10.0, seed: int = 0):
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        super().__init__(in_features, out_features, hidden_features, hidden_layers, 2 * num_features)
        gen = torch.Generator().manual_seed(seed)
        b = torch.randn(num_features, in_features, generator=gen) * scale * 2.0 * math.pi
        self.register_buffer("frequencies", b)
        self.scale = float(scale)

    def encode(self, x: Tensor) -> Tensor:
        z = x @ self.frequencies.T
        return torch.cat([torch.sin(z), torch.cos(z)], dim=-1)

    def encode_jet(self, x: Tensor, order: int, second: str) -> Jet:
        z = jets.first_linear(x, self.frequencies, None, order, second)
        return jets.concat([z, z]).activate(jets.sin_cos_halves)

    def extra_repr(self) -> str:
        return f"num_features={self.frequencies.shape[0]}, scale={self.scale}"


def make_model(name: str, in_features: int, out_features: int, **kwargs) -> MLP:
    """Build a model by name: one of ``MODELS`` (siren, relu, relu-pe, tanh, fourier)."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}") from None
    return cls(in_features, out_features, **kwargs)


def model_config(model: nn.Module) -> dict:
    """The constructor arguments of a built-in model, enough to rebuild it (for saving)."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            break
    else:
        raise ValueError(f"model_config: {type(model).__name__} is not a built-in sirenpde model")
    cfg = {"name": name, "in_features": model.in_features, "out_features": model.out_features,
           "hidden_features": model.hidden_features, "hidden_layers": len(model.hidden) - 1}
    if isinstance(model, Siren):
        cfg.update(first_omega_0=model.first_omega_0, hidden_omega_0=model.hidden_omega_0)
    elif isinstance(model, PositionalEncodingMLP):
        cfg.update(num_frequencies=model.num_frequencies, include_input=model.include_input)
    elif isinstance(model, FourierFeatureMLP):
        cfg.update(num_features=model.frequencies.shape[0], scale=model.scale)
    return cfg


def build_from_config(cfg: dict) -> MLP:
    """Inverse of :func:`model_config`."""
    cfg = dict(cfg)
    name = cfg.pop("name")
    return make_model(name, cfg.pop("in_features"), cfg.pop("out_features"), **cfg)
