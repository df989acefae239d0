"""Conditioned Sirens: one network answers a batch of ``B`` problem instances at once.

A conditioned Siren maps conditions ``z (B, c)`` to the weights of a :class:`~sirenpde.nn.Siren`,
one set per instance, and evaluates instance ``b`` at its own points ``x[b]``: points are
``(B, n, d)`` (or ``(n, d)``, the same points for every instance). The weights reach the Siren's
engines through the batched ``params=`` path (:mod:`sirenpde.params`), so the value, the jets and
the reverse sweep all work per instance without code of their own. Three ways to condition:

* ``film`` (:class:`FiLMSiren`): a small ReLU network maps ``z`` to a scale and a shift of every
  sine layer's pre-activation, ``sin(w0 (gamma (W h + b) + beta))``, folded into the weights as
  ``W' = gamma W``, ``b' = gamma b + beta``. Its last layer starts at zero, so at step 0 every
  instance is exactly the plain Siren (``gamma = 1``, ``beta = 0``).
* ``full`` (:class:`HyperSiren`): the paper's hypernetwork, one ReLU head per weight tensor.
* ``concat`` (:class:`ConcatSiren`): ``z`` appended to the coordinates, which for the first layer
  is a per-instance bias ``b + W_z z``.

Any of them can also take the coordinates relative to a position among the parameters (``shift``:
the field of member ``p`` is ``N_p(x - s(p))``), the prior of a family whose members move a source
through a uniform medium: the field is then nearly the same function of ``x - s`` for every member,
and the conditioning only has to learn what the walls change. The shift is a per-instance first-layer
bias ``b - W s``, so :meth:`ConditionedSiren.instance` still gives a plain Siren.

Shapes (``B`` instances, ``n`` points, ``d`` coordinates, ``m`` outputs): ``forward`` gives
``(B, n, m)``, ``forward_jet`` a jet with ``value (B, n, m)``, ``grad (B, n, d, m)``, ...;
``sirenpde.field(model.bind(z), x, order)`` gives a :class:`~sirenpde.fields.Field` with ``B`` in
front of every shape.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from sirenpde.jets import Jet
from sirenpde.nn import Siren


def relu_mlp(in_features: int, hidden: int, layers: int, out_features: int) -> nn.Sequential:
    """``layers`` ReLU layers of width ``hidden``, then a linear layer to ``out_features``."""
    sizes = [in_features] + [hidden] * layers
    mods: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [nn.Linear(a, b), nn.ReLU()]
    mods.append(nn.Linear(sizes[-1], out_features))
    return nn.Sequential(*mods)


class ConditionedSiren(nn.Module):
    """Base of the conditioned Sirens; subclasses implement :meth:`instance_params`.

    Parameters
    ----------
    in_features, out_features : int
        Of the Siren: coordinates ``d`` and outputs ``m``.
    cond_features : int
        Length ``c`` of a condition vector.
    hidden_features, hidden_layers, first_omega_0, hidden_omega_0 :
        The Siren's, as in :class:`~sirenpde.nn.Siren`.
    shift : optional dict ``{"index": [i_1..i_d], "low": [..], "high": [..]}``: condition entries
        ``z[i_j]`` (a parameter mapped from ``[low_j, high_j]`` to [-1, 1]) are mapped back and
        subtracted from coordinate ``j`` before the Siren sees it.
    """

    mode = "?"

    def __init__(self, in_features: int, out_features: int, cond_features: int, hidden_features: int = 64,
                 hidden_layers: int = 3, first_omega_0: float = 30.0, hidden_omega_0: float = 30.0,
                 shift: Optional[dict] = None):
        super().__init__()
        if not isinstance(cond_features, int) or cond_features < 1:
            raise ValueError(f"{type(self).__name__}: cond_features must be a positive integer, got {cond_features!r}")
        self.shift = check_shift(shift, in_features, cond_features)
        self.in_features, self.out_features, self.cond_features = in_features, out_features, cond_features
        self.siren_config = dict(in_features=in_features, out_features=out_features, hidden_features=hidden_features,
                                 hidden_layers=hidden_layers, first_omega_0=first_omega_0,
                                 hidden_omega_0=hidden_omega_0)

    # -- to be specialised -----------------------------------------------------------------
    @property
    def template(self) -> Siren:
        """The Siren whose engines evaluate every instance (its parameter names are the keys)."""
        raise NotImplementedError

    def instance_params(self, z: Tensor) -> dict[str, Tensor]:
        """Per-instance Siren parameters for conditions ``z (B, c)``: tensors ``(B,) + shape``
        by the Siren's parameter names; a name left out is the template's, shared."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def params(self, z: Tensor) -> dict[str, Tensor]:
        """:meth:`instance_params` with the shift folded into the first layer's bias."""
        params = self.instance_params(z)
        if self.shift is None:
            return params
        index = torch.as_tensor(self.shift["index"], device=z.device)
        low = torch.as_tensor(self.shift["low"], dtype=z.dtype, device=z.device)
        high = torch.as_tensor(self.shift["high"], dtype=z.dtype, device=z.device)
        s = low + 0.5 * (z[:, index] + 1.0) * (high - low)  # (B, d): the positions in coordinates
        first = self.template.hidden[0]
        weight = params.get("hidden.0.weight", first.weight)
        bias = params.get("hidden.0.bias", first.bias)
        # W (x - s) + b = W x + (b - W s), per instance (W shared (h, d) or per instance (B, h, d))
        ws = torch.einsum("hd,bd->bh", weight, s) if weight.ndim == 2 else torch.einsum("bhd,bd->bh", weight, s)
        return {**params, "hidden.0.bias": bias - ws}

    def _check(self, z: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.cond_features:
            raise ValueError(f"{type(self).__name__}: conditions must be (B, {self.cond_features}), "
                             f"got {tuple(getattr(z, 'shape', ()))}")
        if not isinstance(x, Tensor) or x.ndim not in (2, 3) or x.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__}: points must be (B, n, {self.in_features}) or "
                             f"(n, {self.in_features}), got {tuple(getattr(x, 'shape', ()))}")
        if x.ndim == 2:
            x = x.expand(z.shape[0], *x.shape)
        elif x.shape[0] != z.shape[0]:
            raise ValueError(f"{type(self).__name__}: {z.shape[0]} conditions but points for {x.shape[0]} "
                             f"instances, {tuple(x.shape)}")
        return z, x

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """The field of instance ``b`` at ``x[b]``: ``(B, n, out_features)``."""
        z, x = self._check(z, x)
        return self.template(x, params=self.params(z))

    def forward_jet(self, z: Tensor, x: Tensor, order: int = 2, second: str = "diagonal") -> Jet:
        """Value and derivatives with respect to ``x`` per instance (parts lead with ``B``)."""
        z, x = self._check(z, x)
        return self.template.forward_jet(x, order, second, params=self.params(z))

    def forward_grad(self, z: Tensor, x: Tensor) -> Jet:
        """Value and first derivatives per instance by the explicit reverse sweep."""
        z, x = self._check(z, x)
        return self.template.forward_grad(x, params=self.params(z))

    def bind(self, z: Tensor) -> "BoundConditioned":
        """The model at fixed conditions, with the plain model protocol on ``(B, n, d)`` points,
        for ``sirenpde.field(model.bind(z), x, order)``."""
        return BoundConditioned(self, z)

    def instance(self, z: Tensor) -> Siren:
        """An ordinary Siren whose weights are the ones predicted at ``z`` (shape ``(c,)`` or
        ``(1, c)``), detached: it works everywhere a model does (field, fit, saving)."""
        if not isinstance(z, Tensor) or z.shape not in ((self.cond_features,), (1, self.cond_features)):
            raise ValueError(f"{type(self).__name__}.instance: need one condition of shape ({self.cond_features},) "
                             f"or (1, {self.cond_features}), got {tuple(getattr(z, 'shape', ()))}")
        template = self.template
        with torch.no_grad():
            predicted = self.params(z.reshape(1, -1))
            state = {}
            for name, own in template.named_parameters():
                t = predicted.get(name, own)
                state[name] = (t[0] if t.ndim == own.ndim + 1 else t).detach().clone()
        siren = Siren(**self.siren_config).to(dtype=z.dtype, device=z.device)
        siren.load_state_dict(state)
        return siren

    def config(self) -> dict:
        """Constructor arguments, enough to rebuild the model (for saving)."""
        shift = {} if self.shift is None else {"shift": {k: list(v) for k, v in self.shift.items()}}
        return {"mode": self.mode, "cond_features": self.cond_features, **self.siren_config, **self._extra_config(),
                **shift}

    def _extra_config(self) -> dict:
        return {}


