"""Inpainting: the data split, the masks, the encoders, the baselines, training and family.pt."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from sirenpde.hyper.inpainting import (CONTEXTS, FACES, SIZE, context_masks, eval_masks, face_split, half_mask,
                                       load_faces, make_model, mse_psnr, parse_context, pixel_grid, random_masks,
                                       sample_patches)
from sirenpde.hyper.inpainting_baselines import (biharmonic_fill, evaluate_baselines, griddata_fill, mean_face,
                                                 siren_fill)
from sirenpde.hyper.inpainting_train import (InpaintingProblem, evaluate_model, fit_inpainting, load_inpainting,
                                             save_inpainting, training_masks)

TINY = dict(latent=8, hidden_features=16, hidden_layers=1, encoder_width=16)


@pytest.fixture(scope="module")
def problem():
    return InpaintingProblem(eval_images=8)


def test_split_is_by_image_and_no_test_face_is_trained_on(problem):
    train, test = face_split()
    assert len(train) == 80 and len(test) == 20
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(range(FACES))
    assert np.array_equal(face_split()[1], test)  # a fixed seed: the same split every time
    faces = load_faces()
    assert faces.shape == (100, 25, 25) and 0 <= faces.min() and faces.max() <= 1
    # on the arrays: no test face equals any image the sampler can draw from
    trained = problem.train_faces.numpy().reshape(80, -1)
    for face in problem.test_faces.numpy().reshape(20, -1):
        assert np.abs(trained - face).max(axis=1).min() > 0.05
    batch = problem.sample(64, torch.Generator().manual_seed(0), {"patch_share": 0.0})
    drawn = batch["x"].numpy().reshape(64, -1)
    flipped = batch["x"].flip(-1).numpy().reshape(64, -1)
    allowed = np.concatenate([trained, problem.train_faces.flip(-1).numpy().reshape(80, -1)])
    for a, b in zip(drawn, flipped):
        assert np.abs(allowed - a).max(axis=1).min() == 0 or np.abs(allowed - b).max(axis=1).min() == 0
    assert problem.patches and all(p.min() >= 0 and p.max() <= 1 for p in problem.patches)


def test_masks_have_the_asked_counts_and_half_is_the_top_half():
    g = torch.Generator().manual_seed(3)
    masks = random_masks([10, 100, 300, 625, 1], g)
    assert masks.shape == (5, SIZE, SIZE)
    assert masks.sum(dim=(1, 2)).tolist() == [10, 100, 300, 625, 1]
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    half = half_mask(2)
    assert half[:, :13].eq(1).all() and half[:, 13:].eq(0).all()
    assert torch.equal(context_masks("half", 2, g), half)
    for context, m in eval_masks(4).items():
        expect = 13 * 25 if context == "half" else context
        assert m.sum(dim=(1, 2)).eq(expect).all(), context
    assert torch.equal(eval_masks(4)[100], eval_masks(4)[100])  # fixed: the same for every method
    train = training_masks(200, g)
    counts = train.sum(dim=(1, 2))
    assert ((counts >= 10) & (counts <= 300) | (counts == 325)).all() and (counts == 325).any()
    with pytest.raises(ValueError, match=r"\[1, 625\]"):
        random_masks([0], g)
    assert parse_context("half") == "half" and parse_context("12") == 12
    with pytest.raises(ValueError, match="positive integer or 'half'"):
        parse_context("top")


def test_patches_are_crops_of_the_sources():
    src = [np.arange(40 * 50, dtype=float).reshape(40, 50) / 2000]
    p = sample_patches(src, 3, torch.Generator().manual_seed(0)).numpy()
    for crop in p:
        r, c = divmod(int(round(crop[0, 0] * 2000)), 50)
        assert np.array_equal(crop, src[0][r:r + 25, c:c + 25])


@pytest.mark.parametrize("encoder", ["set", "cnn"])
def test_encoders_read_only_the_observed_pixels(encoder):
    model = make_model(encoder, seed=0, **TINY).double()
    g = torch.Generator().manual_seed(1)
    image = torch.rand(2, SIZE, SIZE, generator=g, dtype=torch.float64)
    mask = random_masks([30, 200], g)
    changed = torch.where(mask > 0, image, torch.rand(image.shape, generator=g, dtype=torch.float64))
    with torch.no_grad():
        z, z_changed = model.encode(image, mask), model.encode(changed, mask)
        assert torch.equal(z, z_changed)
        observed = image.clone()
        r, c = torch.nonzero(mask[0])[0]
        observed[0, r, c] += 0.5  # a control: an observed pixel does change z
        assert not torch.allclose(model.encode(observed, mask)[0], z[0])
        assert model(image, mask).shape == (2, SIZE, SIZE)


def test_pixel_grid_is_row_major_in_the_square():
    x = pixel_grid(5, torch.float64)
    assert x.shape == (25, 2) and torch.allclose(x[1], torch.tensor([-0.8, -0.4], dtype=torch.float64))
    assert x.abs().max() < 1


def test_baselines_are_exact_on_exact_cases():
    r, c = np.mgrid[0:SIZE, 0:SIZE]
    linear = 0.1 + 0.02 * r + 0.01 * c
    mask = np.zeros((SIZE, SIZE))
    mask[[0, 0, 24, 24, 12], [0, 24, 0, 24, 7]] = 1  # the four corners: the hull is the square
    assert np.allclose(griddata_fill(linear, mask, "linear"), linear, atol=1e-12)
    corner = np.zeros((SIZE, SIZE))
    corner[[0, 0, 5], [0, 5, 0]] = 1  # a small hull: outside it, linear is the nearest context pixel
    lin, near = griddata_fill(linear, corner, "linear"), griddata_fill(linear, corner, "nearest")
    assert np.allclose(lin[:3, :3][np.tril(np.ones((3, 3))[::-1]) > 0], linear[:3, :3][np.tril(np.ones((3, 3))[::-1]) > 0])
    assert np.array_equal(lin[20:, 20:], near[20:, 20:])
    assert set(np.unique(near)) <= set(linear[corner > 0])
    assert np.allclose(biharmonic_fill(np.full((SIZE, SIZE), 0.3), random_masks([10], torch.Generator())[0].numpy()),
                       0.3, atol=1e-12)
    faces = np.random.default_rng(0).random((7, SIZE, SIZE))
    assert np.array_equal(mean_face(faces), faces.mean(axis=0))
    assert mse_psnr(np.zeros(4), np.full(4, 0.1)) == pytest.approx((0.01, 20.0))


def test_siren_fill_fits_its_context_and_evaluate_baselines_tabulates():
    image = np.random.default_rng(1).random((SIZE, SIZE))
    mask = random_masks([20], torch.Generator().manual_seed(0))[0].numpy()
    fill = siren_fill(image, mask, steps=200, lr=1e-3, hidden=32, layers=2)
    assert np.mean((fill - image)[mask > 0] ** 2) < 1e-3  # it fits the context pixels it was given
    masks = {10: random_masks([10, 10], torch.Generator())}
    table = evaluate_baselines(image[None].repeat(2, 0), masks, image[None], methods=("mean face", "biharmonic"))
    assert table["mean face"][10]["mse"] == 0.0 and table["biharmonic"][10]["prediction"].shape == (2, SIZE, SIZE)


@pytest.mark.slow
def test_short_training_beats_the_mean_face(problem):
    """A short training must do better than predicting the mean training face (which needs the
    context read: the mean face is the best context-free prediction)."""
    faces = problem.test_faces[:8].numpy()
    mean = mse_psnr(np.broadcast_to(mean_face(problem.train_faces.numpy()), faces.shape), faces)[0]
    model = make_model("cnn", seed=0, latent=32, hidden_features=32, hidden_layers=2, encoder_width=32)
    before = problem.metrics(model)["mse_half"]
    result = fit_inpainting(model, 300, 16, lr=1e-3, progress=False, problem=problem)
    after = result.metrics
    assert before > 1.5 * mean  # the untrained model predicts ~0.5 everywhere
    # measured: 0.85 of the mean face's MSE for the top half, 0.88-0.91 for 100 and 300 pixels
    assert after["mse_half"] < 0.9 * mean, (after, mean)
    assert after["mse_100"] < mean and after["mse_300"] < mean, (after, mean)
    assert np.isfinite(result.history["latent"]).all()


def test_family_file_round_trip_and_refusals(tmp_path):
    from sirenpde.hyper import conditioned_siren, get_family
    from sirenpde.hyper.files import FORMAT, load_family, save_family
    from sirenpde.io.archive import write_archive

    model = make_model("cnn", seed=2, **TINY)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape))
    save_inpainting(tmp_path / "family.pt", model, {"mse": 0.1}, {"steps": 3})
    loaded, metrics, info = load_inpainting(tmp_path / "family.pt")
    assert loaded.config() == model.config() and metrics == {"mse": 0.1} and info == {"steps": 3}
    image, mask = torch.rand(3, SIZE, SIZE), random_masks([5, 50, 500], torch.Generator())
    assert torch.equal(loaded.predict(image, mask), model.predict(image, mask))
    with pytest.raises(ValueError, match="is an inpainting model"):
        load_family(tmp_path / "family.pt")
    save_family(tmp_path / "poisson.pt", conditioned_siren("film", 2, 1, 3, hidden_features=8), get_family("poisson-family"))
    with pytest.raises(ValueError, match="not an inpainting model"):
        load_inpainting(tmp_path / "poisson.pt")
    torch.save({"format": FORMAT, "payload": zipfile.ZipInfo("x")}, tmp_path / "code.pt")
    with pytest.raises(ValueError, match="objects other than plain tensors"):
        load_inpainting(tmp_path / "code.pt")
    state = torch.load(tmp_path / "family.pt", weights_only=True)
    state["config"]["hidden_features"] = 10**6
    write_archive(tmp_path / "huge.pt", state)
    with pytest.raises(ValueError, match="hidden_features=1,000,000, more than its 26,689 stored numbers"):
        load_inpainting(tmp_path / "huge.pt")
    for change, match in (({"encoder": "exec"}, "unknown encoder"), ({"first_omega_0": float("nan")}, "first_omega_0"),
                          ({"latent": "8"}, "invalid latent"), ({"bogus": 1}, "invalid configuration")):
        state = torch.load(tmp_path / "family.pt", weights_only=True)
        state["config"].update(change)
        write_archive(tmp_path / "bad.pt", state)
        with pytest.raises(ValueError, match=match):
            load_inpainting(tmp_path / "bad.pt")


def test_full_conditioning_adds_the_weight_penalty_and_round_trips(tmp_path, problem):
    model = make_model("set", seed=0, conditioning="full", **TINY)
    result = fit_inpainting(model, 2, 2, progress=False, problem=problem, device="cpu")
    assert set(result.history) == {"pixels", "latent", "weights", "total"}
    save_inpainting(tmp_path / "full.pt", result.model)
    loaded, _, _ = load_inpainting(tmp_path / "full.pt")
    image, mask = torch.rand(2, SIZE, SIZE), random_masks([5, 9], torch.Generator())
    assert torch.equal(loaded.predict(image, mask), result.model.predict(image, mask))


def test_evaluate_model_reports_every_context(problem):
    model = make_model("set", seed=0, **TINY)
    table = evaluate_model(model, problem.test_faces[:3], eval_masks(3))
    assert list(table) == list(CONTEXTS)
    for row in table.values():
        assert row["prediction"].shape == (3, SIZE, SIZE)
        assert row["psnr"] == pytest.approx(10 * np.log10(1 / row["mse"]))
