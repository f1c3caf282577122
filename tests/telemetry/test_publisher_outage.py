"""The publisher delivers the run's end through a broker that hangs and restarts with a PUBACK outstanding.

aiomqtt leaves a QoS 1 publish waiting for its PUBACK until its 5 s timeout even
after the connection is gone; the publisher must notice the loss, reconnect and
send the unacknowledged message and the end again within ``END_WAIT_S`` (what
``simulate --mqtt`` waits for the publisher after the run).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from mqtt_broker import Mosquitto  # noqa: E402
from mqtt_capture import Capture  # noqa: E402

from simulator.telemetry.aggregate import RunSpec  # noqa: E402
from simulator.telemetry.publisher import END_WAIT_S, Publisher  # noqa: E402


def test_a_broker_killed_with_a_puback_outstanding_still_gets_the_end(tmp_path):
    with Mosquitto(tmp_path / "broker") as broker:
        cap = Capture(broker.port, ["examday-test/#"])
        try:
            spec = RunSpec(run="outage", engine="model", url=broker.url, socket=str(tmp_path / "sock"),
                           run_dir=str(tmp_path), planned={}, devices=0)
            pub = Publisher(spec)

            async def scenario() -> None:
                sender = asyncio.create_task(pub.sender())
                pub.out.put(pub.topic("before"), {"n": 1}, True)
                while not any(t.endswith("/before") for t, _ in cap.json()):
                    await asyncio.sleep(0.05)
                os.kill(broker.proc.pid, signal.SIGSTOP)  # the broker hangs: the next PUBACK never comes
                pub.out.put(pub.topic("inflight"), {"n": 2}, True)
                await asyncio.sleep(0.5)
                assert len(pub.out) == 0  # it was sent and waits for its PUBACK
                pub.out.put(pub.topic("end"), {"type": "end", "run": "outage"}, True)
                pub.finished = True
                pub.out.wake.set()
                broker.kill()
                time.sleep(0.2)
                broker.start()
                await asyncio.wait_for(sender, END_WAIT_S)  # what the publisher's main waits after the run

            asyncio.run(scenario())
            deadline = time.time() + 30
            while time.time() < deadline and not {"inflight", "end"} <= {t.rsplit("/", 1)[1] for t, _ in cap.json()}:
                time.sleep(0.1)
            got = {t.rsplit("/", 1)[1]: d for t, d in cap.json()}
            assert got.get("inflight") == {"n": 2} and got.get("end") == {"type": "end", "run": "outage"}
            assert pub.connects == 2 and len(pub.out) == 0
            report = pub.report()
            assert report["dropped"] == 0 and report["published"] == 3, json.dumps(report)
        finally:
            cap.stop()
