"""``family.pt``: a trained conditioned model with the family it answers.

The file is a :mod:`sirenpde.io.archive` archive (format tag, CRC-32 verified, read with
``weights_only=True``). Its configuration is untrusted: :func:`load_family` builds the model on
torch's ``meta`` device and compares every parameter shape with the stored weights before it
allocates anything, so a small file that claims a huge network is refused, not attempted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from sirenpde.io.archive import bound_sizes, plain_data, read_archive, write_archive

FORMAT = "sirenpde-family-1"
WHAT = "sirenpde family model (family.pt)"


def save_family(path, model, family, metrics: dict | None = None, info: dict | None = None) -> Path:
    """Write ``model`` (a conditioned Siren) trained on ``family`` to ``path`` atomically.

    ``metrics`` (the held-out table) and ``info`` (steps, times) are stored as plain data."""
    from sirenpde import __version__

    return write_archive(path, {
        "format": FORMAT,
        "version": __version__,
        "family": plain_data(family.spec()),
        "config": plain_data(model.config()),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "metrics": plain_data(dict(metrics or {})),
        "info": plain_data(dict(info or {})),
    })


@dataclass
class FamilyModel:
    """What :func:`load_family` returns: the model (eval mode, CPU), its family, the stored metrics."""

    model: nn.Module
    family: object
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def predict(self, p):
        """The plain Siren of member ``p (P,)``, after the family's range check."""
        return self.family.predict(self.model, torch.as_tensor(p, dtype=torch.float64))


def _check_config(config: dict, path) -> dict:
    from sirenpde.hyper.conditioned import CONDITIONINGS

    if not isinstance(config, dict) or config.get("mode") not in CONDITIONINGS:
        mode = config.get("mode") if isinstance(config, dict) else config
        raise ValueError(f"{path}: {WHAT} has an unknown conditioning {mode!r}; valid: {', '.join(CONDITIONINGS)}")
    for key, value in config.items():
        if key in ("mode", "shift"):  # the shift is checked by the model's constructor
            continue
        if key.endswith("omega_0"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{path}: {WHAT} has a non-numeric {key} {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{path}: {WHAT} has an invalid {key} {value!r} (a non-negative integer expected)")
    return dict(config)


def build_conditioned(config: dict, state_dict: dict, path):
    """The conditioned model of ``config`` with ``state_dict``, shapes checked on the meta device first."""
    from sirenpde.hyper.conditioned import conditioned_siren

    config = _check_config(config, path)
    if not isinstance(state_dict, dict) or not all(torch.is_tensor(v) for v in state_dict.values()):
        raise ValueError(f"{path}: {WHAT} lacks its weights (a dict of tensors)")
    bound_sizes(config, state_dict, path, WHAT)
    mode = config.pop("mode")
    args = [config.pop(k, None) for k in ("in_features", "out_features", "cond_features")]
    if None in args:
        raise ValueError(f"{path}: {WHAT}'s configuration lacks in_features, out_features or cond_features")
    try:
        with torch.device("meta"):
            shell = conditioned_siren(mode, *args, **config)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: {WHAT} has an invalid configuration: {err}") from None
    expected = {k: tuple(v.shape) for k, v in shell.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in state_dict.items()}
    if expected != stored:
        missing, extra = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
        wrong = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra else
                  f"{wrong[0]} is {list(stored[wrong[0]])} but the configuration needs {list(expected[wrong[0]])}")
        raise ValueError(f"{path}: {WHAT}'s weights do not fit its configuration ({detail})")
    model = conditioned_siren(mode, *args, **config).to(next(iter(state_dict.values())).dtype)
    model.load_state_dict(state_dict)
    return model


def _family_of(spec: dict, extrapolate: bool, path):
    """The family a file's record describes: its problem by registered name, its ranges and shift."""
    from sirenpde.hyper.family import Family
    from sirenpde.hyper import FAMILIES

    problem, options = spec.get("problem"), spec.get("options", {})
    if not isinstance(problem, str) or not isinstance(options, dict):
        raise ValueError(f"{path}: {WHAT} names no registered problem (a family record from an older version?)")
    ranges = spec.get("parameters")
    registered = FAMILIES.get(spec.get("name"), {})
    try:
        return Family(problem, ranges=ranges, extrapolate=extrapolate, shift=spec.get("shift"),
                      name=spec.get("name"), defaults=registered.get("defaults"), **options)
    except TypeError as err:
        raise ValueError(f"{path}: {WHAT}'s family options do not fit {problem!r}: {err}") from None
    except ValueError as err:  # an option out of its bounds (a grid of 10^12 points...), named by the problem
        raise ValueError(f"{path}: {WHAT} has an invalid family record: {err}") from None


def load_family(path, extrapolate: bool = False) -> FamilyModel:
    """Read a ``family.pt``: the model, its family (``extrapolate`` passed on), metrics and info."""
    path = Path(path)
    state = read_archive(path, FORMAT, WHAT)
    for key in ("family", "config", "state_dict"):
        if key not in state:
            raise ValueError(f"{path}: {WHAT} lacks {key!r}")
    spec = state["family"]
    if not isinstance(spec, dict) or not isinstance(spec.get("options", {}), dict):
        raise ValueError(f"{path}: {WHAT} has no valid family record")
    if spec.get("name") == "inpainting":  # an encoder-conditioned model: sirenpde.hyper.inpainting_train
        raise ValueError(f"{path} is an inpainting model, not a family of problems: use "
                         f"`sirenpde inpaint IMAGE --model {path}` (Python: load_inpainting)")
    family = _family_of(spec, extrapolate, path)
    model = build_conditioned(state["config"], state["state_dict"], path).eval()
    return FamilyModel(model, family, dict(state.get("metrics") or {}), dict(state.get("info") or {}))
