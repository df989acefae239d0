"""The paper's analysis of SIREN itself, as plots (Sitzmann et al. 2020, section 3.2 and supplement).

Writes to ``--out``:

- ``distributions.png``: per layer of a deep SIREN at initialisation, histograms of the
  pre-activations ``omega_0 (W h + b)`` with the N(0, 1) density, of the post-activations
  ``sin(.)`` with the arcsine density ``1 / (pi sqrt(1 - y^2))``, and of the gradient of the
  output with respect to each layer's post-activations;
- ``shift_invariance.png``: the same distributions for inputs shifted by ``--shift`` (1000);
- ``spectrum.png``: 2D power spectra of a SIREN's output at initialisation (for several
  first-layer omega_0) and after fitting the camera image, with radial averages;
- ``extrapolation.png``: the fitted image evaluated on [-3, 3]^2, three times its training range;
- ``results.md`` (KS distances per layer, the numbers behind the plots) and ``results.json``.

    python benchmarks/siren_properties.py --quick
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

import sirenpde
from sirenpde.io.atomic import atomic_open
from sirenpde.io.plotting import save_figure, subplots
from sirenpde.evaluate import evaluate

MODES = {
    "smoke": dict(width=32, depth=3, points=256, fit_size=12, fit_width=16, fit_steps=3,
                  extrapolation=24, threads=1),
    "quick": dict(width=1024, depth=6, points=2048, fit_size=64, fit_width=128, fit_steps=300,
                  extrapolation=192, threads=1),
    "full": dict(width=2048, depth=6, points=8192, fit_size=256, fit_width=256, fit_steps=2000,
                 extrapolation=768, threads=None),
}
KS_SAMPLES = 200_000  # values per KS test: the statistic's sampling noise is then about 0.002


def layer_statistics(model: sirenpde.Siren, x: torch.Tensor) -> list[dict[str, np.ndarray]]:
    """Pre-activations ``omega_0 (W h + b)``, post-activations and d(sum of outputs)/d(post-activation)
    of every sine layer of ``model`` at ``x`` ``(n, in)``; flattened numpy arrays per layer."""
    h, pre, post = x, [], []
    for i in range(len(model.hidden)):
        weight, bias = model._affine(i)  # (omega_0 W, omega_0 b): the model computes omega_0 (W h + b) this way
        z = torch.addmm(bias, h, weight.T)
        h = torch.sin(z)
        h.retain_grad()
        pre.append(z)
        post.append(h)
    y = model.output(h)
    # the manual pass must be the model's own forward, or the statistics describe another network
    if not torch.allclose(y, model(x), rtol=1e-4, atol=1e-5):
        raise RuntimeError("layer_statistics: manual forward disagrees with the model; "
                           "has Siren.forward changed?")
    y.sum().backward()
    return [{"pre": z.detach().numpy().ravel(), "post": p.detach().numpy().ravel(),
             "grad": p.grad.numpy().ravel()} for z, p in zip(pre, post)]


def _sub(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return a if a.size <= KS_SAMPLES else rng.choice(a, KS_SAMPLES, replace=False)


def predicted_std(layer: torch.nn.Linear, omega_0: float, h_sq: float = 0.5) -> float:
    """Std of ``omega_0 (W h + b)`` over neurons and inputs for this layer's own ``W`` and ``b`` when the
    inputs ``h`` are independent with mean 0 and ``E[h^2] = h_sq`` (1/2 for arcsine inputs, the
    paper's assumption, which makes it about 1 for the paper's initialisation)."""
    w, b = layer.weight.detach().double(), layer.bias.detach().double()
    return float(omega_0 * torch.sqrt(w.square().sum(1).mean() * h_sq + b.square().mean()))


def ks_table(layers, shifted, model: sirenpde.Siren, rng: np.random.Generator) -> list[dict]:
    """Per sine layer: pre-activation std against its predictions, KS distances of the
    pre-activations to N(0, 1) and to N(0, predicted std), of the post-activations to the
    arcsine law and to sin(N(0, measured std)), and of shifted to unshifted inputs."""
    rows = []
    for i, (a, b) in enumerate(zip(layers, shifted)):
        pre, post = _sub(a["pre"], rng), _sub(a["post"], rng)
        std = float(a["pre"].std())
        row = {"layer": i, "pre_std": std, "pre_std_paper": None, "pre_std_predicted": None,
               "ks_pre_normal": float(stats.kstest(pre, "norm").statistic), "ks_pre_normal_predicted": None,
               "ks_post_arcsine": float(stats.kstest((post + 1) / 2, "arcsine").statistic),
               "ks_post_sin_normal": float(stats.ks_2samp(post, np.sin(rng.normal(0, std, post.size)))
                                           .statistic),
               "grad_std": float(a["grad"].std()),
               "ks_shift_pre": float(stats.ks_2samp(pre, _sub(b["pre"], rng)).statistic),
               "ks_shift_post": float(stats.ks_2samp(post, _sub(b["post"], rng)).statistic),
               "ks_shift_grad": float(stats.ks_2samp(_sub(a["grad"], rng), _sub(b["grad"], rng)).statistic)}
        if i > 0:  # layer 0 reads the raw input, not sines
            layer, omega_0 = model.hidden[i], model.hidden_omega_0
            pred = predicted_std(layer, omega_0, float(np.mean(layers[i - 1]["post"] ** 2)))
            row.update(pre_std_paper=predicted_std(layer, omega_0), pre_std_predicted=pred,
                       ks_pre_normal_predicted=float(stats.kstest(pre, "norm", args=(0, pred)).statistic))
        rows.append(row)
    return rows


def plot_distributions(path: Path, layers, title: str, shifted=None, shift: float = 0.0) -> None:

    n = len(layers)
    fig, axes = subplots(n, 3, figsize=(12, 2.0 * n), squeeze=False)
    g = np.linspace(-4, 4, 400)
    s = np.linspace(-0.999, 0.999, 400)
    for i, a in enumerate(layers):
        ax_pre, ax_post, ax_grad = axes[i]
        for data, label, style in ((a, "x", dict(alpha=0.6)),
                                   *(((shifted[i], f"x + {shift:g}", dict(histtype="step", lw=1.2)),)
                                     if shifted else ())):
            lim = np.percentile(np.abs(data["pre"]), 99.5)
            ax_pre.hist(data["pre"], bins=120, range=(-lim, lim) if i == 0 else (-4, 4), density=True,
                        label=label, **style)
            ax_post.hist(data["post"], bins=100, range=(-1, 1), density=True, label=label, **style)
            glim = np.percentile(np.abs(data["grad"]), 99.5) or 1.0
            ax_grad.hist(data["grad"], bins=120, range=(-glim, glim), density=True, label=label, **style)
        if i > 0:
            ax_pre.plot(g, stats.norm.pdf(g), "k", lw=1, label="N(0, 1)")
        ax_post.plot(s, 1 / (np.pi * np.sqrt(1 - s ** 2)), "k", lw=1, label="arcsine")
        ax_post.set_ylim(0, 3)
        ax_pre.set_ylabel(f"layer {i}")
        for ax, name in zip(axes[i], ("pre-activation omega_0 (W h + b)", "post-activation sin(.)",
                                      "d output / d post-activation")):
            ax.set_title(f"layer {i}: {name}", fontsize=8)
            ax.tick_params(labelsize=7)
        if i == 0:
            for ax in axes[0]:
                ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    _save(fig, path)


def radial_power(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D power spectrum (zero frequency centred) and its radial average over integer radii."""
    f = np.fft.fftshift(np.fft.fft2(img - img.mean()))
    power = np.abs(f) ** 2 / img.size
    h, w = img.shape
    yy, xx = np.indices(img.shape)
    r = np.hypot(yy - h // 2, xx - w // 2).round().astype(int)
    radial = np.bincount(r.ravel(), power.ravel()) / np.maximum(np.bincount(r.ravel()), 1)
    return power, radial[: min(h, w) // 2]


def plot_spectrum(path: Path, images: dict[str, np.ndarray]) -> dict[str, float]:
    """Images (same side) and their spectra; returns each one's spectral centroid in cycles per side."""

    fig, axes = subplots(2, len(images) + 1, figsize=(3.2 * (len(images) + 1), 6.4), squeeze=False)
    centroid = {}
    for c, (name, img) in enumerate(images.items()):
        power, radial = radial_power(img)
        freq = np.arange(radial.size)
        centroid[name] = float((freq * radial).sum() / radial.sum())
        axes[0][c].imshow(img, cmap="gray")
        axes[0][c].set_title(name, fontsize=8)
        axes[1][c].imshow(np.log10(power + 1e-12), cmap="viridis")
        axes[1][c].set_title(f"log10 power, centroid {centroid[name]:.1f}", fontsize=8)
        for ax in (axes[0][c], axes[1][c]):
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1][-1].loglog(freq[1:], radial[1:], label=name, lw=1)
    axes[0][-1].axis("off")
    axes[1][-1].set_xlabel("frequency (cycles per side)")
    axes[1][-1].set_title("radially averaged power", fontsize=8)
    axes[1][-1].legend(fontsize=6)
    fig.tight_layout()
    _save(fig, path)
    return centroid


def plot_extrapolation(path: Path, image: np.ndarray, outside: np.ndarray, span: float) -> None:

    fig, (a, b) = subplots(1, 2, figsize=(10, 5))
    a.imshow(image, cmap="gray", extent=(-1, 1, 1, -1))
    a.set_title("training image on [-1, 1]^2")
    lo, hi = np.percentile(image, [1, 99])
    b.imshow(outside, cmap="gray", extent=(-span, span, span, -span), vmin=lo, vmax=hi)
    b.plot([-1, 1, 1, -1, -1], [-1, -1, 1, 1, -1], "r", lw=1)
    b.set_title(f"fitted SIREN on [-{span:g}, {span:g}]^2 (red: training range)")
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    save_figure(fig, path, dpi=80)


def grid(side: int, span: float) -> torch.Tensor:
    """``side x side`` points on [-span, span]^2, row-major, coordinate 0 down the rows: ``(side^2, 2)``."""
    return sirenpde.Box([-span, -span], [span, span]).grid([side, side])


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    for m in MODES:
        size.add_argument(f"--{m}", dest="mode", action="store_const", const=m, help=f"the {m} setting")
    ap.set_defaults(mode="quick")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "siren_properties")
    ap.add_argument("--shift", type=float, default=1000.0, help="input shift for the invariance check")
    ap.add_argument("--span", type=float, default=3.0, help="half-width of the extrapolation window")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help="device for the image fit")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    """Run the analysis; returns what ``results.json`` holds."""
    args = parse_args(argv)
    mode = MODES[args.mode]
    threads = torch.get_num_threads()
    try:
        if mode["threads"]:
            torch.set_num_threads(mode["threads"])
        return _run(args, mode)
    finally:
        torch.set_num_threads(threads)


