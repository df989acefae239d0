"""What the command line writes about a family model: the held-out table and the figures."""
from __future__ import annotations

import numpy as np
import torch

GRID = 65  # points per axis of the plotted fields


def held_out_table(family, model, members: int) -> dict:
    """``{"members": [{name: value, ..., "rel_l2": e}], "median", "p90"}`` on ``family.held_out``."""
    p = family.held_out(members)
    m = family.metrics(model, p)
    rows = [{**dict(zip(family.names, row)), "rel_l2": e} for row, e in zip(p.double().tolist(), m["rel_l2"])]
    return {"members": rows, "median": m["median"], "p90": m["p90"]}


def member_fields(family, model, p, n: int = GRID) -> dict[str, np.ndarray]:
    """Predicted, reference and error fields of members ``p (B, P)`` on an ``n x n`` grid of each
    member's plotting region (its ``region()``): arrays ``(B, n, n)`` of the first channel (the real
    part of a complex field), NaN where the member's reference is undefined (outside its domain)."""
    from sirenpde.problem import Box

    out = {"predicted": [], "reference": [], "error": []}
    for row in family.check(p):
        member = family.member(row)
        low, high = member.region()
        x = Box(low, high).grid([n, n]).double()
        u = member.solution(family.predict(model, row), x)[:, 0].reshape(n, n).numpy()
        ref = member.reference(x).double()[:, 0].reshape(n, n).numpy()
        u = np.where(np.isfinite(ref), u, np.nan)
        for key, value in (("predicted", u), ("reference", ref), ("error", u - ref)):
            out[key].append(value)
    return {k: np.stack(v) for k, v in out.items()}


def single_figure(name: str, fields: dict, title: str = ""):
    """Predicted, reference and error of one member side by side."""
    from sirenpde.io.plotting import subplots

    fig, axes = subplots(1, 3, figsize=(12, 3.6))
    for ax, key in zip(axes, ("predicted", "reference", "error")):
        im = ax.imshow(np.real(fields[key]).T, origin="lower", extent=(-1, 1, -1, 1), cmap="RdBu_r")
        ax.set_title(f"{key}")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"{name} {title}")
    fig.tight_layout()
    return fig


def family_figure(family, model, table: dict, shown: int = 3):
    """Error against each parameter (one panel each) above predicted / reference / error fields
    of the first ``shown`` held-out members."""
    from sirenpde.io.plotting import new_figure

    names = family.names
    cols = max(len(names), 3)
    fig = new_figure(figsize=(4 * cols, 3.4 * (1 + shown)))
    grid = fig.add_gridspec(1 + shown, cols)
    err = np.array([row["rel_l2"] for row in table["members"]])
    for j, name in enumerate(names):
        ax = fig.add_subplot(grid[0, j])
        ax.scatter([row[name] for row in table["members"]], err, s=10)
        ax.set_yscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("relative L2")
    shown = min(shown, len(table["members"]))
    p = torch.tensor([[row[n] for n in names] for row in table["members"][:shown]], dtype=torch.float64)
    fields = member_fields(family, model, p.to(torch.float64))
    for i in range(shown):
        for k, key in enumerate(("predicted", "reference", "error")):
            ax = fig.add_subplot(grid[1 + i, k])
            im = ax.imshow(np.real(fields[key][i]).T, origin="lower", cmap="RdBu_r")
            label = ", ".join(f"{n}={v:.3g}" for n, v in zip(names, p[i].tolist()))
            ax.set_title(f"{key} ({label})" if k == 0 else key, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"{family.name}: held-out median {table['median']:.3g}, p90 {table['p90']:.3g}")
    fig.tight_layout()
    return fig
