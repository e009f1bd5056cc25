"""The admin CLI (CONTRACT §2) as an admin runs it: `python -m suppression ...`.

Every command runs here at least once as a process of its own (`run_cli`): its exit status, what
it prints, standard input. The rest of each test calls the same entry point in this process
(`cli`), which is the same code without an interpreter's start-up for every line."""

import asyncio
import csv
import io
import json
import sqlite3

import pytest

import suppression.service
from suppression.config import load_settings
from suppression.intake import RequestIntake
from suppression.keyfile import signing_keys
from suppression.model import Scope
from suppression.service import SuppressionService
from suppression.store import SuppressionStore
from tests.support.cli import cli, run_cli
from tests.support.http import free_port
from tests.support.settings import write_config

# Each command as a program from a cold interpreter, as an operator starts it (tests/support/launcher.py).
pytestmark = pytest.mark.cold


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path / "config.toml", tmp_path / "data", free_port(), free_port())


def ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def ok_stderr(result) -> str:
    ok(result)
    return result.stderr


def refused(result, says: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert says in result.stderr


def test_apikey_create_prints_the_key_alone_on_the_last_line_and_stores_only_a_hash(config, tmp_path):
    out = ok(run_cli("apikey", "create", "mailer", "--scope", "check", config=config))
    key = out.strip().splitlines()[-1]
    assert key.startswith("sk_") and " " not in key
    db = sqlite3.connect(tmp_path / "data" / "suppression.sqlite3")
    stored = db.execute("SELECT * FROM api_keys").fetchall()
    assert len(stored) == 1
    assert not any(key.split("_", 2)[2] in str(value) for value in stored[0])
    listing = ok(run_cli("apikey", "list", config=config))
    assert "mailer\tcheck" in listing and key not in listing


def test_apikey_errors(config):
    ok(cli("apikey", "create", "mailer", "--scope", "admin", config=config))
    refused(cli("apikey", "create", "mailer", "--scope", "admin", config=config), "exists already")
    assert cli("apikey", "create", "x", "--scope", "root", config=config).returncode == 2
    refused(cli("apikey", "revoke", "nobody", config=config), "no active API key")
    ok(run_cli("apikey", "revoke", "mailer", config=config))
    assert "revoked" in ok(cli("apikey", "list", config=config))


def test_link_prints_the_url_and_both_header_values(config):
    from suppression.config import load_settings
    from suppression.keyfile import signing_keys
    from suppression.tokens import LinkClaim, verify_token

    url, unsubscribe, post = ok(run_cli("link", "Jane@Example.com", "--topic", "newsletters", config=config)).splitlines()
    assert url.startswith("http://127.0.0.1:") and "/u/" in url
    assert unsubscribe.startswith(f"List-Unsubscribe: <{url}>, <mailto:PLUSinfo@plusnxt.com?subject=unsubscribe%20")
    assert post == "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    asked = ok(cli("link", "jane@example.com", "--topic", "newsletters", "--message-id", config=config))
    message_id = asked.splitlines()[3]
    assert message_id.startswith("Message-ID: <unsubscribe=") and message_id.endswith("@plusnxt.com>")
    minted = message_id.removeprefix("Message-ID: <unsubscribe=").removesuffix("@plusnxt.com>")
    assert verify_token(signing_keys(load_settings(config)), minted) == LinkClaim("jane@example.com", Scope("newsletters"))
    keys = signing_keys(load_settings(config))  # the key the CLI generated and kept
    assert verify_token(keys, url.rsplit("/", 1)[1]) == LinkClaim("jane@example.com", Scope("newsletters"))
    refused(cli("link", "jane@example.com", "--topic", "sports", config=config), "unknown topic")


def test_add_check_remove(config):
    added = json.loads(ok(run_cli("add", "Jane@Example.com", "--reason", "complaint", config=config)))
    assert (added["email"], added["created"], added["reason"], added["source"]) == (
        "jane@example.com", True, "complaint", "cli",
    )
    again = json.loads(ok(cli("add", "jane@example.com", config=config)))
    assert (again["created"], again["reason"]) == (False, "complaint")
    checked = json.loads(ok(run_cli("check", "JANE@example.com", "--topic", "promotions", config=config)))
    assert (checked["suppressed"], checked["scope"], checked["reason"]) == (True, "all", "complaint")
    removed = json.loads(ok(run_cli("remove", "jane@example.com", config=config)))
    assert removed["removed"] is True
    assert json.loads(ok(cli("check", "jane@example.com", config=config)))["suppressed"] is False


def test_topic_scoped_add(config):
    ok(cli("add", "jane@example.com", "--topic", "newsletters", config=config))
    news = json.loads(ok(cli("check", "jane@example.com", "--topic", "newsletters", config=config)))
    everything = json.loads(ok(cli("check", "jane@example.com", config=config)))
    assert (news["suppressed"], news["scope"], everything["suppressed"]) == (True, "newsletters", False)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("check", "not-an-address"), "not an email address"),
        (("add", "jane@example.com", "--topic", "sports"), "unknown topic"),
        (("remove", "@example.com"), "not an email address"),
    ],
)
def test_bad_input_exits_2_with_one_line(config, args, says):
    refused(cli(*args, config=config), says)


