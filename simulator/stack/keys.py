"""Signing keys: RSA-2048 + self-signed X.509 certificate per entity, generated
into the data folder on first start and loaded once per process (loading a PEM
key per request costs ~50 ms; signing with a loaded key ~1 ms).

SAML metadata carries the certificate (SAML 2.0 Metadata, OASIS 2005, §2.4.1.1
``KeyDescriptor``); trust is "this certificate for this entityID".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["KeyPair", "load_or_create", "secret_key"]


@dataclass(frozen=True)
class KeyPair:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    cert_pem: str
    key_path: Path
    cert_path: Path

    @property
    def cert_b64(self) -> str:
        """Base64 DER, as in ``ds:X509Certificate``."""
        return "".join(self.cert_pem.strip().splitlines()[1:-1])


def load_or_create(data_dir: str | Path, name: str, common_name: str) -> KeyPair:
    """``data_dir/<name>.key`` + ``<name>.crt``; created atomically if missing."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = data_dir / f"{name}.key", data_dir / f"{name}.crt"
    if not (key_path.exists() and cert_path.exists()):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "examday reference stack")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        _atomic_write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()), 0o600)
        _atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    cert_pem = cert_path.read_text()
    return KeyPair(key=key, cert=x509.load_pem_x509_certificate(cert_pem.encode()), cert_pem=cert_pem,
                   key_path=key_path, cert_path=cert_path)


def secret_key(data_dir: str | Path) -> bytes:
    """The HMAC key for session cookies, shared by all workers (``data_dir/cookie.key``)."""
    path = Path(data_dir) / "cookie.key"
    if not path.exists():
        _atomic_write(path, os.urandom(32), 0o600)
    return hashlib.sha256(path.read_bytes()).digest()


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # first writer wins; a concurrent worker keeps the winner's key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
