"""sirenpde.cli: the ``sirenpde`` command.

:mod:`.main` builds the parser and runs a command; :mod:`.solve` holds ``list``, ``solve`` and
``demo``; :mod:`.shape` holds ``reconstruct``, ``fit-sdf``, ``mesh`` and ``evaluate``. Building the
parser imports no torch: the handlers import the numerics when they run.
"""
