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