def _run(args, mode: dict) -> dict:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    deep = sirenpde.Siren(1, 1, hidden_features=mode["width"], hidden_layers=mode["depth"] - 1)
    x = torch.rand(mode["points"], 1, generator=torch.Generator().manual_seed(args.seed)) * 2 - 1
    layers = layer_statistics(deep, x)
    shifted = layer_statistics(deep, x + args.shift)
    rows = ks_table(layers, shifted, deep, rng)
    net = (f"SIREN 1 -> {mode['depth']} x {mode['width']} -> 1, omega_0 = 30, {mode['points']} inputs "
           "uniform in [-1, 1]")
    plot_distributions(out / "distributions.png", layers, f"at initialisation: {net}")
    plot_distributions(out / "shift_invariance.png", layers, f"inputs x and x + {args.shift:g}: {net}",
                       shifted, args.shift)

    problem = sirenpde.get_problem("image-fit", size=mode["fit_size"])
    images = {}
    for omega_0 in (10.0, 30.0, 90.0):  # at the fitted image's pixel centres, so all spectra share one grid
        torch.manual_seed(args.seed)
        net0 = sirenpde.Siren(2, 1, hidden_features=mode["fit_width"], first_omega_0=omega_0)
        images[f"init, first omega_0 = {omega_0:g}"] = problem.reconstruction(net0)["reconstruction"]
    torch.manual_seed(args.seed)
    model = sirenpde.Siren(2, 1, hidden_features=mode["fit_width"])
    fitted = sirenpde.fit(problem, model, steps=mode["fit_steps"], device=args.device, seed=args.seed,
                          progress=False)
    model = fitted.model.cpu()
    n = mode["fit_size"]
    images["fitted (camera)"] = problem.reconstruction(model)["reconstruction"]
    images["camera image"] = problem.truth
    centroid = plot_spectrum(out / "spectrum.png", images)

    span, m = args.span, mode["extrapolation"]
    outside = evaluate(model, grid(m, span))["value"][:, 0].reshape(m, m)
    inner = np.abs(np.linspace(-span, span, m)) <= 1
    mask = np.outer(inner, inner)
    extrap = {"std_inside": float(outside[mask].std()), "std_outside": float(outside[~mask].std()),
              "psnr_fit": float(fitted.metrics["psnr"])}
    plot_extrapolation(out / "extrapolation.png", problem.truth, outside, span)
    summary = {"mode": args.mode, "network": net, "shift": args.shift, "layers": rows,
               "spectral_centroid": centroid, "extrapolation": extrap, "fit_steps": mode["fit_steps"],
               "fit_size": n, "fit_train_s": fitted.times["train_s"], "total_s": time.perf_counter() - t0}
    write_summary(out, summary)
    print((out / "results.md").read_text(), flush=True)
    return summary


