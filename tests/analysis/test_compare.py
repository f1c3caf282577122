import json

import pytest

from simulator.analysis.compare import compare
from simulator.analysis.summary import analyse
from simulator.cli import main

import synth


def test_model_vs_live_hint(tmp_path):
    model = analyse(synth.school(tmp_path / "m", 60, engine="model", seed=3))
    live = analyse(synth.school(tmp_path / "l", 60, engine="live", seed=3))
    c = compare(model, live)
    assert c.steps[0].step == "ready" and [s.step for s in c.steps][1:3] == ["join", "login"]
    login = next(s for s in c.steps if s.step == "login")
    assert login.count_a == login.count_b == 60 and login.delta("p50") == pytest.approx(0.0)
    # model login work = duration - queue_s (60 % queued) -> 60 % below the live durations
    assert any(h.startswith("IdP service time in the model is 60 % below what the live run shows")
               for h in c.hints), c.hints
    assert compare(live, model).hints == c.hints  # the hint is about the model whichever side it is on


def test_same_engine_no_hint_and_missing_steps(tmp_path):
    a = analyse(synth.school(tmp_path / "a", 20))
    b = analyse(synth.school(tmp_path / "b", 20, login_ok=False))
    c = compare(a, b)
    assert c.hints == []
    dl = next(s for s in c.steps if s.step == "download")
    assert dl.count_b == 0 and dl.to_json()["p50_b"] is None
    assert c.notes == ["b has no download step: its time-to-ready cannot include it"]


def test_large_ratio_hint_reads_as_factor(tmp_path):
    import numpy as np

    from simulator.analysis.compare import calibration_hints
    model = analyse(synth.school(tmp_path / "m", 20, engine="model"))
    live = analyse(synth.school(tmp_path / "l", 20, engine="live"))
    live.steps.end_s[:] = live.steps.start_s + (live.steps.end_s - live.steps.start_s) / 100
    (hint, *_) = calibration_hints(model, live)
    assert hint.startswith("IdP service time in the model is ") and "x what the live run shows" in hint
    assert np.isfinite(live.steps.end_s).all()


def test_compare_cli(tmp_path, capsys):
    a = synth.school(tmp_path / "m", 30, engine="model")
    b = synth.school(tmp_path / "l", 30, engine="live")
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "calibration: IdP service time in the model" in out
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert doc["a"] == "m" and doc["calibration_hints"]
    assert (tmp_path / "cmp" / "ready_cdf_compare.png").stat().st_size > 0
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
