"""Fixtures shared by several test modules."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """These fits are small (64 wide, 2000 points): one thread is about as fast as two, and
    avoids the 10-100x stalls measured when two torch threads share a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_CUDA = pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="CUDA is not available")])


@pytest.fixture(params=["cpu", _CUDA])
def device(request) -> torch.device:
    """Each numerical core test runs on the CPU, and again on CUDA when a GPU is present (the
    ids end in ``[cuda]``/``-cuda``, and the cuda cases carry the ``cuda`` mark, so
    ``pytest -m cuda`` runs exactly the GPU subset; see scripts/gpu-check.sh)."""
    return torch.device(request.param)
