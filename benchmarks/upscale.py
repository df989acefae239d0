"""The upscale test: fit a downsampled image, render the fit at the original size, and compare it with
interpolating the same downsampled image (bicubic, bilinear), all against the original.

A SIREN is a continuous function of the pixel position, so it can be evaluated between the pixels it
was fitted on (``sirenpde render --size 4x``). Whether that beats interpolation is an empirical
question: the Jax reimplementation of the paper found it "not far better". Every method sees the
same low-resolution pixels; PSNR (range 2, images in [-1, 1]) and SSIM are taken against the
original at full size, which no method saw.

    python benchmarks/upscale.py                     # camera and astronaut, 256 -> 64 -> 256
    python benchmarks/upscale.py --quick --out /tmp/up
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import sirenpde
from sirenpde.io.atomic import atomic_open
from sirenpde.io.plotting import save_figure, subplots
from sirenpde.metrics import psnr
from sirenpde.problems import get_problem
from sirenpde.problems.image_data import load_image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import report_head  # noqa: E402

SETTINGS = {
    "full": dict(size=256, factor=4, steps=2000, width=256, layers=3, lr=1e-4),
    "quick": dict(size=32, factor=2, steps=30, width=32, layers=1, lr=1e-3),
}


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=2.0, channel_axis=-1 if a.ndim == 3 else None))


def downsample(img: np.ndarray, factor: int) -> np.ndarray:
    """Anti-aliased area-like downsampling by an integer factor (what a coarser camera would record)."""
    from skimage import transform

    shape = (img.shape[0] // factor, img.shape[1] // factor)
    return transform.resize(img, shape, anti_aliasing=True, preserve_range=True)


def interpolate(low: np.ndarray, shape, order: int) -> np.ndarray:
    """Spline interpolation of ``low`` to ``shape`` (order 1 bilinear, 3 bicubic), pixel centres aligned."""
    from skimage import transform

    return transform.resize(low, shape, order=order, anti_aliasing=False, preserve_range=True, mode="edge")


def siren_upscale(low: np.ndarray, shape, omega: float, s: dict, seed: int) -> tuple[np.ndarray, float, float]:
    """Fit ``low`` with image-fit and render the fit at ``shape``; returns the render in ``low``'s
    value scale, the fit's PSNR on the pixels it saw, and the training seconds."""
    problem = get_problem("image-fit", image=low, size=None, color="auto")
    torch.manual_seed(seed)
    model = problem.make_model("siren", hidden_features=s["width"], hidden_layers=s["layers"], first_omega_0=omega)
    res = sirenpde.fit(problem, model, steps=s["steps"], lr=s["lr"], progress=False, seed=seed, lbfgs_steps=0)
    lo, hi = low.min(), low.max()  # image-fit stretched low to [-1, 1]: map the render back
    render = (problem.render(res.model, shape) + 1) / 2 * (hi - lo) + lo
    return render, float(res.metrics["psnr"]), float(res.times["train_s"])


def run(args) -> dict:
    s = dict(SETTINGS["quick" if args.quick else "full"])
    if args.steps:
        s["steps"] = args.steps
    rows, pictures = [], {}
    for name in args.images:
        original = load_image(name, s["size"], color="auto")
        low = downsample(original, s["factor"])
        shape = original.shape[:2]
        n = low.shape[0]
        methods = {"bicubic": lambda: (interpolate(low, shape, 3), None, 0.0),
                   "bilinear": lambda: (interpolate(low, shape, 1), None, 0.0)}
        for omega in args.omegas:
            w0 = 30.0 * min(1.0, n / 256) if omega == "scaled" else float(omega)
            methods[f"siren w0={w0:g}"] = (lambda w0=w0: siren_upscale(low, shape, w0, s, args.seed))
        for method, make in methods.items():
            t0 = time.perf_counter()
            image, fit_psnr, train_s = make()
            rows.append({"image": name, "colour": original.ndim == 3, "low": list(low.shape[:2]),
                         "size": list(shape), "method": method, "psnr": psnr(image, original),
                         "ssim": ssim(image, original), "fit_psnr_on_low": fit_psnr,
                         "seconds": train_s or time.perf_counter() - t0})
            pictures[(name, method)] = image
            print(f"{name:10s} {method:16s} PSNR {rows[-1]['psnr']:6.2f} dB  SSIM {rows[-1]['ssim']:.4f}"
                  + (f"  (fit {fit_psnr:.1f} dB on its {n}x{n} pixels, {train_s:.0f} s)" if fit_psnr else ""),
                  flush=True)
        pictures[(name, "original")] = original
        pictures[(name, "low")] = low
    return {"settings": s, "rows": rows, "pictures": pictures}


def crop(img: np.ndarray) -> np.ndarray:
    """The central quarter, where detail shows."""
    h, w = img.shape[:2]
    return img[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2]


def write(out: Path, argv, result: dict, total_s: float) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    s, rows = result["settings"], result["rows"]
    lines = report_head(f"Upscale test: a SIREN rendered at {s['factor']}x against interpolation", "upscale.py", argv,
                        False)
    lines += [f"Each image is loaded at {s['size']} px, downsampled {s['factor']}x with anti-aliasing, and "
              f"upscaled back by each method. SIREN: image-fit, {s['layers']} hidden-to-hidden layers of "
              f"{s['width']}, {s['steps']} Adam steps at lr {s['lr']:g} on every low-resolution pixel, then "
              "rendered at the original pixel centres. Scored against the original (range 2). Total "
              f"{total_s / 60:.1f} min.", "",
              "| image | low res | method | PSNR dB ↑ | SSIM ↑ | fit PSNR on the low-res pixels | seconds |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        fit = f"{r['fit_psnr_on_low']:.1f}" if r["fit_psnr_on_low"] is not None else "-"
        lines.append(f"| {r['image']}{' (RGB)' if r['colour'] else ''} | {r['low'][0]}x{r['low'][1]} | {r['method']} | "
                     f"{r['psnr']:.2f} | {r['ssim']:.4f} | {fit} | {r['seconds']:.1f} |")
    lines += ["", "![upscale](upscale.png)", ""]
    path = out / "upscale.md"
    with atomic_open(path) as f:
        f.write("\n".join(lines) + "\n")
    with atomic_open(out / "upscale.json") as f:
        json.dump({"settings": s, "rows": rows}, f, indent=1)
    images = list(dict.fromkeys(r["image"] for r in rows))
    methods = ["original", "low", *dict.fromkeys(r["method"] for r in rows)]
    fig, axes = subplots(len(images), len(methods), figsize=(2.6 * len(methods), 2.8 * len(images)), squeeze=False)
    for i, name in enumerate(images):
        for j, method in enumerate(methods):
            img = crop(result["pictures"][(name, method)])
            ax = axes[i][j]
            ax.imshow(np.clip((img + 1) / 2, 0, 1), cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(method, fontsize=8)
            ax.axis("off")
    fig.suptitle("central quarter of each image")
    fig.tight_layout()
    save_figure(fig, out / "upscale.png", dpi=90)
    return path


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="+", default=["camera", "astronaut"], help="scikit-image names or paths")
    ap.add_argument("--omegas", nargs="+", default=["30", "scaled"],
                    help="SIREN first-layer omega_0 values; 'scaled' is 30 n/256 for n low-res pixels")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="a tiny run for smoke tests")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    result = run(args)
    path = write(args.out, argv, result, time.perf_counter() - t0)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
