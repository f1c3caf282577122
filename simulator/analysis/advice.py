"""Recommendations: what to change, with a number, for each breaching site or service.

The numbers come from a search over the model (``simulator.capacity``), which
writes them to ``recommendations.json`` in the run folder; the analysis reads
them back so summary.json, the HTML and the notes carry them (and the analysis
itself never runs an engine).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Recommendation", "read_recommendations", "write_recommendations", "RECOMMENDATIONS_FILE"]

RECOMMENDATIONS_FILE = "recommendations.json"


@dataclass(frozen=True, slots=True)
class Recommendation:
    target: str  # a site name, or "city" for shared services and arrivals
    knob: str  # human name: "uplink (down)", "APs per classroom", "IdP workers", "arrival spread"
    key: str  # the --set path that was searched, e.g. "sites[name=x].uplink.down"
    current: str  # "100 Mbit/s"
    needed: str | None  # "≥ 200 Mbit/s"; None when no value in the searched range makes the SLOs hold
    slos: tuple[str, ...]  # the SLOs it makes hold, e.g. ("ready_p95 ≤ 3.0 min",)
    probes: int  # model runs the search took
    searched: str  # the range searched, e.g. "100 Mbit/s … 10 Gbit/s"

    @property
    def text(self) -> str:
        who = f"{self.target}: " if self.target != "city" else "city-wide: "
        if self.needed is None:
            return (f"{who}{self.knob} {self.current}: no value in {self.searched} makes "
                    f"{', '.join(self.slos)} hold in the model; the limit is elsewhere")
        return f"{who}{self.knob} {self.current} → {self.needed} for {', '.join(self.slos)} (model, {self.probes} runs)"

    def to_json(self) -> dict:
        return {**asdict(self), "slos": list(self.slos), "text": self.text}


def write_recommendations(run_dir: Path, recs: list[Recommendation]) -> Path:
    path = Path(run_dir) / RECOMMENDATIONS_FILE
    path.write_text(json.dumps([r.to_json() for r in recs], indent=2) + "\n")
    return path


def read_recommendations(run_dir: Path) -> list[Recommendation]:
    path = Path(run_dir) / RECOMMENDATIONS_FILE
    if not path.exists():
        return []
    try:
        docs = json.loads(path.read_text())
        return [Recommendation(d["target"], d["knob"], d["key"], d["current"], d["needed"], tuple(d["slos"]),
                               int(d["probes"]), d["searched"]) for d in docs]
    except (OSError, ValueError, KeyError, TypeError):
        return []
