"""Shared machinery of the problems supervised on an image's pixel centres (or a video's voxel
centres), and rendering a fitted network on a grid of any size."""
from __future__ import annotations

import numpy as np
import torch

from sirenpde.evaluate import evaluate
from sirenpde.io.plotting import loss_curves, subplots
from sirenpde.metrics import psnr
from sirenpde.problem import Problem
from sirenpde.problems.image_data import pixel_grid

MAX_RENDER_SIDE = 32768  # pixels (voxels) on a side of a rendered grid


def check_shape(shape, what: str = "render") -> tuple[int, ...]:
    """``shape`` as a tuple of ints, each a whole number in 1..MAX_RENDER_SIDE, or ``ValueError``."""
    import numbers

    sides = tuple(shape)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and 1 <= s <= MAX_RENDER_SIDE
               for s in sides):
        raise ValueError(f"{what}: every side must be a whole number in 1..{MAX_RENDER_SIDE}, got "
                         f"{'x'.join(map(str, sides))}")
    return tuple(int(s) for s in sides)


def check_render_memory(shape, channels: int, flag: str = "--render-size") -> None:
    """Refuse a grid whose coordinates and values would take more than half the free memory."""
    from sirenpde.meshing.cost import available_memory

    n = int(np.prod(shape, dtype=np.int64))
    # float64 + float32 coordinates; float32 values, a copy, and the float64 temporaries of the 8-bit
    # conversion (measured: 4000 x 4000 RGB peaked 1.16 GB above the start)
    need = n * (len(shape) * 12 + channels * 36)
    have = available_memory()
    if have is not None and need > have // 2:
        raise ValueError(f"{flag}: a {'x'.join(map(str, shape))} grid needs about {need / 2**30:.1f} GiB, more than "
                         f"half the free memory ({have / 2**30:.1f} GiB)")


def render_grid(model, shape, chunk: int = 65536, offset: float = 0.0) -> np.ndarray:
    """``model`` evaluated at the pixel-centre grid of ``shape``, plus ``offset``: ``shape`` for one
    output, ``(*shape, C)`` for ``C``. (A problem that fixes its field only up to a constant, the
    Poisson image problems, renders with the offset that matches the fit's mean to its data's.)"""
    shape = check_shape(shape)
    if len(shape) != model.in_features:
        raise ValueError(f"render: the model takes {model.in_features} coordinates, the grid {shape} has {len(shape)}")
    check_render_memory(shape, int(model.out_features), "render")
    values = evaluate(model, pixel_grid(shape), chunk=chunk)["value"] + offset
    return values[:, 0].reshape(shape) if values.shape[1] == 1 else values.reshape(*shape, values.shape[1])


