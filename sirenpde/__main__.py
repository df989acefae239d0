"""``python -m sirenpde ...``: the same as the ``sirenpde`` command."""
import sys

from sirenpde.cli.main import main

sys.exit(main())
