"""``sirenpde inpaint IMAGE --model DIR/family.pt`` and ``sirenpde family train inpainting``.

Nothing here imports torch at module level; the handlers import the numerics when they run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sirenpde.cli import checks

ENCODERS = ("set", "cnn")  # sirenpde.hyper.inpainting.ENCODERS, without importing torch
OUTPUTS = ("inpainted.png", "inpainted.npy", "mask.png", "mask.npy")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".npy")


def context_arg(text: str):
    """argparse type of ``--context``: a positive integer or ``half``."""
    if text.strip().lower() == "half":
        return "half"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'half', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'half', got {text!r}")
    return value


def read_grey(path: Path, size: int):
    """The image at ``path`` as ``(size, size)`` float64 grey in [0, 1], and a note when it was
    converted (RGB to grey) or resized. ``.npy``: a 2-D array (or ``(H, W, 3|4)``), integers read
    as 0..255, floats must lie in [0, 1]."""
    import numpy as np
    from skimage.color import rgb2gray
    from skimage.transform import resize
    from skimage.util import img_as_float

    from sirenpde.io.inputs import first_non_finite

    notes = []
    if path.suffix.lower() == ".npy":
        try:
            image = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise ValueError(f"IMAGE {str(path)!r} is not a readable .npy array: {err}") from None
        if image.dtype.kind not in "biuf":
            raise ValueError(f"IMAGE {str(path)!r}: expected a numeric array, got dtype {image.dtype}")
        if image.dtype.kind in "biu":
            image = image.astype(np.float64) / 255.0
    else:
        from sirenpde.io.inputs import read_image

        try:
            image = img_as_float(read_image(path))
        except ValueError as err:
            raise ValueError(f"IMAGE: {err}") from None
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = rgb2gray(image[..., :3])
        notes.append("converted RGB to grey")
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"IMAGE {str(path)!r}: expected a grey (H, W) or colour (H, W, 3) image, "
                         f"got shape {image.shape}")
    bad = first_non_finite(image)
    if bad:
        raise ValueError(f"IMAGE {str(path)!r}: values must be finite, found {bad}")
    if image.min() < 0 or image.max() > 1:
        raise ValueError(f"IMAGE {str(path)!r}: values must lie in [0, 1], got [{image.min():g}, {image.max():g}]")
    if image.shape != (size, size):
        notes.append(f"resized from {image.shape[0]}x{image.shape[1]} to the model's {size}x{size}")
        image = resize(image, (size, size), anti_aliasing=True)
    return image, notes


@checks.claims_output("out", "--out", OUTPUTS)
def cmd_inpaint(args) -> int:
    image_path = checks.input_file(args.image, "IMAGE")
    if image_path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"IMAGE {args.image!r}: expected an image file ({', '.join(IMAGE_SUFFIXES)})")
    model_path = checks.input_file(args.model, "--model")
    out = Path(args.out)

    import numpy as np
    import torch

    from sirenpde.hyper.inpainting import context_masks
    from sirenpde.hyper.inpainting_train import load_inpainting
    from sirenpde.io.atomic import atomic_path
    from sirenpde.io.plotting import subplots, save_figure

    model, _, _ = load_inpainting(model_path)
    size = model.size
    if args.context != "half" and args.context > size * size:
        raise ValueError(f"--context {args.context}: the model's images have {size}x{size} = {size * size} pixels")
    image, notes = read_grey(image_path, size)
    for note in notes:
        print(f"note: {note}")

    mask = context_masks(args.context, 1, torch.Generator().manual_seed(args.seed), size)
    truth = torch.from_numpy(image)[None]
    pred = model.predict(truth, mask)[0].double().numpy()
    mask = mask[0].numpy()
    inpainted = np.where(mask > 0.5, image, np.clip(pred, 0.0, 1.0))
    mse = float(np.mean((inpainted - image) ** 2))

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, array in (("inpainted", inpainted), ("mask", mask.astype(np.uint8))):
        with atomic_path(out / f"{name}.npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, array)
        fig, ax = subplots(1, 1, figsize=(2, 2))
        ax.imshow(array, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        fig.subplots_adjust(0, 0, 1, 1)
        paths += [out / f"{name}.npy", save_figure(fig, out / f"{name}.png", dpi=max(100, 4 * size))]
    print(f"context: {int(mask.sum())} of {size * size} pixels ({args.context}); "
          f"MSE of the inpainted image against the input: {mse:.4g}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def train_inpainting(args) -> int:
    """``sirenpde family train inpainting``: family.pt, metrics.json (test table), inpainting.png."""
    out = Path(args.out)  # created and locked by `family train` (cli/family.py)
    encoder = args.encoder or "cnn"

    from sirenpde.hyper.inpainting import make_model
    from sirenpde.hyper.inpainting_train import InpaintingProblem, fit_inpainting
    from sirenpde.training import distributed

    steps = 2000 if args.steps is None else args.steps
    images = 32 if args.instances is None else args.instances
    lr = 1e-3 if args.lr is None else args.lr
    model = make_model(encoder, seed=args.seed, conditioning=args.conditioning)
    problem = InpaintingProblem()
    result = fit_inpainting(model, steps, images, lr=lr, device=args.device, seed=args.seed,
                            progress=not args.quiet, checkpoint=args.checkpoint, problem=problem)
    ranks = distributed.current()
    if ranks.is_writer:  # under torchrun rank 0 alone writes; the others wait (see cli/family.py)
        _write_inpainting(args, out, encoder, problem, result, steps, images, lr)
    ranks.barrier()
    return 0


def _write_inpainting(args, out, encoder, problem, result, steps, images, lr) -> None:
    from sirenpde.hyper.inpainting_baselines import evaluate_baselines
    from sirenpde.hyper.inpainting_report import inpainting_figure
    from sirenpde.hyper.inpainting_train import evaluate_model, save_inpainting, table_rows
    from sirenpde.io.atomic import atomic_open
    from sirenpde.io.plotting import save_figure

    model = result.model.cpu().eval()
    faces = problem.test_faces
    results = {"hypernetwork": evaluate_model(model, faces, problem.masks)}
    # the cheap baselines only; the per-image Siren fit is in benchmarks/inpainting.py
    results.update(evaluate_baselines(faces.numpy(), problem.masks, problem.train_faces.numpy(),
                                      methods=("mean face", "griddata linear", "griddata nearest", "biharmonic")))
    table = table_rows(results)
    meta = {"family": "inpainting", "encoder": encoder, "conditioning": args.conditioning, "config": model.config(),
            "parameters": int(sum(p.numel() for p in model.parameters())), "steps": steps,
            "images_per_step": images, "lr": lr, "times": result.times,
            "final_loss": {k: v[-1] for k, v in result.history.items() if v},
            "split": {"train_faces": problem.train_idx.tolist(), "test_faces": problem.test_idx.tolist(),
                      "patches": problem.patch_names},
            "held_out": table, "metric": "MSE over all pixels on [0, 1] and PSNR, 20 test faces, same masks",
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    out.mkdir(parents=True, exist_ok=True)
    paths = [save_inpainting(out / "family.pt", model, {"held_out": table["hypernetwork"]},
                             {"steps": steps, "train_s": result.times.get("train_s")})]
    with atomic_open(out / "metrics.json", "w") as f:
        json.dump(meta, f, indent=2)
    paths.append(out / "metrics.json")
    paths.append(save_figure(inpainting_figure(faces.numpy(), problem.masks, results, shown=3,
                                               methods=("hypernetwork",)), out / "inpainting.png", dpi=90))
    for context, row in table["hypernetwork"].items():
        print(f"test MSE at context {context}: {row['mse']:.4g} (PSNR {row['psnr']:.2f} dB); "
              f"mean face {table['mean face'][context]['mse']:.4g}")
    print(f"train time: {result.times['train_s']:.1f} s ({result.times['steps_per_s']:.2f} steps/s)")
    print("wrote " + ", ".join(str(p) for p in paths))


def add_inpaint_command(sub) -> None:
    p = sub.add_parser("inpaint", help="inpaint a grey image from a few context pixels with a trained model")
    p.add_argument("image", help="image file (PNG, JPEG, TIFF, ...; colour is converted to grey) or a .npy array")
    p.add_argument("--model", required=True, help="family.pt written by `sirenpde family train inpainting`")
    p.add_argument("--context", type=context_arg, default=100,
                   help="observed pixels: a count of random pixels, or 'half' (the top half); default 100")
    p.add_argument("--seed", type=int, default=0, help="seed of the random context pixels")
    p.add_argument("--out", required=True, help="output folder: inpainted.png/.npy and mask.png/.npy")
    p.set_defaults(func=cmd_inpaint)
