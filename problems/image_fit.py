"""Fit an image's pixel values (the paper's image representation experiment)."""
from __future__ import annotations

import torch

from sirenpde.problem import Constraint
from sirenpde.problems._options import size_pair
from sirenpde.problems.image_data import load_image
from sirenpde.problems.pixels import PixelProblem


class ImageFit(PixelProblem):
    """u(x) = image at every pixel centre; metric: PSNR (images in [-1, 1], range 2).

    Parameters
    ----------
    image : path, scikit-image name (default ``camera``) or array
    size : int or (H, W); the image is resized to it (default 128)
    """

    name = "image-fit"
    default_steps = 500
    default_lr = 1e-4

    def __init__(self, image="camera", size=128):
        if size is not None:
            size_pair(self.name, size)  # before the image is read
        self.image_source = image if isinstance(image, str) else "array"
        self.truth = load_image(image, size)
        self._setup_grid(self.truth.shape)
        self.target = torch.as_tensor(self.truth.reshape(-1, 1), dtype=torch.float32)

    def constraints(self):
        return [Constraint("value", self.pixel_sampler(self.target),
                           lambda u, b: u.value - b["target"], order=0)]

    def describe(self):
        return {"name": self.name, "image": self.image_source, "shape": list(self.shape)}
