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
