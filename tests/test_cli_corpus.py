"""Regression corpus of bad command lines: each is refused before any work, with one line that
names the option or file and the offending value, no traceback, and nothing left behind.

Inputs live in ``tmp_path / "in"``; every output a case names lies under ``tmp_path / "out"``,
which must be absent or empty afterwards (no temporary files either).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from sirenpde.cli.main import main

TINY = ["--steps", "1", "--hidden-features", "8", "--hidden-layers", "1", "-q"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    rng = np.random.default_rng(0)
    p = rng.normal(size=(300, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    np.savetxt(d / "sphere.xyz", np.hstack([p, p]))
    zero = p.copy()
    zero[5] = 0.0
    np.savetxt(d / "zero.xyz", np.hstack([p, zero]))  # line 6 has a zero normal
    lines = [" ".join(map(str, row)) for row in np.hstack([p, p])[:50]]
    lines[2] = "0.1 0.2 x 0 0 1"
    (d / "malformed.xyz").write_text("\n".join(lines) + "\n")
    nan_normal = np.hstack([p, p])
    nan_normal[9, 4] = np.nan
    np.savetxt(d / "nan_normal.xyz", nan_normal)
    (d / "text.png").write_text("not an image\n")
    (d / "text.pt").write_text("not a model\n")
    (d / "nan.obj").write_text("v 0 0 0\nv 1 0 0\nv nan 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    (d / "tet.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
    (d / "a_file").write_text("x")
    np.save(d / "pts3.npy", rng.uniform(-1, 1, (10, 3)))
    np.save(d / "pts2.npy", rng.uniform(-1, 1, (10, 2)))
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    nan = rng.uniform(-1, 1, (10, 2))
    nan[7, 1] = np.nan
    np.save(d / "nan2.npy", nan)
    (d / "junk.txt").write_text("1 2\n3 x\n")
    assert main(["solve", "image-fit", "-O", "size=8", *TINY, "--out", str(d / "run")]) == 0
    from sirenpde.hyper import conditioned_siren, get_family
    from sirenpde.hyper.files import save_family
    from sirenpde.hyper.inpainting import make_model
    from sirenpde.hyper.inpainting_train import save_inpainting

    save_inpainting(d / "inpaint.pt", make_model("set", seed=0, latent=4, hidden_features=8, hidden_layers=1,
                                                 encoder_width=8))
    save_family(d / "poisson_family.pt", conditioned_siren("film", 2, 1, 3, hidden_features=8), get_family("poisson-family"))
    np.save(d / "face.npy", rng.random((25, 25)))
    face = rng.random((25, 25))
    face[3, 4] = np.nan
    np.save(d / "nanface.npy", face)
    _with_config(d / "poisson_family.pt", d / "huge_layers.pt", hidden_layers=10**8)
    _with_config(d / "poisson_family.pt", d / "huge_film.pt", film_layers=10**8)
    _with_config(d / "inpaint.pt", d / "inpaint_huge.pt", hidden_layers=10**8)
    for n in (10**6, 3000):  # 8 TB of a metric grid, and one that allocated until killed
        _with_config(d / "poisson_family.pt", d / f"metric_{n}.pt", key="family", options={"metric_n": n})
    assert main(["fit-sdf", str(d / "sphere.xyz"), "-o", str(d / "shape.pt"), "--steps", "1",
                 "--hidden-features", "8", "--hidden-layers", "1", "--batch-size", "64", "--no-progress"]) == 0
    return d


def _with_config(source, target, key="config", **change):
    """A copy of the sirenpde archive ``source`` whose ``key`` entry (the network's configuration, or
    the family record) says ``change``: a small file claiming a huge network or grid."""
    import torch

    from sirenpde.io.archive import write_archive

    state = torch.load(source, weights_only=True)
    state[key].update(change)
    write_archive(target, state)


PROC = "/proc/sirenpde-corpus"  # os.access says yes here as root; creating anything fails
MEMBER = ["-O", "cx=0.1", "-O", "cy=0", "-O", "width=0.2"]

# (case id, argv with {in} and {out} placeholders, strings the message must contain)
CASES = [
    # solve: problem options, named with their value
    ("size-abc", ["solve", "image-fit", "-O", "size=abc", *TINY, "--out", "{out}/r"], ["size", "'abc'"]),
    ("size-0", ["solve", "image-fit", "-O", "size=0", *TINY, "--out", "{out}/r"], ["size", "0"]),
    ("k-abc", ["solve", "helmholtz", "-O", "k=abc", *TINY, "--out", "{out}/r"], ["k must", "'abc'"]),
    ("metric_n-0", ["solve", "helmholtz", "-O", "metric_n=0", *TINY, "--out", "{out}/r"], ["metric_n", "got 0"]),
    ("reference_n-x", ["solve", "wave", "-O", "reference_n=x", *TINY, "--out", "{out}/r"],
     ["reference_n", "'x'"]),
    ("max_samples-0", ["solve", "audio-fit", "-O", "max_samples=0", *TINY, "--out", "{out}/r"],
     ["max_samples", "got 0"]),
    ("unknown-option", ["solve", "image-fit", "-O", "colour=red", *TINY, "--out", "{out}/r"], ["'colour'"]),
    ("unknown-problem", ["solve", "navier", *TINY, "--out", "{out}/r"], ["navier"]),
    ("unknown-model", ["solve", "image-fit", "--model", "resnet", *TINY, "--out", "{out}/r"], ["resnet"]),
    ("missing-image", ["solve", "image-fit", "-O", "image={in}/none.png", *TINY, "--out", "{out}/r"],
     ["none.png"]),
    ("text-as-png", ["solve", "image-fit", "-O", "image={in}/text.png", *TINY, "--out", "{out}/r"],
     ["text.png", "not a PNG"]),
    ("device-bogus", ["solve", "image-fit", "-O", "size=8", *TINY, "--device", "bogus", "--out", "{out}/r"],
     ["--device", "bogus"]),
    ("out-is-file", ["solve", "image-fit", "-O", "size=8", *TINY, "--out", "{in}/a_file"], ["--out", "a_file"]),
    ("out-under-file", ["solve", "image-fit", "-O", "size=8", *TINY, "--out", "{in}/a_file/run"],
     ["--out", "a_file", "is a file"]),
    ("checkpoint-is-dir", ["solve", "image-fit", "-O", "size=8", *TINY, "--checkpoint", "{in}",
                           "--out", "{out}/r"], ["--checkpoint", "directory"]),
    ("init-missing", ["solve", "image-fit", "-O", "size=8", *TINY, "--init", "{in}/none.pt", "--out", "{out}/r"],
     ["--init", "none.pt"]),
    ("init-not-a-model", ["solve", "image-fit", "-O", "size=8", *TINY, "--init", "{in}/text.pt",
                          "--out", "{out}/r"], ["--init", "text.pt", "not a saved sirenpde solution"]),
    ("init-other-width", ["solve", "image-fit", "-O", "size=8", "--steps", "1", "--hidden-features", "12",
                          "--hidden-layers", "1", "-q", "--init", "{in}/run/model.pt", "--out", "{out}/r"],
     ["--init", "hidden_features", "8", "12"]),
    ("lr-negative", ["solve", "image-fit", "--lr", "-1", *TINY, "--out", "{out}/r"], ["--lr", "-1"]),
    # shape commands
    ("lr-nan", ["reconstruct", "{in}/sphere.xyz", "-o", "{out}/m.ply", "--lr", "nan"], ["--lr", "nan"]),
    ("cloud-missing", ["reconstruct", "{in}/none.xyz", "-o", "{out}/m.ply", "--steps", "1"], ["none.xyz"]),
    ("zero-normal", ["reconstruct", "{in}/zero.xyz", "-o", "{out}/m.ply", "--steps", "1"],
     ["zero.xyz", "lines 6", "--normals drop"]),
    ("malformed-line", ["reconstruct", "{in}/malformed.xyz", "-o", "{out}/m.ply", "--steps", "1"],
     ["malformed.xyz", "line 3"]),
    ("nan-normal", ["fit-sdf", "{in}/nan_normal.xyz", "-o", "{out}/s.pt", "--steps", "1"],
     ["nan_normal.xyz", "line", "10", "--normals drop"]),
    ("resolution-1", ["reconstruct", "{in}/sphere.xyz", "-o", "{out}/m.ply", "--steps", "1", "--resolution", "1"],
     ["--resolution", "1"]),
    ("resolution-huge", ["reconstruct", "{in}/sphere.xyz", "-o", "{out}/m.ply", "--steps", "1",
                         "--resolution", "100000"], ["--resolution 100000", "memory"]),
    ("reference-missing", ["reconstruct", "{in}/sphere.xyz", "-o", "{out}/m.ply", "--steps", "1",
                           "--reference", "{in}/none.obj"], ["--reference", "none.obj"]),
    ("reference-nan", ["reconstruct", "{in}/sphere.xyz", "-o", "{out}/m.ply", "--steps", "1",
                       "--reference", "{in}/nan.obj"], ["--reference", "nan.obj", "line 3"]),
    ("mesh-out-is-dir", ["reconstruct", "{in}/sphere.xyz", "-o", "{in}", "--steps", "1"], ["--output", ".ply"]),
    ("mesh-out-under-file", ["reconstruct", "{in}/sphere.xyz", "-o", "{in}/a_file/m.ply", "--steps", "1"],
     ["--output", "a_file", "is a file"]),
    ("save-model-suffix", ["reconstruct", "{in}/sphere.xyz", "-o", "{out}/m.ply", "--steps", "1",
                           "--save-model", "{out}/m.txt"], ["--save-model", "m.txt"]),
    ("fit-sdf-device", ["fit-sdf", "{in}/sphere.xyz", "-o", "{out}/s.pt", "--steps", "1", "--device", "tpu"],
     ["--device", "tpu"]),
    ("fit-sdf-layers", ["fit-sdf", "{in}/sphere.xyz", "-o", "{out}/s.pt", "--hidden-layers", "-1"],
     ["--hidden-layers", "-1"]),
    ("mesh-model-text", ["mesh", "{in}/text.pt", "-o", "{out}/m.ply", "--resolution", "8"],
     ["text.pt", "not a sirenpde shape model"]),
    ("mesh-model-missing", ["mesh", "{in}/none.pt", "-o", "{out}/m.ply"], ["none.pt"]),
    ("mesh-resolution-1", ["mesh", "{in}/shape.pt", "-o", "{out}/m.ply", "--resolution", "1"],
     ["--resolution", "1"]),
    ("mesh-resolution-huge", ["mesh", "{in}/shape.pt", "-o", "{out}/m.ply", "--resolution", "100000"],
     ["--resolution 100000", "memory"]),
    ("evaluate-mesh-missing", ["evaluate", "{in}/none.ply", "--reference", "{in}/tet.obj"], ["none.ply"]),
    ("evaluate-nan", ["evaluate", "{in}/nan.obj", "--reference", "{in}/tet.obj", "--samples", "100"],
     ["nan.obj", "line 3"]),
    ("evaluate-ref-missing", ["evaluate", "{in}/tet.obj", "--reference", "{in}/none.obj",
                              "--json", "{out}/s.json"], ["--reference", "none.obj"]),
    ("evaluate-json-dir", ["evaluate", "{in}/tet.obj", "--reference", "{in}/tet.obj", "--json", "{in}"],
     ["--json"]),
    # eval
    ("eval-dim", ["eval", "{in}/run/model.pt", "--points", "{in}/pts3.npy", "--out", "{out}/v.h5"],
     ["--points", "pts3.npy", "(n, 2)", "(10, 3)"]),
    ("eval-shape-dim", ["eval", "{in}/shape.pt", "--points", "{in}/pts2.npy", "--out", "{out}/v.h5"],
     ["--points", "(n, 3)", "(10, 2)"]),
    ("eval-pickle", ["eval", "{in}/run/model.pt", "--points", "{in}/obj.npy", "--out", "{out}/v.h5"],
     ["--points", "obj.npy"]),
    ("eval-nan", ["eval", "{in}/run/model.pt", "--points", "{in}/nan2.npy", "--out", "{out}/v.h5"],
     ["--points", "point 7", "nan"]),
    ("eval-junk-table", ["eval", "{in}/run/model.pt", "--points", "{in}/junk.txt", "--out", "{out}/v.h5"],
     ["--points", "junk.txt"]),
    ("eval-suffix", ["eval", "{in}/run/model.pt", "--points", "{in}/a_file", "--out", "{out}/v.h5"],
     ["--points", "a_file"]),
    ("eval-model-text", ["eval", "{in}/text.pt", "--points", "{in}/pts2.npy", "--out", "{out}/v.h5"],
     ["text.pt", "not a saved sirenpde solution or shape"]),
    ("eval-out-dir", ["eval", "{in}/run/model.pt", "--points", "{in}/pts2.npy", "--out", "{in}/run"],
     ["--out"]),
    ("eval-out-under-file", ["eval", "{in}/run/model.pt", "--points", "{in}/pts2.npy",
                             "--out", "{in}/a_file/v.h5"], ["--out", "a_file", "is a file"]),
    # inpaint and family train inpainting
    ("inpaint-image-missing", ["inpaint", "{in}/none.png", "--model", "{in}/inpaint.pt", "--out", "{out}/i"],
     ["IMAGE", "none.png"]),
    ("inpaint-model-missing", ["inpaint", "{in}/face.npy", "--model", "{in}/none.pt", "--out", "{out}/i"],
     ["--model", "none.pt"]),
    ("inpaint-not-inpainting", ["inpaint", "{in}/face.npy", "--model", "{in}/poisson_family.pt", "--out", "{out}/i"],
     ["poisson_family.pt", "not an inpainting model", "'poisson-family'"]),
    ("inpaint-model-text", ["inpaint", "{in}/face.npy", "--model", "{in}/text.pt", "--out", "{out}/i"],
     ["text.pt", "not a sirenpde family model"]),
    ("inpaint-context-too-big", ["inpaint", "{in}/face.npy", "--model", "{in}/inpaint.pt", "--context", "1000",
                                 "--out", "{out}/i"], ["--context 1000", "625 pixels"]),
    ("inpaint-text-as-png", ["inpaint", "{in}/text.png", "--model", "{in}/inpaint.pt", "--out", "{out}/i"],
     ["IMAGE", "text.png", "not a PNG"]),
    ("inpaint-pickle-npy", ["inpaint", "{in}/obj.npy", "--model", "{in}/inpaint.pt", "--out", "{out}/i"],
     ["IMAGE", "obj.npy"]),
    ("inpaint-out-of-range", ["inpaint", "{in}/pts3.npy", "--model", "{in}/inpaint.pt", "--out", "{out}/i"],
     ["IMAGE", "pts3.npy", "[0, 1]"]),
    ("inpaint-suffix", ["inpaint", "{in}/junk.txt", "--model", "{in}/inpaint.pt", "--out", "{out}/i"],
     ["IMAGE", "junk.txt", ".npy"]),
    ("inpaint-out-is-file", ["inpaint", "{in}/face.npy", "--model", "{in}/inpaint.pt", "--out", "{in}/a_file"],
     ["--out", "a_file"]),
    # outputs that cannot be written, found before any training (issue 20: these trained first)
    ("demo-out-is-file", ["demo", "--quick", "-q", "--out", "{in}/a_file"], ["--out", "a_file", "is a file"]),
    ("demo-out-proc", ["demo", "--quick", "-q", "--out", PROC], ["--out", PROC]),
    ("solve-out-proc", ["solve", "image-fit", "-O", "size=8", *TINY, "--out", PROC + "/r"], ["--out", PROC]),
    ("solve-checkpoint-proc", ["solve", "image-fit", "-O", "size=8", *TINY, "--checkpoint", PROC + "/c.pt",
                               "--out", "{out}/r"], ["--checkpoint", PROC]),
    ("family-out-is-file", ["family", "train", "poisson-family", "--steps", "1", "-q", "--out", "{in}/a_file"],
     ["--out", "a_file", "is a file"]),
    ("family-out-proc", ["family", "train", "poisson-family", "--steps", "1", "-q", "--out", PROC + "/f"],
     ["--out", PROC]),
    ("family-checkpoint-proc", ["family", "train", "poisson-family", "--steps", "1", "-q", "--checkpoint",
                                PROC + "/c.pt", "--out", "{out}/f"], ["--checkpoint", PROC]),
    ("family-inpainting-out-proc", ["family", "train", "inpainting", "--steps", "1", "-q", "--out", PROC + "/f"],
     ["--out", PROC]),
    ("family-lr-negative", ["family", "train", "poisson-family", "--lr", "-1", "--out", "{out}/f"], ["--lr", "-1"]),
    ("family-device-bogus", ["family", "train", "poisson-family", "--device", "bogus", "--out", "{out}/f"],
     ["--device", "bogus"]),
    ("predict-out-is-file", ["family", "predict", "{in}/poisson_family.pt", *MEMBER, "--out", "{in}/a_file"],
     ["--out", "a_file"]),
    ("eval-out-proc", ["eval", "{in}/run/model.pt", "--points", "{in}/pts2.npy", "--out", PROC + "/v.h5"],
     ["--out", PROC]),
    ("reconstruct-out-proc", ["reconstruct", "{in}/sphere.xyz", "-o", PROC + "/m.ply", "--steps", "1"],
     ["--output", PROC]),
    # files whose configuration claims a huge network: refused by arithmetic, before building it
    ("predict-huge-layers", ["family", "predict", "{in}/huge_layers.pt", *MEMBER, "--out", "{out}/p"],
     ["huge_layers.pt", "hidden_layers=100,000,000"]),
    ("predict-huge-film-layers", ["family", "predict", "{in}/huge_film.pt", *MEMBER, "--out", "{out}/p"],
     ["huge_film.pt", "film_layers=100,000,000"]),
    ("inpaint-huge-layers", ["inpaint", "{in}/face.npy", "--model", "{in}/inpaint_huge.pt", "--out", "{out}/i"],
     ["inpaint_huge.pt", "hidden_layers=100,000,000"]),
    ("predict-metric-n-1e6", ["family", "predict", "{in}/metric_1000000.pt", *MEMBER, "--out", "{out}/p"],
     ["metric_1000000.pt", "metric_n must be an integer in [2, 1024], got 1000000"]),
    ("predict-metric-n-3000", ["family", "predict", "{in}/metric_3000.pt", *MEMBER, "--out", "{out}/p"],
     ["metric_3000.pt", "metric_n", "got 3000"]),
    ("solve-metric-n-huge", ["solve", "helmholtz", "-O", "metric_n=100000", *TINY, "--out", "{out}/r"],
     ["metric_n", "[2, 1024]", "100000"]),
    ("inpaint-nan-pixel", ["inpaint", "{in}/nanface.npy", "--model", "{in}/inpaint.pt", "--out", "{out}/i"],
     ["IMAGE", "nanface.npy", "NaN at row 3, column 4"]),
    ("family-encoder-not-inpainting", ["family", "train", "poisson-family", "--encoder", "cnn", "--out", "{out}/f"],
     ["--encoder", "poisson-family"]),
    # solve FILE.py:NAME: a problem defined in the user's own file (tests/_pde_file.py)
    ("solve-file-missing", ["solve", "{in}/none.py:problem", *TINY, "--out", "{out}/r"],
     ["none.py", "file not found"]),
    ("solve-file-no-name", ["solve", os.path.join(os.path.dirname(__file__), "_pde_file.py") + ":missing", *TINY,
                            "--out", "{out}/r"], ["_pde_file.py has no 'missing'", "its problems: problem"]),
    ("solve-file-not-a-problem", ["solve", os.path.join(os.path.dirname(__file__), "_pde_file.py") + ":not_a_problem",
                                  *TINY, "--out", "{out}/r"], ["not_a_problem is a int, not a Problem"]),
    ("solve-file-options-on-object", ["solve", os.path.join(os.path.dirname(__file__), "_pde_file.py") + ":problem",
                                      "-O", "k=2", *TINY, "--out", "{out}/r"], ["takes no -O options", "k"]),
]

# refused by argparse (exit 2 with a usage line)
ARGPARSE_CASES = [
    ("hidden-features-0", ["solve", "image-fit", "--hidden-features", "0", "--out", "{out}/r"],
     ["--hidden-features", "'0'"]),
    ("batch-size-0", ["solve", "image-fit", "--batch-size", "0", "--out", "{out}/r"], ["--batch-size", "'0'"]),
    ("option-no-equals", ["solve", "image-fit", "-O", "size", "--out", "{out}/r"], ["key=value", "'size'"]),
    ("eval-order-3", ["eval", "{in}/run/model.pt", "--points", "{in}/pts2.npy", "--out", "{out}/v.h5",
                      "--order", "3"], ["--order", "3"]),
    ("eval-chunk-0", ["eval", "{in}/run/model.pt", "--points", "{in}/pts2.npy", "--out", "{out}/v.h5",
                      "--chunk", "0"], ["--chunk", "'0'"]),
    ("steps-negative", ["reconstruct", "{in}/sphere.xyz", "-o", "{out}/m.ply", "--steps", "-3"],
     ["--steps", "'-3'"]),
    ("inpaint-context-abc", ["inpaint", "{in}/face.npy", "--model", "{in}/inpaint.pt", "--context", "abc",
                             "--out", "{out}/i"], ["--context", "'abc'", "'half'"]),
    ("inpaint-context-0", ["inpaint", "{in}/face.npy", "--model", "{in}/inpaint.pt", "--context", "0",
                           "--out", "{out}/i"], ["--context", "'0'"]),
    ("family-instances-0", ["family", "train", "poisson-family", "--instances", "0", "--out", "{out}/f"],
     ["--instances", "'0'"]),
    ("family-points-abc", ["family", "train", "poisson-family", "--points", "abc", "--out", "{out}/f"],
     ["--points", "'abc'"]),
    ("family-encoder-bogus", ["family", "train", "inpainting", "--encoder", "rnn", "--out", "{out}/f"],
     ["--encoder", "'rnn'"]),
]


def _argv(argv, inputs, out):
    return [a.replace("{in}", str(inputs)).replace("{out}", str(out)) for a in argv]


def _nothing_left(inputs, out, before):
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))
    after = sorted(p.relative_to(inputs) for p in inputs.rglob("*"))
    assert after == before, set(after) ^ set(before)  # no temp files or partial outputs next to inputs


@pytest.mark.parametrize("argv, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_naming_it(argv, expected, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    before = sorted(p.relative_to(inputs) for p in inputs.rglob("*"))
    rc = main(_argv(argv, inputs, out))
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if line.startswith("sirenpde: error:")]
    assert len(message) == 1, err
    assert "pip install" not in err  # no library's advice to install plugins (imageio's for a text .png)
    for text in expected:
        assert text.replace("{in}", str(inputs)) in message[0], (text, message[0])
    _nothing_left(inputs, out, before)


@pytest.mark.parametrize("argv, expected", [c[1:] for c in ARGPARSE_CASES], ids=[c[0] for c in ARGPARSE_CASES])
def test_bad_argument_is_refused_by_the_parser(argv, expected, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(_argv(argv, inputs, out))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    for text in expected:
        assert text in err, (text, err)
    assert not out.exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder_is_refused(inputs, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        rc = main(["solve", "image-fit", "-O", "size=8", *TINY, "--out", str(locked / "run")])
        err = capsys.readouterr().err
        assert rc == 2 and "--out" in err and "Permission denied" in err, err
        assert not any(locked.iterdir())
    finally:
        locked.chmod(0o755)


def test_checkpoint_of_another_run_is_refused_naming_the_option(inputs, tmp_path):
    """The same --checkpoint with another image: exit 2 naming the option and --restart, no
    traceback (run as a subprocess so an escaping traceback would show)."""
    ckpt = tmp_path / "run.pt"

    def argv(image, out, *extra):
        return ["solve", "image-fit", "-O", f"image={image}", "-O", "size=8", *TINY, "--checkpoint", str(ckpt),
                "--out", str(out), *extra]

    assert main(argv("camera", tmp_path / "a")) == 0
    second = subprocess.run([sys.executable, "-m", "sirenpde.cli", *argv("coins", tmp_path / "b")],
                            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr
    assert "image" in second.stderr and "coins" in second.stderr and "--restart" in second.stderr
    assert not (tmp_path / "b").exists()
    assert main(argv("coins", tmp_path / "b", "--restart")) == 0  # the explicit way to start afresh
    assert (tmp_path / "b" / "model.pt").exists()


def test_eval_refuses_points_too_many_for_memory_before_reading_them(inputs, tmp_path, capsys, monkeypatch):
    import sirenpde.meshing.cost

    # a header claiming 10^6 points, checked against a memory of 1 MB without reading the data
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(10**6, 2))
    del big
    monkeypatch.setattr(sirenpde.meshing.cost, "available_memory", lambda: 2**20)
    out = tmp_path / "out"
    rc = main(["eval", str(inputs / "run" / "model.pt"), "--points", str(tmp_path / "big.npy"),
               "--out", str(out / "v.h5"), "--order", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "1,000,000 points" in err and "--order 2" in err
    assert not out.exists()


def test_a_second_run_into_a_folder_being_written_is_refused(inputs, tmp_path, capsys):
    """Two solves with one --out mixed their outputs (one's solution.h5 beside the other's
    model.pt, both exit 0): the second is refused at once while the first's process lives."""
    import json
    import socket

    from sirenpde.io.claim import LOCK_NAME

    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "run"
        out.mkdir()
        (out / LOCK_NAME).write_text(json.dumps({"pid": owner.pid, "host": socket.gethostname()}))
        rc = main(["solve", "image-fit", "-O", "size=8", *TINY, "--seed", "1", "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and "--out" in err and f"process {owner.pid}" in err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    finally:
        owner.kill()
        owner.wait()
    assert main(["solve", "image-fit", "-O", "size=8", *TINY, "--out", str(out)]) == 0  # the owner is gone
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.pt", "solution.h5", "solution.png"]


def test_a_checkpoint_of_other_helmholtz_options_is_refused(tmp_path):
    """`solve helmholtz --checkpoint c.pt`, then the same with `-O absorption=0`, resumed silently
    (the identity was a hand-written list without absorption); now refused naming the option."""
    ckpt = tmp_path / "c.pt"
    small = ["-O", "reference_n=32", "-O", "metric_n=8", "--steps", "2", "--batch-size", "64",
             "--hidden-features", "8", "--hidden-layers", "1", "-q", "--checkpoint", str(ckpt)]
    assert main(["solve", "helmholtz", *small, "--out", str(tmp_path / "a")]) == 0
    second = subprocess.run([sys.executable, "-m", "sirenpde.cli", "solve", "helmholtz", *small, "-O", "absorption=0",
                             "--out", str(tmp_path / "b")], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert "absorption" in second.stderr and "--restart" in second.stderr, second.stderr
    assert not (tmp_path / "b").exists()
