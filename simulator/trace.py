"""The one record format both engines write and every analyser reads.

A trace lives in a run folder as gzip-compressed CSV shards:

- ``steps*.csv.gz`` — one row per step attempt (``STEP_COLUMNS``);
- ``resources*.csv.gz`` — resource samples (``RESOURCE_COLUMNS``).

Resource names: ``ap:<site>/<room>`` (radio airtime), ``uplink-down:<site>``,
``uplink-up:<site>``, ``core-down``, ``core-up``, ``dhcp:<site>``,
``service:<idp|platform|content|provisioning>``, ``generator:<worker>``
(live load generator CPU).

Several shards (one per Locust worker, say) are merged by the reader. Writers
flush with a gzip *sync flush* every ``flush_every`` rows and on close, so a
run killed with SIGKILL leaves a shard whose completed rows are all readable:
the reader decompresses up to the last complete row and ignores a missing
gzip trailer. Times are seconds from the scenario's t0 (the exam start,
``Plan.t0_clock``); ``planned_s`` is when the step *should* have started, so a
generator that falls behind (coordinated omission) shows it.
"""

from __future__ import annotations

import csv
import glob
import math
import os
import threading
import weakref
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from isal import isal_zlib

__all__ = [
    "STEPS",
    "STEP_COLUMNS",
    "RESOURCE_COLUMNS",
    "StepRecord",
    "ResourceSample",
    "TraceWriter",
    "StepTable",
    "ResourceTable",
    "read_steps",
    "read_resources",
    "StepRows",
    "resource_lines",
    "csv_field",
    "retained",
]

#: deflate of the trace files: ISA-L's level 1 (``isal.isal_zlib``, zlib's interface and stream format) is
#: ~4x faster than zlib's fastest level and its files ~9 % smaller (malmo's 30 min: 0.11 -> 0.026 s cpu for
#: 19 MB of steps, 3.86 -> 3.52 MB); any gzip reader inflates them to the same text
TRACE_GZIP_LEVEL = 1

