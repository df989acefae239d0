"""Fit the samples of an audio signal (the paper's audio experiment)."""
from __future__ import annotations

import torch

from sirenpde.evaluate import evaluate
from sirenpde.io.plotting import subplots
from sirenpde.metrics import psnr, relative_l2
from sirenpde.problem import Constraint, Problem
from sirenpde.problems._options import integer
from sirenpde.problems.image_data import load_wav


class AudioFit(Problem):
    """u(t) = signal, t in [-1, 1] over the clip; metrics: PSNR (range 2) and relative L2.

    Audio needs a high first-layer frequency: the paper uses ``first_omega_0=3000``, which
    is this problem's default model setting (``model_kwargs``).

    Parameters
    ----------
    path : a ``.wav`` file, or None for a built-in 1-second test signal
    max_samples : keep only the first samples (for quick runs)
    """

    name = "audio-fit"
    in_features = 1
    out_features = 1
    default_steps = 1000
    default_lr = 1e-4
    model_kwargs = {"siren": {"first_omega_0": 3000.0}}

    def __init__(self, path=None, max_samples=None):
        if max_samples is not None:
            integer(self.name, "max_samples", max_samples, 2)
        self.path = None if path is None else str(path)
        self.signal, self.rate = load_wav(path, max_samples)
        n = self.signal.size
        self.t = torch.linspace(-1, 1, n, dtype=torch.float64).float().unsqueeze(-1)
        self.target = torch.as_tensor(self.signal, dtype=torch.float32).unsqueeze(-1)
        self.default_batch_size = n

    def constraints(self):
        t, target = self.t, self.target

        def sample(n, generator):
            if n >= t.shape[0]:
                return {"x": t, "target": target}
            idx = torch.randint(0, t.shape[0], (n,), generator=generator)
            return {"x": t[idx], "target": target[idx]}

        return [Constraint("value", sample, lambda u, b: u.value - b["target"], order=0)]

    def reference(self, x):
        idx = ((x[:, 0].detach().cpu() + 1) / 2 * (self.signal.size - 1)).round().long()
        return self.target[idx.clamp(0, self.signal.size - 1)]

    def metrics(self, model):
        pred = evaluate(model, self.t)["value"][:, 0]
        return {"psnr": psnr(pred, self.signal), "rel_l2": relative_l2(pred, self.signal)}

    def fields(self, model):
        return {"t": self.t[:, 0].numpy(), "reference": self.signal,
                "reconstruction": evaluate(model, self.t)["value"][:, 0]}

    def figure(self, model, history):
        f = self.fields(model)
        fig, (a, b, c) = subplots(1, 3, figsize=(15, 3.5))
        a.plot(f["t"], f["reference"], lw=0.5)
        a.set_title(f"signal ({self.rate} Hz)")
        b.plot(f["t"], f["reconstruction"] - f["reference"], lw=0.5, color="C3")
        b.set_title(f"error, PSNR {psnr(f['reconstruction'], f['reference']):.1f} dB")
        c.semilogy(history["total"])
        c.set_title("loss")
        c.set_xlabel("step")
        fig.tight_layout()
        return fig

    def describe(self):
        return {"name": self.name, "path": self.path, "rate": self.rate, "samples": int(self.signal.size)}
