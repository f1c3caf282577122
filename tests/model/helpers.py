"""Scenario builders for the model tests (small YAML files in tmp folders)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from simulator.plan import load_plan
from simulator.model import simulate
from simulator.trace import read_steps

ROOT = Path(__file__).resolve().parents[2]


def city(tmp: Path, *, sites: int = 1, rooms: int = 2, chromebooks: int = 26, ipads: int = 2,
         test: str = "english-listening-9", median: str = "45 s", p95: str = "3 min", uplink: str = "1 Gbit/s",
         core: str = "10 Gbit/s", idp: str = "idp-broker", ap: str = "aruba-535",
         teacher: str | None = "windows-laptop", uplink_up: str | None = None, arrival: str | None = None,
         exam_extra: str = "", profiles: Path | None = None, name: str = "t") -> Path:
    text = f"""\
name: {name}
seed: 5
profiles: {profiles or ROOT / 'profiles'}
exam:
  test: {test}
  start: "09:00"
  end: "10:00"
  arrival: {arrival or f"{{median: {median}, p95: {p95}}}"}
  teacher_lead: 2 min
{exam_extra}core: {{down: {core}, up: {core}, rtt: 1 ms}}
datacentre: {{down: {core}, up: {core}, rtt: 4 ms}}
services:
  idp: {{profile: {idp}}}
  platform: {{profile: dnp-platform}}
  content: {{profile: dnp-content}}
  provisioning: {{profile: egil-provisioning}}
  dhcp: {{profile: city-dhcp}}
templates:
  classrooms:
    room: {{ap: {ap}, teacher: {teacher or 'null'}, devices: {{chromebook: {chromebooks}, ipad: {ipads}}}}}
  sites:
    school:
      uplink: {{down: {uplink}, up: {uplink_up or uplink}, rtt: 3 ms}}
      classrooms:
        - {{template: room, count: {rooms}, name: "R{{n}}"}}
sites:
  - {{template: school, count: {sites}, name: "s{{n:02d}}"}}
"""
    if ipads == 0:
        text = text.replace(", ipad: 0", "")
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path


def profiles_with_test(tmp: Path, name: str, parts: list[tuple[str, str]], duration: str = "10 min",
                       extra: tuple[str, ...] = ()) -> Path:
    """A copy of the repository's profiles plus one test profile (``extra``: more YAML lines, e.g. its submit)."""
    dst = tmp / "profiles"
    if not dst.exists():
        shutil.copytree(ROOT / "profiles", dst)
    lines = [f"name: {name}", f"duration: {duration}", "parts:"] + [f"  - {{name: {n}, size: {s}}}" for n, s in parts]
    lines += list(extra)
    (dst / "tests" / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    return dst


def run(path: Path, out: Path, overrides=(), until_s=None):
    plan = load_plan(str(path), list(overrides))
    res = simulate(plan, out, until_s=until_s)
    return plan, res, read_steps(out)


def mean_duration(steps, step: str, pupils_only: bool = True) -> float:
    m = (steps.step == step) & steps.ok
    if pupils_only:
        m &= steps.kind != "teacher"
    return float(np.mean(steps.duration_s[m]))


def mean_ready(steps) -> float:
    """Mean time from a pupil's planned start (join planned) to the end of its download."""
    join = {d: p for d, p, s in zip(steps.device, steps.planned_s, steps.step) if s == "join"}
    m = (steps.step == "download") & steps.ok & (steps.kind != "teacher")
    return float(np.mean([e - join[d] for d, e in zip(steps.device[m], steps.end_s[m])]))
