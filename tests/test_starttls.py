"""STARTTLS on the SMTP intake (CONTRACT §1): offered when a certificate and key are set, never
required. A real client verifies a self-signed certificate made here."""

import asyncio
import ipaddress
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import handlers.smtp
from handlers.app import build_app
from handlers.state import INTAKE, SERVICE, SMTP_SERVER
from suppression.config import settings_from_mapping
from suppression.errors import ConfigError
from tests.support.cli import _env
from tests.support.http import free_port
from tests.support.paths import ROOT
from tests.support.settings import make_settings, write_config
from tests.test_smtp import in_thread, smtp_port, wait_until

REQUEST = b"From: tls.user@example.com\r\nSubject: unsubscribe\r\n\r\nPlease unsubscribe me.\r\n"


def self_signed(folder) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return str(cert_file), str(key_file)


def session(port: int, cafile: str | None, use_tls: bool) -> tuple[bool, str | None, int]:
    """(STARTTLS offered, TLS version used or None, reply to DATA)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        offered = client.has_extn("starttls")
        version = None
        if use_tls:
            client.starttls(context=ssl.create_default_context(cafile=cafile))
            client.ehlo("client.example")
            version = client.sock.version()
        client.mail("tls.user@example.com")
        client.rcpt("PLUSinfo@plusnxt.com")
        code, _ = client.data(REQUEST)
    return offered, version, code


async def test_starttls_is_offered_and_verified_and_plain_mail_still_works(aiohttp_client, tmp_path):
    cert, key = self_signed(tmp_path)
    client = await aiohttp_client(build_app(make_settings(tmp_path / "data", smtp={"tls_cert_file": cert,
                                                                                    "tls_key_file": key})))
    offered, version, code = await in_thread(session, smtp_port(client), cert, True)
    assert (offered, code) == (True, 250) and version in ("TLSv1.2", "TLSv1.3")
    offered, version, code = await in_thread(session, smtp_port(client), None, False)  # never required
    assert (offered, version, code) == (True, None, 250)
    await client.app[INTAKE].handle_pending()
    assert (await client.app[SERVICE].check("tls.user@example.com")).suppressed


async def test_starttls_succeeds_while_other_sessions_keep_every_turn_busy(aiohttp_client, tmp_path):
    """Before: a session waited for its turn after "220 Ready to start TLS", before aiosmtpd
    started TLS; the client's first TLS bytes, sent meanwhile, were read as commands, and with
    the turns busy every handshake failed (a third of them with 60 clients pipelining VRFY)."""
    cert, key = self_signed(tmp_path)
    client = await aiohttp_client(build_app(make_settings(tmp_path / "data", smtp={"tls_cert_file": cert,
                                                                                    "tls_key_file": key})))
    turns, busy = client.app[SMTP_SERVER].turns, True

    async def another_session():  # its commands take a place each turn, as a flood's would
        while busy:
            await turns.take()
            time.sleep(0.0001)

    others = [asyncio.create_task(another_session()) for _ in range(100)]
    try:
        for _ in range(3):
            offered, version, code = await in_thread(session, smtp_port(client), cert, True)
            assert (offered, code) == (True, 250) and version in ("TLSv1.2", "TLSv1.3")
    finally:
        busy = False
        await asyncio.gather(*others)


def served_certificate(port: int) -> bytes:
    """The certificate the SMTP server presents after STARTTLS (not verified: we compare it)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.starttls(context=context)
        return client.sock.getpeercert(binary_form=True)


async def _true(value: bool) -> bool:
    return value


def pem_to_der(cert_file: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(Path(cert_file).read_text())


async def test_a_renewed_certificate_is_served_after_sighup(aiohttp_client, tmp_path, caplog):
    (tmp_path / "one").mkdir(), (tmp_path / "two").mkdir()
    cert, key = self_signed(tmp_path / "one")
    client = await aiohttp_client(build_app(make_settings(tmp_path / "data", smtp={"tls_cert_file": cert,
                                                                                    "tls_key_file": key})))
    assert await in_thread(served_certificate, smtp_port(client)) == pem_to_der(cert)
    renewed, renewed_key = self_signed(tmp_path / "two")
    (tmp_path / "two" / "key.pem").rename(key)  # key first: a half-done renewal must not break TLS
    os.kill(os.getpid(), signal.SIGHUP)
    assert await wait_until(lambda: _true("kept the certificate in use" in caplog.text))
    assert await in_thread(served_certificate, smtp_port(client)) == pem_to_der(cert)  # mismatched pair: kept
    (tmp_path / "two" / "cert.pem").rename(cert)
    os.kill(os.getpid(), signal.SIGHUP)
    assert await wait_until(lambda: in_thread(lambda: served_certificate(smtp_port(client)) == pem_to_der(cert)))
    offered, version, code = await in_thread(session, smtp_port(client), cert, True)  # verifies against the new one
    assert (offered, code) == (True, 250) and version


async def test_a_certificate_file_replaced_on_disk_is_served_without_a_signal(aiohttp_client, tmp_path, monkeypatch):
    monkeypatch.setattr(handlers.smtp, "CERTIFICATE_CHECK_SECONDS", 0.05)
    (tmp_path / "one").mkdir(), (tmp_path / "two").mkdir()
    cert, key = self_signed(tmp_path / "one")
    client = await aiohttp_client(build_app(make_settings(tmp_path / "data", smtp={"tls_cert_file": cert,
                                                                                    "tls_key_file": key})))
    first = await in_thread(served_certificate, smtp_port(client))
    renewed, renewed_key = self_signed(tmp_path / "two")
    os.replace(renewed_key, key)
    os.replace(renewed, cert)
    assert await wait_until(lambda: in_thread(lambda: served_certificate(smtp_port(client)) != first))
    assert await in_thread(served_certificate, smtp_port(client)) == pem_to_der(cert)


async def test_without_a_certificate_starttls_is_not_offered(client):
    offered, _, code = await in_thread(session, smtp_port(client), None, False)
    assert (offered, code) == (False, 250)


def test_a_certificate_without_its_key_is_refused():
    with pytest.raises(ConfigError, match="set both"):
        settings_from_mapping({"smtp": {"tls_cert_file": "/etc/cert.pem"}})


def test_an_unreadable_certificate_stops_start_up_with_exit_2(tmp_path):
    http = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", http, free_port(),
                          extra=f'tls_cert_file = "{tmp_path}/missing.pem"\ntls_key_file = "{tmp_path}/missing.key"\n')
    started = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config)], capture_output=True,
                             text=True, timeout=60, cwd=tmp_path, env=_env())
    assert started.returncode == 2, started.stderr
    assert "cannot load them" in started.stderr
