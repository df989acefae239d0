"""Colour images in image-fit, and rendering a fitted image at any resolution (Python and CLI)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sirenpde.cli.main import main
from sirenpde.io.render import parse_size
from sirenpde.problems import get_problem
from sirenpde.problems.image_data import load_image, pixel_grid


def coded_rgb(h=5, w=7):
    """Channel c of pixel (i, j) is 100 c + 10 i + j: every value names its pixel and channel."""
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([100 * c + 10 * i + j for c in range(3)], -1).astype(np.float64)


def test_rgb_pixels_and_channels_keep_their_places():
    img = coded_rgb()
    p = get_problem("image-fit", image=img, size=None)
    assert p.out_features == 3 and p.shape == (5, 7) and p.channels == 3
    lo, hi = img.min(), img.max()
    decoded = (p.target.double().numpy() + 1) / 2 * (hi - lo) + lo  # undo the [-1, 1] stretch
    h, w = p.shape
    idx = np.rint(((p.coords.double().numpy() + 1) * [h, w] - 1) / 2).astype(int)  # centre -> (i, j)
    expect = np.stack([100 * c + 10 * idx[:, 0] + idx[:, 1] for c in range(3)], -1)
    assert np.abs(decoded - expect).max() < 1e-4
    assert torch.equal(p.reference(p.coords), p.target)


def test_colour_is_kept_where_there_is_colour_and_grey_stays_grey():
    assert get_problem("image-fit", image="camera", size=16).out_features == 1
    astro = get_problem("image-fit", image="astronaut", size=16)
    assert astro.out_features == 3 and astro.truth.shape == (16, 16, 3)
    assert get_problem("image-fit", image="astronaut", size=16, color=False).out_features == 1
    forced = get_problem("image-fit", image="camera", size=16, color=True)
    assert forced.out_features == 3 and np.array_equal(forced.truth[..., 0], forced.truth[..., 2])
    grey_rgb = np.repeat(coded_rgb()[..., :1], 3, axis=-1)  # three equal channels: a grey image
    assert get_problem("image-fit", image=grey_rgb, size=None).out_features == 1
    with pytest.raises(ValueError, match="color must be"):
        get_problem("image-fit", color="sepia")


def test_rgba_is_flattened_onto_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red where opaque
    rgba[:2, :, 3] = 255
    img = load_image(rgba, color=True)
    assert np.allclose(img[2:], 1.0)  # transparent: white, the brightest value
    assert np.allclose(img[:2, :, 1:], -1.0) and np.all(img[:2, :, 0] > -1.0)


def test_grey_with_alpha_is_flattened_onto_white_and_color_takes_only_booleans_or_auto():
    la = np.zeros((4, 4, 2), np.uint8)
    la[..., 0] = 100
    la[:2, :, 1] = 255  # opaque top half
    img = load_image(la)
    assert np.allclose(img[2:], 1.0) and np.allclose(img[:2], -1.0)
    with pytest.raises(ValueError, match="color must be"):
        get_problem("image-fit", color=1)


def test_a_poisson_image_renders_on_its_data_s_mean(tmp_path):
    """poisson-gradient fixes the image up to a constant: the render carries the offset that matches
    the fit's mean to the data's, in Python and through model.pt."""
    import sirenpde

    out = tmp_path / "pg"
    assert main(["solve", "poisson-gradient", "-O", "size=12", "--steps", "3", "--hidden-features", "16",
                 "--out", str(out), "-q"]) == 0
    sol = sirenpde.load(out / "model.pt")
    p = sol.problem
    rendered = sol.render("1x")
    assert abs(rendered.mean() - p.truth.mean()) < 1e-5
    assert np.allclose(rendered, p.render(sol.model), atol=1e-6)
    with torch.no_grad():
        raw = sol.model(p.coords).numpy().reshape(12, 12)
    assert np.allclose(rendered - raw, p.truth.mean() - raw.mean(), atol=1e-5)


def test_render_sizes_from_python_are_checked():
    p = get_problem("image-fit", image="astronaut", size=8)
    model = p.make_model("siren", hidden_features=8, hidden_layers=1)
    for bad in ((0, 5), (-1, 5), (2.7, 3), (True, 4)):
        with pytest.raises(ValueError, match="every side must be a whole number"):
            p.render(model, bad)


def test_a_colour_fit_learns_all_three_channels():
    p = get_problem("image-fit", image="astronaut", size=24)
    torch.manual_seed(0)
    model = p.make_model("siren", hidden_features=64, hidden_layers=2, first_omega_0=10.0)
    from sirenpde.training import fit

    res = fit(p, model, steps=300, lr=1e-3, progress=False)
    rec = p.reconstruction(res.model)["reconstruction"]
    assert rec.shape == (24, 24, 3)
    from sirenpde.metrics import psnr

    for c in range(3):  # each channel on its own: 40 dB (measured 56.1, 53.2, 54.3 dB)
        assert psnr(rec[..., c], p.truth[..., c]) > 40.0


@pytest.mark.parametrize("text, base, want", [
    ("2x", (10, 12), (20, 24)), ("2.5x", (10, 12), (25, 30)), ("64x48", (10, 12), (64, 48)),
    ("4x", (5, 10, 12), (5, 40, 48)), ("9x20x30", (5, 10, 12), (9, 20, 30)),
])
def test_render_sizes(text, base, want):
    assert parse_size(text, base) == want


@pytest.mark.parametrize("text", ["0x", "x2", "12", "10x10x10", "-2x", "big", "\u00b2x2", "0x5"])
def test_bad_render_sizes_are_named(text):
    with pytest.raises(ValueError, match="--render-size"):
        parse_size(text, (10, 12))


def test_render_at_twice_the_size_equals_the_model_on_the_twice_finer_grid():
    p = get_problem("image-fit", image="astronaut", size=12)
    model = p.make_model("siren", hidden_features=16, hidden_layers=1)
    out = p.render(model, (24, 24))
    with torch.no_grad():
        direct = model(pixel_grid((24, 24))).numpy().reshape(24, 24, 3)
    assert np.array_equal(out, direct)
    assert np.array_equal(p.render(model), p.reconstruction(model)["reconstruction"])


def test_solve_renders_larger_and_render_command_matches_the_model(tmp_path):
    import imageio.v3 as iio

    import sirenpde

    out = tmp_path / "fit"
    assert main(["solve", "image-fit", "-O", "image=astronaut", "-O", "size=10", "--steps", "2",
                 "--hidden-features", "16", "--render-size", "3x", "--out", str(out), "-q"]) == 0
    png = iio.imread(out / "render.png")
    assert png.shape == (30, 30, 3) and png.dtype == np.uint8
    sol = sirenpde.load(out / "model.pt")
    assert sol.grid == (10, 10)
    assert main(["render", str(out / "model.pt"), "--size", "2x", "--out", str(tmp_path / "big.npy")]) == 0
    values = np.load(tmp_path / "big.npy")
    with torch.no_grad():
        direct = sol.model(pixel_grid((20, 20))).numpy().reshape(20, 20, 3)
    assert np.array_equal(values, direct)
    assert np.array_equal(sol.render("2x"), direct)
    from sirenpde.problems.video_data import to_uint8

    assert np.array_equal(png, to_uint8(sol.render((30, 30))))


def test_render_refuses_what_it_cannot_draw_before_work(tmp_path, capsys):
    out = tmp_path / "wave"
    code = main(["solve", "wave", "--steps", "1", "--render-size", "2x", "--out", str(out), "-q"])
    assert code == 2 and "--render-size: wave is not fitted on a grid" in capsys.readouterr().err
    assert not (out / "model.pt").exists()
    fit = tmp_path / "fit"
    assert main(["solve", "image-fit", "-O", "size=8", "--steps", "1", "--hidden-features", "8", "--out", str(fit),
                 "-q"]) == 0
    capsys.readouterr()
    assert main(["render", str(fit / "model.pt"), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "an image is written as .png, .npy" in capsys.readouterr().err
    assert main(["render", str(fit / "model.pt"), "--size", "1x2x3", "--out", str(tmp_path / "x.png")]) == 2
    assert "--size '1x2x3'" in capsys.readouterr().err
    assert main(["render", str(fit / "model.pt"), "--fps", "0.0001", "--out", str(tmp_path / "x.png")]) == 2
    assert "--fps must be at least 0.001" in capsys.readouterr().err
