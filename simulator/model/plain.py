"""Plain-Python fast paths for a few flows: the shared threshold and the bail-out signal.

NumPy's fixed cost per call (~1-3 µs) dominates a classroom's recompute, so
``flows.waterfill_py``, ``tcp._demand_py``/``_schedule_flows_py`` and
``mac._flow_cost_py`` redo the same IEEE arithmetic in the same order on
Python floats for at most ``SMALL`` flows (bit-identical; tests compare both
paths). Where NumPy's semantics would part from plain Python's (NaN, ±inf,
a zero divisor, a shape), they raise ``NotPlain`` and the caller takes the
NumPy path.
"""

from __future__ import annotations

import math

SMALL = 24  # at most this many flows (or rooms) take a plain-Python path


class NotPlain(Exception):
    """A plain-Python path met a value whose NumPy semantics it does not copy: use NumPy's path."""


def finite(xs: list[float]) -> list[float]:
    """``xs`` unchanged if every value is finite, else ``NotPlain``."""
    for x in xs:
        if not math.isfinite(x):
            raise NotPlain
    return xs
