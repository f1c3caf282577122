"""Synthetic run folders written with the real ``TraceWriter`` (shared by analysis and report tests)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from simulator.trace import ResourceSample, StepRecord, TraceWriter


def manifest(run_dir: Path, **keys) -> None:
    doc = {"format": "examday-run/1", "engine": "model", "scenario": {"name": "school-ak9"},
           "status": "finished", "t0_clock": 9 * 3600.0, "slo": {}, **keys}
    (run_dir / "manifest.json").write_text(json.dumps(doc))


def rec(device: str, step: str, start: float, end: float, *, ok: bool = True, error: str = "",
        planned: float | None = None, site: str = "ak9", room: str = "9A", kind: str = "chromebook",
        queue: float = math.nan, attempt: int = 1, engine: str = "model") -> StepRecord:
    return StepRecord(run="r", engine=engine, device=device, kind=kind, site=site, room=room,
                      ap=f"ap:{site}/{room}", step=step, planned_s=start if planned is None else planned,
                      start_s=start, end_s=end, bytes=35_000_000 if step == "download" else 1000, ok=ok,
                      error=error, attempt=attempt, queue_s=queue)


def school(run_dir: Path, n: int = 60, *, sites: tuple[str, ...] = ("ak9",), rooms: tuple[str, ...] = ("9A", "9B", "9C"),
           engine: str = "model", login_ok: bool = True, seed: int = 1, close: bool = True,
           resources: bool = True, **manifest_keys) -> Path:
    """A small exam start: n pupils walk join -> login -> assertion -> download -> autosave."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    w = TraceWriter(run_dir, flush_every=7)
    for i in range(n):
        site, room = sites[i % len(sites)], rooms[(i // len(sites)) % len(rooms)]
        dev = f"{site}-{room}-{i:04d}"
        t = float(rng.uniform(-30, 30))
        kw = dict(site=site, room=room, engine=engine)
        lag = float(rng.exponential(0.5)) * (engine == "live")  # same draws for both engines
        j = t + 2 + rng.exponential(3)
        w.step(rec(dev, "join", t + lag, j, planned=t, queue=float(rng.uniform(0, 1)), **kw))
        ls = j + 1
        if not login_ok:
            w.step(rec(dev, "login", ls, ls + 30, ok=False, error="timeout", **kw))
            continue
        if i % 10 == 0:  # a retried login
            w.step(rec(dev, "login", ls, ls + 5, ok=False, error="http 503", **kw))
            ls += 6
        le = ls + 1 + rng.exponential(4)
        w.step(rec(dev, "login", ls, le, queue=float((le - ls) * 0.6), attempt=2 if i % 10 == 0 else 1, **kw))
        ae = le + 0.2 + rng.exponential(0.3)
        w.step(rec(dev, "assertion", le, ae, queue=0.05, **kw))
        de = ae + 5 + rng.exponential(20)
        ok = i % 20 != 7  # 5 % never finish the download
        w.step(rec(dev, "download", ae, de, ok=ok, error="" if ok else "reset", **kw))
        if ok:
            w.step(rec(dev, "autosave", de + 60, de + 60.3, **kw))
    if resources:
        for s in sites:
            for r in rooms:
                peak = 0.99 if (s, r) == (sites[-1], rooms[-1]) else 0.6
                for k in range(0, 300, 5):
                    u = peak * math.exp(-((k - 60) / 60) ** 2)
                    w.resource(ResourceSample(float(k - 60), f"ap:{s}/{r}", "ap", u, 0.0))
        for k in range(0, 300, 5):
            w.resource(ResourceSample(float(k - 60), "service:idp", "service", 0.8, 3.0 if 0 < k < 100 else 0.0))
            w.resource(ResourceSample(float(k - 60), "uplink-down:ak9", "link", 0.4, 0.0))
    if close:
        w.close()
    else:
        w.flush()  # leave the gzip stream unterminated, as a killed writer does
    manifest_keys.setdefault("engine", engine)
    if manifest_keys.pop("no_manifest", False) is False:
        manifest(run_dir, **manifest_keys)
    return run_dir
