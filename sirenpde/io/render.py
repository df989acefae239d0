"""Rendering a fitted image or video at any resolution, and writing it as a picture or a clip.

A fitted signal is a continuous function on [-1, 1]^d; rendering it on a grid of ``shape`` means
evaluating the network at that grid's pixel (voxel) centres, the same layout as the data it was
fitted on (:func:`sirenpde.problems.image_data.pixel_grid`). Nothing is interpolated.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# the grid, its checks and the evaluation live with the pixel problems; this module parses and writes
from sirenpde.problems.pixels import MAX_RENDER_SIDE, check_render_memory, check_shape, render_grid  # noqa: F401

IMAGE_SUFFIXES = (".png", ".npy")
VIDEO_SUFFIXES = (".mp4", ".gif", ".npy")


def parse_size(text: str, base, flag: str = "--render-size") -> tuple[int, ...]:
    """The grid ``text`` asks for, given the data's grid ``base`` (``(H, W)`` or ``(T, H, W)``).

    ``"4x"`` (any positive factor, ``"2.5x"``) scales the image axes, the last two, and keeps a
    video's frame count; ``"512x768"`` is an exact image size (H x W), and ``"96x512x768"`` an exact
    video size (T x H x W, more frames than fitted samples time between them)."""
    base = tuple(int(b) for b in base)
    text = str(text).strip().lower()
    factor = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)x", text)
    if factor:
        scale = float(factor.group(1))
        if not scale > 0:
            raise ValueError(f"{flag} {text}: the factor must be positive")
        shape = base[:-2] + tuple(max(1, int(round(b * scale))) for b in base[-2:])
    else:
        parts = text.split("x")
        if not all(p.isascii() and p.isdigit() for p in parts) or len(parts) != len(base):
            want = "HxW" if len(base) == 2 else "TxHxW"
            raise ValueError(f"{flag} {text!r}: expected a factor such as 4x or an exact size {want} "
                             f"(the fit's grid is {'x'.join(map(str, base))})")
        shape = tuple(int(p) for p in parts)
    return check_shape(shape, f"{flag} {text}")


def output_suffixes(dims: int) -> tuple[str, ...]:
    return IMAGE_SUFFIXES if dims == 2 else VIDEO_SUFFIXES


def check_output(path, dims: int, flag: str = "--out") -> Path:
    """``path`` as a Path after checking its suffix suits a ``dims``-dimensional render."""
    path = Path(path)
    allowed = output_suffixes(dims)
    if path.suffix.lower() not in allowed:
        what = "an image" if dims == 2 else "a video"
        raise ValueError(f"{flag} {path}: {what} is written as {', '.join(allowed)}, "
                         f"not {path.suffix or 'no suffix'!r}")
    return path


def save_render(path, values: np.ndarray, dims: int, fps: float = 25.0) -> Path:
    """Write a render atomically: ``.npy`` the raw values, ``.png`` an 8-bit image (grey or RGB, [-1, 1]
    to 0..255), ``.mp4`` / ``.gif`` a clip. Returns the path written (a ``.gif`` where no H.264
    encoder is present)."""
    from sirenpde.io.atomic import atomic_path

    path = check_output(path, dims)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with atomic_path(path) as tmp:
            np.save(tmp, np.asarray(values, np.float32))
        return path
    from sirenpde.problems.video_data import to_uint8, write_video

    if dims == 3:
        clip = values if values.ndim == 4 else np.repeat(values[..., None], 3, axis=-1)
        return write_video(path, clip, fps)
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, to_uint8(values), extension=".png")
    return path
