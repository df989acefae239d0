"""Poisson problems on images: reconstruct an image from its gradients or its Laplacian, and
composite two images through their gradients (Poisson image editing).

Targets are exact derivatives of the image's cosine interpolant at the pixel centres
(:mod:`sirenpde.problems.spectral`) with respect to the network's own coordinates on
[-1, 1]^2, so a perfect fit has zero loss. Each problem carries the exact discrete
solution of its equation, computed with a DCT solve, and reports PSNR after removing the
mean (gradients and Laplacians fix an image only up to a constant).
"""
from __future__ import annotations

import numpy as np
import torch

from sirenpde.problem import Constraint
from sirenpde.problems import spectral
from sirenpde.problems._options import size_pair
from sirenpde.problems.image_data import load_image
from sirenpde.problems.pixels import PixelProblem


def first_omega_0(shape) -> float:
    """SIREN's first-layer frequency for an image of ``shape``: 10 at 128 px, rising with the
    larger side to the paper's 30 from 384 px up.

    The paper's 30 is tuned for 256-512 px images; at 128 px it lets the low frequencies, which
    a gradient or Laplacian loss weights least (by frequency squared), converge slowest and
    they dominate the error. Measured at 128 px (3x256 Siren, lr 1e-4, 8,192 random pixels per
    step): 26.8 dB after 200 steps with 10, 19.4 dB after 150 steps with 30 (4,096 pixels per
    step; 24.0 dB with 30 and every pixel). See ``benchmarks/results/poisson.md``.
    """
    return 30.0 * min(1.0, max(shape) / 384.0)


class _PoissonImage(PixelProblem):
    """Defaults: a 3x256 Siren with :func:`first_omega_0` for the image; 200 Adam steps at 1e-4
    on ``MAX_BATCH`` random pixels per step (every pixel for images of up to 4,096 pixels), then
    10 L-BFGS steps on every pixel (at most ``MAX_LBFGS_BATCH``)."""

    remove_mean = True
    default_steps = 200
    default_lr = 1e-4
    # The loss is a smooth least-squares fit on a fixed pixel grid, where L-BFGS converges far
    # faster than Adam once Adam has found the basin. At 128 px (one CPU thread), Adam alone on
    # 8,192 pixels a step needs ~500 steps for 30 dB; 200 Adam steps on 4,096 pixels (a cheap,
    # noisy start to ~24.6 dB) and then L-BFGS on all pixels reach it ~4x sooner than the paper's
    # recipe and go on to 31-34 dB. Tried: Adam on 8,192 pixels before L-BFGS (2.3x), switching at
    # 50-250 Adam steps, widths 128 and 192, depth 2, omega_0 = 15 (none sooner)
    # (benchmarks/results/poisson.md)
    default_lbfgs_steps = 10
    MAX_BATCH = 4096
    MAX_LBFGS_BATCH = 65536
    # Adam betas (0.9, 0.99) were tried with Adam alone: +0.5 dB per step at 200-250 steps, but
    # 30 dB only after 750 steps against 500 with the usual (0.9, 0.999) (128 px, one run each)

    def _load(self, image, size) -> np.ndarray:
        if size is not None:
            size_pair(self.name, size)  # before the image is read
        self.image_source = image if isinstance(image, str) else "array"
        img = load_image(image, size)
        self._setup_grid(img.shape)
        self.default_batch_size = min(self.n_pixels, self.MAX_BATCH)
        self.default_lbfgs_batch_size = min(self.n_pixels, self.MAX_LBFGS_BATCH)
        self.model_kwargs = {"siren": {"hidden_features": 256, "hidden_layers": 3,
                                       "first_omega_0": first_omega_0(self.shape)}}
        return img

    def describe(self):
        return {"name": self.name, "image": self.image_source, "shape": list(self.shape)}


class PoissonGradient(_PoissonImage):
    """grad u = grad image at the pixel centres; reference: the DCT least-squares solve.

    Parameters
    ----------
    image : path, scikit-image name (default ``camera``) or array
    size : int or (H, W) (default 128)
    """

    name = "poisson-gradient"

    def __init__(self, image="camera", size=128):
        img = self._load(image, size)
        self.target_grad = spectral.gradient(img)
        self.truth = spectral.solve_gradient(self.target_grad)
        self.target = torch.as_tensor(self.target_grad.reshape(-1, 2), dtype=torch.float32)

    def constraints(self):
        return [Constraint("gradient", self.pixel_sampler(self.target),
                           lambda u, b: u.grad - b["target"], order=1)]


class PoissonLaplacian(_PoissonImage):
    """laplacian u = laplacian image at the pixel centres; reference: the DCT solve.

    The Laplacian fixes the image only up to harmonic functions the network may add
    (the paper reports 14.95 dB for SIREN here), so expect far lower PSNR than from gradients.
    """

    name = "poisson-laplacian"

    def __init__(self, image="camera", size=128):
        img = self._load(image, size)
        self.target_lap = spectral.laplacian(img)
        self.truth = spectral.solve_laplacian(self.target_lap)
        self.target = torch.as_tensor(self.target_lap.reshape(-1, 1), dtype=torch.float32)

    def constraints(self):
        return [Constraint("laplacian", self.pixel_sampler(self.target),
                           lambda u, b: u.laplacian - b["target"], order=2, second="laplacian")]


class GradientComposite(_PoissonImage):
    """grad u = a blend of two images' gradients; reference: the DCT least-squares solve.

    Parameters
    ----------
    image, other : the two images (default ``camera`` and ``astronaut``)
    size : int or (H, W) (default 128)
    mode : ``"mix"`` takes at each pixel the gradient of larger magnitude (mixed gradients,
        which keeps the edges of both); ``"blend"`` takes ``alpha * grad image +
        (1 - alpha) * grad other``.
    alpha : float in [0, 1], for ``"blend"``
    """

    name = "gradient-composite"
    MODES = ("mix", "blend")

    def __init__(self, image="camera", other="astronaut", size=128, mode="mix", alpha=0.5):
        if mode not in self.MODES:
            raise ValueError(f"unknown composite mode {mode!r}; valid modes: {', '.join(self.MODES)}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        a = self._load(image, size)
        b = load_image(other, a.shape)
        ga, gb = spectral.gradient(a), spectral.gradient(b)
        if mode == "mix":
            pick_a = np.linalg.norm(ga, axis=-1, keepdims=True) >= np.linalg.norm(gb, axis=-1, keepdims=True)
            g = np.where(pick_a, ga, gb)
        else:
            g = alpha * ga + (1 - alpha) * gb
        self.other_source = other if isinstance(other, str) else "array"
        self.mode, self.alpha = mode, alpha
        self.target_grad = g
        self.truth = spectral.solve_gradient(g)
        self.target = torch.as_tensor(g.reshape(-1, 2), dtype=torch.float32)

    def constraints(self):
        return [Constraint("gradient", self.pixel_sampler(self.target),
                           lambda u, b: u.grad - b["target"], order=1)]

    def describe(self):
        return {**super().describe(), "other": self.other_source, "mode": self.mode, "alpha": self.alpha}
