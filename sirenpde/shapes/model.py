"""The shape model: a network on the normalised cube, its normalisation, and its file format.

:class:`ShapeModel` is what :func:`~sirenpde.shapes.fit.fit_sdf` trains and
:func:`~sirenpde.shapes.fit.mesh_shape` meshes; :meth:`ShapeModel.save` and
:func:`load_shape_model` write and read it as one ``torch.load(weights_only=True)``-safe file
tagged :data:`FORMAT`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from sirenpde import __version__
from sirenpde.io.archive import build_network, read_archive, write_archive
from sirenpde.nn import model_config
from sirenpde.shapes.pointcloud import Normalization
from sirenpde.wrappers import ModelWrapper

FORMAT = "sirenpde-shape-1"
WHAT = "sirenpde shape model"  # what fit-sdf and ShapeModel.save write
_KEYS = ("format", "version", "config", "normalization", "state_dict", "metadata")
# The normalised cube the network lives on; meshing covers it by default.
CUBE = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


class ShapeModel(ModelWrapper):
    """A network on the normalised cube and the :class:`Normalization` that leads there.

    ``forward`` (and ``forward_jet``, ``forward_grad`` when the network has them, all with
    ``params=``) take normalised points ``(n, 3)`` and return ``(n, 1)`` signed distances in
    normalised units, so the model trains like any other; ``extract_mesh`` reads
    ``.normalization`` and puts vertices back in the input's coordinates.

    Parameters
    ----------
    net : nn.Module mapping (n, 3) to (n, 1); a built-in sirenpde model to be savable
    normalization : Normalization
    metadata : dict of plain values (str, numbers, lists, dicts), saved with the model
    """

    inner_name = "net"

    def __init__(self, net: nn.Module, normalization: Normalization, metadata: Optional[dict] = None):
        if not isinstance(normalization, Normalization):
            raise ValueError("ShapeModel: normalization must be a Normalization, "
                             f"got {type(normalization).__name__}")
        for attr, want in (("in_features", 3), ("out_features", 1)):
            got = getattr(net, attr, want)
            if got != want:
                raise ValueError(f"ShapeModel: the network must map (n, 3) to (n, 1); it has {attr}={got}")
        super().__init__(net)
        self.normalization = normalization
        self.metadata = dict(metadata or {})
        self.in_features, self.out_features = 3, 1

    def sdf(self, points, batch_size: int = 65536) -> np.ndarray:
        """Signed distance at ``points (n, 3)`` in the input's coordinates and units: ``(n,)``."""
        x = torch.as_tensor(self.normalization.apply(points), dtype=torch.float32)
        dev = next(self.parameters()).device
        with torch.no_grad():
            values = [self(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(values)[:, 0].double().numpy() * self.normalization.scale

    def save(self, path) -> Path:
        """Write weights, network config, normalisation and metadata to one file, atomically
        (sirenpde's verified archive format; it loads with ``torch.load(weights_only=True)``)."""
        return write_archive(path, {
            "format": FORMAT,
            "version": __version__,
            "config": model_config(self.net),
            "normalization": self.normalization.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            "metadata": json.loads(json.dumps(self.metadata)),
        })


def load_shape_model(path, device: Union[str, torch.device] = "cpu") -> ShapeModel:
    """Read a file written by :meth:`ShapeModel.save`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a sirenpde shape model: unreadable by ``torch.load(weights_only=True)``
        (another format, a text file, a pickle of arbitrary objects), another format tag, missing
        keys, or weights that do not fit the stored configuration.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a shape model file")
    state = read_archive(path, FORMAT, WHAT)
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise ValueError(f"{path}: sirenpde shape model lacks keys {missing} (has {sorted(state)})")
    metadata = state["metadata"] if isinstance(state["metadata"], dict) else {}
    net = build_network(state["config"], state["state_dict"], path, WHAT)
    try:
        shape = ShapeModel(net, Normalization.from_dict(state["normalization"]),
                           dict(metadata, saved_with_version=state["version"]))
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: sirenpde shape model is inconsistent: {err}") from err
    return shape.to(device).eval()
