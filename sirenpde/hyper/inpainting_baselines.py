"""Baselines of the inpainting benchmark, each ``(image (H, W), mask (H, W)) -> (H, W)`` on [0, 1].

* :func:`mean_face`: the mean training face, whatever the context;
* :func:`griddata_fill` ``"linear"``: ``scipy.interpolate.griddata`` linear interpolation of the
  context pixels, which is undefined outside their convex hull, where it falls back to the nearest
  context pixel; ``"nearest"``: the nearest context pixel everywhere;
* :func:`biharmonic_fill`: ``skimage.restoration.inpaint_biharmonic``;
* :func:`siren_fill`: a single Siren fitted to the context pixels alone with ``sirenpde.fit``.

:func:`evaluate_baselines` runs them on the same images and masks as the model.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from sirenpde.hyper.inpainting import mse_psnr, pixel_grid
from sirenpde.problem import Constraint, Problem


def _observed(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(np.asarray(mask) > 0.5)
    if len(rows) == 0:
        raise ValueError("a baseline needs at least one observed pixel")
    return rows, cols


def mean_face(train_faces: np.ndarray) -> np.ndarray:
    """The mean of ``train_faces (N, H, W)``: ``(H, W)``."""
    return np.asarray(train_faces, dtype=np.float64).mean(axis=0)


def griddata_fill(image: np.ndarray, mask: np.ndarray, method: str = "linear") -> np.ndarray:
    """Interpolate the context pixels of ``image`` over the whole grid (pixel index coordinates).

    ``method="linear"`` uses the nearest context pixel where the point lies outside the context's
    convex hull (griddata leaves NaN there); with fewer than 3 context pixels, or all of them on a
    line, there is no triangle and linear is nearest everywhere."""
    from scipy.interpolate import griddata
    from scipy.spatial import QhullError

    if method not in ("linear", "nearest"):
        raise ValueError(f"griddata_fill: method must be 'linear' or 'nearest', got {method!r}")
    rows, cols = _observed(mask)
    h, w = image.shape
    points = np.stack([rows, cols], axis=1).astype(np.float64)
    values = np.asarray(image, dtype=np.float64)[rows, cols]
    gr, gc = np.mgrid[0:h, 0:w]
    targets = np.stack([gr.ravel(), gc.ravel()], axis=1).astype(np.float64)
    nearest = griddata(points, values, targets, method="nearest")
    if method == "nearest":
        return nearest.reshape(h, w)
    try:
        linear = griddata(points, values, targets, method="linear")
    except (QhullError, ValueError):  # degenerate context (< 3 pixels or collinear): no triangle
        return nearest.reshape(h, w)
    return np.where(np.isnan(linear), nearest, linear).reshape(h, w)


def biharmonic_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``skimage.restoration.inpaint_biharmonic`` with every unobserved pixel to fill."""
    from skimage.restoration import inpaint_biharmonic

    _observed(mask)
    return inpaint_biharmonic(np.asarray(image, dtype=np.float64), np.asarray(mask) < 0.5)


class ContextFit(Problem):
    """Fit a Siren to the context pixels of one image: ``u(x) = value`` at the observed pixel
    centres (coordinates in ``[-1, 1]^2`` as the model's), all of them in every step."""

    name = "context-fit"
    in_features, out_features = 2, 1
    default_steps, default_lr = 300, 1e-4

    def __init__(self, image: np.ndarray, mask: np.ndarray):
        rows, cols = _observed(mask)
        h = image.shape[0]
        grid = pixel_grid(h, torch.float64).reshape(h, h, 2)
        self.x = grid[rows, cols]
        self.values = torch.as_tensor(np.asarray(image, dtype=np.float64)[rows, cols] - 0.5)[:, None]
        self.default_batch_size = len(rows)

    def constraints(self):
        return [Constraint("context", lambda n, g: {"x": self.x, "value": self.values},
                           lambda u, batch: u.value - batch["value"])]


def siren_fill(image: np.ndarray, mask: np.ndarray, steps: int = 300, lr: float = 1e-4, hidden: int = 64,
               layers: int = 3, seed: int = 0) -> np.ndarray:
    """A Siren (``layers`` x ``hidden``, w0 = 30) fitted by ``sirenpde.fit`` to the context
    pixels alone for ``steps`` Adam steps, then evaluated at every pixel: ``(H, W)``."""
    from sirenpde.training import fit

    problem = ContextFit(image, mask)
    model = problem.make_model("siren", seed=seed, hidden_features=hidden, hidden_layers=layers)
    result = fit(problem, model, steps=steps, lr=lr, device="cpu", seed=seed, progress=False)
    h, w = image.shape
    with torch.no_grad():
        u = result.model(pixel_grid(h, next(result.model.parameters()).dtype)).double().numpy()
    return 0.5 + u.reshape(h, w)


BASELINES = ("mean face", "griddata linear", "griddata nearest", "biharmonic", "siren fit")


def evaluate_baselines(faces: np.ndarray, masks: dict, train_faces: np.ndarray,
                       methods=BASELINES, siren_steps: int = 300, progress: Optional[callable] = None) -> dict:
    """Every baseline on ``faces (N, H, W)`` with ``masks {context: (N, H, W)}``:
    ``{method: {context: {"mse", "psnr", "prediction" (N, H, W)}}}``."""
    faces = np.asarray(faces, dtype=np.float64)
    mean = mean_face(train_faces)
    fills = {"mean face": lambda im, m: mean,
             "griddata linear": lambda im, m: griddata_fill(im, m, "linear"),
             "griddata nearest": lambda im, m: griddata_fill(im, m, "nearest"),
             "biharmonic": biharmonic_fill,
             "siren fit": lambda im, m: siren_fill(im, m, steps=siren_steps)}
    unknown = sorted(set(methods) - set(fills))
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; valid: {', '.join(fills)}")
    out = {}
    for method in methods:
        out[method] = {}
        for context, mask in masks.items():
            mask = np.asarray(mask)[:len(faces)]
            pred = np.stack([fills[method](im, m) for im, m in zip(faces, mask)])
            mse, psnr = mse_psnr(pred, faces)
            out[method][context] = {"mse": mse, "psnr": psnr, "prediction": pred}
            if progress is not None:
                progress(method, context, mse)
    return out
