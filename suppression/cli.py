"""The admin CLI (CONTRACT §2), thin over service.py.

Exit status: 0 on success, 2 on bad usage or bad input, 1 when the database cannot be used;
always with a one-line reason on stderr.
"""

import argparse
import asyncio
import csv
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn

from suppression.addresses import DOMAIN_PREFIX, HASHES
from suppression.apikeys import ROLES
from suppression.config import Settings, links_are_plain_http, load_settings
from suppression.csv_import import opened
from suppression.errors import InvalidValue, StoreUnavailable, SuppressionError
from suppression.keyfile import signing_keys
from suppression.claims import PURPOSES
from suppression.review import INBOX_STATUSES
from suppression.service import REASONS, SuppressionService
from suppression.model import Actor, Scope, Source, row_number
from suppression.stats import BY
from suppression.records import change_record, message_record, subject_record, suppression_record

EXIT_OK, EXIT_UNAVAILABLE, EXIT_BAD_INPUT = 0, 1, 2
EXIT_READER_GONE = 128 + 13  # as a shell reports a tool ended by SIGPIPE (`suppression export | head`)


class CommandLine(argparse.ArgumentParser):
    """Bad usage ends as bad input does: exit 2 with a one-line reason on stderr (CONTRACT §2).
    argparse's own printed its usage lines first, which for the longer commands wrapped."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _whole(text: str) -> int:
    """A whole number a database row can hold (an id, a count): anything else is a usage error."""
    number = row_number(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"expected a whole number below 2**63, not {text[:30]!r}")
    return number


def main(argv: list[str] | None = None, serve: Callable[[str | None], int] | None = None) -> int:
    """Run one admin command; `serve` (given by the installed command) starts the service."""
    args = _parser(with_serve=serve is not None).parse_args(argv)
    if args.command == "serve":
        return serve(args.serve_config or args.config)
    try:
        settings = load_settings(args.config)
        status = asyncio.run(_run(settings, args.command_fn, args))
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return status
    except BrokenPipeError:
        # Whoever read stdout has what they wanted: stop quietly, as a Unix tool does, and
        # keep the interpreter's last flush from meeting the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_READER_GONE
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except SuppressionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted; nothing more was written", file=sys.stderr)
        return 130


async def _run(settings: Settings, command: Callable[..., Awaitable[int]], args) -> int:
    service = SuppressionService.of_settings(settings, signing_keys(settings))
    await service.start(with_index=False)
    try:
        status = await command(service, args)
        # Still never used once the command is done: no change and no key (the first `apikey
        # create` of a new list uses it). A refusal keeps its one line (CONTRACT §2).
        unused = status == 0 and not settings.store.url and not (
            await service.store.changes_after(0, 1) or await service.store.list_api_keys())
    finally:
        await service.stop()
    if unused:
        _warn_the_list_is_new(settings)
    return status


def _warn_the_list_is_new(settings: Settings) -> None:
    # A relative data_dir is the working directory's: run from another folder, `check` would
    # answer from a new, empty list that an address is not suppressed, and a mailing be sent.
    print(f"warning: the list at {settings.database_path.absolute()} had never been used (no change,"
          " no key); a relative data_dir is read from the working directory: run commands where"
          " the service runs, or give --config", file=sys.stderr)


def _actor() -> Actor:
    try:
        return Actor.of_cli_user(getpass.getuser())
    except (KeyError, OSError):
        return Actor.CLI


def _print_json(value: dict) -> None:
    print(json.dumps(value, ensure_ascii=False))


# -- commands ---------------------------------------------------------------------------


async def apikey_create(service: SuppressionService, args) -> int:
    key = await service.api_keys.create_api_key(args.name, args.scope)
    print(f"Created {args.scope} key {args.name!r}. It is shown only now; store it safely:", file=sys.stderr)
    print(key)
    return EXIT_OK


async def apikey_list(service: SuppressionService, args) -> int:
    for name, scope, created, revoked in await service.store.list_api_keys():
        state = f"revoked {revoked}" if revoked else "active"
        print(f"{name}\t{scope}\tcreated {created}\t{state}")
    return EXIT_OK


async def apikey_revoke(service: SuppressionService, args) -> int:
    await service.api_keys.revoke_api_key(args.name)
    print(f"revoked {args.name!r}; running servers refuse it within 30 seconds")
    return EXIT_OK


async def check(service: SuppressionService, args) -> int:
    result = await service.check(args.email, Scope.of_topic(args.topic), args.purpose)
    _print_json(result.as_dict())
    return EXIT_OK


async def add(service: SuppressionService, args) -> int:
    until = service.until_of(args.until) if args.until is not None else None
    row, created = await service.suppress(args.email, Scope.of_topic(args.topic), args.reason, Source.CLI, _actor(),
                                          until=until)
    extra = {"until": row.until} if row.until is not None else {}
    _print_json({"email": row.email, "topic": row.scope.topic, "created": created, **suppression_record(row), **extra})
    return EXIT_OK


async def remove(service: SuppressionService, args) -> int:
    scope = Scope.of_topic(args.topic)
    email, removed = await service.unsuppress(args.email, scope, Source.CLI, _actor())
    _print_json({"email": email, "topic": scope.topic, "removed": removed})
    return EXIT_OK


async def link(service: SuppressionService, args) -> int:
    made = service.links.mint_link(args.email, Scope.of_topic(args.topic), args.campaign)
    if links_are_plain_http(service.settings):
        print(f"warning: base_url is {service.settings.service.base_url}: mailbox providers honour"
              " List-Unsubscribe-Post only with an https link (RFC 8058 §3.1)", file=sys.stderr)
    print(made.url)
    print(f"List-Unsubscribe: {made.list_unsubscribe}")
    print(f"List-Unsubscribe-Post: {made.list_unsubscribe_post}")
    if args.message_id:
        print(f"Message-ID: {made.message_id}")
    return EXIT_OK


async def import_file(service: SuppressionService, args) -> int:
    skipped = []

    def on_invalid(line: int, text: str, why: str) -> None:
        skipped.append(line)
        print(f"skipped line {line}: {text[:100]!r} is not an address ({why})", file=sys.stderr)

    def on_progress(rows: int) -> None:
        print(f"read {rows:,} rows...", file=sys.stderr, flush=True)

    try:
        source = opened(sys.stdin.buffer if args.file == "-" else open(args.file, "rb"))
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with source:
        report = await service.import_lines(
            source, _actor(), args.reason, on_invalid if args.skip_invalid else None, on_progress
        )
    erased = (f", {report.erased} erased entries left as they are (an erasure keeps what each was"
              " suppressed for)") if report.erased else ""
    print(
        f"imported {args.file}: {report.added} new suppressions, "
        f"{report.rows - report.added} already suppressed, {len(skipped)} invalid lines skipped{erased}"
    )
    return EXIT_OK


async def inbox_list(service: SuppressionService, args) -> int:
    """One line a message, oldest first: id, received, status, sender, subject, addresses
    suppressed (or, under review, found), due."""
    page, _ = await service.review.inbox(args.status, str(args.after), args.limit)
    for m in page:
        print("\t".join([
            str(m.id), m.received_at, m.status, m.sender or m.mail_from or "<>",
            " ".join((m.subject or "").split())[:80], ",".join(m.addresses or m.found), service.review.due(m),
        ]))
    return EXIT_OK


async def inbox_resolve(service: SuppressionService, args) -> int:
    if args.dismiss and args.topic:
        raise InvalidValue("--dismiss suppresses nothing: give no --topic")
    message = await service.review.resolve(
        args.id, "dismiss" if args.dismiss else "suppress", _actor(), args.suppress or None,
        Scope.of_topic(args.topic), args.note,
    )
    _print_json(message_record(message, service.review.due(message)))
    return EXIT_OK


async def inbox_show(service: SuppressionService, args) -> int:
    message = await service.review.inbox_message(args.id)
    print(json.dumps(message_record(message, service.review.due(message)), ensure_ascii=False, indent=2))
    print()
    sys.stdout.write(message.raw.decode("utf-8", "replace") if message.raw is not None else "(raw text removed)\n")
    return EXIT_OK


async def inbox_export_labels(service: SuppressionService, args) -> int:
    """Every decision a person made at the desk, as the reader's corpus records (JSON lines),
    for `python -m suppression.inbound.train --labels FILE`. Erased people's words are gone
    from the messages, and so from here."""
    # Here, not at the top: the mail reader's modules are a sixth of every other command's start.
    from suppression.inbound.corpus import desk_label

    after = None
    while True:
        page, after = await service.review.inbox(None, after, 1000)
        for m in page:
            label = desk_label(m.id, m.status, m.sender, m.words, m.addresses)
            if label is not None:
                _print_json(label)
        if not page:
            return EXIT_OK


async def stats(service: SuppressionService, args) -> int:
    """Suppressions created and lifted per bucket, as GET /v1/stats answers: one JSON object a row."""
    report = await service.statistics.report(args.from_day, args.to_day, args.by)
    print(f"# from {report.first} to {report.last}, by {report.by}", file=sys.stderr)
    for row in report.rows:
        _print_json(row.as_dict())
    return EXIT_OK


async def campaign_sent(service: SuppressionService, args) -> int:
    campaign, sent = await service.record_sent(args.campaign, args.sent)
    _print_json({"campaign": campaign, "sent": sent})
    return EXIT_OK


async def history(service: SuppressionService, args) -> int:
    """Every change for one address, oldest first, one JSON object a line."""
    _, changes = await service.rights.history(args.email)
    for change in changes:
        _print_json(change_record(change))
    return EXIT_OK


async def subject_export(service: SuppressionService, args) -> int:
    subject = await service.rights.subject(args.email)
    print(json.dumps(subject_record(subject, service.review.due), ensure_ascii=False, indent=2))
    return EXIT_OK


async def subject_erase(service: SuppressionService, args) -> int:
    email, suppressed = await service.rights.erase(args.email, _actor())
    _print_json({"email": email, "erased": True, "suppressed": suppressed})
    return EXIT_OK


async def export(service: SuppressionService, args) -> int:
    if args.hash is not None:
        # One digest a suppressed address (once, whatever its topics), for partners who must not see addresses.
        digest, seen = HASHES[args.hash], set()
        async for row in service.export():
            if row.email not in seen and not row.email.startswith(DOMAIN_PREFIX):  # a domain has no address digest
                seen.add(row.email)
                sys.stdout.write(digest(row.email.encode("utf-8")).hexdigest() + "\n")
        return EXIT_OK
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["email", "topic", "reason", "source", "since"])
    async for row in service.export():
        writer.writerow([row.email, row.scope.stored, row.reason, row.source, row.since])  # all emails: empty
    return EXIT_OK


async def webhooks_list(service: SuppressionService, args) -> int:
    """Each configured receiver's state, one JSON object a line."""
    if not service.settings.webhooks:
        print("no [[webhooks]] receivers in the config (see config.example.toml)", file=sys.stderr)
    for receiver in service.settings.webhooks:
        state = await service.store.receiver(receiver.url)
        if state is None:
            _print_json({"receiver": receiver.label, "state": "not started: the service has not run with it yet"})
            continue
        backlog = await service.store.backlog(state.cursor)
        _print_json({
            "receiver": receiver.label,
            "state": "disabled" if state.disabled_at else ("retrying" if state.attempts else "delivering"),
            "delivered_up_to": state.cursor,
            "backlog": backlog.events,
            "oldest_waiting": backlog.oldest_at,
            "attempts": state.attempts,
            "failing_since": state.failing_since,
            "next_attempt_at": state.next_attempt_at,
            "last_error": state.last_error,
            "disabled_at": state.disabled_at,
            "events": list(receiver.events) or "all",
        })
    return EXIT_OK


