"""Capacity sweeps: one analysed run per grid point, folded into curves per varied parameter.

The model engine runs the points (``examday sweep``); this module only turns
their analyses into numbers: time-to-ready p95 per point, the bottleneck that
dominates it, and per parameter a curve over its values (one series per
combination of the other varied parameters, e.g. "by AP model").
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from .summary import Analysis

__all__ = ["SweepPoint", "Curve", "point_from_analysis", "curves"]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One grid point x one repeat."""

    values: dict[str, str]  # varied key -> value as written on the command line
    repeat: int
    seed: int
    run_dir: str
    devices: int
    not_ready: int
    ready_p50_s: float  # inf when more than half never ready
    ready_p95_s: float
    ready_by: dict[str, float]  # "09:05" -> share
    bottleneck: str | None
    slo_ok: bool

    def to_json(self) -> dict:
        def num(v: float) -> float | str | None:
            return None if math.isnan(v) else ("inf" if math.isinf(v) else round(v, 4))

        return {"values": self.values, "repeat": self.repeat, "seed": self.seed, "run_dir": self.run_dir,
                "devices": self.devices, "not_ready": self.not_ready, "ready_p50_s": num(self.ready_p50_s),
                "ready_p95_s": num(self.ready_p95_s), "ready_by": {k: num(v) for k, v in self.ready_by.items()},
                "bottleneck": self.bottleneck, "slo_ok": self.slo_ok}


def point_from_analysis(a: Analysis, values: dict[str, str], repeat: int, seed: int) -> SweepPoint:
    p = a.readiness.percentiles()
    return SweepPoint(dict(values), repeat, seed, str(a.info.run_dir), a.readiness.population, a.readiness.not_ready,
                      p["p50"], p["p95"], {d.clock: d.share for d in a.deadlines},
                      a.bottleneck.resource if a.bottleneck else None, a.slo_ok)


@dataclass(frozen=True, slots=True)
class Curve:
    """p95 time-to-ready over the values of ``key`` for one setting of the other keys."""

    key: str
    series: str  # "ap=aruba-535, ..." ("" when only one key varies)
    x: list[str]
    p95_mean: list[float]  # over repeats; inf if any repeat never got 95 % ready
    p95_min: list[float]
    p95_max: list[float]
    bottleneck: list[str | None]  # most common across repeats
    points: list[int] = field(default_factory=list)  # repeats per x
    meets_slo: list[bool] = field(default_factory=list)  # every repeat at x holds every SLO

    @property
    def needed(self) -> str | None:
        """The first value (in the order given) from which every later value holds the SLOs too:
        "the uplink needed for a 5-minute start" when the values grow. None if none does."""
        for i in range(len(self.x)):
            if self.meets_slo[i:] and all(self.meets_slo[i:]):
                return self.x[i]
        return None

    def to_json(self) -> dict:
        def num(v: float) -> float | str | None:
            return None if math.isnan(v) else ("inf" if math.isinf(v) else round(v, 4))

        return {"key": self.key, "series": self.series, "x": self.x,
                "ready_p95_mean_s": [num(v) for v in self.p95_mean], "ready_p95_min_s": [num(v) for v in self.p95_min],
                "ready_p95_max_s": [num(v) for v in self.p95_max], "bottleneck": self.bottleneck,
                "repeats": self.points, "meets_slo": self.meets_slo, "needed": self.needed}


def curves(points: list[SweepPoint], keys: dict[str, list[str]]) -> list[Curve]:
    """For each varied key, one curve per combination of the other keys' values (values in given order)."""
    out = []
    for key, xs in keys.items():
        others = [k for k in keys if k != key]
        series: dict[tuple, list[SweepPoint]] = {}
        for p in points:
            series.setdefault(tuple(p.values[k] for k in others), []).append(p)
        for combo, pts in series.items():
            label = ", ".join(f"{k}={v}" for k, v in zip(others, combo))
            mean, lo, hi, bn, n, ok = [], [], [], [], [], []
            for x in xs:
                here = [p for p in pts if p.values[key] == x]
                v = [p.ready_p95_s for p in here if not math.isnan(p.ready_p95_s)]
                mean.append(math.inf if any(math.isinf(y) for y in v) else (sum(v) / len(v) if v else math.nan))
                lo.append(min(v) if v else math.nan)
                hi.append(max(v) if v else math.nan)
                common = Counter(p.bottleneck for p in here).most_common(1)
                bn.append(common[0][0] if common else None)
                n.append(len(here))
                ok.append(bool(here) and all(p.slo_ok for p in here))
            out.append(Curve(key, label, list(xs), mean, lo, hi, bn, n, ok))
    return out
