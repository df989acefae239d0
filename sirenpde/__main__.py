"""``python -m sirenpde ...``: the same as the ``sirenpde`` command."""
from sirenpde.cli.main import run_as_script

run_as_script()
