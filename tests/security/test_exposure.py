"""Nothing personal in logs, answers or world-readable files; nothing that names our software.

Driven against the service as a process: its log is what an operator's log collector gets.
"""

import asyncio
import socket
import stat
import struct
import time
import urllib.error
import urllib.request

import pytest

from tests.reliability.helpers import call, deploy
from tests.security.helpers import send_raw, settled
from tests.support.cli import cli
from tests.support.http import free_port
from tests.support.service import ServiceProcess
from tests.support.settings import write_config
from tests.test_replies import relay  # noqa: F401 (the relay fixture)

VICTIM = "victim.person@example.com"


def named_request(text: str) -> bytes:
    return f"From: <helper@example.org>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: unsubscribe\r\n\r\n{text}\r\n".encode()


async def test_addresses_reach_the_log_only_masked(tmp_path, relay):  # noqa: F811
    deployment = await asyncio.to_thread(deploy, tmp_path, extra_smtp="")  # the relay runs on this loop
    config = deployment.config.read_text() + f"\n[reply]\nenabled = true\nrelay_port = {relay.port}\n"
    deployment.config.write_text(config)
    service = ServiceProcess(deployment.config, deployment.http_port, tmp_path)
    await asyncio.to_thread(service.start)  # blocking calls in threads: the relay runs on this loop
    try:
        _, named = await asyncio.to_thread(
            send_raw, deployment.smtp_port, named_request(f"Please unsubscribe {VICTIM}"), "helper@example.org")
        assert (await asyncio.to_thread(settled, deployment, named))["addresses"] == [VICTIM]
        for _ in range(500):  # the confirmation is sent in the background, through the relay on this loop
            if relay.envelopes:
                break
            await asyncio.sleep(0.02)
        assert relay.envelopes[0].rcpt_tos == ["helper@example.org"]
        status, _ = await asyncio.to_thread(call, deployment, "GET", "/v1/suppressions/victim.person@example..com")
        assert status == 400
        # The same address with another "@" (full-width, small, percent-encoded) is refused with
        # the value quoted in the answer, and masked in the log all the same.
        for spelled in ("victim.person%EF%BC%A0example.com", "victim.person%EF%B9%ABexample.com",
                        "victim.person%2540example.com",
                        # Characters repr escapes, and quotes, inside the local part.
                        "victim.person%E2%80%8B@example.com", "%22victim.person%22@example.com.",
                        "victim.person%22@example.com"):
            status, _ = await asyncio.to_thread(call, deployment, "GET", f"/v1/suppressions/{spelled}")
            assert status == 400, spelled
        status, _ = await asyncio.to_thread(call, deployment, "POST", "/v1/suppressions",
                                            {"email": "victim.person%40example.com"})
        assert status == 400
        code, log = await asyncio.to_thread(service.stop)
    finally:
        service.__exit__(None, None, None)
    assert code == 0, log[-3000:]
    assert "message %d: request v\u2022\u2022\u2022@example.com" % named in log  # the intake's line, masked
    assert "confirmation sent to h\u2022\u2022\u2022@example.org" in log  # the reply's line, masked
    assert "GET /v1/suppressions/{email} -> 400: 'v\u2022\u2022\u2022@example..com'" in log
    assert log.count("v\u2022\u2022\u2022@example.com' is not") == 6  # the four "@" masked alike, and two local parts with a zero-width space or a quote
    for secret in ("victim.person", "helper@example.org", deployment.admin_key):
        assert secret not in log