def test_bad_usage_and_bad_config_exit_2(config, tmp_path):
    # Bad usage, as bad input, is one line naming what is wrong (argparse printed its usage first).
    refused(run_cli(config=config), "the following arguments are required: COMMAND (see suppression --help)")
    refused(cli("frobnicate", config=config), "invalid choice: 'frobnicate'")
    refused(cli("check", config=config), "required: email (see suppression check --help)")
    refused(cli("inbox", "resolve", "3", config=config), "--suppress --dismiss is required")
    refused(run_cli("check", "a@example.com", config=tmp_path / "missing.toml"), "config file not found")
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[service]\ncompany_name = "Café"\n'.encode("latin-1"))
    refused(cli("check", "a@example.com", config=latin), "not UTF-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    in_a_file = tmp_path / "in-a-file.toml"
    in_a_file.write_text(f'[service]\ndata_dir = "{a_file}"\n')
    refused(cli("check", "a@example.com", config=in_a_file), "is not a folder")


@pytest.mark.parametrize("args", [("inbox", "show", "9223372036854775808"), ("inbox", "show", "1" + "0" * 5000),
                                  ("inbox", "resolve", "-1", "--dismiss", "--note", "x"),
                                  ("inbox", "list", "--after", "99999999999999999999"),
                                  ("campaign", "sent", "may", "18446744073709551616")])
def test_a_number_no_database_row_can_hold_is_a_usage_error(config, args):
    refused(cli(*args, config=config), "whole number below 2**63")


MAILCHIMP = (
    "Email Address,First Name,Last Name,UNSUB_TIME,UNSUB_REASON\n"
    "bob@example.com,Bob,Jones,2024-01-01 10:00:00,\"Too many emails\"\n"
    "ANN@example.org,Ann,Lee,2024-01-02 10:00:00,\n"
)


def test_import_adds_and_reports(config, tmp_path):
    ok(cli("add", "bob@example.com", "--reason", "complaint", config=config))
    path = tmp_path / "mailchimp.csv"
    path.write_text(MAILCHIMP, encoding="utf-8")
    out = ok(run_cli("import", str(path), config=config))
    assert "1 new suppressions, 1 already suppressed" in out
    bob = json.loads(ok(cli("check", "bob@example.com", config=config)))
    ann = json.loads(ok(cli("check", "ann@example.org", config=config)))
    assert (bob["reason"], bob["source"]) == ("complaint", "cli")  # never replaced by an import
    assert (ann["suppressed"], ann["reason"], ann["source"]) == (True, "import", "import")


def test_bad_file_exits_2_with_the_line_and_imports_nothing(config, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("email\nok@example.com\nfine@example.com\nnot an address\n", encoding="utf-8")
    refused(cli("import", str(path), config=config), "line 4:")
    assert json.loads(ok(cli("check", "ok@example.com", config=config)))["suppressed"] is False
    out = ok(cli("import", str(path), "--skip-invalid", config=config))
    assert "2 new suppressions" in out and "1 invalid lines skipped" in out


def test_import_from_stdin_and_missing_file(config, tmp_path):
    out = ok(run_cli("import", "-", "--reason", "bounce", config=config, stdin="address\nx@example.com\n"))
    assert "1 new suppressions" in out
    assert json.loads(ok(cli("check", "x@example.com", config=config)))["reason"] == "bounce"
    refused(cli("import", str(tmp_path / "nope.csv"), config=config), "cannot read")


def test_large_import_reports_progress(config, tmp_path, monkeypatch):
    # Every 100,000 rows; here every 1,000, so that the test imports 2,500 rows and not 250,000.
    monkeypatch.setattr(suppression.service, "_PROGRESS_EVERY", 1_000)
    path = tmp_path / "big.csv"
    path.write_text("email\n" + "".join(f"user{n}@example.com\n" for n in range(2_500)), encoding="utf-8")
    result = cli("import", str(path), config=config)
    assert "2500 new suppressions" in ok(result)
    assert "read 1,000 rows" in result.stderr and "read 2,000 rows" in result.stderr
    assert "read 3,000" not in result.stderr


def test_export_round_trips_through_import(config, tmp_path):
    ok(cli("add", "a@example.com", "--reason", "unsubscribe", config=config))
    ok(cli("add", "b@example.com", "--topic", "newsletters", config=config))
    exported = ok(run_cli("export", config=config))
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["email"], r["topic"], r["reason"], r["source"]) for r in rows] == [
        ("a@example.com", "", "unsubscribe", "cli"), ("b@example.com", "newsletters", "manual", "cli"),
    ]
    other = write_config(tmp_path / "other.toml", tmp_path / "other-data", free_port(), free_port())
    dump = tmp_path / "export.csv"
    dump.write_text(exported, encoding="utf-8")
    ok(cli("import", str(dump), config=other))
    assert ok(cli("export", config=other)).count("\n") == 3
    imported = json.loads(ok(cli("check", "b@example.com", "--topic", "newsletters", config=other)))
    assert (imported["suppressed"], imported["reason"]) == (True, "manual")
    # Where newsletters were taken out of [topics] since, the file is refused with the way back.
    fewer = write_config(tmp_path / "fewer.toml", tmp_path / "fewer-data", free_port(), free_port(),
                         extra='[topics]\npromotions = "Promotions"\n')
    refused(cli("import", str(dump), config=fewer), "goes back into [topics] to import it")


