"""The publisher process: ``python -m simulator.telemetry.publisher SPEC.json``.

It binds the unix datagram socket the taps send to, aggregates the rows per
second (``Aggregator``) and publishes them with aiomqtt (asyncio; Locust's
gevent never runs here). A good MQTT citizen:

- one client id per process (``bus.client_kwargs``), TLS and username/password
  from the URL, a last will that marks the run ``lost`` if we vanish;
- reconnects with exponential back-off (0.5 s doubling to 10 s, with jitter;
  at most ``FINAL_RETRY_S`` once the run has ended); a QoS 1 message whose
  connection broke before its PUBACK is sent again;
- bounded memory: retained state topics are coalesced (only the newest payload
  per topic waits), the trace stream waits in a queue of ``STREAM_MAX``
  messages; beyond that, and for whatever is still unsent ``END_WAIT_S``
  after the run ends, messages are dropped and counted;
- dies with its parent: ``PR_SET_PDEATHSIG`` (Linux prctl(2)) and a parent
  watch every second.

With ``ap_filter`` it also subscribes to AP telemetry, maps it to the
scenario's classrooms (``apfeed``) and writes ``ap-telemetry`` resource rows
to ``resources-telemetry.csv.gz`` in the run folder. On exit it writes
``telemetry-publisher.json`` (counts, drops) there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import random
import signal
import socket
import sys
import time
from collections import OrderedDict, deque
from pathlib import Path

from .aggregate import Aggregator, RunSpec
from .bus import VERSION, client_kwargs, parse_url, run_topic
from .tap import decode

log = logging.getLogger("examday.telemetry")
STREAM_MAX = 600  # trace messages waiting while the broker is away (~10 min of one per second)
END_WAIT_S = 5.0
FINAL_RETRY_S = 0.5  # longest back-off once the run has ended (END_WAIT_S bounds the whole)
REPORT_FILE = "telemetry-publisher.json"


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the parent exits (prctl PR_SET_PDEATHSIG = 1)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


class Outbox:
    """Retained state (newest per topic) and a bounded stream queue; counts what it drops."""

    def __init__(self, stream_max: int = STREAM_MAX):
        self.state: OrderedDict[str, bytes] = OrderedDict()
        self.stream: deque = deque()
        self.stream_max = stream_max
        self.dropped = self.superseded = self.published = 0
        self.wake = asyncio.Event()

    def put(self, topic: str, payload: dict | None, retain: bool) -> None:
        """Queue a message; ``None`` is the empty payload that clears a retained topic."""
        data = b"" if payload is None else json.dumps(payload, separators=(",", ":"), default=str).encode()
        if retain:
            if topic in self.state:
                self.superseded += 1  # a newer state replaces an unsent one: not a loss
            self.state[topic] = data
            self.state.move_to_end(topic)
        elif len(self.stream) >= self.stream_max:
            self.dropped += 1
        else:
            self.stream.append((topic, data))
        self.wake.set()

    def requeue(self, topic: str, data: bytes, retain: bool) -> None:
        """Put an unacknowledged message back at the front (a newer state of its topic wins)."""
        if not retain:
            self.stream.appendleft((topic, data))
        elif topic not in self.state:
            self.state[topic] = data
            self.state.move_to_end(topic, last=False)

    def pop(self) -> tuple[str, bytes, bool] | None:
        if self.state:
            topic, data = self.state.popitem(last=False)
            return topic, data, True
        if self.stream:
            topic, data = self.stream.popleft()
            return topic, data, False
        return None

    def __len__(self) -> int:
        return len(self.state) + len(self.stream)


class Publisher:
    def __init__(self, spec: RunSpec):
        self.spec = spec
        self.url = parse_url(spec.url)
        self.agg = Aggregator(spec)
        self.out = Outbox()
        self.done = asyncio.Event()
        self.ending: dict | None = None  # the CLI's "end" control message
        self.finished = False  # the end message is queued: the sender returns once the outbox is empty
        self.connects = self.connect_failures = self.datagrams = self.ap_messages = self.ap_rows = 0
        self.t0_epoch: float | None = None
        self.ap_pending: list = []
        self.ap_writer = None

    def topic(self, *parts: str) -> str:
        return run_topic(self.url, self.spec.run, *parts)

    # ------------------------------------------------------------ input from the taps
    def on_datagram(self, data: bytes) -> None:
        self.datagrams += 1
        try:
            msg = decode(data)
        except ValueError:
            return
        if msg.get("ctl") == "end":
            self.ending = msg
            self.done.set()
            return
        now = time.time()
        steps = msg.get("steps") or []
        if steps:
            est = min(now - float(r[10]) for r in steps if r[10] is not None) if self.spec.speed == 1.0 else None
            if est is not None:
                self.t0_epoch = est if self.t0_epoch is None else min(self.t0_epoch, est)
            self.agg.add_steps(steps)
        if msg.get("res"):
            self.agg.add_resources(msg["res"])

    # ------------------------------------------------------------ AP telemetry
    def on_ap_message(self, topic: str, payload: bytes) -> None:
        self.ap_messages += 1
        try:
            doc = json.loads(payload)
        except ValueError:
            return
        self.ap_pending.append((time.time(), topic, doc))
        self._flush_ap()

    def _flush_ap(self) -> None:
        from ..trace import TraceWriter
        from .apfeed import parse_message

        if self.t0_epoch is None or not self.ap_pending:
            return
        if self.ap_writer is None:
            self.ap_writer = TraceWriter(self.spec.run_dir, shard="telemetry", flush_every=20)
        rows = []
        for wall, topic, doc in self.ap_pending:
            rows += parse_message(self.spec.ap_mapping, topic, doc, round(wall - self.t0_epoch, 3))
        self.ap_pending = []
        for r in rows:
            self.ap_writer.resource_values(r)
        self.ap_rows += len(rows)
        self.agg.add_resources([list(r) for r in rows])

    # ------------------------------------------------------------ output
    def start_payload(self) -> dict:
        return {"v": VERSION, "type": "start", "run": self.spec.run, "engine": self.spec.engine,
                "wall": round(time.time(), 3), "planned": self.spec.planned, "devices": self.spec.devices,
                "slo": self.spec.slo, "t0_clock": self.spec.t0_clock, "speed": self.spec.speed,
                "ap_filter": self.spec.ap_filter, "ap_mapping": self.spec.ap_mapping, "manifest": self.spec.manifest}

    def status(self, state: str) -> dict:
        return {"v": VERSION, "type": "status", "run": self.spec.run, "state": state, "wall": round(time.time(), 3)}

    def tick(self) -> None:
        self._flush_ap()
        for suffix, payload, retain in self.agg.tick():
            self.out.put(self.topic(*suffix.split("/")), payload, retain)

    def report(self) -> dict:
        return {"cpu_s": round(time.process_time(), 3), "published": self.out.published, "dropped": self.out.dropped + len(self.out),
                "superseded": self.out.superseded, "connects": self.connects,
                "connect_failures": self.connect_failures, "datagrams": self.datagrams,
                "ap_messages": self.ap_messages, "ap_rows": self.ap_rows, **self.agg.totals()}

    async def sender(self) -> None:
        """Publish the outbox, reconnecting with back-off until the run has ended and the outbox is empty.

        Once the run has ended the back-off is capped at ``FINAL_RETRY_S``, so a
        broker that comes back inside ``END_WAIT_S`` still gets the end message.
        """
        import aiomqtt

        kw = client_kwargs(self.url, "publisher")
        will = aiomqtt.Will(self.topic("status"), json.dumps(self.status("lost")), qos=1, retain=True)
        backoff = 0.5
        while True:
            try:
                async with aiomqtt.Client(**kw, will=will) as client:
                    self.connects += 1
                    backoff = 0.5
                    if self.spec.ap_filter:
                        await client.subscribe(self.spec.ap_filter, qos=0)
                    link = asyncio.create_task(self._read_ap(client))
                    try:
                        await self._drain(client, link)
                        return
                    finally:
                        link.cancel()
                        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                            await link
            except aiomqtt.MqttError as err:
                self.connect_failures += 1
                log.debug("broker: %s", err)
                delay = backoff * (0.5 + random.random())
                await asyncio.sleep(min(delay, FINAL_RETRY_S) if self.finished else delay)
                backoff = min(backoff * 2, 10.0)

    async def _drain(self, client, link: asyncio.Task) -> None:
        """Publish (QoS 1) until the outbox is empty after the end; MqttError when the connection drops.

        aiomqtt leaves a publish waiting for its PUBACK until the timeout even after
        the broker has gone, so every wait also watches ``link`` (the client's message
        iterator, which ends with MqttError on disconnect): a broker killed
        mid-publish costs one reconnect, not the 5 s timeout. The message in flight
        goes back to the front of the outbox (at least once, MQTT 3.1.1 §4.3.2).
        """
        while True:
            item = self.out.pop()
            if item is None:
                if self.finished:
                    return
                self.out.wake.clear()
                await _unless_lost(self.out.wake.wait(), link, timeout=1.0)
                continue
            topic, data, retain = item
            try:
                await _unless_lost(client.publish(topic, data, qos=1, retain=retain, timeout=5.0), link)
            except BaseException:
                self.out.requeue(topic, data, retain)
                raise
            self.out.published += 1

    async def _read_ap(self, client) -> None:
        async for m in client.messages:
            self.on_ap_message(str(m.topic), m.payload if isinstance(m.payload, bytes) else str(m.payload).encode())


async def _unless_lost(aw, link: asyncio.Task, timeout: float | None = None) -> None:
    """Await ``aw`` (up to ``timeout``) unless ``link`` ends first: then cancel it and raise the link's error."""
    import aiomqtt

    job = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({job, link}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if job in done:
        return job.result()
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
        await job
    if link in done:
        link.result()  # the MqttError of the lost connection
        raise aiomqtt.MqttError("connection lost")


async def _main(spec: RunSpec) -> int:
    pub = Publisher(spec)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spec.socket)
    sock.bind(spec.socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)

    def readable() -> None:
        while True:
            try:
                data = sock.recv(1 << 17)
            except (BlockingIOError, InterruptedError):
                return
            pub.on_datagram(data)

    loop.add_reader(sock.fileno(), readable)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the CLI's: it sends "end" when the run is over
    Path(spec.socket + ".ready").write_text(str(os.getpid()))
    pub.out.put(pub.topic("start"), pub.start_payload(), True)
    pub.out.put(pub.topic("status"), pub.status("running"), True)
    pub.out.put(pub.topic("end"), None, True)  # clear the end of an earlier run of the same name
    sender = asyncio.create_task(pub.sender())
    parent = spec.parent_pid or os.getppid()
    try:
        while not (pub.done.is_set() or stop.is_set()):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(pub.done.wait(), 1.0)
            pub.tick()
            if os.getppid() != parent:
                log.warning("parent %s gone: stopping", parent)
                stop.set()
    finally:
        loop.remove_reader(sock.fileno())
        readable()  # whatever the taps sent last
        pub.tick()
        end = pub.ending or {"status": "lost" if stop.is_set() else "finished"}
        status = end.get("status", "finished")
        slo = pub.agg.slo(final=True) if spec.slo else None
        if slo is not None:
            pub.out.put(pub.topic("slo"), slo, True)
        pub.out.put(pub.topic("status"), pub.status(status), True)
        final = {"v": VERSION, "type": "end", "run": spec.run, "status": status, "wall": round(time.time(), 3),
                 "result": end.get("result") or {}, "manifest": end.get("manifest") or {}, **pub.agg.totals(),
                 "trace_messages": pub.agg.seq, "telemetry": pub.report()}
        pub.out.put(pub.topic("end"), final, True)
        pub.finished = True
        pub.out.wake.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(sender, END_WAIT_S if not stop.is_set() else 2.0)
        if not sender.done():
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        if pub.ap_writer is not None:
            pub.ap_writer.close()
        rep = pub.report()
        tmp = Path(spec.run_dir) / (REPORT_FILE + ".tmp")
        tmp.write_text(json.dumps(rep, indent=2) + "\n")
        os.replace(tmp, Path(spec.run_dir) / REPORT_FILE)
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(spec.socket)
    return 0


def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec = RunSpec.from_json(json.loads(Path(argv[0]).read_text()))
    return asyncio.run(_main(spec))


if __name__ == "__main__":
    sys.exit(main())