class PixelProblem(Problem):
    """A 2D problem whose constraint targets live on the pixel centres of an ``(H, W)`` grid.

    Subclasses set ``self.shape``, ``self.truth`` (the image the fit is compared with, ``(H, W)``
    grey or ``(H, W, C)`` with ``C = out_features`` channels) and ``self.remove_mean`` (gradients fix
    an image only up to a constant). The grid may have more axes than two (a video's ``(T, H, W)``).
    """

    in_features = 2
    out_features = 1
    remove_mean = False
    truth: np.ndarray
    shape: tuple

    def _setup_grid(self, shape) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.coords = pixel_grid(self.shape)
        self.n_pixels = self.coords.shape[0]
        self.default_batch_size = self.n_pixels

    def pixel_sampler(self, targets: torch.Tensor):
        """A sampler drawing pixels with their target rows; all pixels when n >= H*W."""
        coords = self.coords

        def sample(n: int, generator: torch.Generator) -> dict:
            if n >= coords.shape[0]:
                return {"x": coords, "target": targets}
            idx = torch.randint(0, coords.shape[0], (n,), generator=generator)
            return {"x": coords[idx], "target": targets[idx]}

        return sample

    @property
    def channels(self) -> int:
        """Values per pixel: 1 for a grey ``(H, W)`` truth, ``C`` for ``(H, W, C)``."""
        return 1 if self.truth.ndim == len(self.shape) else int(self.truth.shape[-1])

    def _image(self, values: np.ndarray, shape) -> np.ndarray:
        """``(n, C)`` values on a row-major grid of ``shape`` as ``shape`` (grey) or ``(*shape, C)``."""
        return values[:, 0].reshape(shape) if self.channels == 1 else values.reshape(*shape, self.channels)

    def render(self, model, shape=None, chunk: int = 65536) -> np.ndarray:
        """The fitted signal on the pixel-centre grid of ``shape`` (default: the data's), any size:
        the network evaluated at those centres, ``shape`` (grey) or ``(*shape, C)``. Rendering at
        ``2 H x 2 W`` is the model on the ``2 H x 2 W`` grid: a continuous image, not a resampling."""
        shape = self.shape if shape is None else check_shape(shape, f"{self.name}: render")
        if len(shape) != len(self.shape):
            raise ValueError(f"{self.name}: render shape must have {len(self.shape)} sizes, got {shape}")
        return render_grid(model, shape, chunk, self.render_offset(model))

    def render_offset(self, model) -> float:
        """What a render adds to the network's values: 0, or, for a field known up to a constant
        (``remove_mean``), the difference of the data's mean and the fit's on the data's grid."""
        if not self.remove_mean:
            return 0.0
        fit = evaluate(model, self.coords)["value"]
        return float(self.truth.mean() - fit.mean())

    def reconstruction(self, model, order: int = 0) -> dict[str, np.ndarray]:
        out = evaluate(model, self.coords, order=order)
        res = {"reconstruction": self._image(out["value"], self.shape)}
        if order >= 1:  # the norm over every channel's gradient
            res["grad_norm"] = np.linalg.norm(out["grad"].reshape(out["grad"].shape[0], -1), axis=-1).reshape(
                self.shape)
        if order >= 2:
            res["laplacian"] = self._image(out["laplacian"], self.shape)
        return res

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The reference at pixel centres (nearest pixel for other points): ``(n, C)``."""
        index = tuple(((x[:, k].detach().cpu().double() + 1) * n / 2).floor().clamp(0, n - 1).long().numpy()
                      for k, n in enumerate(self.shape))
        values = torch.as_tensor(self.truth[index], dtype=torch.float32)
        return values.unsqueeze(-1) if self.channels == 1 else values

    def metrics(self, model) -> dict[str, float]:
        rec = self.reconstruction(model)["reconstruction"]
        return {"psnr": psnr(rec, self.truth, data_range=2.0, remove_mean=self.remove_mean)}

    def fields(self, model) -> dict[str, np.ndarray]:
        out = self.reconstruction(model, order=2)
        out["reference"] = self.truth
        return out

    def figure(self, model, history):
        f = self.fields(model)
        rec = f["reconstruction"] - (f["reconstruction"].mean() - self.truth.mean()) * self.remove_mean
        fig, axes = subplots(1, 5, figsize=(20, 4))
        lap = f["laplacian"] if self.channels == 1 else f["laplacian"].mean(-1)
        panels = [("reference", self.truth, "gray"), ("reconstruction", rec, "gray"),
                  ("|grad u|", f["grad_norm"], "magma"),
                  ("laplacian u" + ("" if self.channels == 1 else " (channel mean)"), lap, "RdBu_r")]
        for ax, (title, img, cmap) in zip(axes, panels):
            if img.ndim == 3:  # colour: shown as it is, [-1, 1] -> [0, 1]
                ax.imshow(np.clip((img + 1) / 2, 0, 1))
            elif cmap == "RdBu_r":
                lim = np.percentile(np.abs(img), 99) or 1.0
                ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim)
            else:
                ax.imshow(img, cmap=cmap)
            ax.set_title(title)
            ax.axis("off")
        axes[1].set_title(f"reconstruction, PSNR {psnr(f['reconstruction'], self.truth, 2.0, self.remove_mean):.2f} dB")
        ax = axes[4]
        history = loss_curves(history)
        for name, values in history.items():
            if name != "total" or len(history) > 2:
                ax.semilogy(values, label=name, lw=1)
        ax.set_xlabel("step")
        ax.set_title("loss")
        ax.legend()
        fig.tight_layout()
        return fig
