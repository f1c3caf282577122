"""Run folders: ``results/<scenario>-<engine>-<UTC timestamp>/`` with a self-describing manifest.

The manifest (DESIGN.md "Results folder") says what produced the trace beside
it: scenario path and hash, seed, engine, versions, host, command line, and
whether the run finished. It is written when the run starts (``status:
running``) and rewritten when it ends, so an interrupted run is recognisable.
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

__all__ = ["new_run_dir", "write_manifest", "read_manifest", "update_manifest"]


def _utc_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(scenario_name: str, engine: str, out: str | os.PathLike | None = None,
                root: str | os.PathLike = "results") -> Path:
    """Create (and return) the run folder; ``out`` wins when given."""
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
        "scenario": {"name": scenario_name, "path": str(scenario_path), "hash": _file_hash(scenario_path),
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
    if changes.get("status") in ("finished", "capped", "interrupted", "failed"):
        manifest.setdefault("ended_utc", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    _atomic_json(run_dir / "manifest.json", manifest)
    return manifest


def read_manifest(run_dir: str | os.PathLike) -> dict:
    return json.loads((Path(run_dir) / "manifest.json").read_text())


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)
