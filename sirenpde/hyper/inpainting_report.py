"""What the command line and the benchmark write about inpainting: the table and the figure."""
from __future__ import annotations

import numpy as np

from sirenpde.hyper.inpainting import CONTEXTS


def context_label(context) -> str:
    return "top half" if context == "half" else f"{context} px"


def markdown_table(results: dict, contexts=CONTEXTS, paper: dict | None = None) -> str:
    """MSE and PSNR per method (rows) and context size (columns); the best MSE of each column bold.

    ``results``: ``{method: {context: {"mse", "psnr"}}}``; ``paper``: optional
    ``{method: {context: mse}}`` rows quoted for context."""
    head = "| method | " + " | ".join(f"MSE {context_label(c)} | PSNR {context_label(c)}" for c in contexts) + " |"
    rule = "|---|" + "---|---|" * len(contexts)
    best = {c: min(r[c]["mse"] for r in results.values() if c in r) for c in contexts}
    lines = [head, rule]
    for method, rows in results.items():
        cells = []
        for c in contexts:
            if c not in rows:
                cells += ["", ""]
                continue
            mse = f"{rows[c]['mse']:.4f}"
            cells += [f"**{mse}**" if rows[c]["mse"] == best[c] else mse, f"{rows[c]['psnr']:.2f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    for method, rows in (paper or {}).items():
        cells = []
        for c in contexts:
            cells += [f"{rows[c]:.3f}" if rows.get(c) is not None else "n/a", ""]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def inpainting_figure(faces: np.ndarray, masks: dict, results: dict, shown: int = 3, methods=None):
    """For ``shown`` faces: a row per face and context size with the context (unobserved pixels
    grey-blue), the truth and each method's prediction.

    ``faces (N, H, W)``; ``masks {context: (N, H, W)}``; ``results {method: {context: {"prediction"}}}``."""
    from sirenpde.io.plotting import subplots

    methods = list(results) if methods is None else list(methods)
    contexts = list(masks)
    shown = min(shown, len(faces))
    rows, cols = shown * len(contexts), 2 + len(methods)
    fig, axes = subplots(rows, cols, figsize=(1.5 * cols, 1.5 * rows), squeeze=False)
    for i in range(shown):
        for j, context in enumerate(contexts):
            r = i * len(contexts) + j
            mask = np.asarray(masks[context][i]) > 0.5
            shown_context = np.dstack([faces[i]] * 3)
            shown_context[~mask] = (0.35, 0.45, 0.6)
            panels = [("context", shown_context), ("truth", faces[i])]
            panels += [(m, np.clip(results[m][context]["prediction"][i], 0, 1)) for m in methods]
            for k, (title, image) in enumerate(panels):
                ax = axes[r, k]
                ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(title, fontsize=7)
                if k == 0:
                    ax.set_ylabel(context_label(context), fontsize=7)
    fig.tight_layout()
    return fig
