"""video-fit and its reader: the closed-form clip, files read back, bad and oversized files refused
before decoding, the fitted clip written as a video."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sirenpde.metrics import psnr
from sirenpde.problems import get_problem
from sirenpde.problems import video_data
from sirenpde.problems.image_data import pixel_grid
from sirenpde.problems.video_data import (moving_sinusoids, pan_clip, probe, read_video, sinusoid_clip, to_uint8,
                                          write_video)
from sirenpde.training import fit


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    """A 12-frame 24 x 40 clip of the built-in pan, written as H.264."""
    clip = pan_clip(12, (24, 40))
    path = write_video(tmp_path_factory.mktemp("video") / "pan.mp4", clip, 10)
    return path, clip


def test_the_sinusoid_clip_is_its_closed_form_at_the_voxel_centres():
    p = get_problem("video-fit", video="sinusoids", frames=6, size=[10, 14])
    assert p.shape == (6, 10, 14) and p.in_features == 3 and p.out_features == 3
    x = p.coords.double()
    exact = moving_sinusoids(x[:, 0].numpy(), x[:, 1].numpy(), x[:, 2].numpy())
    assert np.abs(p.target.numpy() - exact).max() < 1e-6
    # voxel (f, i, j) sits at its centre; the clip array is indexed [frame, row, column, channel]
    f, i, j = 4, 7, 2
    k = (f * 10 + i) * 14 + j
    assert torch.allclose(p.coords[k], torch.tensor([-1 + 9 / 6, -1 + 15 / 10, -1 + 5 / 14]))
    assert np.allclose(p.truth[f, i, j], p.target[k].numpy())
    assert torch.equal(p.reference(p.coords), p.target)


def test_a_tiny_siren_fits_the_moving_sinusoids_to_a_stated_psnr():
    """8 frames of 16 x 16, three travelling waves: 38 dB in 400 full-batch steps (measured 42.2 dB,
    worst frame 41.9 dB; at initialisation about 3 dB)."""
    p = get_problem("video-fit", video="sinusoids", frames=8, size=16, fraction=1.0)
    torch.manual_seed(0)
    model = p.make_model("siren", hidden_features=48, hidden_layers=2, first_omega_0=10.0)
    before = p.metrics(model)["psnr"]
    res = fit(p, model, steps=400, lr=1e-3, progress=False, seed=0)
    assert res.metrics["psnr"] > 38.0 > before
    assert res.metrics["psnr_worst_frame"] > 36.0


def test_a_written_clip_reads_back_with_its_size_rate_and_colours(clip_file):
    path, clip = clip_file
    info = probe(path)
    assert (info.width, info.height, info.frames, info.fps) == (40, 24, 12, 10.0)
    got, fps = read_video(path)
    assert got.shape == clip.shape and fps == 10.0
    assert psnr(got, clip) > 35.0  # H.264 at crf 18 with 4:2:0 colour
    # each channel stays in its place: the per-channel means agree
    assert np.abs(got.mean(axis=(0, 1, 2)) - clip.mean(axis=(0, 1, 2))).max() < 0.02
    part, fps = read_video(path, start=2, stop=11, stride=3, size=20)
    assert part.shape == (3, 12, 20, 3) and fps == pytest.approx(10 / 3)
    assert psnr(part[1], got[5, ::2, ::2]) > 20.0  # frame 5, halved


def test_video_fit_reads_a_file_with_its_options(clip_file):
    path, _ = clip_file
    p = get_problem("video-fit", video=str(path), frames=[0, 6], stride=2, size=[12, 20])
    assert p.shape == (3, 12, 20) and p.fps == 5.0
    assert p.default_batch_size == round(0.02 * 3 * 12 * 20)


def test_a_gif_without_an_encoder_reads_back_exactly(tmp_path):
    clip = sinusoid_clip(4, (8, 10))
    path = write_video(tmp_path / "clip.gif", clip, 8)
    assert path.suffix == ".gif"
    got, _ = read_video(path)
    assert got.shape == (4, 8, 10, 3)
    # GIF's palette holds 256 colours: close, not exact
    assert psnr(got, to_uint8(clip) / 127.5 - 1.0) > 25.0


def test_a_text_file_named_mp4_is_refused_with_the_file_named(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 20)
    with pytest.raises(ValueError, match="notes.mp4"):
        read_video(bad)
    with pytest.raises(ValueError, match="notes.mp4"):
        get_problem("video-fit", video=str(bad))


def test_a_truncated_or_corrupted_video_is_refused_with_the_file_named(clip_file, tmp_path):
    path, _ = clip_file
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="cut.mp4"):
        read_video(cut)
    noise = tmp_path / "noise.mkv"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="noise.mkv"):
        read_video(noise)


def test_a_file_without_a_video_stream_is_refused(tmp_path):
    from scipy.io import wavfile

    wav = tmp_path / "tone.wav"
    wavfile.write(wav, 8000, (np.sin(np.arange(800) / 3) * 1e4).astype(np.int16))
    with pytest.raises(ValueError, match="tone.wav: the file holds no video stream"):
        read_video(wav)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")


class FakeFrame:
    def __init__(self, height, width):
        self.shape = (height, width, 3)

    def to_ndarray(self, format):
        return np.zeros(self.shape, np.uint8)


class FakeContainer:
    """A container whose header claims a clip; decoding it fails the test, or, with ``actual``,
    yields that many frames whatever the header claimed."""

    def __init__(self, width, height, frames, actual=None):
        codec = type("Codec", (), {"width": width, "height": height, "name": "h264"})()
        stream = type("Stream", (), {"codec_context": codec, "frames": frames, "average_rate": 25})()
        self.streams = type("Streams", (), {"video": [stream]})()
        self.duration, self.actual, self.size = None, actual, (height, width)
        self.decoded = 0

    def decode(self, **_):
        if self.actual is None:
            raise AssertionError("decoding started before the size was checked")
        for _ in range(self.actual):
            self.decoded += 1
            yield FakeFrame(*self.size)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("claim, message", [
    ((7680, 4320, 100_000), "needs about"),            # 8K for an hour: terabytes
    ((20_000, 64, 10), "frame size 20000x64 is outside"),
])
def test_an_oversized_video_is_refused_before_decoding(monkeypatch, tmp_path, claim, message):
    path = tmp_path / "huge.mp4"
    path.write_bytes(b"\0" * 64)
    monkeypatch.setattr(video_data, "_open", lambda p: FakeContainer(*claim))
    with pytest.raises(ValueError, match=message) as err:
        read_video(path)
    assert "huge.mp4" in str(err.value)


@pytest.mark.parametrize("claimed", [1, 0])
def test_a_container_that_claims_fewer_frames_than_it_holds_is_stopped_by_the_bound(monkeypatch, tmp_path, claimed):
    """The frame count is the file's claim (1, or none at all): the bound is checked again as every
    frame arrives, so decoding stops at the frame that crosses it."""
    path = tmp_path / "liar.mp4"
    path.write_bytes(b"\0" * 64)
    fake = FakeContainer(40, 24, claimed, actual=50)
    monkeypatch.setattr(video_data, "_open", lambda p: fake)
    per_frame = 24 * 40 * video_data.BYTES_PER_VOXEL
    with pytest.raises(ValueError, match="liar.mp4: the clip kept has"):
        read_video(path, max_bytes=5 * per_frame)
    assert fake.decoded == 6  # the sixth frame crossed the bound of five
    # a huge stop on a file that counts no frames is not refused up front
    fake = FakeContainer(40, 24, 0, actual=3)
    monkeypatch.setattr(video_data, "_open", lambda p: fake)
    got, _ = read_video(path, stop=10**8, max_bytes=5 * per_frame)
    assert got.shape == (3, 24, 40, 3)


def test_the_frame_rate_of_a_written_clip_is_checked(tmp_path):
    with pytest.raises(ValueError, match="frames per second must be at least 0.001"):
        write_video(tmp_path / "slow.mp4", sinusoid_clip(2, (4, 4)), 0.0001)
    with pytest.raises(ValueError, match="fps must be a finite number >= 0.001"):
        get_problem("video-fit", video="sinusoids", fps=0.0001)


def test_a_real_file_over_the_memory_bound_is_refused_and_a_range_within_it_is_read(clip_file):
    path, _ = clip_file
    per_frame = 24 * 40 * video_data.BYTES_PER_VOXEL
    with pytest.raises(ValueError, match="keep fewer frames"):
        read_video(path, max_bytes=5 * per_frame)
    got, _ = read_video(path, stop=5, max_bytes=5 * per_frame)
    assert got.shape[0] == 5


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="fraction"):
        get_problem("video-fit", video="sinusoids", fraction=0)
    with pytest.raises(ValueError, match="stride"):
        get_problem("video-fit", video="sinusoids", stride=0)
    with pytest.raises(ValueError, match=r"frames of a video file must be a pair"):
        get_problem("video-fit", video=__file__, frames=3)
    with pytest.raises(FileNotFoundError, match="nowhere.mp4"):
        get_problem("video-fit", video="nowhere.mp4")


def test_the_solution_writes_the_fitted_clip_and_its_figure(tmp_path):
    from sirenpde.io.output import write_solution

    p = get_problem("video-fit", video="sinusoids", frames=5, size=12)
    model = p.make_model("siren", hidden_features=16, hidden_layers=1)
    res = fit(p, model, steps=3, progress=False)
    paths = write_solution(tmp_path, p, res, "siren", {})
    names = {q.name for q in paths}
    assert {"solution.h5", "solution.png", "solution.mp4", "metrics.json"} <= names
    got, fps = read_video(tmp_path / "solution.mp4")
    assert got.shape == (5, 12, 12, 3) and fps == 12.0
    rec = p.reconstruction(res.model)["reconstruction"]
    assert psnr(got, rec) > 30.0  # the file holds the fit, not the reference
    import h5py

    with h5py.File(tmp_path / "solution.h5") as f:
        per_frame = f["fields/psnr_per_frame"][()]
    assert per_frame.shape == (5,)
    assert np.allclose(per_frame, [psnr(rec[i], p.truth[i]) for i in range(5)])


def test_render_at_twice_the_size_is_the_model_on_the_finer_grid():
    p = get_problem("video-fit", video="sinusoids", frames=4, size=8)
    model = p.make_model("siren", hidden_features=16, hidden_layers=1)
    out = p.render(model, (4, 16, 16))
    with torch.no_grad():
        direct = model(pixel_grid((4, 16, 16))).numpy().reshape(4, 16, 16, 3)
    assert out.shape == (4, 16, 16, 3) and np.array_equal(out, direct)


def test_without_an_h264_encoder_the_clip_is_written_as_an_animated_gif(tmp_path, monkeypatch):
    import av

    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"libx264"})
    clip = sinusoid_clip(3, (6, 8))
    path = write_video(tmp_path / "solution.mp4", clip, 12)
    assert path == tmp_path / "solution.gif" and not (tmp_path / "solution.mp4").exists()
    got, _ = read_video(path)
    assert got.shape == (3, 6, 8, 3)
