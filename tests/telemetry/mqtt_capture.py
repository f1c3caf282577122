"""An independent MQTT subscriber (paho-mqtt, not examday's aiomqtt code) that keeps every message it sees."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt


class Capture:
    def __init__(self, port: int, topics: list[str], user: tuple[str, str] | None = None, ca: str | None = None):
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-capture-{id(self)}")
        self.client.on_connect = lambda c, u, f, rc, p=None: [c.subscribe(t, qos=1) for t in topics]
        self.client.on_message = self._on
        self.client.reconnect_delay_set(min_delay=0.2, max_delay=1)  # tests restart brokers: come back quickly
        if user:
            self.client.username_pw_set(*user)
        if ca:
            self.client.tls_set(ca_certs=ca)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((time.time(), msg.topic, bytes(msg.payload), bool(msg.retain)))

    def json(self, suffix: str = "") -> list[tuple[str, dict]]:
        with self.lock:
            return [(t, json.loads(p)) for _, t, p, _ in self.messages if p and t.endswith(suffix)]

    def wait_for(self, pred, bound_s: float = 120.0):
        """First (topic, doc) with pred(topic, doc), polling (bounded, so a hang fails instead of blocking)."""
        end = time.time() + bound_s
        while time.time() < end:
            for t, d in self.json():
                if pred(t, d):
                    return t, d
            time.sleep(0.1)
        raise AssertionError("no such message arrived")

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
