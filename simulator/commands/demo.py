"""``examday demo``: the main job on the shipped default, step by step (what ``make demo`` runs).

1. validate every shipped scenario; 2. plan ci-smoke; 3. model run of
school-ak9 and ci-smoke; 4. live smoke load of ci-smoke against the
reference stack started for the run; 5. compare model and live. Each step is
the real ``examday`` command in a subprocess, echoed as it runs, so the demo
doubles as a tour of the commands. Ends with the path of the live report.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ..cli import _available

HELP = "the main job on the shipped ci-smoke scenario (what `make demo` runs)"
EXAMPLE = "examday demo"

ROOT = Path(__file__).resolve().parents[2]


def add_arguments(p) -> None:
    p.add_argument("--out", default="results", help="where run folders go (default: results/)")


def _examday(*args: str) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "simulator", *args]
    print(f"\n$ examday {' '.join(args)}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(proc.stdout)
    return proc.returncode, proc.stdout


def _run_dir(stdout: str) -> str | None:
    for line in reversed(stdout.strip().splitlines()):
        m = re.search(r"((?:/|results/)\S*results/\S+|results/\S+)", line)
        if m and Path(ROOT, m.group(1).rstrip(".,:")).is_dir():
            return m.group(1).rstrip(".,:")
    return None


def run(args) -> int:
    verbs = _available()
    done, reports = [], []
    scen = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").glob("*.yaml"))
    rc, _ = _examday("validate", *scen)
    if rc:
        return rc
    done.append(f"validated {len(scen)} scenarios")
    rc, out = _examday("plan", "scenarios/ci-smoke.yaml")
    if rc:
        return rc
    done.append("planned ci-smoke")
    model_dir = live_dir = None
    if "simulate" in verbs:
        for name in ("school-ak9", "ci-smoke"):
            rc, out = _examday("simulate", f"scenarios/{name}.yaml", "--quiet")
            if rc not in (0, 1):
                return rc
            model_dir = _run_dir(out)
            done.append(f"model run of {name} -> {model_dir} ({'SLOs hold' if rc == 0 else 'SLO breached'})")
            reports.append(model_dir)
    else:
        done.append("model engine: not built yet")
    if "load" in verbs:
        rc, out = _examday("load", "scenarios/ci-smoke.yaml", "--stack", "--headless", "--quiet")
        if rc not in (0, 1):
            return rc
        live_dir = _run_dir(out)
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
        print(f"\nreport: {ROOT / final / 'report.html'}")
    return 0
