"""Shared pieces of the Gauss-Newton tests (tests/test_gauss_newton*.py)."""
import torch

from sirenpde.nn import Siren

X = torch.linspace(-1.0, 1.0, 64, dtype=torch.float64)[:, None]


def _fixed(x):
    return lambda n, generator: {"x": x}


def _siren(seed=0, width=16):
    torch.manual_seed(seed)
    return Siren(1, 1, width, 1, first_omega_0=3.0, hidden_omega_0=3.0).double()
