"""Images and audio for the fitting problems, and the pixel-centre coordinate grid.

Conventions: an image is a float array in [-1, 1] with ``H`` rows and ``W`` columns, ``(H, W)``
grey or ``(H, W, 3)`` RGB.
Coordinate 0 runs down the rows and coordinate 1 along the columns, both over [-1, 1];
pixel ``(i, j)`` sits at its centre ``(-1 + (2i + 1)/H, -1 + (2j + 1)/W)``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
import torch

SKIMAGE_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "coins", "moon", "page", "text",
                  "rocket", "cat", "grass", "gravel", "brick", "horse", "clock", "immunohistochemistry")


def load_image(source: Union[str, os.PathLike, np.ndarray] = "camera", size=None,
               color: Union[bool, str] = False) -> np.ndarray:
    """An image in [-1, 1]: ``(H, W)`` grey, or ``(H, W, 3)`` RGB with ``color``.

    Parameters
    ----------
    source : path to an image file, the name of an image bundled with scikit-image
        (``camera``, ``astronaut``, ...), or an array (2D, or 3D with 3/4 channels).
    size : int or (H, W), optional; resize (with anti-aliasing) to this size.
    color : False (default) averages the channels to grey (luminance weights); True keeps RGB
        (a grey image gets three equal channels); ``"auto"`` keeps RGB where the channels differ
        and returns a grey image as ``(H, W)``. RGBA and grey + alpha are flattened onto a white
        background first.

    The values are stretched to [-1, 1] by the image's own minimum and maximum, over all channels
    together, so the colours keep their proportions.
    """
    from skimage import color as skcolor
    from skimage import data, transform

    from sirenpde.io.inputs import first_non_finite, read_image

    from sirenpde.problems._options import size_pair

    if not (color is True or color is False or color == "auto"):
        raise ValueError(f"load_image: color must be true, false or 'auto', got {color!r}")
    shape = None if size is None else size_pair("load_image", size)  # checked before reading anything
    if isinstance(source, np.ndarray):
        img, where = source, "the given array"
    elif isinstance(source, str) and source in SKIMAGE_IMAGES:
        img, where = getattr(data, source)(), f"scikit-image's {source!r}"
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"image {str(source)!r} is neither a file nor a scikit-image image name "
                                    f"({', '.join(SKIMAGE_IMAGES)})")
        if path.is_dir():
            raise ValueError(f"image {str(source)!r} is a directory, not an image file")
        img = read_image(path)
        where = str(path)
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] in (2, 3, 4) and img.dtype.kind in "ui":
        img = img.astype(np.float64) / np.iinfo(img.dtype).max  # rgba2rgb wants [0, 1]
    if img.ndim == 3 and img.shape[-1] == 2:  # grey and alpha: onto white, as RGBA
        img = img[..., 0] * img[..., 1] + (1.0 - img[..., 1])
    if img.ndim == 3 and img.shape[-1] == 4:
        img = skcolor.rgba2rgb(img)
    if img.ndim == 3 and img.shape[-1] == 3:
        grey = bool(np.all(img[..., 0] == img[..., 1]) and np.all(img[..., 1] == img[..., 2]))
        if not color or (color == "auto" and grey):
            img = skcolor.rgb2gray(img)
    elif img.ndim == 2 and color is True:
        img = np.repeat(img[..., None], 3, axis=-1)
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)) or min(img.shape[:2]) < 2:
        raise ValueError(f"{where}: expected a 2D grayscale or RGB(A) image, got shape {img.shape}")
    img = img.astype(np.float64)
    bad = first_non_finite(img)
    if bad:
        raise ValueError(f"{where}: pixels must be finite, found {bad}")
    if shape is not None:
        img = transform.resize(img, shape, anti_aliasing=True, preserve_range=True)
    lo, hi = img.min(), img.max()
    if hi == lo:
        raise ValueError(f"{where}: image is constant ({lo}); nothing to fit")
    return (2.0 * (img - lo) / (hi - lo) - 1.0).astype(np.float64)


def pixel_grid(shape) -> torch.Tensor:
    """Pixel-centre coordinates ``(H*W, 2)`` float32 in row-major order."""
    axes = [torch.linspace(-1 + 1 / n, 1 - 1 / n, n, dtype=torch.float64) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(shape)).float()


def pcm_to_float(samples: np.ndarray, where: str = "samples") -> np.ndarray:
    """Decode wav samples as ``scipy.io.wavfile.read`` returns them to float64 in [-1, 1].

    Parameters
    ----------
    samples : (n,) or (n, channels) uint8, int16, int32 or float array
        Unsigned 8-bit PCM is centred on 128; 16- and 32-bit PCM are signed. scipy returns
        24-bit PCM as int32 with the 24 bits in the high bytes, so it decodes as 32-bit.
        Float samples are taken as they are.
    where : str
        Names the source in error messages.

    Returns
    -------
    (n,) or (n, channels) float64
        The negative full-scale code maps to exactly -1 and each code step is ``1 / 2**(bits-1)``.
    """
    samples = np.asarray(samples)
    kind, bits = samples.dtype.kind, 8 * samples.dtype.itemsize
    if kind == "f":
        return samples.astype(np.float64)
    if kind == "u" and bits == 8:
        return (samples.astype(np.float64) - 128.0) / 128.0
    if kind == "i" and bits in (16, 32):
        return samples.astype(np.float64) / float(2 ** (bits - 1))
    raise ValueError(f"{where}: unsupported wav sample type {samples.dtype}; expected unsigned "
                     "8-bit, signed 16-, 24- or 32-bit PCM, or float")


def load_wav(path: Union[str, os.PathLike, None] = None, max_samples: int | None = None):
    """A mono signal in [-1, 1] and its sample rate.

    The samples are decoded with :func:`pcm_to_float` (every PCM width and float maps full
    scale to +-1, so unsigned 8-bit is re-centred), channels are averaged, and the result
    is divided by its peak so the loudest sample is +-1 whatever the recording level.
    With ``path=None`` a built-in 1-second test signal at 8 kHz is synthesised (a chirp
    plus two tones), so the problem runs without any file.
    """
    if path is None:
        rate = 8000
        t = np.arange(rate) / rate
        sig = 0.5 * np.sin(2 * np.pi * (200 * t + 600 * t**2)) + 0.3 * np.sin(2 * np.pi * 440 * t)
        sig += 0.2 * np.sin(2 * np.pi * 1250 * t) * np.exp(-3 * t)
    else:
        from scipy.io import wavfile

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"wav file {path} does not exist")
        try:
            rate, sig = wavfile.read(path)
        except ValueError as err:
            raise ValueError(f"could not read {path} as a .wav file: {err}") from err
        sig = pcm_to_float(sig, where=str(path))
        if sig.ndim == 2:
            sig = sig.mean(axis=1)
        if sig.size < 2:
            raise ValueError(f"{path}: the file holds {sig.size} samples; need at least 2")
        if not np.all(np.isfinite(sig)):
            raise ValueError(f"{path}: {int((~np.isfinite(sig)).sum())} samples are not finite")
    if max_samples is not None:
        sig = sig[:max_samples]
    peak = np.abs(sig).max()
    if peak == 0:
        raise ValueError(f"{path or 'signal'}: the signal is silent (all zeros)")
    return sig / peak, int(rate)