def receive_mail(config, messages: list[tuple[bytes, str]]) -> None:
    """Messages received and handled by the intake, as the server would, before the CLI looks."""

    async def receive():
        settings = load_settings(config)
        service = SuppressionService(settings, SuppressionStore(settings.database_path), signing_keys(settings))
        await service.start(with_index=False)
        intake = RequestIntake(service)
        for raw, sender in messages:
            await intake.receive(raw, sender, ["PLUSinfo@plusnxt.com"])
        await intake.handle_pending()
        await intake.stop()
        await service.stop()

    asyncio.run(receive())


def test_inbox_list_and_show(config, tmp_path):
    receive_mail(config, [
        (b"From: a@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "a@example.com"),
        (b"From: b@example.com\r\nSubject: hours?\r\n\r\nWhen are you open?\r\n", "b@example.com"),
    ])
    listing = ok(run_cli("inbox", "list", config=config)).splitlines()
    assert [line.split("\t")[2] for line in listing] == ["request", "review"]
    columns = listing[0].split("\t")
    assert columns[5] == "a@example.com" and columns[6] > columns[1]  # addresses, then when it is due
    reviews = ok(cli("inbox", "list", "--status", "review", config=config)).splitlines()
    assert len(reviews) == 1 and "hours?" in reviews[0]
    shown = ok(run_cli("inbox", "show", "2", config=config))
    assert '"status": "review"' in shown and "When are you open?" in shown
    refused(cli("inbox", "show", "9", config=config), "no received message 9")


def test_inbox_resolve_suppresses_or_dismisses_once(config, tmp_path):
    receive_mail(config, [
        (f"From: b@example.com\r\nSubject: hi\r\n\r\n{text}\r\n".encode(), "b@example.com")
        # The first names an address that is not one: for a person, whatever the words.
        for text in ("Could you take c@example.com off? And d@@example.com too.", "When are you open?")
    ])
    refused(cli("inbox", "resolve", "1", "--suppress", "not-an-address", config=config), "not an email address")
    refused(cli("inbox", "resolve", "2", "--dismiss", config=config), "note")
    resolved = json.loads(ok(run_cli("inbox", "resolve", "1", "--suppress", "--topic", "newsletters",
                                     "--note", "asked for a colleague", config=config)))
    assert (resolved["status"], resolved["addresses"], resolved["topic"]) == ("resolved", ["c@example.com"], "newsletters")
    assert resolved["resolved_by"].startswith("cli")
    assert json.loads(ok(cli("check", "c@example.com", "--topic", "newsletters", config=config)))["suppressed"]
    refused(cli("inbox", "resolve", "1", "--dismiss", "--note", "again", config=config), "settled already")
    dismissed = json.loads(ok(cli("inbox", "resolve", "2", "--dismiss", "--note", "a question", config=config)))
    assert (dismissed["status"], dismissed["addresses"], dismissed["note"]) == ("dismissed", [], "a question")
    assert cli("inbox", "list", "--status", "lost", config=config).returncode == 2


def test_regression_an_export_with_erased_entries_imports_back(config, tmp_path):
    # Before: `'erased:…' is not an email address`, and the whole file was refused.
    ok(cli("add", "keep@example.com", config=config))
    ok(cli("add", "gone@example.com", config=config))
    ok(run_cli("subject", "erase", "gone@example.com", config=config))
    exported = ok(cli("export", config=config))
    assert "erased:" in exported and "gone@example.com" not in exported
    path = tmp_path / "export.csv"
    path.write_text(exported, encoding="utf-8")
    other = write_config(tmp_path / "other.toml", tmp_path / "other", free_port(), free_port())
    said = ok(cli("import", str(path), config=other))
    assert "1 new suppressions" in said and "1 erased entries left as they are" in said
    assert json.loads(ok(cli("check", "keep@example.com", config=other)))["suppressed"]
    # Into the database that erased it, it is already there, as its keyed hash.
    said = ok(cli("import", str(path), config=config))
    assert "0 new suppressions" in said and "1 erased entries" in said
    assert json.loads(ok(cli("check", "gone@example.com", config=config)))["suppressed"]


def test_importing_an_erased_address_again_changes_nothing(config, tmp_path):
    # Before: a row for all emails, written as the keyed hash, suppressed for all emails an
    # address erased while suppressed for newsletters alone (CONTRACT §7: it changes nothing).
    ok(cli("add", "ron@example.com", "--topic", "newsletters", "--reason", "unsubscribe", config=config))
    ok(cli("subject", "erase", "ron@example.com", config=config))
    path = tmp_path / "again.csv"
    path.write_text("email,reason\nRon@Example.com,unsubscribed\nnew@example.com,\n", encoding="utf-8")
    said = ok(cli("import", str(path), config=config))
    assert "1 new suppressions" in said and "1 erased entries left as they are" in said

    def checks():
        return [json.loads(ok(cli("check", "ron@example.com", *more, config=config)))["suppressed"]
                for more in ((), ("--topic", "newsletters"), ("--purpose", "transactional"))]

    assert checks() == [False, True, False]
    # A bounce is news (a review: a provider's bounce export had lost it): kept, as the keyed hash.
    path.write_text("email,reason\nron@example.com,HardBounce\n", encoding="utf-8")
    assert "1 new suppressions" in ok(cli("import", str(path), config=config))
    assert checks() == [True, True, True]
    assert "ron@example.com" not in ok(cli("export", config=config))


def test_link_warns_when_one_click_cannot_work_over_plain_http(tmp_path):
    config = write_config(tmp_path / "c.toml", tmp_path / "data", free_port(), free_port())
    config.write_text(config.read_text().replace('base_url = "http://127.0.0.1:', 'base_url = "http://u.example:'))
    made = cli("link", "jane@example.com", config=config)
    assert made.returncode == 0 and "List-Unsubscribe-Post only with an https link" in made.stderr
    loopback = write_config(tmp_path / "d.toml", tmp_path / "d", 1, 2)  # a developer's setup
    ok(cli("apikey", "create", "dev", "--scope", "check", config=loopback))  # a list used
    quiet = cli("link", "jane@example.com", config=loopback)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_a_command_that_finds_no_list_says_so_after_its_answer(tmp_path):
    # Before: from another folder than the service's, the relative `./data` was a new one and
    # `check` answered an opted-out address `suppressed: false` with no word of why.
    settings = write_config(tmp_path / "c.toml", tmp_path / "data", free_port(), free_port())
    ok(cli("add", "jane@example.com", config=settings))
    elsewhere, fresh = tmp_path / "elsewhere", tmp_path / "fresh"
    elsewhere.mkdir()
    fresh.mkdir()
    answer = cli("check", "jane@example.com", cwd=elsewhere)  # the embedded defaults: ./data there
    assert json.loads(ok(answer))["suppressed"] is False
    assert answer.stderr.count("\n") == 1
    assert f"warning: the list at {elsewhere / 'data' / 'suppression.sqlite3'} had never been used" in answer.stderr
    assert "run commands where the service runs, or give --config" in answer.stderr
    again = cli("check", "jane@example.com", cwd=elsewhere)
    assert json.loads(ok(again))["suppressed"] is False and "had never been used" in again.stderr  # still unused
    # A refusal keeps its one line, and the list it made is still unused: the next answer says so
    # (a reviewing helper's: said only by a first command that answered, it was never said).
    refused(cli("check", "not an address", cwd=fresh), "address")
    assert "had never been used" in ok_stderr(cli("check", "jane@example.com", cwd=fresh))
    # The quick start's first command makes a key: it uses the list, and says nothing.
    assert "had never been used" not in ok_stderr(cli("apikey", "create", "mailer", "--scope", "check", cwd=fresh))
    assert cli("check", "jane@example.com", cwd=fresh).stderr == ""


def test_a_reader_that_goes_away_ends_the_command_quietly_as_a_unix_tool(config):
    # `suppression export | head -n 1`: once head has what it needs, export's next write meets a
    # closed pipe. A traceback there (found by the docs' own examples) is one to a user.
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT, _env

    ok(run_cli("import", "-", config=config, stdin="".join(f"p{i}@example.com\n" for i in range(3000))))
    for command in (["export"], ["export", "--hash", "sha256"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader has gone before the first write: deterministic
        try:
            done = subprocess.run([sys.executable, "-m", "suppression", "--config", str(config), *command],
                                  stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(),
                                  timeout=120)
        finally:
            os.close(write_end)
        assert done.stderr == "", done.stderr
        assert done.returncode == 141  # as a shell reports a tool ended by SIGPIPE


def test_python_m_suppression_reads_numpy_only_once_serve_has_limited_its_threads():
    # `python -m suppression` imports the package before its __main__. Before: the package's
    # __init__ read NumPy (through the address functions it offers) before handlers/serve.py
    # had set OPENBLAS_NUM_THREADS, so a service started so had a BLAS thread when it forked
    # its [http] workers. Now the package offers them on first use.
    import subprocess
    import sys
    import textwrap

    from tests.support.cli import _env
    from tests.support.paths import ROOT

    probe = textwrap.dedent("""
        import importlib.abc, os, runpy, sys
        seen = []
        class Watch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "numpy":
                    seen.append(os.environ.get("OPENBLAS_NUM_THREADS"))
        sys.meta_path.insert(0, Watch())
        sys.argv = ["suppression", "--help"]
        try:
            runpy.run_module("suppression", run_name="__main__", alter_sys=True)
        except SystemExit:
            pass
        print(seen)
    """)
    env = {name: value for name, value in _env().items() if name != "OPENBLAS_NUM_THREADS"}
    found = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().splitlines()[-1] == "['1']", found.stdout[-500:]


def test_a_command_imports_neither_the_web_app_nor_the_postgresql_driver_it_does_not_need():
    # Each is about a tenth of a second of every command's start (0.38 s -> 0.25 s for --help);
    # the service imports aiohttp when it serves, and psycopg only for a PostgreSQL URL. The mail
    # reader's modules (suppression.inbound) are read by the service's intake and by the one
    # command that exports the desk's labels, not by the others (0.03-0.04 s of each).
    import subprocess
    import sys

    from tests.support.cli import _env
    from tests.support.paths import ROOT

    probe = ("import sys, handlers.serve, suppression.cli, suppression.service;"
             " print(sorted(m for m in ('aiohttp', 'psycopg', 'suppression.inbound') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert (found.returncode, found.stdout.strip()) == (0, "[]"), found.stderr


# Each command below runs here as a program; `serve` runs so from the installed wheel in
# tests/test_packaging.py (and as `python run.py` in tests/test_run.py).
COMMANDS_RUN_AS_PROGRAMS = {
    "apikey create", "apikey list", "apikey revoke", "link", "add", "check", "remove", "import", "export",
    "inbox list", "inbox show", "inbox resolve", "inbox export-labels", "subject export", "subject erase",
    "stats", "campaign sent", "history", "webhooks list", "webhooks replay", "serve",
}


def test_every_command_runs_as_a_program_here():
    from suppression.cli import _parser

    def commands(parser, prefix=""):
        for action in parser._subparsers._group_actions if parser._subparsers else ():
            for name, sub in action.choices.items():
                yield from (commands(sub, f"{prefix}{name} ") if sub._subparsers else [f"{prefix}{name}"])

    assert set(commands(_parser(with_serve=True))) == COMMANDS_RUN_AS_PROGRAMS


def test_the_reading_commands_run_as_programs(config):
    # The commands the tests of their behaviour run in this process or beside a service (forked
    # from tests/support/launcher.py), each once from a cold interpreter.
    ok(run_cli("add", "read@example.com", config=config))
    assert json.loads(ok(run_cli("history", "read@example.com", config=config)).splitlines()[0])["action"] == "suppress"
    assert json.loads(ok(run_cli("subject", "export", "read@example.com", config=config)))["email"] == "read@example.com"
    assert "created" in ok(run_cli("stats", "--by", "reason", config=config))
    ok(run_cli("campaign", "sent", "spring", "100", config=config))
    assert ok(run_cli("webhooks", "list", config=config)) == ""
    refused(run_cli("webhooks", "replay", "nobody", config=config), "nobody")
    assert ok(run_cli("inbox", "export-labels", config=config)) == ""
