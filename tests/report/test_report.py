import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from simulator.analysis.summary import analyse
from simulator.cli import main
from simulator.report import write_report
from simulator.report.junit import junit_xml
from simulator.report.plots import PLOTS, cdf_overlay
from simulator.trace import read_steps

import synth

SLO = {"ready_p85": 600.0, "ready_by_0905": 0.85, "login_p99": 30.0, "error_rate": 0.2}  # hold at both sites too


@pytest.fixture
def run(tmp_path):
    return synth.school(tmp_path / "run", 90, sites=("ak9", "bk7"), slo=SLO)


def test_write_report_artefacts(run):
    res = write_report(run)
    assert res.exit_code == 0
    for name in ("summary.json", "report.html", "junit.xml"):
        assert (run / name).stat().st_size > 0
    assert {p.name for p in res.plot_paths} == {f"{n}.png" for n in PLOTS}  # two sites: site plots included
    doc = json.loads((run / "summary.json").read_text())
    assert doc == res.summary
    assert doc["format"] == "examday-summary/2" and doc["slo_ok"] is True and doc["run_complete"] is True
    assert set(doc["steps"]) == {"join", "login", "assertion", "download", "autosave"}
    login = doc["steps"]["login"]
    assert login["errors"] == {"http 503": 9} and login["duration_s"]["count"] == 90
    assert set(login["duration_s"]) >= {"count", "p50", "p90", "p95", "p99", "p99.9", "max"}
    assert doc["ready"]["population"] == 90 and doc["ready"]["not_ready"] == 5
    assert [d["clock"] for d in doc["ready"]["by_deadline"]] == ["09:02", "09:05", "09:10"]
    top = doc["bottleneck"]["ranking"][0]
    assert doc["bottleneck"]["resource"] == top["resource"] and top["pupil_wait_s"] > 0
    assert [v["name"] for v in doc["slo"]] == list(SLO)
    assert res.verdict_line.startswith("09:00 start of school-ak9: ")
    assert f"[{top['resource']}]" in res.verdict_line and doc["verdict"] == res.verdict_line
    assert [s["name"] for s in doc["sites"]] == ["bk7", "ak9"]  # bk7 holds the 5 never-ready pupils
    assert (run / "sites.csv").read_text().splitlines()[1].split(",")[1] == "bk7"


def test_html_self_contained_verdict_first(run):
    res = write_report(run)
    page = res.html_path.read_text()
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == len(res.plot_paths) and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)
    assert "<link" not in page and "<script" not in page and "@import" not in page
    assert page.index(res.verdict_line.split(";")[0]) < page.index("<table")
    assert page.index("Service-level objectives") < page.index("Scenario and run")
    assert page.index("&quot;t0_clock&quot;") > page.index("data:image")  # manifest metadata at the end


def test_junit_valid_one_case_per_slo(run):
    a = analyse(run, {"ready_p85": 1.0})  # breach one (city-wide, and so at both sites)
    root = ET.fromstring(junit_xml(a).split("\n", 1)[1])
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["run_complete", *SLO, "bk7", "ak9"]
    assert suite.get("tests") == "7" and suite.get("failures") == "3" == root.get("failures")
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["ready_p85", "bk7", "ak9"]
    assert "BREACHED" in failed[0].find("failure").get("message")
    assert all(c.get("classname") and c.get("time") == "0" for c in cases)


def _check_labelled(fig):
    ax = fig.axes[0]
    assert ax.get_title(), "every figure is titled"
    for label in (ax.get_xlabel(), ax.get_ylabel()):
        assert label and "(" in label and ")" in label, f"axis label with unit: {label!r}"


def test_every_plot_titled_and_labelled(run):
    a = analyse(run)
    for name, fn in PLOTS.items():
        fig = fn(a)
        assert fig is not None, name
        _check_labelled(fig)
    cb = PLOTS["site_heatmap"](a).axes[1]  # colour bar of the heatmap says what the colour means
    assert "ready" in cb.get_ylabel()
    _check_labelled(cdf_overlay([("a", a), ("b", a)]))


def test_single_site_has_no_site_plots_and_cdf_per_room(tmp_path):
    a = analyse(synth.school(tmp_path / "one", 30))
    assert PLOTS["site_heatmap"](a) is None and PLOTS["room_cdf"](a) is None
    assert "worst rooms" in PLOTS["ready_cdf"](a).axes[0].get_title()


def test_zero_logins_still_renders(tmp_path):
    run = synth.school(tmp_path / "z", 40, login_ok=False, slo={"ready_p95": 300.0, "login_p95": 10.0})
    res = write_report(run)
    assert res.exit_code == 1
    assert "no successful login" in res.verdict_line and "0 % ready" in res.verdict_line
    assert any("zero successful logins" in n for n in res.summary["notes"])
    assert res.summary["ready"]["ready"] == 0 and res.summary["ready"]["time_to_ready_s"]["p50"] is None
    assert all(not v["ok"] for v in res.summary["slo"])
    a = res.analysis
    for fn in PLOTS.values():
        fig = fn(a)
        if fig is not None:
            _check_labelled(fig)
    assert "zero successful logins" in res.html_path.read_text()


