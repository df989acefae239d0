"""Shared pieces of the Helmholtz tests: residuals at a problem's own samples, exact fields as modules."""
import torch
from torch import nn

from sirenpde.fields import field


def residuals_at_samples(problem, model, n=1500, seed=0, dtype=torch.float64):
    """Every constraint's residual on ``model`` at its own samples, in double precision."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for con in problem.constraints():
        batch = {k: v.to(dtype) if v.is_floating_point() else v for k, v in con.sampler(n, gen).items()}
        u = field(model, batch["x"], order=con.order, second=con.second)
        out[con.name] = (con.residual(u, batch).detach(), batch)
    return out


class ExactField(nn.Module):
    def __init__(self, fn, out_features):
        super().__init__()
        self.fn, self.in_features, self.out_features = fn, 2, out_features
        self.dummy = nn.Parameter(torch.zeros(()))  # evaluate() reads the device from a parameter

    def forward(self, x):
        return self.fn(x.double())