#: Canonical step names (DESIGN.md), in the order a device walks them.
#: ``open`` is the teacher opening the test session for the group (live engine).
#: ``upload`` is a bare transfer test's upload (model ``exam.transfer``).
STEPS = ("join", "login", "assertion", "open", "download", "autosave", "submit", "provision", "upload")


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One attempt at one step by one device."""

    run: str
    engine: str  # "model" | "live"
    device: str
    kind: str  # device profile name, "teacher", "egil-client", ...
    site: str
    room: str
    ap: str
    step: str  # one of STEPS
    planned_s: float
    start_s: float
    end_s: float
    bytes: int = 0  # bytes received (response bodies); the bulk `upload` step: bytes sent
    ok: bool = True
    error: str = ""  # short reason when not ok ("timeout", "http 503", "saml: bad signature")
    ttfb_s: float = math.nan  # time to first byte after start (downloads), NaN when not measured
    attempt: int = 1  # 1 for the first try, 2.. for retries
    queue_s: float = math.nan  # of the duration, time spent queued at servers/DHCP (model); NaN when unknown


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """Utilisation and queue length of one resource (AP radio, link, service) at one time."""

    t_s: float
    resource: str  # "ap:ak9/9A", "uplink-down:ak9", "service:idp"
    kind: str  # "ap" | "link" | "service" | "dhcp" | "generator"
    utilisation: float  # 0..1 (busy share of the sample interval)
    queue: float  # waiting requests/flows at t_s


STEP_COLUMNS = tuple(f.name for f in fields(StepRecord))
RESOURCE_COLUMNS = tuple(f.name for f in fields(ResourceSample))


def _fmt(v: object) -> object:
    if isinstance(v, np.generic):  # np.float64 / np.bool_ from engines: write the Python value
        v = v.item()
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(round(v, 6))
    if isinstance(v, str) and ("\n" in v or "\r" in v):
        return " ".join(v.split())  # one row per line: readers need not handle quoted newlines
    return v


def _f(x: float) -> str:
    """A float for the trace, to the microsecond (empty for NaN)."""
    return "" if x != x else f"{x:.6f}"


def csv_field(text: str) -> str:
    """One CSV cell (quoted when it holds a comma, quote or line break)."""
    if "," in text or '"' in text or "\n" in text or "\r" in text:  # 4 C-level scans: ~8x a generator's any()
        return '"' + " ".join(text.replace('"', '""').split()) + '"'
    return text


class StepRows:
    """Step rows of one device, formatted as CSV lines in ``STEP_COLUMNS`` order into a shared buffer.

    The model engine writes millions of rows; formatting them here (once per
    row, with the device's constant columns pre-joined) keeps the format in
    one place. ``flush`` is called with the buffer when it holds ``every`` rows.
    """

    __slots__ = ("prefix", "out", "flush", "every")

    def __init__(self, out: list[str], flush, run: str, engine: str, device: str, kind: str, site: str,
                 room: str, ap: str, every: int = 5000):
        self.prefix = (f"{csv_field(str(run))},{csv_field(str(engine))},{csv_field(str(device))},"
                       f"{csv_field(str(kind))},{csv_field(str(site))},{csv_field(str(room))},{csv_field(str(ap))},")
        self.out, self.flush, self.every = out, flush, every

    def add(self, step: str, planned: float, start: float, end: float, nbytes: float, ok: bool, error: str,
            attempt: int, queue: float, ttfb: float = math.nan) -> None:
        # The same text as formatting each float with ``_f``, with the NaN tests inline (x == x) rather
        # than a call per float. Most rows (no ttfb, no error, every time known: 84k of malmo's 120k) are
        # one printf-style format (``_ROW``: parsed once in C, ~35 % less than the f-string with a format
        # spec per float; ``%d`` truncates a float as ``int()`` does).
        if ttfb != ttfb and not error and queue == queue and planned == planned and start == start and end == end:
            self.out.append(_ROW % (self.prefix, step, planned, start, end, nbytes, 1 if ok else 0, attempt, queue))
            if len(self.out) >= self.every:
                self.flush()
            return
        if ttfb == ttfb:
            tail = "%.6f,%d,%.6f\n" % (ttfb, attempt, queue) if queue == queue else "%.6f,%d,\n" % (ttfb, attempt)
        else:
            tail = ",%d,%.6f\n" % (attempt, queue) if queue == queue else ",%d,\n" % attempt
        if planned == planned and start == start and end == end:
            head = _TIMES % (self.prefix, step, planned, start, end, nbytes, 1 if ok else 0)
        else:
            head = "%s%s,%s,%s,%s,%d,%d," % (self.prefix, step, _f(planned), _f(start), _f(end), nbytes, 1 if ok else 0)
        self.out.append(f"{head}{csv_field(error) if error else ''},{tail}")
        if len(self.out) >= self.every:
            self.flush()


#: a step row without ttfb or error, every time known (``StepRows.add``'s common case)
_ROW = "%s%s,%.6f,%.6f,%.6f,%d,%d,,,%d,%.6f\n"
#: a step row's columns up to ``ok`` with every time known (the rest follows)
_TIMES = "%s%s,%.6f,%.6f,%.6f,%d,%d,"


def resource_lines(times: list[str], name: str, kind: str, util: list[float], queue: list[float] | None) -> str:
    """Resource rows of one resource (``RESOURCE_COLUMNS`` order); ``times`` already formatted; ``queue``
    None: 0.0 throughout (most of a city's resources: one ``repr`` less per row)."""
    mid = f",{csv_field(name)},{kind},"
    if queue is None:
        return "".join([f"{t}{mid}{u!r},0.0\n" for t, u in zip(times, util)])
    return "".join([f"{t}{mid}{u!r},{q!r}\n" for t, u, q in zip(times, util, queue)])


class _Pieces(list):
    """Text pieces in write order; ``write`` appends (the file interface ``csv.writer`` wants)."""

    __slots__ = ()
    write = list.append


class _Shard:
    """One gzip CSV file written incrementally with periodic sync flushes.

    The text waiting for the next flush is kept as the pieces written (``_Pieces``), joined once at the
    flush: the model engine hands over 5,000 formatted rows at a time, which then go to zlib without
    being copied through a ``StringIO`` (~0.07 s of a city's 18 MB of steps).
    """

    def __init__(self, path: Path, columns: tuple[str, ...], flush_every: int):
        self.path = path
        self._kept: list[bytes] | None = [] if _RETAIN else None  # the text written, inside ``retained()``
        self._raw = open(path, "wb")
        self._z = isal_zlib.compressobj(TRACE_GZIP_LEVEL, isal_zlib.DEFLATED, 31)
        self._buf = _Pieces()
        self._csv = csv.writer(self._buf, lineterminator="\n")
        self._csv.writerow(columns)
        self._pending = 0
        self._flush_every = flush_every
        self._lock = threading.Lock()
        self.rows = 0
        self.flush()

    def write(self, values: Iterable[object]) -> None:
        with self._lock:
            self._csv.writerow([_fmt(v) for v in values])
            self._pending += 1
            self.rows += 1
            if self._pending >= self._flush_every:
                self._flush_locked()

    def _flush_locked(self) -> None:
        data = "".join(self._buf).encode()
        self._buf.clear()
        if self._kept is not None:
            self._kept.append(data)
        self._raw.write(self._z.compress(data) + self._z.flush(isal_zlib.Z_SYNC_FLUSH))
        self._raw.flush()
        self._pending = 0

    def write_text(self, text: str, rows: int) -> None:
        """Append ``rows`` already-formatted CSV lines (each ending in a newline)."""
        with self._lock:
            self._buf.append(text)
            self._pending += rows
            self.rows += rows
            if self._pending >= self._flush_every:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        with self._lock:
            if self._raw.closed:
                return
            self._flush_locked()
            self._raw.write(self._z.flush(isal_zlib.Z_FINISH))
            self._raw.close()
            if self._kept is not None and _RETAIN:
                st = os.stat(self.path)
                _WRITTEN[os.path.abspath(self.path)] = (st.st_size, st.st_mtime_ns, b"".join(self._kept))
            self._kept = None


class TraceWriter:
    """Writes a trace shard pair into ``run_dir``.

    ``shard`` names the file (``steps-<shard>.csv.gz``) so several writers
    (one per worker process) never share a file. Thread-safe; use as a
    context manager or call ``close()``.
    """

    def __init__(self, run_dir: str | os.PathLike, shard: str = "", flush_every: int = 200):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        suffix = f"-{shard}" if shard else ""
        self._steps = _Shard(self.run_dir / f"steps{suffix}.csv.gz", STEP_COLUMNS, flush_every)
        self._resources = _Shard(self.run_dir / f"resources{suffix}.csv.gz", RESOURCE_COLUMNS, flush_every)

    @property
    def step_rows(self) -> int:
        return self._steps.rows

    def step(self, rec: StepRecord) -> None:
        self._steps.write(getattr(rec, c) for c in STEP_COLUMNS)

    def step_values(self, values: tuple) -> None:
        """Fast path: a tuple in ``STEP_COLUMNS`` order (the model writes millions)."""
        self._steps.write(values)

    def step_csv(self, text: str, rows: int) -> None:
        """Fastest path: ``rows`` CSV lines in ``STEP_COLUMNS`` order, already formatted (model engine)."""
        self._steps.write_text(text, rows)

    def resource_values(self, values: tuple) -> None:
        """Fast path: a tuple in ``RESOURCE_COLUMNS`` order."""
        self._resources.write(values)

    def resource_csv(self, text: str, rows: int) -> None:
        """Fastest path: ``rows`` CSV lines in ``RESOURCE_COLUMNS`` order, already formatted (model engine)."""
        self._resources.write_text(text, rows)

    def resource(self, sample: ResourceSample) -> None:
        self._resources.write(getattr(sample, c) for c in RESOURCE_COLUMNS)

    def flush(self) -> None:
        self._steps.flush()
        self._resources.flush()

    def close(self) -> None:
        self._steps.close()
        self._resources.close()

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _inflate(d, data: bytes, out: list[bytes], steps: tuple[int, ...]) -> tuple[object, bool]:
    """Feed ``data`` in pieces of ``steps[0]``; on a corrupt piece, retry it from the saved state in
    smaller pieces. Returns (decompressor, ok); ``ok`` False once damage is reached."""
    size = steps[0]
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        saved = d.copy()
        try:
            out.append(d.decompress(piece))
        except zlib.error:
            if len(steps) == 1:
                return saved, False
            d, _ = _inflate(saved, piece, out, steps[1:])
            return d, False
        if d.eof:
            return d, False
    return d, True


#: inside ``retained()``: shards written and closed by this process, by absolute path, as (size, mtime_ns,
#: uncompressed text); ``_read_bytes`` returns the text when the file is still that one (size and mtime)
_WRITTEN: dict[str, tuple[int, int, bytes]] = {}
_RETAIN = False


@contextmanager
def retained() -> Iterator[None]:
    """Shards closed inside the block keep their text in memory for readers in the block (same process).

    ``examday simulate`` writes the trace and reads it back for the report straight away; with this the
    read skips inflating what it has just deflated (~0.05 s of a city's 26 MB of CSV; the memory is
    freed on exit). A shard changed on disk since (size or mtime) is read from the file as usual.
    """
    global _RETAIN
    before = _RETAIN
    _RETAIN = True
    try:
        yield
    finally:
        _RETAIN = before
        if not before:
            _WRITTEN.clear()


def _read_bytes(path: Path) -> bytes:
    """Decompress a gzip shard, tolerating a missing trailer (killed writer) or a corrupt tail.

    Everything before the first undecodable byte is kept (pieces of 1 MiB,
    retried in 4 KiB and then 1-byte steps from a copy of the decompressor);
    a half-written last row is dropped.
    """
    kept = _WRITTEN.get(os.path.abspath(path)) if _WRITTEN else None
    if kept is not None:
        st = os.stat(path)
        if (st.st_size, st.st_mtime_ns) == kept[:2]:
            data = kept[2]
            return _whole_lines(data)
    d = zlib.decompressobj(31)
    out: list[bytes] = []
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            d, ok = _inflate(d, chunk, out, (1 << 20, 4096, 1))
            if not ok:
                break
    return _whole_lines(b"".join(out))


def _whole_lines(data: bytes) -> bytes:
    """``data`` up to its last line end (a half-written row dropped); not copied when it ends with one."""
    return data if data.endswith(b"\n") else data[: data.rfind(b"\n") + 1]


def _arrow_types(columns: tuple[str, ...]) -> dict:
    import pyarrow as pa

    types = {}
    for c in columns:
        if c in _STR or c in ("resource", "kind"):
            types[c] = pa.dictionary(pa.int32(), pa.string())  # few distinct values: cheap to expand
        elif c in ("bytes", "attempt", "ok"):
            types[c] = pa.int64()
        else:
            types[c] = pa.float64()
    return types


def _columns(pattern: str, run_dir: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every shard matching ``pattern`` (name order, rows in file order) as numpy columns.

    Parsing is pyarrow's C CSV reader (about 5x faster than splitting in
    Python on a 10^6-row trace), on one thread: its thread pool cost ~10-25 %
    more CPU for no shorter wall time on a city's trace (2 cores); text
    columns come back as object arrays, empty numbers as NaN (floats) or 0
    (integers).
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(column_types=_arrow_types(columns), strings_can_be_null=False,
                                  include_columns=list(columns), include_missing_columns=True)
    read = pcsv.ReadOptions(use_threads=False)
    tables = []
    for path in sorted(glob.glob(str(run_dir / pattern))):
        data = _read_bytes(Path(path))
        if data.find(b"\n", data.find(b"\n") + 1) < 0:  # the second line's end, not a count over the text
            continue  # nothing past the header (or not even that)
        tables.append(pcsv.read_csv(pa.BufferReader(data), read_options=read, convert_options=convert))
    out: dict[str, np.ndarray] = {}
    for c in columns:
        if not tables:
            out[c] = np.array([], dtype=object if c in _STR or c in ("resource", "kind") else
                              (np.int64 if c in ("bytes", "attempt") else bool if c == "ok" else float))
            continue
        col = pa.chunked_array([t.column(c) for t in tables]).combine_chunks() if len(tables) > 1 else \
            tables[0].column(c).combine_chunks()
        # No pyarrow.compute (fill_null, cast): importing it costs ~0.1 s. Text cells are never null
        # (strings_can_be_null=False); an empty number is null, which to_numpy makes NaN (a float array).
        if pa.types.is_dictionary(col.type):
            values = np.asarray(col.dictionary.to_pylist(), dtype=object)
            idx = col.indices.to_numpy(zero_copy_only=False) if len(values) else None
            out[c] = values[idx] if idx is not None else np.full(len(col), "", dtype=object)
            if idx is not None:
                _remember_codes(out[c], values, idx)
        elif pa.types.is_integer(col.type):
            ints = col.to_numpy(zero_copy_only=False)
            if col.null_count:
                ints = np.nan_to_num(ints, nan=0.0)
            out[c] = ints == 1 if c == "ok" else ints.astype(np.int64)
        else:
            out[c] = col.to_numpy(zero_copy_only=False, writable=True)
    return out


#: id(column) -> (weak reference to it, (labels, codes)): text columns as the parser dictionary-encoded them
_CODES: dict[int, tuple[weakref.ref, tuple[np.ndarray, np.ndarray]]] = {}


def _remember_codes(column: np.ndarray, labels: np.ndarray, codes: np.ndarray) -> None:
    """Keep the parser's encoding of ``column`` when it is the first-seen-order one (every label used, each
    first appearing after the previous one: the running maximum of the codes steps by at most 1), which is
    ``analysis.stats.factorize``'s result for it without a pass over the strings."""
    top = np.maximum.accumulate(codes)
    if not len(codes) or codes[0] != 0 or top[-1] != len(labels) - 1 or (len(codes) > 1 and np.diff(top).max() > 1):
        return
    for k in [k for k, (r, _) in _CODES.items() if r() is None]:
        del _CODES[k]
    _CODES[id(column)] = (weakref.ref(column), (labels, codes.astype(np.int64)))


def known_codes(column: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(labels, codes) of a text column as read (see ``_remember_codes``), None for any other array."""
    hit = _CODES.get(id(column))
    return hit[1] if hit is not None and hit[0]() is column else None


_STR = ("run", "engine", "device", "kind", "site", "room", "ap", "step", "error")
_FLOAT = ("planned_s", "start_s", "end_s", "ttfb_s", "queue_s")


@dataclass
class StepTable:
    """Column arrays of step rows (numpy), as analysers want them."""

    run: np.ndarray
    engine: np.ndarray
    device: np.ndarray
    kind: np.ndarray
    site: np.ndarray
    room: np.ndarray
    ap: np.ndarray
    step: np.ndarray
    planned_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    bytes: np.ndarray
    ok: np.ndarray
    error: np.ndarray
    ttfb_s: np.ndarray
    attempt: np.ndarray
    queue_s: np.ndarray

    def __len__(self) -> int:
        return len(self.step)

    @property
    def duration_s(self) -> np.ndarray:
        return self.end_s - self.start_s

    def where(self, mask: np.ndarray) -> "StepTable":
        return StepTable(**{c: getattr(self, c)[mask] for c in STEP_COLUMNS})

    def records(self) -> Iterator[StepRecord]:
        for i in range(len(self)):
            row = {c: getattr(self, c)[i] for c in STEP_COLUMNS}
            yield StepRecord(**{c: v.item() if isinstance(v, np.generic) else v for c, v in row.items()})


@dataclass
class ResourceTable:
    t_s: np.ndarray
    resource: np.ndarray
    kind: np.ndarray
    utilisation: np.ndarray
    queue: np.ndarray

    def __len__(self) -> int:
        return len(self.t_s)


def read_steps(run_dir: str | os.PathLike) -> StepTable:
    """All step rows of a run folder (every ``steps*.csv.gz`` shard), as arrays."""
    return StepTable(**_columns("steps*.csv.gz", Path(run_dir), STEP_COLUMNS))


def read_resources(run_dir: str | os.PathLike) -> ResourceTable:
    """All resource samples of a run folder (every ``resources*.csv.gz`` shard), as arrays."""
    return ResourceTable(**_columns("resources*.csv.gz", Path(run_dir), RESOURCE_COLUMNS))
