"""Service-level objectives: a small grammar of names, thresholds in SI, verdicts.

Names (thresholds in SI: seconds for durations, fractions for shares):

- ``ready_p<q>``            time-to-ready percentile q must be <= threshold (s)
- ``<step>_p<q>``           duration percentile q of successful ``<step>`` attempts <= threshold (s)
- ``error_rate``            failed attempts / all attempts <= threshold (fraction)
- ``<step>_error_rate``     the same for one step
- ``ready_by_<HHMM>``       share of pupil devices ready by that clock time >= threshold (fraction)

``q`` is written ``p95``, ``p99``, ``p999`` or ``p99.9`` (= 99.9). Thresholds
come from the run manifest's ``slo`` block and can be overridden on the
command line with ``NAME=VALUE`` where VALUE carries a unit (``ready_p95=3 min``,
``error_rate=0.5 %``, ``ready_by_0905=95 %``). An SLO whose data is missing
(no successful login for ``login_p95``) is *breached*: a check that could
not be made must not pass in CI.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..trace import STEPS
from ..units import UnitError, format_clock, format_duration, parse_duration, parse_fraction
from .stats import percentiles

if TYPE_CHECKING:
    from .summary import Analysis

__all__ = ["SloSpec", "Verdict", "parse_name", "parse_override", "evaluate", "DEFAULT_T0_CLOCK"]

#: Assumed exam start when a manifest has no ``t0_clock`` (for ``ready_by_HHMM``).
DEFAULT_T0_CLOCK = 9 * 3600.0

_PCT = re.compile(r"^(?P<what>[a-z][a-z0-9-]*)_p(?P<q>[0-9]+(?:\.[0-9]+)?)$")
_BY = re.compile(r"^ready_by_(?P<hh>[0-9]{2}):?(?P<mm>[0-9]{2})$")
_ERR = re.compile(r"^(?:(?P<step>[a-z][a-z0-9-]*)_)?error_rate$")


@dataclass(frozen=True, slots=True)
class SloSpec:
    """A parsed SLO name: what to measure and which way is good."""

    name: str
    kind: str  # "percentile" | "error_rate" | "ready_by"
    subject: str  # "ready", a step name, or "" (all steps)
    q: float = math.nan  # percentile (0..100]
    clock_s: float = math.nan  # ready_by: seconds since midnight

    @property
    def unit(self) -> str:
        return "s" if self.kind == "percentile" else "fraction"

    @property
    def higher_is_better(self) -> bool:
        return self.kind == "ready_by"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One SLO checked against one run."""

    spec: SloSpec
    threshold: float
    observed: float  # NaN when no data; inf for "never"
    ok: bool
    message: str

    @property
    def name(self) -> str:
        return self.spec.name

    def to_json(self) -> dict:
        def num(v: float) -> float | str | None:
            return None if math.isnan(v) else ("inf" if math.isinf(v) else round(v, 6))

        return {"name": self.name, "kind": self.spec.kind, "unit": self.spec.unit,
                "threshold": num(self.threshold), "observed": num(self.observed),
                "ok": self.ok, "message": self.message}


def _q(text: str) -> float:
    """'95' -> 95, '999' -> 99.9, '9999' -> 99.99, '99.9' -> 99.9 ('101' is an error)."""
    if "." in text or len(text) <= 2:
        q = float(text)
    elif text.startswith("99"):
        q = float(text[:2] + "." + text[2:])
    else:
        raise ValueError(text)
    if not 0 < q <= 100:
        raise ValueError(text)
    return q


