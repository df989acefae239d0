"""The ``sirenpde`` command: the parser and :func:`main`.

``sirenpde solve NAME``, ``sirenpde demo`` and ``sirenpde list`` live in :mod:`sirenpde.cli.solve`,
the shape commands in :mod:`sirenpde.cli.shape`. Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import sys

from sirenpde.cli.family import add_family_commands
from sirenpde.cli.shape import add_shape_commands
from sirenpde.cli.solve import add_solve_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sirenpde", description="Solve PDEs and reconstruct shapes with SIREN networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_solve_commands(sub)
    add_shape_commands(sub)
    add_family_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, TypeError, FloatingPointError) as err:
        print(f"sirenpde: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sirenpde: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
