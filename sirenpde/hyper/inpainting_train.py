"""Training and files of the inpainting model, on the machinery of ``fit``.

:class:`InpaintingProblem` is what :func:`sirenpde.training.session.train` expects of a problem:
one constraint whose sampler draws ``n`` *images* per step (patches or training faces) with a
random context mask each, so the session's progress bar, schedule, checkpoints and resume, NaN
stop and ``eval_every`` all apply unchanged. Pre-training is a curriculum: for the first
``pretrain`` share of the steps every image is a patch, after it a ``mix`` share are patches and
the rest faces. :class:`InpaintingLoss` computes inside ``forward`` the MSE over *all* pixels of
each image (the paper's loss) and the paper's latent penalty ``mean z^2`` (weight 0.1).

The file is the ``family.pt`` archive of :mod:`sirenpde.hyper.files` (same format tag, CRC-32
checked, ``weights_only=True``) with the family name ``inpainting``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from sirenpde.hyper.conditioned import HyperSiren
from sirenpde.hyper.inpainting import (CONTEXTS, SIZE, InpaintingModel, eval_masks, face_split, load_faces,
                                       mse_psnr, patch_sources, random_masks, sample_patches, half_mask)
from sirenpde.problem import Batch, Constraint
from sirenpde.training.loss import ConstraintLoss
from sirenpde.training.session import RunOptions, train
from sirenpde.training.setup import resolve_settings
from sirenpde.training.state import FitResult

NAME = "inpainting"
LATENT_WEIGHT = 0.1   # the paper's weight of mean z^2 in its image experiments
MAX_CONTEXT = 300
HALF_SHARE = 0.25     # share of training masks that are the top half; the rest n random pixels


def training_masks(n: int, generator: torch.Generator, size: int = SIZE) -> Tensor:
    """``n`` training masks: the top half with probability 1/4, else ``k`` random pixels with
    ``k`` log-uniform in [10, 300] (covering the evaluated 10, 100 and 300 and sizes between)."""
    half = torch.rand(n, generator=generator) < HALF_SHARE
    k = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(np.log(10), np.log(MAX_CONTEXT + 1),
                                                               generator=generator)).floor().clamp(10, MAX_CONTEXT)
    masks = random_masks(k.long(), generator, size)
    masks[half] = half_mask(int(half.sum()), size)
    return masks


class InpaintingProblem:
    """Faces and patches as one problem for the training session.

    Parameters
    ----------
    steps : int, the run's steps (the curriculum's switch point is a share of them)
    pretrain : float in [0, 1), share of the steps trained on patches alone
    mix : float in [0, 1], share of patches among the images after pre-training
    eval_images : int, test faces :meth:`metrics` evaluates (at most 20)
    """

    name = NAME
    in_features, out_features = 2, 1
    default_steps, default_lr, default_batch_size = 2000, 1e-3, 32

    def __init__(self, pretrain: float = 0.2, mix: float = 0.1, eval_images: int = 20, split_seed: Optional[int] = None):
        if not (0.0 <= pretrain < 1.0) or not (0.0 <= mix <= 1.0):
            raise ValueError(f"pretrain must lie in [0, 1) and mix in [0, 1], got {pretrain!r} and {mix!r}")
        faces = load_faces()
        self.split_seed = split_seed
        self.train_idx, self.test_idx = face_split() if split_seed is None else face_split(split_seed)
        self.train_faces = torch.from_numpy(faces[self.train_idx])
        self.test_faces = torch.from_numpy(faces[self.test_idx])
        sources = patch_sources()
        self.patch_names, self.patches = list(sources), list(sources.values())
        self.pretrain, self.mix = float(pretrain), float(mix)
        self.eval_images = min(int(eval_images), len(self.test_faces))
        self.masks = eval_masks(self.eval_images)

    def coefficients(self, step=None, steps=None) -> dict:
        if step is None or steps is None or step >= self.pretrain * steps:
            return {"patch_share": self.mix}
        return {"patch_share": 1.0}

    def sample(self, n: int, generator: torch.Generator, coefficients: dict) -> Batch:
        """``n`` images (patches with probability ``patch_share``, else training faces) and masks."""
        is_patch = torch.rand(n, generator=generator) < coefficients.get("patch_share", self.mix)
        faces = self.train_faces[torch.randint(len(self.train_faces), (n,), generator=generator)]
        images = faces.clone()
        if bool(is_patch.any()):
            images[is_patch] = sample_patches(self.patches, int(is_patch.sum()), generator)
        # a random flip of every other image: faces are nearly symmetric, patches are not oriented
        flip = torch.rand(n, generator=generator) < 0.5
        images[flip] = images[flip].flip(-1)
        return {"x": images, "mask": training_masks(n, generator)}

    def constraints(self) -> list[Constraint]:
        return [Constraint("pixels", self.sample, lambda u, batch: u - batch["x"], curriculum=True)]

    def metrics(self, model) -> dict:
        """Test MSE (on [0, 1], all pixels) at each context size on the fixed masks."""
        return {f"mse_{c}": row["mse"] for c, row in evaluate_model(model, self.test_faces[:self.eval_images],
                                                                   self.masks).items()}

    def describe(self) -> dict:
        return {"name": self.name, "pretrain": self.pretrain, "mix": self.mix, "eval_images": self.eval_images,
                "split_seed": self.split_seed, "patches": self.patch_names}


class InpaintingLoss(ConstraintLoss):
    """``pixels`` (MSE over all pixels) and ``latent`` (mean z^2, weight 0.1); for the ``full``
    conditioning also the paper's predicted-weight penalty ``weights`` (weight 100)."""

    def __init__(self, model: InpaintingModel, constraints: Sequence[Constraint], engine: str = "auto",
                 latent_weight: float = LATENT_WEIGHT):
        super().__init__(model, constraints, engine)
        self.names.append("latent")
        self.weights.append(float(latent_weight))
        self.hyper = isinstance(model.siren, HyperSiren)
        if self.hyper:
            self.names.append("weights")
            self.weights.append(HyperSiren.weight_decay)

    def forward(self, batches: Sequence[Batch], scales: Optional[Sequence[float]] = None) -> Tensor:
        (batch,) = batches
        z = self.model.encode(batch["x"], batch["mask"])
        pred = self.model.decode(z)
        losses = [self.constraints[0].loss(self.constraints[0].residual(pred, batch)), z.square().mean()]
        if self.hyper:
            losses.append(self.model.siren.penalties(z)["weights"])
        losses = torch.stack(losses)
        if scales is not None:  # every term is a mean over this rank's images
            losses = losses * torch.as_tensor([scales[0]] * len(losses), dtype=losses.dtype, device=losses.device)
        return losses


