"""Keys and secrets: API keys only hashed at rest and never logged, tokens never logged in full,
addresses kept out of the log, and the key files' modes checked at start-up."""

import signal
import urllib.request

from suppression.apikeys import split_api_key
from tests.reliability.helpers import SIGNING_KEY, call, deploy, one_click, smtp_send
from tests.support.cli import cli
from tests.support.http import api_call
from tests.support.service import ServiceProcess

ADDRESS = "secret.person@example.com"


def test_the_log_and_the_database_never_hold_a_key_and_the_log_no_token_or_address(tmp_path):
    deployment = deploy(tmp_path)
    check = cli("apikey", "create", "mailer", "--scope", "check", config=deployment.config).stdout.split()[-1]
    link = deployment.link(ADDRESS, "newsletters")
    token = link.rsplit("/", 1)[1]
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        # Every path a key, a token or an address travels, the failing ones included.
        assert api_call(service.base_url, "GET", f"/v1/suppressions/{ADDRESS}", check)[0] == 200
        assert api_call(service.base_url, "GET", f"/v1/suppressions/{ADDRESS}", check + "x")[0] == 401
        assert api_call(service.base_url, "POST", "/v1/suppressions", check, {"email": ADDRESS})[0] == 403
        assert call(deployment, "POST", "/v1/links", {"email": ADDRESS})[0] == 200
        with urllib.request.urlopen(link, timeout=30) as page:
            assert page.status == 200
        assert one_click(link[:-3] + "AAA") == 400
        assert one_click(link) == 200
        assert smtp_send(deployment.smtp_port, "other.person@example.com", "m1") == 250
        assert call(deployment, "POST", "/v1/suppressions", {"email": "bad@@example.com"})[0] == 400
        code, log = service.stop(signal.SIGTERM)
    assert code == 0
    for secret in (deployment.admin_key, check, SIGNING_KEY):
        key_id, secret_part = split_api_key(secret) if secret.startswith("sk_") else ("", secret)
        assert secret_part not in log
    assert token not in log and token[:40] not in log
    assert ADDRESS not in log and "other.person@example.com" not in log
    stored = b"".join(p.read_bytes() for p in deployment.data_dir.glob("suppression.sqlite3*"))
    for secret in (deployment.admin_key, check):
        assert split_api_key(secret)[1].encode() not in stored
