"""Whether the step that runs a part is being captured in a CUDA graph (:mod:`neurosync.step_graph`).

Inside a capture a part may not read a device value on the host (``bool(t)``, ``t.item()``: the
capture would fail), so a part skips there the checks that do, such as an input's validation:
the captured step's inputs come from the task's sampler, and every replay reuses its checked
form. The flag is set by :class:`neurosync.step_graph.CapturedStep` while it captures, and by
:func:`neurosync.step_graph.host_syncs_forbidden`, its CPU stand-in.
"""

from __future__ import annotations

import contextlib
import contextvars

_CAPTURING = contextvars.ContextVar("neurosync_capturing", default=False)


def capturing() -> bool:
    """Whether the code runs inside a step being captured (or inside its CPU stand-in)."""
    return _CAPTURING.get()


@contextlib.contextmanager
def capture_mode():
    """:func:`capturing` is true within the block."""
    token = _CAPTURING.set(True)
    try:
        yield
    finally:
        _CAPTURING.reset(token)