def evaluate_model(model: InpaintingModel, faces: Tensor, masks: dict) -> dict:
    """``{context: {"mse", "psnr", "prediction" (N, H, W) array}}`` on ``faces (N, H, W)``."""
    model.eval()
    out = {}
    for context, mask in masks.items():
        pred = model.predict(faces, mask[:len(faces)]).numpy()
        mse, psnr = mse_psnr(pred, faces.numpy())
        out[context] = {"mse": mse, "psnr": psnr, "prediction": pred}
    return out


def fit_inpainting(model: InpaintingModel, steps: int, images_per_step: int = 32, lr: float = 1e-3,
                   pretrain: float = 0.2, mix: float = 0.1, device: str = "auto", seed: int = 0,
                   progress: bool = True, checkpoint=None, checkpoint_every: Optional[int] = None,
                   eval_every: Optional[int] = None, callback: Optional[Callable[[int, dict], None]] = None,
                   restart: bool = False, schedule: Optional[str] = "cosine",
                   problem: Optional[InpaintingProblem] = None, latent_weight: float = LATENT_WEIGHT) -> FitResult:
    """Train ``model`` (Adam, cosine schedule by default) for ``steps`` steps of ``images_per_step``
    images; returns the session's :class:`~sirenpde.training.state.FitResult` whose ``metrics``
    are the test MSE per context size (``mse_10``, ``mse_100``, ``mse_300``, ``mse_half``)."""
    if not isinstance(model, InpaintingModel):
        raise ValueError(f"fit_inpainting needs an InpaintingModel, got {type(model).__name__}")
    problem = InpaintingProblem(pretrain, mix) if problem is None else problem
    settings = resolve_settings(problem, steps, lr, images_per_step, "adam", None, schedule, 0, None, "auto", seed)
    options = RunOptions(device, progress, checkpoint, checkpoint_every, eval_every, callback, restart, False)
    loss = lambda model, constraints, engine: InpaintingLoss(model, constraints, engine, latent_weight)  # noqa: E731
    return train(problem, model, settings, options, loss)