def test_an_overlong_request_line_is_not_echoed_in_the_answer_or_the_log(tmp_path):
    deployment = deploy(tmp_path)
    token = "SECRETTOKEN" * 1000
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        with socket.create_connection(("127.0.0.1", deployment.http_port), timeout=30) as sock:
            sock.sendall(f"GET /u/{token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
        assert b"SECRETTOKEN" not in answer
        # A part header that aiohttp warns of, quoting it, with whatever a stranger put in it.
        form = f'--B\r\nContent-Disposition: form-data; name="{VICTIM}\r\n\r\nx\r\n--B--\r\n'.encode()
        signin = urllib.request.Request(f"{deployment.base_url}/admin/signin", data=form, method="POST",
                                        headers={"Content-Type": "multipart/form-data; boundary=B"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(signin, timeout=30)
        assert refused.value.code == 400
        refused.value.close()
        # A field's name is the client's to choose, line breaks and all.
        forged = "2026-12-06 00:00:00,000 ERROR handlers.app: FORGED"
        status, _ = call(deployment, "POST", "/v1/links", {"email": "x@example.com", f"z\n{forged}": 1})
        assert status == 400
        # A client that goes away halfway through sending a body: one line, no traceback.
        with socket.create_connection(("127.0.0.1", deployment.http_port), timeout=30) as sock:
            sock.sendall(f"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {deployment.admin_key}\r\n"
                         "Content-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n".encode() + b"a@b.c\n" * 1000)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, not a close
        assert wait_for_log(service, "a client went away before its request was answered")
        _, log = service.stop()
    assert "malformed HTTP request refused with 400: LineTooLong" in log
    assert "Traceback" not in log
    assert "SECRETTOKEN" not in log and VICTIM not in log
    assert "FORGED" in log and not any(line.startswith(forged) for line in log.splitlines())


def wait_for_log(service: ServiceProcess, text: str, attempts: int = 500) -> bool:
    """Whether the service's log says `text` within a bounded poll (the line follows the reset)."""
    for _ in range(attempts):
        if text in service.output:
            return True
        time.sleep(0.02)
    return False


def modes(folder) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}


def test_data_dir_and_every_file_in_it_are_for_the_service_user_alone(tmp_path):
    deployment = deploy(tmp_path)
    deployment.data_dir.chmod(0o755)  # an operator's loose folder is tightened at start
    (deployment.data_dir / "suppression.sqlite3").chmod(0o644)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        assert send_raw(deployment.smtp_port, named_request("hello"), "a@example.org")[0] == 250
        found = modes(deployment.data_dir)
        _, log = service.stop()
    assert {"suppression.sqlite3", "suppression.sqlite3-wal", "suppression.sqlite3-shm"} <= set(found)
    assert found.pop("data") == 0o700
    assert all(mode == 0o600 for mode in found.values()), found
    assert "was readable by others (mode 755); it is now 700" in log
    assert "index-snapshot.npz" in modes(deployment.data_dir)  # written at stop, 0600 too
    assert all(mode & 0o077 == 0 for mode in modes(deployment.data_dir).values())


@pytest.mark.parametrize("key", ["k", "short-key-of-31-bytes-012345678"])
def test_short_signing_keys_stop_start_up(tmp_path, key):
    http = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", http, free_port(),
                          extra=f'\n[signing]\nsecret_keys = ["{key}"]\n')
    config.chmod(0o600)
    result = cli("check", "a@example.com", config=config)
    assert result.returncode == 2 and "at least 32 bytes" in result.stderr


def test_the_smtp_banner_names_no_software_or_version(tmp_path):
    deployment = deploy(tmp_path)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        with socket.create_connection(("127.0.0.1", deployment.smtp_port), timeout=30) as sock:
            banner = sock.recv(1024)
            sock.sendall(b"EHLO client.example\r\n")
            ehlo = sock.recv(4096)
    assert banner.startswith(b"220 ") and banner.rstrip().endswith(b" ESMTP")
    for text in (banner, ehlo):
        assert b"Python" not in text and b"1.4" not in text and b"aiosmtpd" not in text.lower()


@pytest.mark.parametrize("space", ["\x0b", "\x0c", "\x1c", "\x1f", " \t"])
async def test_the_text_bulk_check_strips_what_the_single_check_strips(client, admin_key, space):
    from tests.support.http import bearer

    await client.post("/v1/suppressions", json={"email": "jane@example.com"}, headers=bearer(admin_key))
    line = f"jane@example.com{space}"
    single = await client.get(f"/v1/suppressions/{line}", headers=bearer(admin_key))
    as_json = await client.post("/v1/check", json={"emails": [line]}, headers=bearer(admin_key))
    as_text = await client.post("/v1/check", data=f"bob@example.com\n{line}\n".encode(),
                                headers={**bearer(admin_key), "Content-Type": "text/plain"})
    assert (await single.json())["suppressed"] is True
    assert (await as_json.json())["suppressed"] == [line]
    assert await as_text.text() == f"{line}\n"
