"""suppression_changes_total counts every change, whoever made it (issue 21, standards), on both stores.

Before: only the API's own adds and removes were counted; one-click pages, email requests,
imports and the CLI's changes (which the service follows from the log) left it at zero.
"""

import re
import urllib.request

import pytest

from tests.reliability.helpers import call, deploy, one_click
from tests.security.helpers import send_raw, settled
from tests.support.cli import run_cli
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.both_stores


def change_counts(deployment) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"{deployment.base_url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    return {(action, source): float(n) for action, source, n in re.findall(
        r'^suppression_changes_total\{action="([^"]+)",source="([^"]+)"\} (\S+)$', text, re.MULTILINE)}


def test_changes_are_counted_for_every_source_including_those_the_cli_wrote(tmp_path, store):
    deployment = deploy(tmp_path)
    imported = tmp_path / "list.csv"
    imported.write_text("email\nimported.one@example.com\nimported.two@example.com\n", encoding="utf-8")
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        assert call(deployment, "POST", "/v1/suppressions", {"email": "api@example.com"})[0] == 200
        assert call(deployment, "DELETE", "/v1/suppressions/api@example.com")[0] == 200
        _, link = call(deployment, "POST", "/v1/links", {"email": "clicked@example.com"})
        assert one_click(link["url"]) == 200
        code, message_id = send_raw(deployment.smtp_port, b"From: mailed@example.com\r\nSubject: unsubscribe\r\n\r\n"
                                                          b"Please unsubscribe me.\r\n", "mailed@example.com")
        assert code == 250 and settled(deployment, message_id)["status"] == "request"
        assert run_cli("add", "cli@example.com", config=deployment.config).returncode == 0
        assert run_cli("import", str(imported), config=deployment.config).returncode == 0
        assert call(deployment, "POST", "/v1/subjects/cli@example.com/erase")[0] == 200
        counts = change_counts(deployment)
    assert counts == {
        ("suppress", "api"): 1, ("unsuppress", "api"): 1, ("suppress", "one-click"): 1, ("suppress", "email"): 1,
        ("suppress", "cli"): 1, ("suppress", "import"): 2, ("erase", "erasure"): 1,
    }
