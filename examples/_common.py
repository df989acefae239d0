"""What every example shares: its command line (``--steps``, ``--out``, ``--quiet``) and its report."""
from __future__ import annotations

import argparse
from pathlib import Path


def parse(description: str, argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the problem's)")
    parser.add_argument("--out", type=Path, default=None, help="write the figure here (a .png)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def report(name: str, problem, result, error: float, out, what: str = "relative L2 error") -> None:
    """Print the error, and save the problem's figure to ``out`` if given (and if it has one)."""
    print(f"{name}: {what} {error:.3g} after {result.steps} steps ({result.times['train_s']:.0f} s of training)")
    if out is not None:
        from sirenpde.io.plotting import save_figure

        fig = problem.figure(result.model, result.history)
        if fig is None:
            print(f"{name}: no figure for this domain")
            return
        save_figure(fig, out, dpi=90)
        print(f"wrote {out}")


def poisson_in_unit_ball(domain, name: str, args) -> float:
    """-lap u = 1 inside ``domain`` (any description of the unit ball), u = 0 on its boundary: fit,
    score against the exact (1 - r^2) / 6 on interior points, report. Returns the error."""
    import torch

    import sirenpde as sp

    problem = sp.PDE(domain, lambda u: u.laplacian + 1.0, conditions=[sp.Dirichlet(domain.boundary, 0.0)], name=name)
    result = sp.fit(problem, problem.make_model("siren"), steps=args.steps, progress=not args.quiet)
    x = domain.sample_interior(10_000, torch.Generator().manual_seed(1))
    exact = (1 - x.square().sum(dim=1)) / 6
    with torch.no_grad():
        error = float((result.model(x)[:, 0] - exact).norm() / exact.norm())
    report(name, problem, result, error, args.out)
    return error
