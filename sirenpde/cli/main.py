"""The ``sirenpde`` command: the parser and :func:`main`.

``sirenpde solve NAME``, ``sirenpde demo`` and ``sirenpde list`` live in :mod:`sirenpde.cli.solve`,
the shape commands in :mod:`sirenpde.cli.shape`. Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import warnings

from sirenpde.cli.eval import add_eval_command
from sirenpde.cli.family import add_family_commands
from sirenpde.cli.inpaint import add_inpaint_command
from sirenpde.cli.render import add_render_command
from sirenpde.cli.shape import add_shape_commands
from sirenpde.cli.solve import add_solve_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sirenpde", description="Solve PDEs and reconstruct shapes with SIREN networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_solve_commands(sub)
    add_shape_commands(sub)
    add_eval_command(sub)
    add_family_commands(sub)
    add_inpaint_command(sub)
    add_render_command(sub)
    return parser


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0] if isinstance(err, RuntimeError) else text


def _note(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as the command line shows it: one line, without the source line that raised it
    (which means nothing to someone who typed a command)."""
    name = "note" if category.__module__.startswith("sirenpde") else category.__name__
    print(f"sirenpde: {name}: {message}", file=sys.stderr if file is None else file)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # under torchrun rank 0 alone reports on stdout (errors still reach stderr from every rank)
    quiet = os.environ.get("RANK", "0") != "0"
    try:
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext(), \
                warnings.catch_warnings():
            warnings.showwarning = _note
            # a library's notice to its developers (imageio's plugin deprecations) is not for the user
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            return args.func(args)
    except (ValueError, TypeError, FloatingPointError, RuntimeError, OSError) as err:
        # OSError covers FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError
        # and a full disk: one line naming the file, never a traceback
        print(f"sirenpde: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sirenpde: interrupted", file=sys.stderr)
        return 130


def run_as_script() -> None:
    """``python -m sirenpde``: exit with main's status; under torchrun through
    :func:`sirenpde.training.distributed.exit_process` (no interpreter teardown)."""
    code = main()
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        from sirenpde.training.distributed import exit_process

        exit_process(code)
    sys.exit(code)


if __name__ == "__main__":
    run_as_script()
