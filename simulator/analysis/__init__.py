"""Pure functions from a trace to numbers: percentiles, time-to-ready, bottlenecks, SLOs, comparisons.

Imports only ``simulator.trace``, ``simulator.units`` and ``simulator.errors``:
never an engine.
"""

from .attribution import Attribution, ResourceWait, attribute, resource_label
from .bottleneck import Bottlenecks, ResourceStats, bottlenecks, resource_stats
from .groups import GroupStats, group_stats
from .slo import SloSpec, Verdict, evaluate, parse_name, parse_override
from .stats import Percentiles, Readiness, StepStats, percentiles, readiness, step_stats
from .summary import Analysis, DeadlineShare, RunInfo, analyse

__all__ = [
    "Analysis", "DeadlineShare", "RunInfo", "analyse",
    "Percentiles", "Readiness", "StepStats", "percentiles", "readiness", "step_stats",
    "Bottlenecks", "ResourceStats", "bottlenecks", "resource_stats",
    "Attribution", "ResourceWait", "attribute", "resource_label", "GroupStats", "group_stats",
    "SloSpec", "Verdict", "evaluate", "parse_name", "parse_override",
]
