"""Run folders: ``results/<scenario>-<engine>-<UTC timestamp>/`` with a self-describing manifest.

The manifest (DESIGN.md "Results folder") says what produced the trace beside
it: scenario path (absolute) and hash, overrides, seed, engine, versions,
host, command line, and how the run ended. It is written when the run starts
(``status: running``) and rewritten when it ends, so an interrupted run is
recognisable.

``status`` is one of ``STATUSES``: ``finished`` (every planned device was
walked), ``capped`` (stopped by a duration or rate cap), ``interrupted``
(Ctrl-C/SIGTERM), ``failed`` (an error), ``running`` (still going, or killed).
``planned`` = ``{"devices": N, "pupils": P, "rooms": {"site/room": pupils}}``
is what the run should have walked (``planned_counts``); without it the
report rebuilds the plan from scenario + seed + overrides (``planned_from_manifest``).
Nothing but ``finished`` with every planned pupil walked can pass.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

__all__ = ["new_run_dir", "write_manifest", "read_manifest", "update_manifest", "planned_counts",
           "planned_from_manifest", "STATUSES", "ENDED"]

STATUSES = ("running", "finished", "capped", "interrupted", "failed")
ENDED = ("finished", "capped", "interrupted", "failed")


def _utc_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(scenario_name: str, engine: str, out: str | os.PathLike | None = None,
                root: str | os.PathLike = "results") -> Path:
    """Create (and return) the run folder; ``out`` wins when given (relative paths: from the current directory)."""
    if out is not None:
        path = Path(out)
    else:
        base = Path(root) / f"{scenario_name}-{engine}-{_utc_stamp()}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_hash(path: str | os.PathLike) -> str:
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def write_manifest(run_dir: Path, *, scenario_path: str, scenario_name: str, engine: str,
                   seed: int, overrides: list[str] | None = None, **extra: Any) -> dict:
    from . import __version__

    manifest = {
        "format": "examday-run/1",
        "scenario": {"name": scenario_name, "path": str(Path(scenario_path).resolve()),
                     "hash": _file_hash(scenario_path),
                     "overrides": overrides or []},
        "engine": engine,
        "seed": seed,
        "started_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        "versions": {"examday": __version__, "python": platform.python_version()},
        "host": {"name": socket.gethostname(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "command": sys.argv,
        **extra,
    }
    _atomic_json(run_dir / "manifest.json", manifest)
    return manifest


def update_manifest(run_dir: Path, **changes: Any) -> dict:
    manifest = read_manifest(run_dir)
    manifest.update(changes)
    if changes.get("status") in ENDED:
        manifest.setdefault("ended_utc", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    _atomic_json(run_dir / "manifest.json", manifest)
    return manifest


def read_manifest(run_dir: str | os.PathLike) -> dict:
    return json.loads((Path(run_dir) / "manifest.json").read_text())


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def planned_counts(plan) -> dict:
    """What a run of ``plan`` must walk: all devices, pupils, pupils per room (``manifest["planned"]``)."""
    rooms: dict[str, int] = {}
    for d in plan.devices:
        if d.role == "pupil":
            rooms[d.room.id] = rooms.get(d.room.id, 0) + 1
    return {"devices": len(plan.devices), "pupils": sum(rooms.values()), "rooms": rooms}


def planned_from_manifest(manifest: dict) -> tuple[dict | None, str]:
    """``manifest["planned"]``, or rebuilt from its scenario + seed + overrides; (counts or None, source)."""
    if isinstance(manifest.get("planned"), dict):
        return manifest["planned"], "manifest"
    scen = manifest.get("scenario")
    path = scen.get("path") if isinstance(scen, dict) else None
    if not path or not Path(path).is_file():
        return None, "unknown (no planned count in the manifest and the scenario file is not at hand)"
    from .errors import UserError
    from .plan import load_plan

    try:
        plan = load_plan(path, list(scen.get("overrides") or []), manifest.get("seed"))
    except UserError as e:
        return None, f"unknown (the scenario no longer loads: {e.lines[0]})"
    digest = manifest.get("plan_digest")
    if digest and digest != plan.digest:
        return None, "unknown (the scenario changed since the run: plan digest differs)"
    return planned_counts(plan), "rebuilt from the scenario, seed and overrides"
