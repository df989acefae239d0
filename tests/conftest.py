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
