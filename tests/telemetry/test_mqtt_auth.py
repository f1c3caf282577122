"""TLS and username/password against a real Mosquitto (password file, TLS listener with a test certificate)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.dirname(__file__))
from mqtt_broker import Mosquitto  # noqa: E402
from mqtt_capture import Capture  # noqa: E402

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
SCENARIO = str(REPO / "scenarios" / "ci-smoke.yaml")


def _certificate(d) -> tuple:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "examday test broker")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    c, k = d / "broker.crt", d / "broker.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


@pytest.fixture
def tls_broker(tmp_path):
    cert, key = _certificate(tmp_path)
    with Mosquitto(tmp_path / "broker", users={"examday": "s3cret"}, tls=(cert, key)) as b:
        yield b, cert


def _simulate(out, url, **env):
    return subprocess.run([sys.executable, "-m", "simulator", "simulate", SCENARIO, "--until", "40 s", "-o", str(out),
                           "-q", "--mqtt", url, "--speed", "40"], cwd=str(REPO), capture_output=True, text=True,
                          timeout=240, env={**os.environ, "PYTHONPATH": str(REPO), **env})


def test_tls_with_username_and_password(tls_broker, tmp_path):
    b, cert = tls_broker
    cap = Capture(b.port, ["examday-test/#"], user=("examday", "s3cret"), ca=str(cert))
    try:
        host_url = b.url.replace("mqtts://", "mqtts://examday@") + f"?ca={cert}"
        r = _simulate(tmp_path / "ok", host_url, EXAMDAY_MQTT_PASSWORD="s3cret")  # password kept off the command line
        assert r.returncode == 0, r.stderr
        end = cap.wait_for(lambda t, d: d.get("type") == "end" and d.get("run") == "ok", 30)[1]
        assert end["status"] == "finished"
        tel = json.loads((tmp_path / "ok" / "manifest.json").read_text())["telemetry"]
        assert tel["messages_dropped"] == 0 and tel["broker_connects"] == 1
        assert "s3cret" not in json.dumps(tel)
    finally:
        cap.stop()


def test_wrong_password_is_counted_not_fatal(tls_broker, tmp_path):
    b, cert = tls_broker
    r = _simulate(tmp_path / "bad", b.url.replace("mqtts://", "mqtts://examday:n0t-the-pa55@") + f"?ca={cert}")
    assert r.returncode == 0, r.stderr  # the model run and its report are unaffected
    tel = json.loads((tmp_path / "bad" / "manifest.json").read_text())["telemetry"]
    assert tel["broker_connects"] == 0 and tel["broker_connect_failures"] > 0 and tel["messages_dropped"] > 0
    assert "n0t-the-pa55" not in json.dumps(tel)
