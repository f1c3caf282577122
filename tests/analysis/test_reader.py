"""The optimised trace reader (fast split path + csv fallback) returns what was written."""

import math

import numpy as np

from simulator.trace import TraceWriter, read_resources, read_steps

from synth import rec


def test_fast_and_csv_paths_agree(tmp_path):
    plain = [rec(f"d{i}", "login", i, i + 1.5, ok=i % 2 == 0, error="" if i % 2 == 0 else "timeout",
                 queue=0.25 if i % 3 else math.nan) for i in range(20)]
    quoted = plain[:10] + [rec("d99", "login", 1, 2, ok=False, error='http 503, "retry later"')] + plain[10:]
    for name, recs in (("plain", plain), ("quoted", quoted)):
        with TraceWriter(tmp_path / name) as w:
            for r in recs:
                w.step(r)
        got = list(read_steps(tmp_path / name).records())
        assert len(got) == len(recs)
        for g, r in zip(got, recs):
            for f in ("device", "step", "ok", "error", "start_s", "end_s", "attempt", "bytes"):
                assert getattr(g, f) == getattr(r, f)
            assert (math.isnan(g.queue_s) and math.isnan(r.queue_s)) or g.queue_s == r.queue_s


def test_shards_merge_and_truncation(tmp_path):
    a = TraceWriter(tmp_path, shard="w1", flush_every=2)
    b = TraceWriter(tmp_path, shard="w2", flush_every=2)
    for i in range(5):
        a.step(rec(f"a{i}", "join", 0, 1))
        b.step(rec(f"b{i}", "join", 0, 2))
    a.close()
    b.flush()  # w2 never closed: gzip stream without trailer
    t = read_steps(tmp_path)
    assert sorted(t.device.tolist()) == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]
    raw = (tmp_path / "steps-w2.csv.gz").read_bytes()
    b.step(rec("b5", "join", 0, 2))
    b.flush()
    tail = (tmp_path / "steps-w2.csv.gz").read_bytes()[len(raw):]
    (tmp_path / "steps-w2.csv.gz").write_bytes(raw + tail[: len(tail) // 2])  # killed mid-write
    assert len(read_steps(tmp_path)) == 10
    (tmp_path / "steps-w2.csv.gz").write_bytes(raw + b"\x01garbage")  # damaged tail
    assert len(read_steps(tmp_path)) == 10
    assert t.ok.dtype == bool and t.attempt.dtype == np.int64


def test_empty_run(tmp_path):
    TraceWriter(tmp_path).close()
    assert len(read_steps(tmp_path)) == 0 and len(read_resources(tmp_path)) == 0
    assert len(read_steps(tmp_path / "nothing-here")) == 0


def test_step_rows_format_reads_back_to_the_microsecond(tmp_path):
    """``StepRows`` (the model's formatter) against the values read back: each float to 6 decimals
    (``round(x, 6)``), NaN as an empty cell, quoted text, truncated byte counts, 1/0 for ok."""
    from simulator.trace import StepRows

    cases = [  # step, planned, start, end, nbytes, ok, error, attempt, queue, ttfb
        ("join", -120.0, -120.0, -118.6990534, 1200, True, "", 1, 0.0, math.nan),
        ("download", 3.25, 3.5, 60.1234567, 5_000_000.9, True, "", 1, math.nan, 3.6000004),
        ("login", 10.0, 11.0, math.nan, 0, False, 'http 503, "retry"\nlater', 2, 0.4999996, math.nan),
        ("assertion", math.nan, 1e4 + 1 / 3, 1e4 + 2 / 3, 7, np.bool_(False), "timeout", 3, 1.0, 0.0),
    ]
    lines: list[str] = []
    rows = StepRows(lines, lambda: None, "run,1", "model", 'dev"1', "chromebook", "s1", "9A", "s1/9A")
    for c in cases:
        rows.add(*c)
    with TraceWriter(tmp_path) as w:
        w.step_csv("".join(lines), len(lines))
    t = read_steps(tmp_path)
    assert t.run.tolist() == ["run,1"] * 4 and t.device.tolist() == ['dev"1'] * 4

    def same(got, want):
        return (math.isnan(got) and math.isnan(want)) or got == round(want, 6)

    for i, (step, planned, start, end, nbytes, ok, error, attempt, queue, ttfb) in enumerate(cases):
        assert t.step[i] == step and t.bytes[i] == int(nbytes) and bool(t.ok[i]) == bool(ok)
        assert t.error[i] == " ".join(error.split()) and t.attempt[i] == attempt
        for got, want in ((t.planned_s[i], planned), (t.start_s[i], start), (t.end_s[i], end),
                          (t.queue_s[i], queue), (t.ttfb_s[i], ttfb)):
            assert same(float(got), want), (i, got, want)


def test_retained_text_is_read_back_only_while_the_file_is_unchanged(tmp_path):
    """Inside ``trace.retained()`` a closed shard is read from memory (shown by swapping the kept text);
    once the file has changed on disk its own rows are read; nothing is kept after the block."""
    import gzip
    import os

    from simulator import trace
    from simulator.trace import STEP_COLUMNS

    path = tmp_path / "steps.csv.gz"
    with trace.retained():
        with TraceWriter(tmp_path) as w:
            for i in range(3):
                w.step(rec(f"d{i}", "join", 0, 1))
        key = os.path.abspath(path)
        size, mtime, text = trace._WRITTEN[key]
        assert gzip.decompress(path.read_bytes()) == text
        swapped = text.replace(b"d1,", b"kept,")
        trace._WRITTEN[key] = (size, mtime, swapped)
        assert read_steps(tmp_path).device.tolist() == ["d0", "kept", "d2"]
        first_row = text.split(b"\n")[1]
        path.write_bytes(gzip.compress((",".join(STEP_COLUMNS) + "\n").encode() + first_row + b"\n"))
        os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
        assert read_steps(tmp_path).device.tolist() == ["d0"]
    assert not trace._WRITTEN


def test_parsed_codes_are_factorize_s_and_column_tests_match_plain_comparisons(tmp_path):
    """The reader's dictionary codes stand in for ``factorize`` only when they are its result (first-seen
    labels); ``column_is``/``column_in`` agree with ``==``/``np.isin`` on the object column."""
    from simulator import trace
    from simulator.analysis import stats

    a = TraceWriter(tmp_path, shard="w1")
    b = TraceWriter(tmp_path, shard="w2")
    for i in range(30):
        (a if i % 3 else b).step(rec(f"d{i % 7}", ("login", "join", "download")[i % 3], i, i + 1,
                                      ok=i % 4 != 0, error="" if i % 4 else "timeout"))
    a.close()
    b.close()
    t = read_steps(tmp_path)
    for name in ("device", "step", "error"):
        col = getattr(t, name)
        known = trace.known_codes(col)
        stats._FACTOR_CACHE.clear()
        saved = dict(trace._CODES)
        trace._CODES.clear()
        want = stats.factorize(col)  # the dict pass
        trace._CODES.update(saved)
        assert known is not None and known[0].tolist() == want[0].tolist() and known[1].tolist() == want[1].tolist()
        assert (want[0][want[1]] == col).all()
    assert trace.known_codes(t.step.copy()) is None  # another array: no stale answer
    for v in ("login", "join", "nothing"):
        assert (stats.column_is(t.step, v) == (t.step == v)).all()
    assert (stats.column_in(t.step, ["join", "nothing"]) == np.isin(t.step, ["join", "nothing"])).all()
