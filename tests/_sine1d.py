"""The 1D Poisson problem of the solver and Gauss-Newton tests: u'' = -pi^2 sin(pi x) on [-1, 1]
with u(+-1) = 0, exact u = sin(pi x)."""
import math

import torch

from sirenpde import Box, Constraint, Problem


class Sine1D(Problem):
    """u'' = -pi^2 sin(pi x) on [-1, 1] with u(+-1) = 0: exact u = sin(pi x)."""

    name = "sine-1d"
    in_features = 1
    out_features = 1
    default_steps = 300
    default_batch_size = 128
    default_lr = 1e-3

    def __init__(self):
        self.box = Box([-1.0], [1.0])

    def constraints(self):
        def boundary(n, g):
            return {"x": torch.tensor([[-1.0], [1.0]]).repeat((n + 1) // 2, 1)[:n]}

        return [
            Constraint("pde", self.box.sampler(), order=2, second="laplacian",
                       residual=lambda u, b: u.laplacian + math.pi**2 * torch.sin(math.pi * u.x)),
            Constraint("bc", boundary, lambda u, b: u.value, weight=10.0, share=0.1),
        ]

    def reference(self, x):
        return torch.sin(math.pi * x)

    def metrics(self, model):
        x = torch.linspace(-1, 1, 201).unsqueeze(-1)
        with torch.no_grad():
            pred = model(x.to(next(model.parameters()).device)).cpu()
        return {"rel_l2": float((pred - self.reference(x)).norm() / self.reference(x).norm())}