class BoundConditioned(nn.Module):
    """A conditioned Siren at fixed conditions ``z (B, c)``: maps ``(B, n, d)`` to ``(B, n, m)``."""

    def __init__(self, model: ConditionedSiren, z: Tensor):
        super().__init__()
        model._check(z, torch.zeros(1, model.in_features, dtype=z.dtype if isinstance(z, Tensor) else None))
        self.model = model
        self.z = z
        self.in_features, self.out_features = model.in_features, model.out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.model(self.z, x)

    def forward_jet(self, x: Tensor, order: int = 2, second: str = "diagonal") -> Jet:
        return self.model.forward_jet(self.z, x, order, second)

    def forward_grad(self, x: Tensor) -> Jet:
        return self.model.forward_grad(self.z, x)


class FiLMSiren(ConditionedSiren):
    """A shared Siren whose sine layers are scaled and shifted per instance (see the module doc).

    Extra parameters: ``film_hidden`` (width, default 64) and ``film_layers`` (ReLU layers,
    default 1) of the network that maps ``z`` to the ``2 (hidden_layers + 1) hidden_features``
    modulations.
    """

    mode = "film"

    def __init__(self, in_features, out_features, cond_features, hidden_features=64, hidden_layers=3,
                 first_omega_0=30.0, hidden_omega_0=30.0, film_hidden: int = 64, film_layers: int = 1, shift=None):
        super().__init__(in_features, out_features, cond_features, hidden_features, hidden_layers,
                         first_omega_0, hidden_omega_0, shift)
        self.siren = Siren(**self.siren_config)
        self.film_hidden, self.film_layers = film_hidden, film_layers
        self.film = relu_mlp(cond_features, film_hidden, film_layers, 2 * (hidden_layers + 1) * hidden_features)
        # zero last layer: gamma = 1 and beta = 0 for every z, exactly the plain Siren at step 0
        nn.init.zeros_(self.film[-1].weight)
        nn.init.zeros_(self.film[-1].bias)

    @property
    def template(self) -> Siren:
        return self.siren

    def modulations(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Scale ``gamma`` and shift ``beta`` of every sine layer: each ``(B, hidden_layers + 1, hidden)``."""
        out = self.film(z).reshape(z.shape[0], 2, len(self.siren.hidden), -1)
        return 1.0 + out[:, 0], out[:, 1]

    def instance_params(self, z: Tensor) -> dict[str, Tensor]:
        gamma, beta = self.modulations(z)
        params = {}
        for i, lin in enumerate(self.siren.hidden):
            params[f"hidden.{i}.weight"] = gamma[:, i, :, None] * lin.weight
            params[f"hidden.{i}.bias"] = gamma[:, i] * lin.bias + beta[:, i]
        return params

    def _extra_config(self) -> dict:
        return {"film_hidden": self.film_hidden, "film_layers": self.film_layers}


class HyperSiren(ConditionedSiren):
    """The paper's hypernetwork: one ReLU MLP head per Siren weight tensor predicts all of them.

    Each head's last layer has Kaiming-normal weights divided by 100 (the paper's small-output
    initialisation), so the prediction barely depends on ``z`` at first; its bias is a draw of the
    Siren initialisation of that tensor, so the predicted Siren starts near a Siren-initialised one
    (the paper draws it from U(-1/fan_in, 1/fan_in)). The Siren itself holds no trained
    parameters and is not registered (DDP refuses parameters that get no gradient).

    Extra parameters: ``hyper_hidden`` (default 64) and ``hyper_layers`` (default 1) of each head.
    """

    mode = "full"
    latent_weight = 0.1   # the paper's penalty weights (meta-learning image experiments)
    weight_decay = 100.0

    def __init__(self, in_features, out_features, cond_features, hidden_features=64, hidden_layers=3,
                 first_omega_0=30.0, hidden_omega_0=30.0, hyper_hidden: int = 64, hyper_layers: int = 1,
                 shift=None):
        super().__init__(in_features, out_features, cond_features, hidden_features, hidden_layers,
                         first_omega_0, hidden_omega_0, shift)
        template = Siren(**self.siren_config)
        self.__dict__["_template"] = template  # deliberately not a submodule: no unused parameters
        self.hyper_hidden, self.hyper_layers = hyper_hidden, hyper_layers
        self.names = [name for name, _ in template.named_parameters()]
        self.shapes = [tuple(p.shape) for _, p in template.named_parameters()]
        self.heads = nn.ModuleList()
        for (name, p) in template.named_parameters():
            head = relu_mlp(cond_features, hyper_hidden, hyper_layers, p.numel())
            nn.init.kaiming_normal_(head[-1].weight, nonlinearity="relu")
            with torch.no_grad():
                head[-1].weight.div_(100.0)
                head[-1].bias.copy_(p.detach().reshape(-1))
            self.heads.append(head)

    @property
    def template(self) -> Siren:
        return self._template

    def instance_params(self, z: Tensor) -> dict[str, Tensor]:
        return {name: head(z).reshape(z.shape[0], *shape)
                for name, shape, head in zip(self.names, self.shapes, self.heads)}

    def penalties(self, z: Tensor, params: Optional[dict] = None) -> dict[str, Tensor]:
        """The paper's regularisers: ``latent`` = mean z^2 and ``weights`` = mean square of every
        predicted weight (all tensors together); ``params`` reuses a prediction already made."""
        params = self.instance_params(z) if params is None else params
        total = sum(t.numel() for t in params.values())
        return {"latent": z.square().mean(), "weights": sum(t.square().sum() for t in params.values()) / total}

    def penalty(self, z: Tensor, params: Optional[dict] = None) -> Tensor:
        """``latent_weight * latent + weight_decay * weights`` (the paper's 0.1 and 100)."""
        p = self.penalties(z, params)
        return self.latent_weight * p["latent"] + self.weight_decay * p["weights"]

    def _extra_config(self) -> dict:
        return {"hyper_hidden": self.hyper_hidden, "hyper_layers": self.hyper_layers}


class ConcatSiren(ConditionedSiren):
    """A Siren on ``[x, z]``: the usual parameterised-PINN baseline.

    Derivatives are wanted with respect to ``x`` only, so ``z`` enters as what it is for the
    first layer, a per-instance bias ``b + W_z z``; the first layer's weights ``[W_x, W_z]`` and
    bias are initialised as the Siren's first layer on ``d + c`` inputs.
    """

    mode = "concat"

    def __init__(self, in_features, out_features, cond_features, hidden_features=64, hidden_layers=3,
                 first_omega_0=30.0, hidden_omega_0=30.0, shift=None):
        super().__init__(in_features, out_features, cond_features, hidden_features, hidden_layers,
                         first_omega_0, hidden_omega_0, shift)
        self.siren = Siren(**self.siren_config)
        fan_in = in_features + cond_features
        self.cond_weight = nn.Parameter(torch.empty(hidden_features, cond_features).uniform_(-1 / fan_in, 1 / fan_in))
        with torch.no_grad():
            first = self.siren.hidden[0]
            first.weight.uniform_(-1 / fan_in, 1 / fan_in)
            first.bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))  # nn.Linear's default there

    @property
    def template(self) -> Siren:
        return self.siren

    def instance_params(self, z: Tensor) -> dict[str, Tensor]:
        return {"hidden.0.bias": self.siren.hidden[0].bias + z @ self.cond_weight.T}


