"""Interchangeable parts of a CTM tick, each behind a small interface.

A part owns its parameters; per-thought state is passed in and returned explicitly
(never kept on ``self``), so the tick loop in :mod:`neurosync.ctm` reads like the paper.
"""
