"""Encoders: observed data of one instance -> its condition vector ``z``.

* :class:`SetEncoder` (the paper's): context points, coordinates and values, through one
  per-point ReLU network, mean-pooled over the points (masked points left out), then a linear map.
* :class:`CNNEncoder` (the paper's better variant for images): the masked image and its mask as
  two kinds of channel through a few strided convolutions, pooled, then a linear map.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from sirenpde.hyper.conditioned import relu_mlp


class SetEncoder(nn.Module):
    """Context set -> ``z``.

    Parameters
    ----------
    in_features : int, coordinates per point ``d``
    value_features : int, observed values per point ``m``
    cond_features : int, length ``c`` of ``z``
    hidden_features, hidden_layers : the per-point network's width and ReLU layers
    """

    def __init__(self, in_features: int, value_features: int, cond_features: int, hidden_features: int = 128,
                 hidden_layers: int = 2):
        super().__init__()
        self.in_features, self.value_features, self.cond_features = in_features, value_features, cond_features
        self.point = relu_mlp(in_features + value_features, hidden_features, hidden_layers, hidden_features)
        self.head = nn.Linear(hidden_features, cond_features)

    def forward(self, x: Tensor, values: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """``x (B, n, d)``, ``values (B, n, m)``, optional ``mask (B, n)`` (1 = observed) -> ``z (B, c)``."""
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"SetEncoder: x must be (B, n, {self.in_features}), got {tuple(x.shape)}")
        if values.shape != (*x.shape[:2], self.value_features):
            raise ValueError(f"SetEncoder: values must be {(*x.shape[:2], self.value_features)}, "
                             f"got {tuple(values.shape)}")
        features = self.point(torch.cat([x, values], dim=-1))
        if mask is None:
            pooled = features.mean(dim=1)
        else:
            if mask.shape != x.shape[:2]:
                raise ValueError(f"SetEncoder: mask must be {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
            w = mask.to(features.dtype).unsqueeze(-1)
            count = w.sum(dim=1)
            if bool((count == 0).any()):
                raise ValueError("SetEncoder: an instance has no observed context point (mask all zero)")
            pooled = (features * w).sum(dim=1) / count
        return self.head(pooled)


class CNNEncoder(nn.Module):
    """Masked image -> ``z``.

    Parameters
    ----------
    channels : int, image channels ``C`` (1 for grey)
    cond_features : int, length ``c`` of ``z``
    width : int, channels of the first convolution (doubled by each later one)
    layers : int, strided 3x3 convolutions (each halves the resolution)
    """

    def __init__(self, channels: int, cond_features: int, width: int = 32, layers: int = 3):
        super().__init__()
        self.channels, self.cond_features = channels, cond_features
        mods: list[nn.Module] = []
        c_in = 2 * channels
        for i in range(layers):
            c_out = width * 2 ** i
            mods += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
            c_in = c_out
        self.conv = nn.Sequential(*mods)
        self.head = nn.Linear(c_in, cond_features)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """``image (B, C, H, W)`` and ``mask (B, 1 or C, H, W)`` (1 = observed) -> ``z (B, c)``.

        The network sees ``image * mask`` and the mask, so an unobserved pixel is told apart from
        an observed black one.
        """
        if image.ndim != 4 or image.shape[1] != self.channels:
            raise ValueError(f"CNNEncoder: image must be (B, {self.channels}, H, W), got {tuple(image.shape)}")
        if mask.ndim != 4 or mask.shape[0] != image.shape[0] or mask.shape[2:] != image.shape[2:] \
                or mask.shape[1] not in (1, self.channels):
            raise ValueError(f"CNNEncoder: mask must be (B, 1 or {self.channels}, H, W) matching the image "
                             f"{tuple(image.shape)}, got {tuple(mask.shape)}")
        mask = mask.to(image.dtype).expand_as(image)
        features = self.conv(torch.cat([image * mask, mask], dim=1))
        return self.head(features.mean(dim=(2, 3)))
