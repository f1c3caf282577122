"""Paths as a shell user expects: relative paths resolve against the current directory, --out is honoured
(simulate, report, demo), and nothing is written into the checkout that holds the package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if ".venv" not in p.parts and ".git" not in p.parts and "__pycache__" not in p.parts
            and ".pytest_cache" not in p.parts and "egg-info" not in str(p)}


def test_relative_paths_and_out(tmp_path, monkeypatch, capsys):
    before = _tree(ROOT)
    work = tmp_path / "work"
    (work / "scen").mkdir(parents=True)
    (work / "scen" / "smoke.yaml").write_text((ROOT / "scenarios" / "ci-smoke.yaml").read_text())
    monkeypatch.chdir(work)
    assert main(["simulate", "scen/smoke.yaml", "-q", "-o", "runs/one"]) in (0, 1)
    run = work / "runs" / "one"
    assert (run / "report.html").exists() and (run / "sites.csv").exists()
    assert json.loads((run / "manifest.json").read_text())["scenario"]["path"] == str(work / "scen" / "smoke.yaml")
    assert main(["simulate", "scen/smoke.yaml", "-q"]) in (0, 1)  # default: results/ under the current directory
    assert len(list((work / "results").glob("ci-smoke-model-*"))) == 1
    before_run = _tree(run)
    assert main(["report", "runs/one", "-q", "-o", "rep"]) in (0, 1)
    assert {p.name for p in (work / "rep").iterdir()} >= {"summary.json", "report.html", "junit.xml", "sites.csv",
                                                          "rooms.csv", "plots"}
    assert _tree(run) == before_run  # the run folder is left as it was
    capsys.readouterr()
    assert _tree(ROOT) == before


def test_demo_honours_out(tmp_path, monkeypatch):
    """``examday demo -o DIR`` (validate, plan, model runs; the live steps need the stack and are left out here)."""
    before = _tree(ROOT)
    code = (
        "import sys; import simulator.commands.demo as d; "
        "d._available = lambda: {v: '' for v in ('validate', 'plan', 'simulate')}; "
        "from simulator.cli import main; sys.exit(main(['demo', '-o', 'demo-out']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stdout
    runs = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "demo-out").iterdir())
    assert runs == ["ci-smoke-model", "school-ak9-model"]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"report: {tmp_path / 'demo-out'}") and Path(last.split(" ", 1)[1]).exists()
    assert _tree(ROOT) == before
