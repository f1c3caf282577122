"""Services as queues: multi-server stations (IdP, platform, content, provisioning, DHCP).

Sources:

- A. K. Erlang (1917); the Erlang C formula for M/M/c: the probability of
  waiting C(c, a) and the mean wait W_q = C(c, a)/(cμ − λ), a = λ/μ
  (``erlang_c_wait``; the tests feed a station Poisson arrivals and check it).
- Processor sharing with c servers: each of n jobs in service gets
  min(1, c/n) of a worker (Kleinrock, *Queueing Systems* vol. 2, §4.4).
- Service times: mean per operation from the service profile, coefficient of
  variation ``service_cv`` → gamma distribution (cv = 0: deterministic).
- A connection limit: a request arriving when ``max_connections`` are in the
  system is refused (the device retries per its ``http.retry`` policy).

A FIFO c-server station needs no events of its own: requests are offered in
time order, so each takes the earliest free worker (a heap of c free times)
and its start and end are known on arrival. PS stations keep a virtual clock
and report completions through ``next_completion``/``pop_done``. Both record
every job (arrival, start, end), from which utilisation and queue length per
sampling interval are computed afterwards with numpy.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["erlang_c", "erlang_c_wait", "ServiceTimes", "Station", "Job", "REFUSED"]

REFUSED = -math.inf  # start time of a refused request


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = λ/μ (< c)."""
    if a >= c:
        return 1.0
    term, s = 1.0, 1.0
    for k in range(1, c):
        term *= a / k
        s += term
    term *= a / c
    last = term * c / (c - a)
    return last / (s + last)


def erlang_c_wait(c: int, lam: float, mu: float) -> float:
    """Mean waiting time in queue W_q = C(c, a)/(cμ − λ)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


class ServiceTimes:
    """Gamma-distributed service times with a given mean and coefficient of variation."""

    def __init__(self, rng: np.random.Generator, cv: float, block: int = 4096):
        self.rng, self.cv, self.block = rng, cv, block
        self._buf: list[float] = []  # a block of unit-mean draws as Python floats (cheaper to index)
        self._i = 0

    def draw(self, mean: float) -> float:
        if self.cv <= 0:
            return mean
        if self._i >= len(self._buf):
            k = 1.0 / (self.cv * self.cv)
            self._buf = self.rng.gamma(k, 1.0 / k, self.block).tolist()  # unit mean
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return mean * v


@dataclass(slots=True)
class Job:
    arrival: float
    work: float
    token: object
    vfinish: float = 0.0
    start: float = 0.0


@dataclass
class Station:
    """A multi-server queue with c workers, FIFO or processor sharing, and a connection limit."""

    name: str
    workers: int
    discipline: str = "fifo"
    max_connections: int = 10**9
    times: ServiceTimes | None = None
    arrivals: list = field(default_factory=list)
    starts: list = field(default_factory=list)
    ends: list = field(default_factory=list)
    refused: int = 0

    def __post_init__(self) -> None:
        self._free = [-math.inf] * self.workers  # FIFO: when each worker is next free
        self._in_system: list[float] = []  # FIFO: heap of end times (connection count)
        self._ps: list[tuple[float, int, Job]] = []  # PS: heap by virtual finish
        self._vt, self._vt_at, self._seq = 0.0, 0.0, 0
        self._n = 0

    # ---------------------------------------------------------- FIFO
    def offer(self, t: float, work: float) -> tuple[float, float]:
        """FIFO: a request at t needing ``work`` seconds → (start, end); start = REFUSED when over the limit."""
        ins = self._in_system
        while ins and ins[0] <= t:
            heapq.heappop(ins)
        if len(ins) >= self.max_connections:
            self.refused += 1
            return REFUSED, t
        free = self._free[0]  # the earliest free worker takes it (one heap operation: heapreplace)
        start = free if free > t else t
        end = start + work
        heapq.heapreplace(self._free, end)
        heapq.heappush(ins, end)
        self.arrivals.append(t)
        self.starts.append(start)
        self.ends.append(end)
        return start, end

    def background(self, t: float, work: float) -> None:
        """Aggregate load (e.g. autosaves not modelled one by one): ``work`` seconds spread over the workers."""
        share = work / self.workers
        for i in range(self.workers):
            free = self._free[i]
            self._free[i] = (free if free > t else t) + share
            self.arrivals.append(t)
            self.starts.append(free if free > t else t)
            self.ends.append(self._free[i])
        heapq.heapify(self._free)

    # ---------------------------------------------------------- PS
    def _advance(self, t: float) -> None:
        if self._n:
            self._vt += (t - self._vt_at) * min(1.0, self.workers / self._n)
        self._vt_at = t

    def ps_offer(self, t: float, work: float, token: object) -> bool:
        """PS: admit a job (False when refused at the connection limit)."""
        self._advance(t)
        if self._n >= self.max_connections:
            self.refused += 1
            return False
        job = Job(t, work, token, self._vt + work, t)
        self._seq += 1
        heapq.heappush(self._ps, (job.vfinish, self._seq, job))
        self._n += 1
        return True

    def next_completion(self) -> float:
        if not self._ps:
            return math.inf
        vf = self._ps[0][0]
        return self._vt_at + max(0.0, vf - self._vt) / min(1.0, self.workers / self._n)

    def pop_done(self, t: float) -> list[tuple[Job, float]]:
        """PS: jobs finished by t with their end times."""
        out = []
        while self._ps:
            t_next = self.next_completion()
            if t_next > t + 1e-12:
                break
            self._advance(t_next)
            _, _, job = heapq.heappop(self._ps)
            self._n -= 1
            self.arrivals.append(job.arrival)
            self.starts.append(job.arrival)
            self.ends.append(t_next)
            out.append((job, t_next))
        self._advance(t)
        return out

    # ---------------------------------------------------------- sampling
    def sample(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(utilisation per interval, queue length at each interval's end) for bins ``edges``.

        Utilisation is the busy-worker integral over the interval / (c · interval)
        (exact for FIFO; for PS the mean number in system / c, capped at 1).
        """
        if not self.arrivals:
            return np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
        a = np.sort(np.asarray(self.arrivals))
        s = np.asarray(self.starts)
        e = np.asarray(self.ends)
        ss, es = np.sort(s), np.sort(e)

        def integral(sorted_t: np.ndarray, cum: np.ndarray, T: np.ndarray) -> np.ndarray:
            k = np.searchsorted(sorted_t, T, "right")
            return k * T - cum[k]

        cs = np.concatenate(([0.0], np.cumsum(ss)))
        ce = np.concatenate(([0.0], np.cumsum(es)))
        busy = integral(ss, cs, edges) - integral(es, ce, edges)
        util = np.diff(busy) / (np.diff(edges) * self.workers)  # PS: mean jobs in system / c
        if self.discipline == "ps":
            n = np.searchsorted(a, edges[1:], "right") - np.searchsorted(es, edges[1:], "right")
            return np.clip(util, 0, 1), np.maximum(0, n - self.workers).astype(float)
        queue = np.searchsorted(a, edges[1:], "right") - np.searchsorted(ss, edges[1:], "right")
        return np.clip(util, 0, 1), queue.astype(float)
