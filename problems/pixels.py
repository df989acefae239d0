"""Shared machinery of the problems supervised on an image's pixel centres."""
from __future__ import annotations

import numpy as np
import torch

from sirenpde.evaluate import evaluate
from sirenpde.io.plotting import loss_curves, subplots
from sirenpde.metrics import psnr
from sirenpde.problem import Problem
from sirenpde.problems.image_data import pixel_grid


class PixelProblem(Problem):
    """A 2D problem whose constraint targets live on the pixel centres of an ``(H, W)`` grid.

    Subclasses set ``self.shape``, ``self.truth`` (the image the fit is compared with,
    ``(H, W)``) and ``self.remove_mean`` (gradients fix an image only up to a constant).
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

    def reconstruction(self, model, order: int = 0) -> dict[str, np.ndarray]:
        out = evaluate(model, self.coords, order=order)
        h, w = self.shape
        res = {"reconstruction": out["value"][:, 0].reshape(h, w)}
        if order >= 1:
            res["grad_norm"] = np.linalg.norm(out["grad"], axis=-1).reshape(h, w)
        if order >= 2:
            res["laplacian"] = out["laplacian"][:, 0].reshape(h, w)
        return res

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The reference image at pixel centres (nearest pixel for other points): ``(n, 1)``."""
        h, w = self.shape
        i = ((x[:, 0].detach().cpu().double() + 1) * h / 2).floor().clamp(0, h - 1).long()
        j = ((x[:, 1].detach().cpu().double() + 1) * w / 2).floor().clamp(0, w - 1).long()
        return torch.as_tensor(self.truth[i.numpy(), j.numpy()], dtype=torch.float32).unsqueeze(-1)

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
        panels = [("reference", self.truth, "gray"), ("reconstruction", rec, "gray"),
                  ("|grad u|", f["grad_norm"], "magma"), ("laplacian u", f["laplacian"], "RdBu_r")]
        for ax, (title, img, cmap) in zip(axes, panels):
            if cmap == "RdBu_r":
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