async def webhooks_replay(service: SuppressionService, args) -> int:
    matching = [r for r in service.settings.webhooks if args.receiver in (r.label, r.url)]
    if not matching:
        known = ", ".join(r.label for r in service.settings.webhooks) or "none configured"
        raise InvalidValue(f"no receiver {args.receiver!r} in the config (receivers: {known})")
    state = await service.store.replay_receiver(matching[0].url, args.from_event)
    _print_json({"receiver": matching[0].label, "delivers_after": state.cursor, "state": "delivering"})
    return EXIT_OK


# -- arguments --------------------------------------------------------------------------


def _parser(with_serve: bool = False) -> argparse.ArgumentParser:
    parser = CommandLine(prog="suppression", description="Administer the suppression list.")
    parser.add_argument(
        "--config", default=os.environ.get("SUPPRESSION_CONFIG"),
        help="TOML configuration file (default: $SUPPRESSION_CONFIG, else embedded defaults)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if with_serve:
        start = commands.add_parser("serve", help="start the service (HTTP, SMTP, workers) until SIGTERM or Ctrl-C")
        start.add_argument("--config", dest="serve_config", help="TOML configuration file (as before the command)")

    apikey = commands.add_parser("apikey", help="create, list and revoke API keys")
    apikey_commands = apikey.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    create = apikey_commands.add_parser("create", help="create a key; prints it on the last line")
    create.add_argument("name")
    create.add_argument("--scope", choices=ROLES, required=True)  # a key's role
    create.set_defaults(command_fn=apikey_create)
    apikey_commands.add_parser("list", help="list keys (never their secrets)").set_defaults(command_fn=apikey_list)
    revoke = apikey_commands.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(command_fn=apikey_revoke)

    for name, fn, text in (
        ("link", link, "print the unsubscribe link and the two header values"),
        ("check", check, "is an address suppressed?"),
        ("add", add, "suppress an address"),
        ("remove", remove, "lift a suppression"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("email")
        sub.add_argument("--topic", help="a topic id from the config (default: all emails)")
        if name == "add":
            sub.add_argument("--reason", choices=REASONS, default="manual")
            sub.add_argument("--until", help="a pause: suppressed until this ISO 8601 time (UTC unless it says)")
        if name == "check":
            sub.add_argument("--purpose", choices=PURPOSES, default="promotional",
                             help="transactional: only bounces, complaints and blocks count")
        if name == "link":
            sub.add_argument("--message-id", action="store_true",
                             help="also print a Message-ID header whose replies prove the recipient (a fourth line)")
            sub.add_argument("--campaign", metavar="ID",
                             help="the send it is for (1-64 of A-Za-z0-9._-), carried hidden in the link and"
                                  " recorded with the suppression it makes")
        sub.set_defaults(command_fn=fn)

    imp = commands.add_parser("import", help="add the suppressions of a CSV file (only adds)")
    imp.add_argument("file", help="CSV file, or - for standard input")
    imp.add_argument("--reason", choices=REASONS, help="reason for every row (default: from the file, else import)")
    imp.add_argument("--skip-invalid", action="store_true", help="skip invalid addresses instead of refusing the file")
    imp.set_defaults(command_fn=import_file)

    inbox = commands.add_parser("inbox", help="mail received at the request addresses")
    inbox_commands = inbox.add_subparsers(dest="inbox_command", required=True, metavar="ACTION")
    listing = inbox_commands.add_parser("list", help="one line a message: id, time, status, sender, subject, addresses")
    listing.add_argument("--status", choices=INBOX_STATUSES)
    listing.add_argument("--after", type=_whole, default=0, help="only messages after this id")
    listing.add_argument("--limit", type=_whole, default=1000)
    listing.set_defaults(command_fn=inbox_list)
    show = inbox_commands.add_parser("show", help="a message's outcome, reasons and raw text")
    show.add_argument("id", type=_whole)
    show.set_defaults(command_fn=inbox_show)
    resolve = inbox_commands.add_parser(
        "resolve", help="decide a message under review: --suppress [EMAIL ...] or --dismiss --note TEXT")
    resolve.add_argument("id", type=_whole)
    decision = resolve.add_mutually_exclusive_group(required=True)
    decision.add_argument("--suppress", nargs="*", metavar="EMAIL",
                          help="honour it: the EMAILs given, else the addresses found, else the sender")
    decision.add_argument("--dismiss", action="store_true", help="end it without suppressing anything (needs --note)")
    resolve.add_argument("--topic", help="a topic id (default: all emails)")
    resolve.add_argument("--note", help="why; kept with the message")
    resolve.set_defaults(command_fn=inbox_resolve)
    inbox_commands.add_parser(
        "export-labels", help="the desk's decisions as labelled examples for the reader (JSON lines)",
    ).set_defaults(command_fn=inbox_export_labels)

    exporting = commands.add_parser("export", help="write every suppression as CSV to stdout")
    exporting.add_argument("--hash", choices=tuple(HASHES), help="instead: one hex digest of each suppressed address a line")
    exporting.set_defaults(command_fn=export)

    counting = commands.add_parser(
        "stats", help="suppressions created and lifted per day, campaign, topic, source, reason or why")
    counting.add_argument("--from", dest="from_day", metavar="YYYY-MM-DD", help="first day, UTC (default: 30 days to --to)")
    counting.add_argument("--to", dest="to_day", metavar="YYYY-MM-DD", help="last day, UTC (default: today)")
    counting.add_argument("--by", choices=BY, default="day")
    counting.set_defaults(command_fn=stats)
    sending = commands.add_parser("campaign", help="campaigns: record how many a send went to")
    sending_commands = sending.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")
    sent = sending_commands.add_parser("sent", help="set how many recipients a campaign was sent to")
    sent.add_argument("campaign")
    sent.add_argument("sent", type=_whole)
    sent.set_defaults(command_fn=campaign_sent)

    proof = commands.add_parser("history", help="every change for an address, oldest first, one JSON object a line")
    proof.add_argument("email")
    proof.set_defaults(command_fn=history)
    subject = commands.add_parser("subject", help="a person's rights: what is held about an address")
    subject_commands = subject.add_subparsers(dest="subject_command", required=True, metavar="ACTION")
    exported = subject_commands.add_parser("export", help="everything held about an address, as JSON")
    exported.add_argument("email")
    exported.set_defaults(command_fn=subject_export)
    erased = subject_commands.add_parser("erase", help="forget an address, keeping its opt-out as a keyed hash")
    erased.add_argument("email")
    erased.set_defaults(command_fn=subject_erase)

    hooks = commands.add_parser("webhooks", help="the [[webhooks]] receivers: their state, and replays")
    hook_commands = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    hook_commands.add_parser("list", help="each receiver's state, backlog and last error, one JSON object a line"
                             ).set_defaults(command_fn=webhooks_list)
    replay = hook_commands.add_parser(
        "replay", help="deliver again every event after --from (default: where it stopped); enables a disabled one")
    replay.add_argument("receiver", help="its name, or its URL")
    replay.add_argument("--from", dest="from_event", type=_whole, metavar="EVENT",
                        help="the number of the last event it should be treated as having (as in webhook-id)")
    replay.set_defaults(command_fn=webhooks_replay)
    return parser
