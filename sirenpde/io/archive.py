"""sirenpde's file format: a torch archive of plain tensors and numbers, tagged and verified.

Every file sirenpde writes for itself (training checkpoints, saved solutions, shape models) is a
``torch.save`` zip archive of a dict with a ``"format"`` tag. Reading one verifies the archive's
CRC-32 checksums (``torch.load`` does not), loads with ``weights_only=True`` (no code runs from a
hostile file) and checks the tag, so a damaged or foreign file is an error, never a silent load.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch

from sirenpde.io.atomic import atomic_path


def plain_data(value):
    """``value`` as JSON-plain types (dicts, lists, str, numbers, None): what survives
    ``torch.load(weights_only=True)`` and compares exactly. Arrays become lists, sets sorted
    lists, anything else its ``str``."""
    return json.loads(json.dumps(value, default=_json_default, sort_keys=True))


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    return str(obj)


def write_archive(path, state: dict) -> Path:
    """Write ``state`` (which must hold ``"format"``) to ``path`` atomically."""
    if "format" not in state:
        raise ValueError("write_archive: the state needs a 'format' tag")
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def read_archive(path, formats, what: str = "sirenpde file", map_location="cpu") -> dict:
    """Load a sirenpde archive, refusing damaged and foreign files.

    Parameters
    ----------
    path : file to read
    formats : str or tuple of str, the accepted ``"format"`` tags
    what : what the file should be, for messages ("sirenpde checkpoint", "saved solution")
    """
    path = Path(path)
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    if not path.is_file():
        if path.exists():
            raise ValueError(f"{path} is not a file (expected a {what})")
        raise FileNotFoundError(f"file not found: {path} (expected a {what})")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is not a {what} (not a readable torch archive: {err})") from None
    if bad is not None:
        raise ValueError(f"{path} is damaged: the checksum of its entry {bad!r} does not match; "
                         f"it cannot be used as a {what}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for foreign files; never suggest weights_only=False
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is not a {what}: it holds objects other than plain tensors and numbers "
                         f"({first[:200]})") from None
    if not isinstance(state, dict) or state.get("format") not in formats:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a {what} (format {' or '.join(map(repr, formats))} expected, "
                         f"found {found!r})")
    return state


def bound_sizes(config: dict, state_dict: dict, path, what: str = "sirenpde file") -> None:
    """Refuse a configuration whose sizes its stored weights cannot hold, before anything is built.

    Building a model, even on the ``meta`` device, costs memory for every layer object, so a small
    file whose configuration says ``hidden_layers=100000000`` must be refused by arithmetic first:
    every layer stores at least one tensor (so a count of layers is at most the number of stored
    tensors) and every width or feature count is at most the number of stored numbers."""
    tensors = len(state_dict)
    numbers = sum(int(v.numel()) for v in state_dict.values() if torch.is_tensor(v))
    for key, value in config.items():
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        bound, held = (tensors, "weight tensors") if "layers" in key else (numbers, "stored numbers")
        if value > bound:
            raise ValueError(f"{path}: {what}'s configuration says {key}={value:,}, more than its {bound:,} "
                             f"{held} can hold; refused before building anything")


def build_network(config, state_dict, path, what: str = "sirenpde file"):
    """Rebuild a built-in network from a file's ``config`` and ``state_dict``, checking first.

    The configuration is untrusted: the network is built on torch's ``meta`` device (no memory)
    and its parameter shapes are compared with the stored weights before anything real is
    allocated, so a small file whose config claims a huge width is refused, not attempted."""
    from sirenpde.nn import build_from_config

    if not isinstance(config, dict) or not isinstance(state_dict, dict):
        raise ValueError(f"{path}: {what} lacks a network configuration and weights")
    for key, value in state_dict.items():
        if not torch.is_tensor(value):
            raise ValueError(f"{path}: {what} weight {key!r} is a {type(value).__name__}, not a tensor")
    bound_sizes(config, state_dict, path, what)
    try:
        with torch.device("meta"):
            shell = build_from_config(config)
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{path}: {what} has an invalid network configuration {config!r}: {err}") from None
    expected = {k: tuple(v.shape) for k, v in shell.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in state_dict.items()}
    if expected != stored:
        missing = sorted(set(expected) - set(stored))
        extra = sorted(set(stored) - set(expected))
        wrong = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra else
                  f"{wrong[0]} is {list(stored[wrong[0]])} but the configuration needs {list(expected[wrong[0]])}")
        raise ValueError(f"{path}: {what}'s weights do not fit its configuration ({detail})")
    net = build_from_config(config).to(stored_dtype(state_dict))
    net.load_state_dict(state_dict)
    return net


def stored_dtype(state_dict: dict) -> torch.dtype:
    """The precision weights were saved in: float64 when any floating-point weight is float64 (a
    model trained with ``dtype="float64"``), else float32. A model built for them is converted to
    it before ``load_state_dict``, which would otherwise round float64 weights to float32."""
    doubles = any(torch.is_tensor(v) and v.dtype == torch.float64 for v in state_dict.values())
    return torch.float64 if doubles else torch.float32