# -- files ------------------------------------------------------------------------------------
def save_inpainting(path, model: InpaintingModel, metrics: Optional[dict] = None, info: Optional[dict] = None) -> Path:
    """Write ``model`` to ``path`` (a ``family.pt`` archive, family ``inpainting``) atomically."""
    from sirenpde import __version__
    from sirenpde.hyper.files import FORMAT
    from sirenpde.io.archive import plain_data, write_archive

    return write_archive(path, {
        "format": FORMAT, "version": __version__,
        "family": {"name": NAME, "options": {}, "parameters": {}},
        "config": plain_data(model.config()),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "metrics": plain_data(dict(metrics or {})), "info": plain_data(dict(info or {})),
    })


_INT_KEYS = ("latent", "size", "hidden_features", "hidden_layers", "encoder_width", "film_hidden")


def load_inpainting(path) -> tuple[InpaintingModel, dict, dict]:
    """Read an inpainting ``family.pt``: ``(model in eval mode on the CPU, metrics, info)``.

    The configuration is untrusted: it is checked, the model is built on the ``meta`` device and
    its shapes compared with the stored weights before anything is allocated."""
    from sirenpde.hyper.files import FORMAT, WHAT
    from sirenpde.io.archive import bound_sizes, read_archive

    path = Path(path)
    state = read_archive(path, FORMAT, WHAT)
    spec = state.get("family")
    name = spec.get("name") if isinstance(spec, dict) else None
    if name != NAME:
        raise ValueError(f"{path} is not an inpainting model: it is a {name!r} family model "
                         f"(train one with `sirenpde family train inpainting`)")
    config, weights = state.get("config"), state.get("state_dict")
    if not isinstance(config, dict) or not isinstance(weights, dict) or not all(map(torch.is_tensor, weights.values())):
        raise ValueError(f"{path}: inpainting model lacks its configuration or its weights")
    for key in _INT_KEYS:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (key == "size" and value > 1024):
            raise ValueError(f"{path}: inpainting model has an invalid {key} {value!r}")
    for key in ("first_omega_0", "hidden_omega_0"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
            raise ValueError(f"{path}: inpainting model has an invalid {key} {value!r}")
    bound_sizes(config, weights, path, "inpainting model")
    try:
        with torch.device("meta"):
            shell = InpaintingModel(**config)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: inpainting model has an invalid configuration: {err}") from None
    expected = {k: tuple(v.shape) for k, v in shell.state_dict().items()}
    if expected != {k: tuple(v.shape) for k, v in weights.items()}:
        raise ValueError(f"{path}: inpainting model's weights do not fit its configuration")
    model = InpaintingModel(**config).to(next(iter(weights.values())).dtype)
    model.load_state_dict(weights)
    return model.eval(), dict(state.get("metrics") or {}), dict(state.get("info") or {})


def table_rows(results: dict, contexts=CONTEXTS) -> dict:
    """``{method: {context: {"mse", "psnr"}}}`` without the predictions (for JSON)."""
    return {m: {str(c): {"mse": r[c]["mse"], "psnr": r[c]["psnr"]} for c in contexts if c in r}
            for m, r in results.items()}


def mean_mse(results: dict) -> float:
    return float(np.mean([row["mse"] for row in results.values()]))
