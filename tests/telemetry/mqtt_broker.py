"""A real Mosquitto on a free loopback port in a temp dir (no broker mock), for the telemetry tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    def __init__(self, workdir: Path, port: int | None = None, users: dict[str, str] | None = None,
                 tls: tuple[Path, Path] | None = None):
        # mosquitto started as root drops to the 'mosquitto' user: its files live in a readable folder of its own
        self.dir = Path(tempfile.mkdtemp(prefix=f"issue-14-mqtt-{os.getpid()}-"))
        os.chmod(self.dir, 0o755)
        self.log_path = Path(workdir) / "mosquitto.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users, self.tls = users or {}, tls  # tls: (certificate, key) PEM files
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt{'s' if self.tls else ''}://127.0.0.1:{self.port}/examday-test"

    def start(self) -> "Mosquitto":
        """Start (or, after ``kill``, restart on the same port)."""
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(exe):
            raise RuntimeError("mosquitto is not installed: run scripts/system-packages.sh (apt mosquitto)")
        conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr",
                 f"allow_anonymous {'false' if self.users else 'true'}"]
        if self.users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", str(pw),
                                user, password], check=True, capture_output=True)
            os.chmod(pw, 0o644)
            lines.append(f"password_file {pw}")
        if self.tls:
            cert, key = (shutil.copy(f, self.dir / Path(f).name) for f in self.tls)
            for f in (cert, key):
                os.chmod(f, 0o644)
            lines += [f"certfile {cert}", f"keyfile {key}", f"cafile {cert}"]
        conf.write_text("\n".join(lines) + "\n")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited {self.proc.returncode}: {self.log_path.read_text()[-500:]}")
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
