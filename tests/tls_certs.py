"""A throwaway self-signed TLS certificate for 127.0.0.1 and localhost, for the TLS tests of
tests/transports and tests/clients.

Imported by name (tests/ has no packages; tests/conftest.py puts this directory on the path),
so the module name is unique across the tree.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["make_tls_pair"]

# Clients check 127.0.0.1 (or localhost) against the subject alternative names, not the common
# name; and they take this very certificate as their CA bundle (botocore's ``verify=``, awscli's
# ``--ca-bundle``), so it is self-signed and marked as a CA.
_SUBJECT = "pachs3 test gateway"
_VALID_DAYS = 2


def make_tls_pair(directory: Path) -> tuple[Path, Path]:
    """(certfile, keyfile) in ``directory``: a self-signed CA:TRUE certificate and its EC key.

    Uses the ``cryptography`` package when installed, else the ``openssl`` command.
    """
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _with_cryptography(cert, key)
    except ImportError:
        _with_openssl(cert, key)
    return cert, key


def _with_cryptography(cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _SUBJECT)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _with_openssl(cert_path: Path, key_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("TLS tests need the cryptography package or the openssl command")
    subprocess.run(
        [
            openssl, "req", "-x509",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", str(_VALID_DAYS), "-subj", f"/CN={_SUBJECT}",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", str(key_path), "-out", str(cert_path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
