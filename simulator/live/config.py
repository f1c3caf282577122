"""The settings a live run hands to its Locust processes (JSON, no gevent here).

The CLI process writes ``live-config.json`` into the run folder and starts
``python -m simulator.live.runner``; a master forwards the same settings to
its workers in the ``examday-go`` message, so a remote worker needs only the
scenario file (the plan digest proves both sides expanded the same plan).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["LiveConfig", "refusal", "RESULT_FILE", "CONFIG_FILE", "DEFAULT_MASTER_PORT"]

RESULT_FILE = "live-result.json"
CONFIG_FILE = "live-config.json"
DEFAULT_MASTER_PORT = 5557


@dataclass
class LiveConfig:
    scenario: str  # scenario file path
    run_dir: str
    run: str  # run name (the run folder's name), the trace's ``run`` column
    targets: dict  # idp, platform, scim, ss12000, scim_token, login_form{form,username,password}
    egress: dict = field(default_factory=dict)  # EgressPolicy.to_dict(): allowed hosts/ports, pinned addresses
    digest: str = ""  # Plan.digest the workers must reproduce
    overrides: list = field(default_factory=list)
    seed: int | None = None
    workers: int = 1  # Locust processes running users (1: a local runner, no master)
    local_workers: bool = True  # the master starts its workers itself (False: --master, remote workers)
    master_bind_host: str = "127.0.0.1"
    master_port: int = DEFAULT_MASTER_PORT
    ui: bool = False
    ui_host: str = "127.0.0.1"
    ui_port: int = 8089
    max_rps: float | None = None  # global cap, shared equally by the workers
    max_duration: float = 3600.0  # hard cap from launch, seconds
    grace_s: float = 5.0  # in-flight requests get this long after a stop
    lead_s: float = 1.0  # launch -> earliest planned start
    provision_load: bool = True  # EGIL pushes + SS 12000 pulls during the run (worker 0)
    session_wait_s: float = 600.0
    worker_wait_s: float = 60.0  # how long a master waits for its workers to connect
    quiet: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "LiveConfig":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "LiveConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def refusal(mine: LiveConfig, theirs: LiveConfig) -> str:
    """Why a worker refuses its master's ``examday-go`` ('' when it may run): the plan digest and the
    targets must equal the ones this worker derived from its own scenario."""
    from .safety import same_targets

    if not theirs.digest or theirs.digest != mine.digest:
        return (f"plan digest {theirs.digest[:12] or '(none)'} from the master differs from this worker's "
                f"{mine.digest[:12]} (different scenario file, --set/--seed, profiles or examday version)")
    diff = same_targets(mine.targets, theirs.targets)
    if diff:
        return f"the master's targets differ from this worker's scenario ({diff})"
    return ""
