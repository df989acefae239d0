"""Figures that suit the domain (sirenpde/io/domain_plots.py): the expected panels, pixels outside the
domain masked, the error on a table's own points or on the grid, and PNGs that read back."""
import math

import numpy as np
import pytest
import torch

from sirenpde.io.domain_plots import grid_2d, pde_figure
from sirenpde.io.plotting import save_figure
from sirenpde.references import as_reference

geometry = pytest.importorskip("sirenpde.geometry")


class StandIn:
    """The parts of a problem that pde_figure reads."""

    def __init__(self, domain, reference=None, out_features=1):
        self.domain, self.out_features, self._ref = domain, out_features, reference

    def reference(self, x):
        if self._ref is None:
            raise NotImplementedError("no reference")
        return self._ref(x)


def net(d):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def exact(x):
    return torch.sin(math.pi * x[:, 0]) * torch.cos(x[:, 1:].sum(1))


HISTORY = {"pde": [1.0, 0.5, 0.2], "bc": [0.1, 0.05, 0.01], "total": [1.1, 0.55, 0.21],
           "weight/bc": [1.0, 5.0, 7.0]}


def plate():
    square = geometry.Rectangle([-0.5, -0.5], [0.5, 0.5])
    return square - geometry.Disk([0.25, 0.25], 0.15)


def titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_2d_solution_is_masked_outside_the_domain_with_a_grid_error():
    domain = plate()
    fig = pde_figure(StandIn(domain, exact), net(2), HISTORY, grid=80)
    t = titles(fig)
    assert t[0] == "solution u" and t[1].startswith("|error| on the grid, rel. L2") and t[-1] == "loss"
    img = fig.axes[0].images[0].get_array()
    x, shape = grid_2d(*domain.bbox, 80)
    assert img.shape == shape == (80, 80)
    centre = np.argmin(((x.numpy() - [0.25, 0.25]) ** 2).sum(1))  # the hole's centre pixel
    assert np.ma.is_masked(img.reshape(-1)[centre])
    corner = np.argmin(((x.numpy() - [-0.4, -0.4]) ** 2).sum(1))
    assert not np.ma.is_masked(img.reshape(-1)[corner])
    assert len(fig.axes[0].collections) == 1  # the boundary samples drawn on top
    legend_names = [t.get_text() for ax in fig.axes for leg in [ax.get_legend()] if leg for t in leg.get_texts()]
    assert "weight/bc" in legend_names and "pde" in legend_names


def test_2d_error_on_the_tables_own_points_and_no_reference(tmp_path):
    domain = plate()
    pts = domain.sample_interior(300, torch.Generator().manual_seed(1)).double()
    table = as_reference((pts, exact(pts)))
    fig = pde_figure(StandIn(domain), net(2), HISTORY, reference=table, grid=60)
    t = titles(fig)
    assert t[1].startswith("|error| at 300 reference points, rel. L2")
    assert len(fig.axes[1].collections[0].get_offsets()) == 300
    bare = pde_figure(StandIn(domain), net(2), HISTORY, grid=60)  # the problem's reference raises
    assert titles(bare) == ["solution u", "loss"]
    path = save_figure(fig, tmp_path / "plate.png", dpi=50)
    from matplotlib.image import imread

    png = imread(path)
    w, h = fig.get_size_inches() * 50
    assert png.shape[:2] == (round(h), round(w))
    assert png[..., :3].std() > 0.05  # not a blank canvas


def test_space_time_image_for_1d_plus_time():
    domain = geometry.TimeDomain(geometry.Interval(0.0, 2.0), 0.0, 1.0)
    fig = pde_figure(StandIn(domain, exact), net(2), HISTORY, grid=50)
    ax = fig.axes[0]
    assert ax.get_title() == "solution u(x, t)" and ax.get_xlabel() == "x" and ax.get_ylabel() == "t"
    assert ax.images[0].get_extent() == [0.0, 2.0, 0.0, 1.0]  # x horizontal, t vertical
    img = ax.images[0].get_array()
    assert img.shape == (50, 50) and not np.ma.getmaskarray(img).any()
    assert titles(fig)[1].startswith("|error| on the grid")


def test_3d_slices_through_the_centre():
    domain = geometry.Ball([0.0, 0.0, 0.0], 1.0)
    fig = pde_figure(StandIn(domain, exact), net(3), HISTORY, grid=40)
    t = titles(fig)
    assert t[:3] == ["u on x = 0", "u on y = 0", "u on z = 0"]
    assert sum(s.startswith("|error| on the grid") for s in t) == 3
    img = fig.axes[0].images[0].get_array()
    assert np.ma.is_masked(img[0, 0]) and not np.ma.is_masked(img[20, 20])  # corner outside the ball


def test_a_4d_domain_is_refused():
    class Four:
        dim = 4

    with pytest.raises(ValueError, match="no layout for a 4D domain"):
        pde_figure(StandIn(Four()), net(4), HISTORY)
