"""``sirenpde family train inpainting`` and ``sirenpde inpaint`` at tiny sizes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sirenpde.cli.main import main
from sirenpde.hyper.inpainting import make_model
from sirenpde.hyper.inpainting_train import load_inpainting, save_inpainting


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("inpaint")
    model = make_model("set", seed=0, latent=8, hidden_features=16, hidden_layers=1, encoder_width=16)
    save_inpainting(d / "family.pt", model)
    rng = np.random.default_rng(0)
    np.save(d / "face.npy", rng.random((25, 25)))
    from skimage.io import imsave

    imsave(d / "colour.png", (rng.random((40, 30, 3)) * 255).astype(np.uint8), check_contrast=False)
    return d


def test_family_train_inpainting_writes_model_table_and_figure(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["family", "train", "inpainting", "--out", str(out), "--encoder", "cnn", "--steps", "2",
               "--instances", "4", "--device", "cpu", "-q"])
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"family.pt", "metrics.json", "inpainting.png"}
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["encoder"] == "cnn" and meta["steps"] == 2
    assert set(meta["held_out"]) == {"hypernetwork", "mean face", "griddata linear", "griddata nearest", "biharmonic"}
    assert set(meta["held_out"]["hypernetwork"]) == {"10", "100", "300", "half"}
    assert set(meta["split"]["train_faces"]).isdisjoint(meta["split"]["test_faces"])
    model, metrics, info = load_inpainting(out / "family.pt")
    assert model.encoder_kind == "cnn" and info["steps"] == 2
    assert metrics["held_out"]["10"]["mse"] == pytest.approx(meta["held_out"]["hypernetwork"]["10"]["mse"])
    assert "test MSE at context 100" in capsys.readouterr().out


@pytest.mark.parametrize("context, count", [("100", 100), ("7", 7), ("half", 13 * 25)])
def test_inpaint_writes_image_and_mask_with_the_asked_count(tiny, tmp_path, context, count, capsys):
    out = tmp_path / "out"
    rc = main(["inpaint", str(tiny / "face.npy"), "--model", str(tiny / "family.pt"), "--context", context,
               "--out", str(out)])
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"inpainted.png", "inpainted.npy", "mask.png", "mask.npy"}
    mask, image = np.load(out / "mask.npy"), np.load(out / "inpainted.npy")
    truth = np.load(tiny / "face.npy")
    assert mask.shape == image.shape == (25, 25) and int(mask.sum()) == count
    if context == "half":
        assert mask[:13].all() and not mask[13:].any()
    assert np.array_equal(image[mask > 0], truth[mask > 0])  # the observed pixels are kept
    model, _, _ = load_inpainting(tiny / "family.pt")
    pred = model.predict(torch.from_numpy(truth)[None], torch.from_numpy(mask.astype(float))[None])[0].numpy()
    assert np.allclose(image[mask == 0], np.clip(pred, 0, 1)[mask == 0])
    assert (out / "mask.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"context: {count} of 625" in capsys.readouterr().out


def test_inpaint_converts_colour_and_resizes_with_a_note(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["inpaint", str(tiny / "colour.png"), "--model", str(tiny / "family.pt"), "--out", str(out),
                 "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "converted RGB to grey" in printed and "resized from 40x30 to the model's 25x25" in printed
    assert np.load(out / "inpainted.npy").shape == (25, 25)
    again = tmp_path / "again"
    assert main(["inpaint", str(tiny / "colour.png"), "--model", str(tiny / "family.pt"), "--out", str(again),
                 "--seed", "3"]) == 0
    assert np.array_equal(np.load(out / "mask.npy"), np.load(again / "mask.npy"))  # the seed fixes the mask


def test_family_predict_refuses_an_inpainting_model(tiny, tmp_path, capsys):
    rc = main(["family", "predict", str(tiny / "family.pt"), "-O", "cx=0", "--out", str(tmp_path / "o")])
    assert rc == 2 and "is an inpainting model" in capsys.readouterr().err
    rc = main(["family", "train", "poisson-family", "--encoder", "cnn", "--out", str(tmp_path / "p"), "--steps", "1"])
    assert rc == 2 and "--encoder is for the inpainting family" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "p").exists()