def check_shift(shift, in_features: int, cond_features: int) -> Optional[dict]:
    """``shift`` checked (it may come from a file): one condition index and a finite range
    ``low < high`` per coordinate; ``ValueError`` naming what is wrong."""
    if shift is None:
        return None
    if not isinstance(shift, dict) or set(shift) != {"index", "low", "high"}:
        raise ValueError(f"shift must be a dict with keys index, low, high, got {shift!r}")
    out = {}
    for key in ("index", "low", "high"):
        value = shift[key]
        if not isinstance(value, (list, tuple)) or len(value) != in_features:
            raise ValueError(f"shift[{key!r}] must list {in_features} values (one per coordinate), got {value!r}")
        out[key] = list(value)
    for i in out["index"]:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < cond_features:
            raise ValueError(f"shift['index'] must hold condition indices in [0, {cond_features}), got {out['index']}")
    for lo, hi in zip(out["low"], out["high"]):
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lo, hi))
        if not ok or not lo < hi:
            raise ValueError(f"shift: need finite low < high per coordinate, got low={out['low']}, high={out['high']}")
    out["low"], out["high"] = [float(v) for v in out["low"]], [float(v) for v in out["high"]]
    return out


CONDITIONINGS: dict[str, type[ConditionedSiren]] = {"film": FiLMSiren, "full": HyperSiren, "concat": ConcatSiren}


def conditioned_siren(mode: str, in_features: int, out_features: int, cond_features: int,
                      **kwargs) -> ConditionedSiren:
    """Build a conditioned Siren by mode: one of ``CONDITIONINGS`` (film, full, concat)."""
    try:
        cls = CONDITIONINGS[mode]
    except KeyError:
        raise ValueError(f"unknown conditioning {mode!r}; valid: {', '.join(CONDITIONINGS)}") from None
    return cls(in_features, out_features, cond_features, **kwargs)
