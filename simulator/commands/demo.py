"""``examday demo``: the main job on the shipped default, step by step (what ``make demo`` runs).

1. validate every shipped scenario; 2. plan ci-smoke; 3. model run of
school-ak9 and ci-smoke; 4. live smoke load of ci-smoke against the
reference stack started for the run; 5. compare model and live. Each step is
the real ``examday`` command in a subprocess, echoed as it runs, so the demo
doubles as a tour of the commands. Ends with the path of the live report.

Every run folder goes under ``--out`` (default ``results/`` in the current
directory); the subprocesses run in the current directory and read the
shipped scenarios by absolute path, so nothing is written beside the code.
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import sys
from pathlib import Path

from ..cli import _available

HELP = "the main job on the shipped ci-smoke scenario (what `make demo` runs)"
EXAMPLE = "examday demo"

ROOT = Path(__file__).resolve().parents[2]


def add_arguments(p) -> None:
    p.add_argument("-o", "--out", default="results", metavar="DIR",
                   help="where the run folders go (default: results/ in the current directory)")


def _examday(*args: str) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "simulator", *args]
    print(f"\n$ examday {' '.join(args)}", flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(proc.stdout)
    return proc.returncode, proc.stdout


def run(args) -> int:
    verbs = _available()
    done, reports = [], []
    out = Path(args.out).resolve()
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    scen = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    smoke = str(ROOT / "scenarios" / "ci-smoke.yaml")
    rc, _ = _examday("validate", *scen)
    if rc:
        return rc
    done.append(f"validated {len(scen)} scenarios")
    rc, _ = _examday("plan", smoke)
    if rc:
        return rc
    done.append("planned ci-smoke")
    model_dir = live_dir = None
    if "simulate" in verbs:
        for name in ("school-ak9", "ci-smoke"):
            model_dir = str(out / f"{name}-model-{stamp}")
            rc, _ = _examday("simulate", str(ROOT / "scenarios" / f"{name}.yaml"), "--quiet", "-o", model_dir)
            if rc not in (0, 1):
                return rc
            done.append(f"model run of {name} -> {model_dir} ({'SLOs hold' if rc == 0 else 'SLO breached'})")
            reports.append(model_dir)
    else:
        done.append("model engine: not built yet")
    if "load" in verbs:
        live_dir = str(out / f"ci-smoke-live-{stamp}")
        rc, _ = _examday("load", smoke, "--stack", "--headless", "--quiet", "-o", live_dir)
        if rc not in (0, 1):
            return rc
        done.append(f"live smoke load of ci-smoke against the reference stack -> {live_dir} "
                    f"({'SLOs hold' if rc == 0 else 'SLO breached'})")
        reports.append(live_dir)
    else:
        done.append("live engine: not built yet")
    if "compare" in verbs and model_dir and live_dir:
        rc, _ = _examday("compare", model_dir, live_dir)
        if rc == 0:
            done.append("compared model and live runs of ci-smoke")
    print("\nexamday demo did:")
    for line in done:
        print(f"  - {line}")
    final = next((r for r in reversed(reports) if r), None)
    if final:
        print(f"\nreport: {Path(final) / 'report.html'}")
    return 0