@lru_cache(maxsize=256)
def parse_name(name: str) -> SloSpec:
    """Parse an SLO name or raise ``UserError`` saying what names exist (memoised: a city's report asks
    for the same few names once per site and room verdict, ~8k times; ``SloSpec`` is frozen)."""
    name = name.strip()
    if m := _BY.match(name):
        hh, mm = int(m["hh"]), int(m["mm"])
        if hh < 24 and mm < 60:
            return SloSpec(name, "ready_by", "ready", clock_s=hh * 3600.0 + mm * 60.0)
    elif m := _ERR.match(name):
        step = m["step"] or ""
        if step in ("", *STEPS):
            return SloSpec(name, "error_rate", step)
    elif m := _PCT.match(name):
        try:
            q = _q(m["q"])
        except ValueError:
            q = math.nan
        if m["what"] in ("ready", *STEPS) and not math.isnan(q):
            return SloSpec(name, "percentile", m["what"], q=q)
    raise UserError(f"slo: unknown SLO name {name!r}; use ready_p95, <step>_p99 (step one of "
                    f"{', '.join(STEPS)}), error_rate, <step>_error_rate or ready_by_0905")


def parse_override(text: str) -> tuple[str, float]:
    """``'ready_p95=3 min'`` -> ("ready_p95", 180.0); units from ``simulator.units``."""
    if "=" not in text:
        raise UserError(f"--slo {text!r}: write NAME=VALUE, e.g. --slo 'ready_p95=3 min'")
    name, value = (s.strip() for s in text.split("=", 1))
    spec = parse_name(name)
    try:
        v = parse_duration(value) if spec.kind == "percentile" else parse_fraction(value)
    except UnitError as err:
        raise UserError(f"--slo {name}: {err}") from None
    return name, v


def _observe(spec: SloSpec, a: "Analysis") -> tuple[float, str]:
    """The observed value and a note on what it rests on."""
    if spec.kind == "ready_by":
        rd = a.readiness
        t = spec.clock_s - a.info.t0_clock
        if rd.population == 0:
            return math.nan, "no pupil devices in the trace"
        share = rd.share_by(t)
        return share, f"{int(round(share * rd.population))} of {rd.population} devices"
    if spec.kind == "error_rate":
        m = a.steps.step == spec.subject if spec.subject else np.ones(len(a.steps), bool)
        n = int(m.sum())
        if n == 0:
            return math.nan, f"no {spec.subject or 'step'} attempts in the trace"
        failed = int((~a.steps.ok[m]).sum())
        return failed / n, f"{failed} of {n} attempts failed"
    if spec.subject == "ready":
        p = percentiles(a.readiness.time_to_ready_s, (spec.q,))
        if p.count == 0:
            return math.nan, "no pupil devices in the trace"
        return p.values[f"p{spec.q:g}"], f"{a.readiness.ready} of {p.count} devices ready"
    m = (a.steps.step == spec.subject) & a.steps.ok
    p = percentiles(a.steps.duration_s[m], (spec.q,))
    if p.count == 0:
        return math.nan, f"no successful {spec.subject} in the trace"
    return p.values[f"p{spec.q:g}"], f"{p.count} successful attempts"


def _fmt(spec: SloSpec, v: float) -> str:
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "never"
    return format_duration(v) if spec.kind == "percentile" else f"{v * 100:.1f} %"


def evaluate(a: "Analysis", thresholds: dict[str, float]) -> list[Verdict]:
    """Check every SLO in ``thresholds`` (name -> SI value) against the analysed run."""
    verdicts = []
    for name, threshold in thresholds.items():
        spec = parse_name(name)
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise UserError(f"slo: {name} threshold {threshold!r} is not a number (SI: seconds or a fraction)")
        observed, note = _observe(spec, a)
        if math.isnan(observed):
            ok = False
        elif spec.higher_is_better:
            ok = observed >= threshold - 1e-12
        else:
            ok = observed <= threshold + 1e-12
        target = (f">= {_fmt(spec, threshold)}" if spec.higher_is_better else f"<= {_fmt(spec, threshold)}")
        what = name if spec.kind != "ready_by" else f"ready by {format_clock(spec.clock_s)}"
        msg = (f"{what}: {_fmt(spec, observed)} ({'holds' if ok else 'BREACHED'}, target {target}; {note})")
        verdicts.append(Verdict(spec, threshold, observed, ok, msg))
    return verdicts