def write_summary(out: Path, s: dict) -> None:
    f3 = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
    rows = s["layers"]
    # how far the sine of a standard normal is from the arcsine law: the paper's law is a limit
    z = np.random.default_rng(0).normal(size=KS_SAMPLES)
    ks_unit = stats.kstest((np.sin(z) + 1) / 2, "arcsine").statistic
    h_sq_unit = (1 - np.exp(-2.0)) / 2  # E[sin(z)^2] for z ~ N(0, 1)
    lines = ["# SIREN properties", "",
             f"Setting `{s['mode']}`: {s['network']}. Total {s['total_s']:.0f} s.", "",
             "## Distributions at initialisation (KS distances; 0 = identical, sampling noise ~0.003)", "",
             "Layer 0 reads the raw input, so its pre-activations are not normal; from layer 1 on the "
             "paper predicts N(0, 1) pre-activations and arcsine post-activations everywhere. "
             "Predicted stds use each layer's own weights W and biases b: omega_0 sqrt(mean_j |W_j|^2 E[h^2] + "
             "mean b^2), with E[h^2] = 1/2 (arcsine inputs, the paper's assumption: \"paper\") or measured "
             "on the previous layer (\"predicted\"). The arcsine law is exact only for sines of widely "
             f"spread inputs: sin(z) with z ~ N(0, 1) is itself at KS {ks_unit:.3f} from it and has "
             f"E[h^2] = {h_sq_unit:.3f}, so the std shrinks slowly with depth; the column "
             "\"KS post vs sin(N)\" compares with sin(N(0, measured std)).",
             "",
             "| layer | pre std | paper std | predicted std | KS pre vs N(0,1) | KS pre vs N(0, predicted) | "
             "KS post vs arcsine | KS post vs sin(N) | grad std | KS shift pre | KS shift post | "
             "KS shift grad |",
             "|" + "---|" * 12]
    for r in rows:
        lines.append("| " + " | ".join([str(r["layer"])] + [f3(r[k]) for k in (
            "pre_std", "pre_std_paper", "pre_std_predicted", "ks_pre_normal", "ks_pre_normal_predicted",
            "ks_post_arcsine", "ks_post_sin_normal", "grad_std", "ks_shift_pre", "ks_shift_post",
            "ks_shift_grad")]) + " |")
    deeper = rows[1:]
    worst = max((max(r["ks_shift_post"], r["ks_shift_pre"]) for r in deeper), default=float("nan"))
    verdict = "the distributions do not depend on the shift" if worst < 0.02 else "the shift changes them"
    lines += ["", f"\"KS shift\" compares inputs x and x + {s['shift']:g}. Largest KS distance from layer 1 "
              f"on: {f3(worst)} ({verdict}); "
              f"layer 0 pre-activations: {f3(rows[0]['ks_shift_pre'])}, post-activations: "
              f"{f3(rows[0]['ks_shift_post'])}.", "",
              "![distributions](distributions.png)", "![shift invariance](shift_invariance.png)", ""]
    c = s["spectral_centroid"]
    init = [v for k, v in c.items() if k.startswith("init")]
    trend = ("grows with the first-layer omega_0" if all(a < b for a, b in zip(init, init[1:]))
             else "does not grow monotonically with the first-layer omega_0")
    lines += ["## Spectrum", "", "Spectral centroid (power-weighted mean radial frequency, cycles per side) "
              "of each image: " + ", ".join(f"{k}: {v:.1f}" for k, v in c.items())
              + f". At initialisation it {trend}.",
              "", "![spectrum](spectrum.png)", ""]
    e = s["extrapolation"]
    ratio = e["std_outside"] / e["std_inside"] if e["std_inside"] > 0 else float("nan")
    lines += ["## Extrapolation", "",
              f"Camera fitted at {s['fit_size']}x{s['fit_size']} for {s['fit_steps']} steps "
              f"({s['fit_train_s']:.0f} s, PSNR {e['psnr_fit']:.1f} dB), evaluated on the extended window. "
              "Output std inside the training "
              f"range {e['std_inside']:.3f}, outside {e['std_outside']:.3f} (ratio {ratio:.2f}): "
              + ("the network does not decay outside its training range but fills it with structure."
                 if ratio > 0.5 else "the output is much flatter outside its training range."),
              "", "![extrapolation](extrapolation.png)", ""]
    with atomic_open(out / "results.md") as f:
        f.write("\n".join(lines))
    with atomic_open(out / "results.json") as f:
        json.dump(s, f, indent=1)


if __name__ == "__main__":
    main()
