"""Capacity sweeps: one analysed run per grid point, folded into curves per varied parameter.

The model engine runs the points (``examday sweep``); this module only turns
their analyses into numbers: time-to-ready p95 per point, every SLO's observed
value and verdict, the bottleneck that dominates, and per parameter a curve
over its values (one series per combination of the other varied parameters,
e.g. "by AP model"). ``Curve.answer`` is *the* one-line answer: the CLI, the
plot title and ``sweep.json`` all print that same string, computed from
``meets_slo`` alone, so they cannot disagree.

Values that read as numbers (``50 Mbit/s``, ``2 min``, ``35 MB``, ``8``) are
ordered by magnitude for the answer and placed proportionally on the plot's
axis; others keep the order given.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from ..units import UnitError, parse_bitrate, parse_bytes, parse_duration
from .summary import Analysis

__all__ = ["SweepPoint", "Curve", "point_from_analysis", "curves", "numeric", "INCOMPLETE"]

#: The pseudo-SLO a point fails when its run did not walk every planned pupil.
INCOMPLETE = "run_complete"


def numeric(value: str) -> float | None:
    """The magnitude of a swept value in SI ('50 Mbit/s' -> 5e7, '2 min' -> 120, '8' -> 8), None if not a number."""
    for parse in (float, parse_bitrate, parse_duration, parse_bytes):
        try:
            v = float(parse(value))
        except (UnitError, ValueError, TypeError):
            continue
        if math.isfinite(v):
            return v
    return None


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
    slo: dict[str, dict] = field(default_factory=dict)  # name -> {observed, threshold, ok} (city-wide)
    breached: list[str] = field(default_factory=list)  # failing SLO names, "site:<name>", "run_complete"

    def to_json(self) -> dict:
        return {"values": self.values, "repeat": self.repeat, "seed": self.seed, "run_dir": self.run_dir,
                "devices": self.devices, "not_ready": self.not_ready, "ready_p50_s": _num(self.ready_p50_s),
                "ready_p95_s": _num(self.ready_p95_s), "ready_by": {k: _num(v) for k, v in self.ready_by.items()},
                "bottleneck": self.bottleneck, "slo_ok": self.slo_ok,
                "slo": {k: {"observed": _num(v["observed"]), "threshold": v["threshold"], "ok": v["ok"]}
                        for k, v in self.slo.items()},
                "breached": self.breached}

    @classmethod
    def from_json(cls, d: dict) -> "SweepPoint":
        def num(v):
            return math.inf if v == "inf" else (math.nan if v is None else float(v))

        return cls(d["values"], d["repeat"], d["seed"], d["run_dir"], d["devices"], d["not_ready"],
                   num(d["ready_p50_s"]), num(d["ready_p95_s"]), {k: num(v) for k, v in d["ready_by"].items()},
                   d["bottleneck"], d["slo_ok"],
                   {k: {**v, "observed": num(v["observed"])} for k, v in (d.get("slo") or {}).items()},
                   list(d.get("breached") or []))


def _num(v: float) -> float | str | None:
    return None if math.isnan(v) else ("inf" if math.isinf(v) else round(v, 4))


def point_from_analysis(a: Analysis, values: dict[str, str], repeat: int, seed: int) -> SweepPoint:
    p = a.readiness.percentiles()
    slo = {v.name: {"observed": v.observed, "threshold": v.threshold, "ok": v.ok} for v in a.verdicts}
    breached = [v.name for v in a.verdicts if not v.ok] + [f"site:{s.name}" for s in a.breaching_sites]
    if not a.complete:
        breached.append(INCOMPLETE)
    return SweepPoint(dict(values), repeat, seed, str(a.info.run_dir), a.readiness.population, a.readiness.not_ready,
                      p["p50"], p["p95"], {d.clock: d.share for d in a.deadlines},
                      a.bottleneck.resource if a.bottleneck else None, a.slo_ok, slo, breached)


@dataclass(frozen=True, slots=True)
class Curve:
    """Every SLO over the values of ``key`` for one setting of the other keys."""

    key: str
    series: str  # "ap=aruba-535, ..." ("" when only one key varies)
    x: list[str]
    p95_mean: list[float]  # over repeats; inf if any repeat never got 95 % ready
    p95_min: list[float]
    p95_max: list[float]
    bottleneck: list[str | None]  # most common across repeats
    points: list[int] = field(default_factory=list)  # repeats per x
    meets_slo: list[bool] = field(default_factory=list)  # every repeat at x holds every SLO (and per site)
    breached: list[list[str]] = field(default_factory=list)  # per x: SLOs failing in any repeat
    slo: dict[str, list[float]] = field(default_factory=dict)  # SLO name -> mean observed per x (inf: never)

    @property
    def magnitudes(self) -> list[float] | None:
        """SI magnitudes of ``x`` when every value is numeric, else None."""
        m = [numeric(v) for v in self.x]
        return None if any(v is None for v in m) else m

    def ordered(self) -> list[int]:
        """Indices of ``x`` by magnitude (numeric values), else in the order given."""
        m = self.magnitudes
        return sorted(range(len(self.x)), key=lambda i: m[i]) if m else list(range(len(self.x)))

    @property
    def needed(self) -> str | None:
        """The smallest value from which every larger value tried holds every SLO (None if the largest fails)."""
        order = self.ordered()
        ok = [self.meets_slo[i] for i in order]
        if not ok or not ok[-1]:
            return None
        k = len(ok)
        while k > 0 and ok[k - 1]:
            k -= 1
        return self.x[order[k]]

    @property
    def answer(self) -> str:
        """The one-line answer, from ``meets_slo`` alone (the CLI, the plot and sweep.json print this)."""
        order = self.ordered()
        held = [self.x[i] for i in order if self.meets_slo[i]]
        failed = [i for i in order if not self.meets_slo[i]]
        where = f" ({self.series})" if self.series else ""
        if not failed:
            return f"{self.key}{where}: every value tried holds every SLO ({', '.join(self.x[i] for i in order)})"

        def why(i: int) -> str:
            return f"{self.x[i]} ({', '.join(self.breached[i]) or 'SLO breached'})"

        fails = "; ".join(why(i) for i in failed)
        if not held:
            return f"{self.key}{where}: no value tried holds every SLO; breached at {fails}"
        need = self.needed
        numeric_order = self.magnitudes is not None
        rank = order.index(self.x.index(need)) if need is not None else 0
        if need is not None and not any(self.meets_slo[order[r]] for r in range(rank)):
            up = "and above" if numeric_order else "and every value after it"
            return f"{self.key}{where}: SLOs hold from {need} {up}; breached at {fails}"
        return (f"{self.key}{where}: not monotone — SLOs hold at {', '.join(held)} but are breached at {fails}"
                + (f"; they hold from {need} up" if need else ""))

    def to_json(self) -> dict:
        return {"key": self.key, "series": self.series, "x": self.x, "x_si": self.magnitudes,
                "ready_p95_mean_s": [_num(v) for v in self.p95_mean], "ready_p95_min_s": [_num(v) for v in self.p95_min],
                "ready_p95_max_s": [_num(v) for v in self.p95_max], "bottleneck": self.bottleneck,
                "repeats": self.points, "meets_slo": self.meets_slo, "breached": self.breached,
                "slo_mean": {k: [_num(v) for v in vs] for k, vs in self.slo.items()},
                "needed": self.needed, "answer": self.answer}


def _mean(v: list[float]) -> float:
    v = [y for y in v if not math.isnan(y)]
    return math.inf if any(math.isinf(y) for y in v) else (sum(v) / len(v) if v else math.nan)


def curves(points: list[SweepPoint], keys: dict[str, list[str]]) -> list[Curve]:
    """For each varied key, one curve per combination of the other keys' values (values in given order)."""
    out = []
    names = list(dict.fromkeys(n for p in points for n in p.slo))
    for key, xs in keys.items():
        others = [k for k in keys if k != key]
        series: dict[tuple, list[SweepPoint]] = {}
        for p in points:
            series.setdefault(tuple(p.values[k] for k in others), []).append(p)
        for combo, pts in series.items():
            label = ", ".join(f"{k}={v}" for k, v in zip(others, combo))
            mean, lo, hi, bn, n, ok, br = [], [], [], [], [], [], []
            slo: dict[str, list[float]] = {name: [] for name in names}
            for x in xs:
                here = [p for p in pts if p.values[key] == x]
                v = [p.ready_p95_s for p in here if not math.isnan(p.ready_p95_s)]
                mean.append(_mean(v))
                lo.append(min(v) if v else math.nan)
                hi.append(max(v) if v else math.nan)
                common = Counter(p.bottleneck for p in here).most_common(1)
                bn.append(common[0][0] if common else None)
                n.append(len(here))
                ok.append(bool(here) and all(p.slo_ok for p in here))
                br.append(list(dict.fromkeys(b for p in here for b in p.breached)) if here else ["no run"])
                for name in names:
                    slo[name].append(_mean([p.slo[name]["observed"] for p in here if name in p.slo]))
            out.append(Curve(key, label, list(xs), mean, lo, hi, bn, n, ok, br, slo))
    return out
