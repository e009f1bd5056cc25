"""The service's words (suppression/model.py): one spelling each, the same text stored and
returned, and every one of them in docs/api.md."""

import json
import re
from pathlib import Path

from suppression.apikeys import ROLES, ApiKey
from suppression.model import Actor, Reason, Role, Source
from suppression.store.rows import source_of_stored

API_DOCS = Path(__file__).parent.parent / "docs" / "api.md"


def test_every_source_has_its_row_in_the_api_docs_and_no_other():
    text = API_DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^  \| `([a-z-]+)` \|", text, re.M))
    assert documented == {source.value for source in Source}


def test_every_reason_is_named_in_the_api_docs():
    text = API_DOCS.read_text(encoding="utf-8")
    reasons = text[text.index("- **Reasons**"):text.index("- **A source says")]
    assert all(f"`{reason.value}`" in reasons for reason in Reason)


def test_actors_are_spelled_as_the_audit_trail_keeps_them():
    assert [Actor.of_api_key("mailer"), Actor.of_desk("ops"), Actor.of_cli_user("root"), Actor.of_message(12)] == [
        "api:mailer", "desk:ops", "cli:root", "email:12"]
    assert (Actor.RECIPIENT, Actor.CONFIRMATION, Actor.CLI) == ("recipient", "confirmation", "cli")
    # The same text wherever it goes: JSON, and as a dict key beside plain strings.
    assert json.dumps([Actor.of_message(3), Source.ONE_CLICK, Reason.BLOCK]) == '["email:3", "one-click", "block"]'
    assert {"desk": 1}[Source.DESK] == 1


def test_a_desk_decision_written_before_migration_18_reads_as_desk_and_nothing_else_changes():
    assert source_of_stored("email:42") == Source.DESK
    assert [source_of_stored(s.value) for s in Source] == list(Source)


def test_a_role_includes_those_before_it():
    assert ROLES == ("check", "sync", "admin")
    sync = ApiKey("id", "name", Role.SYNC, "hash")
    assert [sync.allows(role) for role in Role] == [True, True, False]
    assert not ApiKey("id", "name", "owner", "hash").allows(Role.CHECK)  # an unknown role allows nothing
