"""Fit an image's pixel values, grey or colour (the paper's image representation experiment)."""
from __future__ import annotations

import torch

from sirenpde.problem import Constraint
from sirenpde.problems._options import size_pair
from sirenpde.problems.image_data import load_image
from sirenpde.problems.pixels import PixelProblem


class ImageFit(PixelProblem):
    """u(x) = image at every pixel centre, grey or RGB; metric: PSNR over every channel (range 2).

    Parameters
    ----------
    image : path, scikit-image name (default ``camera``) or array
    size : int or (H, W); the image is resized to it (default 128)
    color : ``"auto"`` (default: RGB where the image has colour, grey where it is grey), true
        (three outputs even for a grey image) or false (the channels averaged to grey). RGBA is
        flattened onto white.
    """

    name = "image-fit"
    default_steps = 500
    default_lr = 1e-4

    def __init__(self, image="camera", size=128, color="auto"):
        if size is not None:
            size_pair(self.name, size)  # before the image is read
        if not (color is True or color is False or color == "auto"):
            raise ValueError(f"{self.name}: option color must be true, false or auto, got {color!r}")
        self.image_source = image if isinstance(image, str) else "array"
        self.truth = load_image(image, size, color=color)
        self._setup_grid(self.truth.shape[:2])
        self.out_features = self.channels
        self.target = torch.as_tensor(self.truth.reshape(self.n_pixels, self.channels), dtype=torch.float32)

    def constraints(self):
        return [Constraint("value", self.pixel_sampler(self.target),
                           lambda u, b: u.value - b["target"], order=0)]

    def describe(self):
        return {"name": self.name, "image": self.image_source, "shape": list(self.shape), "channels": self.channels}
