"""sirenpde.io: files the package writes.

:mod:`.atomic` (every output is written to a temporary file and renamed into place),
:mod:`.output` (a solved problem's fields, figure and metrics), :mod:`.plotting` (figures on
their own Agg canvas, saved as PNG).
"""
