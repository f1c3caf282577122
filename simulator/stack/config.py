"""Typed settings of the reference stack and its test-content catalogue.

The catalogue is what the test platform serves: per test profile
(``profiles/tests/<name>.yaml``), the content parts and their sizes, and the
autosave/submit sizes. It is built from the lead's
``simulator.scenario.load_test_profiles`` when that exists, else parsed here
from the same YAML shape, or constructed directly in tests.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["ContentPart", "TestSpec", "Catalogue", "HashCost", "HASH_COSTS", "Limits", "ProvisioningLimits",
           "StackConfig"]


@dataclass(frozen=True, slots=True)
class ContentPart:
    name: str
    size: int  # bytes


@dataclass(frozen=True, slots=True)
class TestSpec:
    """One test profile as the platform needs it."""

    name: str
    parts: tuple[ContentPart, ...]
    duration_s: float = 3600.0
    autosave_every_s: float = 30.0
    autosave_size: int = 4000
    submit_size: int = 20000


@dataclass(frozen=True)
class Catalogue:
    tests: dict[str, TestSpec] = field(default_factory=dict)

    def get(self, name: str) -> TestSpec | None:
        return self.tests.get(name)

    @classmethod
    def of(cls, *specs: TestSpec) -> "Catalogue":
        return cls({s.name: s for s in specs})

    @classmethod
    def from_profiles(cls, profiles: dict) -> "Catalogue":
        """From ``simulator.scenario.load_test_profiles`` objects (duck-typed)."""
        specs = []
        for name, p in profiles.items():
            specs.append(TestSpec(
                name=getattr(p, "name", name),
                parts=tuple(ContentPart(pt.name, int(pt.size)) for pt in p.parts),
                duration_s=float(getattr(p, "duration", 3600.0)),
                autosave_every_s=float(p.autosave.every), autosave_size=int(p.autosave.size),
                submit_size=int(p.submit.size)))
        return cls.of(*specs)

    @classmethod
    def load(cls, profiles_dir: str | Path) -> "Catalogue":
        """Read ``profiles_dir/*.yaml`` (the lead's loader when available)."""
        profiles_dir = Path(profiles_dir)
        if not profiles_dir.is_dir():
            return cls()
        try:
            from simulator.scenario import load_test_profiles  # type: ignore[attr-defined]
        except ImportError:
            load_test_profiles = None
        if load_test_profiles is not None:
            # the lead's loader takes the profiles root (with tests/ inside); accept either
            root = profiles_dir.parent if profiles_dir.name == "tests" else profiles_dir
            return cls.from_profiles(load_test_profiles(root))
        import yaml

        from simulator.units import parse_bytes, parse_duration
        specs = []
        for path in sorted(profiles_dir.glob("*.yaml")):
            doc = yaml.safe_load(path.read_text()) or {}
            specs.append(TestSpec(
                name=str(doc.get("name", path.stem)),
                parts=tuple(ContentPart(str(p["name"]), int(parse_bytes(p["size"]))) for p in doc.get("parts", [])),
                duration_s=parse_duration(doc.get("duration", "60 min")),
                autosave_every_s=parse_duration(doc.get("autosave", {}).get("every", "30 s")),
                autosave_size=int(parse_bytes(doc.get("autosave", {}).get("size", "4 kB"))),
                submit_size=int(parse_bytes(doc.get("submit", {}).get("size", "20 kB")))))
        return cls.of(*specs)

    def to_json(self) -> list:
        return [asdict(s) for s in self.tests.values()]

    @classmethod
    def from_json(cls, items: list) -> "Catalogue":
        return cls.of(*(TestSpec(**{**d, "parts": tuple(ContentPart(**p) for p in d["parts"])}) for d in items))


@dataclass(frozen=True, slots=True)
class HashCost:
    """argon2id parameters (RFC 9106 §4)."""

    time_cost: int
    memory_cost: int  # KiB
    parallelism: int


#: ``cheap``: the minimum argon2 allows (tests, benchmarks of everything but hashing);
#: ``keycloak``: Keycloak's default argon2id (= OWASP's: t=5, 7 MiB, p=1), ~20 ms CPU;
#: ``production``: RFC 9106's second recommended option (t=3, 64 MiB, p=4), ~170 ms CPU.
HASH_COSTS = {
    "cheap": HashCost(time_cost=1, memory_cost=8, parallelism=1),
    "keycloak": HashCost(time_cost=5, memory_cost=7168, parallelism=1),
    "production": HashCost(time_cost=3, memory_cost=65536, parallelism=4),
}


#: The scenario's default ``targets.scim_token`` (simulator.scenario.models.Targets): a loopback stack uses it.
DEFAULT_SCIM_TOKEN = "examday-egil-token"


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True, slots=True)
class Limits:
    """Input bounds (``limits.py``). Head limits as Apache's defaults (``LimitRequestFieldSize`` 8190 per
    field, ``LimitRequestFields`` 100); body limits per route."""

    max_header_bytes: int = 32 * 1024  # request line + all header fields
    max_headers: int = 100
    header_timeout_s: float = 10.0  # the whole head must arrive within this (idle and slowloris connections)
    body_idle_timeout_s: float = 10.0  # a body that stalls this long gets 408 and the connection closed
    body_min_rate: float = 500.0  # bytes/s a body must average after its first body_idle_timeout_s (slowloris)
    keep_alive_s: int = 5  # idle keep-alive connections (uvicorn timeout_keep_alive)
    default_body: int = 64 * 1024
    saml_body: int = 640 * 1024  # SAMLResponse (256 KiB of XML, base64, url-encoded)
    answer_body: int = 4 * 1024 * 1024  # autosave / submit
    provisioning_body: int = 200 * 1000  # Skolverket's provisioning API: bodies <= 200 KB
    max_form_fields: int = 32
    max_json_depth: int = 32


@dataclass(frozen=True, slots=True)
class ProvisioningLimits:
    """Skolverket's provisioning API (dnp-usermanagement CHANGELOG v1.3.1): per client IP, 5 write requests/s
    and 10 GET/s, 429 + ``Retry-After`` beyond; 0 switches a bound off."""

    writes_per_s: float = 5.0
    reads_per_s: float = 10.0
    burst_s: float = 1.0  # bucket depth in seconds of rate (a token bucket of rate x burst_s)


@dataclass(frozen=True)
class StackConfig:
    """Everything the stack's processes need; serialised to JSON for uvicorn workers."""

    data_dir: str
    host: str = "127.0.0.1"
    port: int = 8400
    base_url: str = ""  # public base, default http://host:port
    hash_cost: str = "cheap"
    trust_metadata: tuple[str, ...] = ()
    mfa_delay_s: float = 2.0  # Freja eID+ stand-in: approval arrives after this
    scim_token: str = ""  # bearer token; generated into data_dir when empty
    max_inflight: int = 256  # per service; beyond it 503 + Retry-After
    assertion_lifetime_s: float = 300.0
    clock_skew_s: float = 60.0
    session_lifetime_s: float = 8 * 3600.0
    catalogue: Catalogue = field(default_factory=Catalogue)
    access_log: bool = True
    limits: Limits = field(default_factory=Limits)
    provisioning: ProvisioningLimits = field(default_factory=ProvisioningLimits)
    login_threads: int = 0  # password-hashing executor size (0: cores, at least 1)
    gateway: bool = False  # run the access-gateway role (/gateway) between platform and IdPs
    idp_scopes: tuple[str, ...] = ()  # reference IdP's shibmd:Scope (default: the provisioned EPPN domains)

    @property
    def url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def hasher_cost(self) -> HashCost:
        return HASH_COSTS[self.hash_cost]

    def resolved(self) -> "StackConfig":
        """Settle the SCIM token and write it to ``data_dir/scim-token`` (what tools read).

        Given → that; on loopback → ``DEFAULT_SCIM_TOKEN`` (the scenario's ``targets.scim_token`` default,
        so a stack started by hand and a scenario agree); elsewhere → the folder's token, generated once."""
        data = Path(self.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        path = data / "scim-token"
        token = self.scim_token or (DEFAULT_SCIM_TOKEN if _loopback(self.host) else "")
        if not token:
            token = path.read_text().strip() if path.exists() else secrets.token_urlsafe(24)
        if not path.exists() or path.read_text().strip() != token:
            tmp = path.with_name(f".scim-token.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
            os.replace(tmp, path)
        return StackConfig(**{**self.__dict__, "scim_token": token, "data_dir": str(data.resolve())})

    def to_json(self) -> str:
        d = dict(self.__dict__)
        d["catalogue"] = self.catalogue.to_json()
        d["trust_metadata"] = list(self.trust_metadata)
        d["limits"], d["provisioning"] = asdict(self.limits), asdict(self.provisioning)
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> "StackConfig":
        d = json.loads(text)
        d["catalogue"] = Catalogue.from_json(d["catalogue"])
        d["trust_metadata"], d["idp_scopes"] = tuple(d["trust_metadata"]), tuple(d["idp_scopes"])
        d["limits"], d["provisioning"] = Limits(**d["limits"]), ProvisioningLimits(**d["provisioning"])
        return cls(**d)