def test_truncated_trace_still_renders(tmp_path):
    run = synth.school(tmp_path / "t", 50, close=False, status="running")
    raw = (run / "steps.csv.gz").read_bytes()
    (run / "steps.csv.gz").write_bytes(raw[: len(raw) - 9])  # killed mid-write, too
    res = write_report(run)
    assert res.summary["run"]["truncated_shards"]
    assert any("truncated" in n for n in res.summary["notes"])
    assert res.verdict_line.startswith("NOT A PASS, run incomplete (run still running or killed")
    assert res.exit_code == 1 and res.summary["run_complete"] is False
    case = ET.fromstring(res.junit_path.read_text().split("\n", 1)[1]).find(".//testcase[@name='run_complete']")
    assert case.find("failure").get("type") == "RunIncomplete"
    assert res.summary["run"]["step_rows"] > 0 and res.html_path.exists()


def test_no_manifest_still_renders(tmp_path):
    run = synth.school(tmp_path / "bare", 20, no_manifest=True)
    res = write_report(run)
    assert res.summary["run"]["manifest"] is False
    assert res.exit_code == 1 and res.summary["run_complete"] is False  # cannot tell it walked the whole plan
    assert "no manifest.json" in res.summary["incomplete_reasons"][0]
    assert res.summary["run"]["scenario"] == "bare" and res.summary["run"]["engine"] == "model"
    assert any("no manifest.json" in n for n in res.summary["notes"])
    assert "No manifest.json" in res.html_path.read_text()


def test_empty_trace_still_renders(tmp_path):
    from simulator.trace import TraceWriter
    TraceWriter(tmp_path / "e").close()
    synth.manifest(tmp_path / "e", slo={"ready_p95": 60.0})
    res = write_report(tmp_path / "e")
    assert res.exit_code == 1 and "no pupil devices" in res.verdict_line
    assert any("no step rows" in n for n in res.summary["notes"])


def test_live_run_sections(tmp_path):
    run = synth.school(tmp_path / "live", 40, engine="live", generator={"saturated": True, "max_cpu": 0.97},
                       checks={"autosaves_acknowledged": 40, "autosaves_stored": 38})
    doc = write_report(run).summary
    lag = doc["live"]["co_lag_s"]
    t = read_steps(run)
    # lag counts steps whose planned time the plan fixes (wake, arrival, autosave clock) or a retry's backoff,
    # not steps planned "when the previous step ended"; only the synthetic joins start late
    from_plan = np.isin(t.step, ("join", "login", "autosave", "submit", "provision")) | (t.attempt > 1)
    expect = np.sort((t.start_s - t.planned_s)[from_plan])
    assert lag["count"] == len(expect) and lag["max"] == pytest.approx(expect[-1])
    assert lag["p99"] == pytest.approx(expect[int(np.ceil(0.99 * len(expect))) - 1]) and lag["p99"] > 0
    assert doc["live"]["generator"]["saturated"] is True
    assert any("generator saturated" in n for n in doc["notes"])
    assert any("2 acknowledged autosaves were not stored" in n for n in doc["notes"])
    assert doc["checks"] == {"autosaves_acknowledged": 40, "autosaves_stored": 38}


def test_cli_exit_codes(run, tmp_path, capsys):
    assert main(["report", str(run), "--quiet"]) == 0
    assert main(["report", str(run), "--quiet", "--slo", "ready_p85=1 s"]) == 1
    assert main(["report", str(run), "--slo", "ready_p95=3"]) == 2  # no unit
    assert main(["report", str(run), "--slo", "bogus_p95=3 s"]) == 2
    assert main(["report", str(tmp_path / "nope")]) == 2
    capsys.readouterr()
    assert main(["report", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "examday-summary/2"
    assert main(["report", str(run), "--slo", "ready_by_0905=99 %"]) == 1
    out = capsys.readouterr().out
    assert "FAIL ready by 09:05" in out and "SLO breached: ready_by_0905" in out


def test_plots_speak_clock_time_and_keep_one_colour_per_step(tmp_path):
    from matplotlib.colors import to_hex

    from simulator.report.style import STEP_COLORS

    model = analyse(synth.school(tmp_path / "m", 40, sites=("ak9", "bk7")))
    live = analyse(synth.school(tmp_path / "l", 40, engine="live"))
    for a in (model, live):
        fig = PLOTS["latency"](a)
        ax = fig.axes[0]
        colours = {ln.get_label().split()[0]: to_hex(ln.get_color()) for ln in ax.get_lines() if " p95" in ln.get_label()}
        assert colours == {s: STEP_COLORS[s].lower() for s in colours} and {"login", "download"} <= set(colours)
        fig = PLOTS["arrivals"](a)
        ax = fig.axes[0]
        fig.canvas.draw()
        ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert ticks and all(re.fullmatch(r"[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?", t) for t in ticks), ticks
        marks = {t.get_text().strip() for t in ax.texts}
        assert {"exam start", "deadline 09:02", "deadline 09:05"} <= marks
    util = PLOTS["utilisation"](model).axes[0]
    assert any(ln.get_label().startswith("Wi-Fi airtime, ") for ln in util.get_lines())  # human names


def test_plot_files_are_replaced_atomically(tmp_path, monkeypatch):
    """A PNG is written beside its name and renamed over it: a failed render leaves the old file whole and
    no temporary file behind; a good one replaces it (a reader never sees half a PNG)."""
    from matplotlib.figure import Figure

    from simulator.report.plots import save_png

    path = tmp_path / "a.png"
    path.write_bytes(b"old picture")
    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1], [0, 1])

    def broken(*a, **k):
        Path(a[0]).write_bytes(b"\x89PNG half")  # a render that fails half-way through writing
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError):
        save_png(fig, path)
    assert path.read_bytes() == b"old picture" and [p.name for p in tmp_path.iterdir()] == ["a.png"]
    monkeypatch.undo()
    save_png(fig, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in tmp_path.iterdir()] == ["a.png"]
