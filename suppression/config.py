"""Typed, frozen settings, read once from TOML; every key and default is in config.example.toml."""

import base64
import binascii
import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import stat
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from suppression.addresses import normalise_address
from suppression.errors import ConfigError, InvalidAddress
from suppression.model import ALL_NAME

MIN_KEY_BYTES = 32
MIN_LINK_DAYS = 60
MAX_WORKERS = 64
TOPIC_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

log = logging.getLogger(__name__)

DEFAULT_TOPICS = {
    "newsletters": "Email newsletters",
    "promotions": "Promotions and offers",
    "product-updates": "Product updates",
}


@dataclass(frozen=True)
class ServiceSettings:
    base_url: str = "http://127.0.0.1:8080"
    data_dir: Path = Path("./data")
    company_name: str = "PLUS"
    log_level: str = "INFO"


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_json_bytes: int = 64 * 1024 * 1024
    # Processes answering HTTP on the same port (SO_REUSEPORT); 0: one per core. The first does
    # everything; the others answer checks from the shared index and pass the rest to it
    # (docs/operations.md, "Workers").
    workers: int = 1

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass(frozen=True)
class SmtpSettings:
    enabled: bool = True  # false: no SMTP listener (mail comes only from [imap])
    host: str = "127.0.0.1"
    port: int = 8025
    request_addresses: tuple[str, ...] = ("PLUSinfo@plusnxt.com",)
    max_message_bytes: int = 10 * 1024 * 1024
    idle_timeout_seconds: int = 60  # a session that sends nothing this long is closed
    max_session_seconds: int = 600  # no session lasts longer, however busy
    max_connections: int = 200  # open sessions in all
    max_connections_per_client: int = 20  # open sessions from one IP address
    max_connections_per_network: int = 50  # open sessions from one IPv4 /24 or IPv6 /56
    sender_messages_per_hour: int = 100  # from one envelope sender; beyond: 450, the sending MTA retries
    sender_requests_per_day: int = 10  # honoured requests naming other people's addresses, per sender
    trusted_authserv_ids: tuple[str, ...] = ()  # Authentication-Results from these hosts are believed
    tls_cert_file: str = ""  # PEM; with tls_key_file, STARTTLS is offered (never required)
    tls_key_file: str = ""
    sender_bytes_per_hour: int = 50 * 1024 * 1024  # from one envelope sender (<>: one client address)
    max_stored_mail_bytes: int = 2 * 1024 * 1024 * 1024  # raw mail kept in all; beyond: 452
    # Fair shares of that room (suppression/mail_shares.py): one client network, one envelope
    # sender, and the last part kept for mail carrying our token.
    stored_mail_percent_per_network: int = 10
    stored_mail_percent_per_sender: int = 2
    stored_mail_percent_reserved: int = 10
    message_read_seconds: int = 10  # longest one message may take to read; slower ones go to review
    message_first_look_seconds: float = 0.5  # past it, a message is read again beside the others (slow_mail.py)
    null_sender_messages_per_hour: int = 1000  # from <> (bounces, reports), per client IP address
    # Requests honoured on the word of the From header or the text alone (no token, no reply
    # to our Message-ID, no DMARC pass): per client network (IPv4 /24, IPv6 /56) and in all.
    unproven_requests_per_network_per_hour: int = 10
    unproven_requests_per_hour: int = 100
    # Mail servers that relay mail to this listener (the same host's MTA by default): the
    # network of mail from them is the one their own Received header names (docs/email.md).
    trusted_relays: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    reader_model: str = ""  # a judge.npz of your own (python -m suppression.inbound.train); "": the shipped one


@dataclass(frozen=True)
class SigningSettings:
    secret_keys: tuple[str, ...] = ()
    max_age_days: int = 0  # 0: links never expire


@dataclass(frozen=True)
class ReplySettings:
    enabled: bool = False
    relay_host: str = "127.0.0.1"
    relay_port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = ""
    from_address: str = ""  # empty: the first request address
    subject: str = "You are unsubscribed"
    come_back_per_day: int = 3  # confirmations to come back an address may ask for a day


@dataclass(frozen=True)
class ReviewSettings:
    due_hours: int = 48  # a message a person must decide is overdue this long after it came


@dataclass(frozen=True)
class PreferenceSettings:
    # The preference centre offers "pause all emails" for each of these numbers of days.
    pause_days: tuple[int, ...] = (30, 90)


MAX_PAUSE_DAYS = 3650


@dataclass(frozen=True)
class RetentionSettings:
    raw_message_days: int = 90  # a settled message's raw text is removed this long after it came


@dataclass(frozen=True)
class StoreSettings:
    url: str = ""  # empty: the embedded SQLite file in data_dir; else postgresql://user@host/db
    pool_size: int = 10  # PostgreSQL connections this instance keeps at most


@dataclass(frozen=True)
class ImapSettings:
    host: str = ""  # empty: no mailbox intake
    port: int = 993
    tls: bool = True  # implicit TLS (IMAPS); false only for a server on this machine
    ca_file: str = ""  # PEM: trust this CA too (a private server's certificate)
    username: str = ""
    password: str = ""  # LOGIN; or, instead:
    oauth2_token_file: str = ""  # XOAUTH2: a file holding a current access token, read at each login
    mailbox: str = "INBOX"
    keyword: str = "$SuppressionStored"  # set on each message once it is stored
    move_to: str = ""  # also move each stored message to this mailbox (needs MOVE)
    poll_seconds: int = 60  # how often to look when the server offers no IDLE
    recipient: str = ""  # recorded as the envelope recipient; empty: the first request address
    timeout_seconds: int = 60  # one command not answered within this ends the session (it reconnects)


# The event types a receiver can be sent (CONTRACT §9).
EVENT_TYPES = ("suppression.created", "suppression.removed", "suppression.claim_removed", "subject.erased",
               "review.opened")
WEBHOOK_SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str  # "whsec_" + base64 of 24 to 64 random bytes (Standard Webhooks)
    # During a rotation each event is signed with both, so the receiver can switch at its pace.
    previous_secret: str = ""
    events: tuple[str, ...] = ()  # empty: every event type
    name: str = ""  # how logs, metrics and the CLI call it; empty: the URL's host and path
    timeout_seconds: float = 15.0  # one attempt that takes longer has failed (Standard Webhooks: 15-30 s)
    first_retry_seconds: float = 5.0  # the first wait after a failure; doubled each time after
    max_retry_seconds: float = 3600.0  # the longest wait between attempts; retries never stop

    @property
    def label(self) -> str:
        """Its name, or its host and port and a digest of its URL: what /metrics (open to anyone
        who reaches it) and the log call it. Never the URL's user, password, path or query:
        each may carry the receiver's own secret (Basic auth; a token in the path, as Slack's
        and Zapier's hooks have). The digest keeps receivers on one host apart; keyed with the
        receiver's signing secret, so that a weak password in the URL cannot be tried against it."""
        if self.name:
            return self.name
        url = urlsplit(self.url)
        host = f"[{url.hostname}]" if ":" in (url.hostname or "") else url.hostname or ""
        port = f":{url.port}" if url.port is not None else ""
        digest = hmac.new(self.secret.encode(), self.url.encode(), hashlib.sha256).hexdigest()[:8]
        return f"{host}{port}#{digest}"

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    reply: ReplySettings = field(default_factory=ReplySettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    preferences: PreferenceSettings = field(default_factory=PreferenceSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    webhooks: tuple[WebhookSettings, ...] = ()
    imap: ImapSettings = field(default_factory=ImapSettings)
    topics: types.MappingProxyType = field(
        default_factory=lambda: types.MappingProxyType(dict(DEFAULT_TOPICS))
    )

    @property
    def database_path(self) -> Path:
        return self.service.data_dir / "suppression.sqlite3"

    def with_overrides(self, **sections) -> "Settings":
        """A copy with whole sections replaced; for tests and tools that derive settings."""
        return dataclasses.replace(self, **sections)


_SECTIONS = {
    "service": ServiceSettings,
    "http": HttpSettings,
    "smtp": SmtpSettings,
    "signing": SigningSettings,
    "reply": ReplySettings,
    "review": ReviewSettings,
    "preferences": PreferenceSettings,
    "retention": RetentionSettings,
    "store": StoreSettings,
    "imap": ImapSettings,
}


def load_settings(path: str | Path | None) -> Settings:
    """Read the TOML file at path (None: embedded defaults) into validated Settings."""
    if path is None:
        return _validated(Settings())
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {path}") from None
    except PermissionError:
        raise ConfigError(f"config file cannot be read (permission denied): {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text, as TOML must be") from None
    settings = settings_from_mapping(raw)
    _warn_if_secrets_exposed(path, settings)
    return settings


def links_are_plain_http(settings: Settings) -> bool:
    """Whether links go out over plain http beyond this machine (base_url, or the listener, is
    not loopback): their tokens travel in the clear, and mailbox providers ignore
    List-Unsubscribe-Post without an https link (RFC 8058 §3.1). A loopback base_url on a
    loopback listener is a developer's machine."""
    url = urlsplit(settings.service.base_url)
    return url.scheme == "http" and not (_is_loopback(url.hostname or "") and _is_loopback(settings.http.host))


def _is_loopback(host: str) -> bool:
    host = host.lower().strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def warn_if_links_are_plain_http(settings: Settings) -> None:
    if links_are_plain_http(settings):
        log.warning("service.base_url is %s: put https in front and make base_url https://..., or links and their"
                    " tokens travel in the clear and mailbox providers ignore one-click unsubscribes (RFC 8058)",
                    settings.service.base_url)


def _warn_if_secrets_exposed(path: Path, settings: Settings) -> None:
    # A warning, not a refusal: the file is the operator's, and may sit in a protected folder.
    if not (settings.signing.secret_keys or settings.reply.password or settings.webhooks or settings.imap.password):
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("config file %s holds signing keys, webhook secrets or a password and is readable by others"
                    " (mode %o); run: chmod 600 %s", path, mode, path)


def settings_from_mapping(raw: dict) -> Settings:
    """Build Settings from a parsed TOML document; unknown keys and wrong types are errors."""
    sections = {}
    for name, value in raw.items():
        if name == "topics":
            sections["topics"] = _topics(value)
        elif name == "webhooks":
            sections["webhooks"] = _webhooks(value)
        elif name in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"config key {name}: expected a table [{name}]")
            sections[name] = _section(_SECTIONS[name], name, value)
        else:
            raise ConfigError(f"unknown config key: {name}")
    return _validated(Settings(**sections))


def _section(cls, name: str, table: dict):
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in table.items():
        if key not in hints:
            raise ConfigError(f"unknown config key: {name}.{key}")
        values[key] = _coerce(f"{name}.{key}", hints[key], value)
    return cls(**values)


def _coerce(key: str, kind, value):
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is Path:
        if isinstance(value, str) and value:
            return Path(value)
    elif typing.get_origin(kind) is tuple and typing.get_args(kind)[0] is int:
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
        raise ConfigError(f"config key {key}: expected a list of integers")
    elif typing.get_origin(kind) is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"config key {key}: expected a list of strings")
    raise ConfigError(f"config key {key}: expected {_describe(kind)}, got {type(value).__name__}")


def _describe(kind) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path"}.get(kind, str(kind))


def _topics(table) -> types.MappingProxyType:
    if not isinstance(table, dict):
        raise ConfigError("config key topics: expected a table [topics]")
    for topic, label in table.items():
        if topic == ALL_NAME:
            raise ConfigError(f"config key topics.{topic}: '{ALL_NAME}' means every topic; choose another id")
        if not TOPIC_ID.fullmatch(topic):
            raise ConfigError(
                f"config key topics.{topic}: a topic id is lower-case letters, digits, '-' or '_'"
            )
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"config key topics.{topic}: expected a non-empty string label")
    return types.MappingProxyType(dict(table))


def _webhooks(value) -> tuple[WebhookSettings, ...]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError("config key webhooks: expected [[webhooks]] tables")
    receivers = []
    for number, table in enumerate(value, start=1):
        where = f"webhooks[{number}]"
        for required in ("url", "secret"):
            if required not in table:
                raise ConfigError(f"config key {where}.{required}: required")
        receiver = _section(WebhookSettings, where, table)
        _check_webhook(where, receiver)
        receivers.append(receiver)
    for key in ("url", "label"):
        seen = [getattr(r, key) for r in receivers]
        if len(seen) != len(set(seen)):
            raise ConfigError(f"config key webhooks: two receivers have the same {'url' if key == 'url' else 'name'};"
                              " give each its own url and name")
    return tuple(receivers)


def _check_webhook_secret(key: str, secret: str) -> None:
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ConfigError(f"config key {key}: expected a Standard Webhooks secret, 'whsec_' + base64"
                          " (e.g. python -c \"import base64, secrets; print('whsec_' +"
                          " base64.b64encode(secrets.token_bytes(32)).decode())\")")
    try:
        raw = base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"config key {key}: the part after 'whsec_' is not base64") from None
    if not 24 <= len(raw) <= 64:
        # The specification's bounds: shorter can be guessed from signatures offline.
        raise ConfigError(f"config key {key}: expected 24 to 64 bytes after 'whsec_', got {len(raw)}")


def _check_webhook(where: str, receiver: WebhookSettings) -> None:
    url = urlsplit(receiver.url)
    try:
        url.port  # noqa: B018 (a port that is no number raises here, not when the label is made)
    except ValueError:
        raise ConfigError(f"config key {where}.url: expected an http(s) URL") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"config key {where}.url: expected an http(s) URL")
    if url.scheme == "http" and url.hostname not in ("127.0.0.1", "::1", "localhost"):
        log.warning("config key %s.url is plain http: the events name people's addresses; use https", where)
    _check_webhook_secret(f"{where}.secret", receiver.secret)
    if receiver.previous_secret:
        _check_webhook_secret(f"{where}.previous_secret", receiver.previous_secret)
    unknown = [e for e in receiver.events if e not in EVENT_TYPES]
    if unknown:
        raise ConfigError(f"config key {where}.events: unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}")
    if not 0 < receiver.timeout_seconds <= 300:
        raise ConfigError(f"config key {where}.timeout_seconds: expected more than 0 and at most 300")
    if not 0 < receiver.first_retry_seconds <= receiver.max_retry_seconds:
        raise ConfigError(f"config key {where}.first_retry_seconds: expected more than 0 and at most max_retry_seconds")


_IMAP_ATOM = re.compile(r"\$?[A-Za-z0-9_.-]{1,64}")


def _check_imap(imap: ImapSettings) -> None:
    if not imap.host:
        return
    if not imap.username:
        raise ConfigError("config key imap.username: required when imap.host is set")
    if bool(imap.password) == bool(imap.oauth2_token_file):
        raise ConfigError("config keys imap.password and imap.oauth2_token_file: set one of them (LOGIN or XOAUTH2)")
    if not imap.tls and imap.host not in ("127.0.0.1", "::1", "localhost"):
        # The password, and every message, would cross the network in the clear.
        raise ConfigError("config key imap.tls: false is allowed only for a server on this machine")
    if not 0 < imap.port <= 65535:
        raise ConfigError("config key imap.port: expected a port from 1 to 65535")
    if not _IMAP_ATOM.fullmatch(imap.keyword):
        raise ConfigError("config key imap.keyword: expected a keyword such as $SuppressionStored (letters, digits, $ _ . -)")
    if imap.poll_seconds < 1 or imap.timeout_seconds < 1:
        raise ConfigError("config keys imap.poll_seconds and imap.timeout_seconds: expected 1 or more")
    for key in ("mailbox", "move_to"):
        if any(c in getattr(imap, key) for c in '"\r\n\\'):
            raise ConfigError(f"config key imap.{key}: a mailbox name without quotes, backslashes or line breaks")
    if imap.recipient:
        try:
            normalise_address(imap.recipient)
        except InvalidAddress:
            raise ConfigError("config key imap.recipient: not an email address") from None


def _validated(settings: Settings) -> Settings:
    for relay in settings.smtp.trusted_relays:
        try:
            ipaddress.ip_network(relay, strict=False)
        except ValueError:
            raise ConfigError(f"config key smtp.trusted_relays: {relay[:64]!r} is not an IP address or network") from None
    if settings.service.data_dir.exists() and not settings.service.data_dir.is_dir():
        raise ConfigError(f"config key service.data_dir: {settings.service.data_dir} is not a folder")
    url = urlsplit(settings.service.base_url)
    if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
        raise ConfigError("config key service.base_url: expected an http(s) origin such as https://unsub.example.com")
    for key, port in (
        ("http.port", settings.http.port), ("smtp.port", settings.smtp.port),
        ("reply.relay_port", settings.reply.relay_port),
    ):
        if not 0 <= port <= 65535:
            raise ConfigError(f"config key {key}: expected a port from 0 to 65535")
    if not 0 <= settings.http.workers <= MAX_WORKERS:
        raise ConfigError(f"config key http.workers: expected 0 (one per core) to {MAX_WORKERS}")
    for key, size in (
        ("http.max_json_bytes", settings.http.max_json_bytes),
        ("smtp.max_message_bytes", settings.smtp.max_message_bytes),
    ):
        if size < 1024:
            raise ConfigError(f"config key {key}: expected at least 1024 bytes")
    for key in (
        "idle_timeout_seconds", "max_session_seconds", "max_connections", "max_connections_per_client",
        "max_connections_per_network",
        "sender_messages_per_hour", "sender_requests_per_day", "sender_bytes_per_hour",
        "max_stored_mail_bytes", "message_read_seconds", "null_sender_messages_per_hour",
        "unproven_requests_per_network_per_hour", "unproven_requests_per_hour",
    ):
        if getattr(settings.smtp, key) < 1:
            raise ConfigError(f"config key smtp.{key}: expected 1 or more")
    if not settings.smtp.message_first_look_seconds > 0:
        raise ConfigError("config key smtp.message_first_look_seconds: expected more than 0")
    for key in ("stored_mail_percent_per_network", "stored_mail_percent_per_sender", "stored_mail_percent_reserved"):
        if not 1 <= getattr(settings.smtp, key) <= 100:
            raise ConfigError(f"config key smtp.{key}: expected a percentage from 1 to 100")
    if settings.smtp.stored_mail_percent_reserved == 100:
        raise ConfigError("config key smtp.stored_mail_percent_reserved: leave some room for other mail (below 100)")
    if not settings.smtp.request_addresses:
        raise ConfigError("config key smtp.request_addresses: list at least one address")
    for address in settings.smtp.request_addresses:
        try:
            normalise_address(address)
        except InvalidAddress as exc:
            raise ConfigError(f"config key smtp.request_addresses: {address!r} is not an address ({exc})") from None
    if any(len(key.encode("utf-8")) < MIN_KEY_BYTES for key in settings.signing.secret_keys):
        # A short key can be guessed offline from any one link, and then forged for anyone.
        raise ConfigError(f"config key signing.secret_keys: each key must be at least {MIN_KEY_BYTES} bytes"
                          " (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    if settings.store.url and urlsplit(settings.store.url).scheme not in ("postgresql", "postgres"):
        raise ConfigError("config key store.url: expected a PostgreSQL URL such as postgresql://suppression@db/suppression"
                          " (or leave it empty for the embedded SQLite file)")
    if not 1 <= settings.store.pool_size <= 1000:
        raise ConfigError("config key store.pool_size: expected 1 to 1000 connections")
    if bool(settings.smtp.tls_cert_file) != bool(settings.smtp.tls_key_file):
        raise ConfigError("config keys smtp.tls_cert_file and smtp.tls_key_file: set both (STARTTLS) or neither")
    if settings.smtp.reader_model:
        from suppression.inbound.judge import checked_judge  # the reader's modules, only when a model is named

        try:
            checked_judge(Path(settings.smtp.reader_model))
        except (OSError, ValueError) as exc:  # all that load_judge raises for a file it cannot use
            raise ConfigError(f"config key smtp.reader_model: cannot use {settings.smtp.reader_model!r} ({exc})") from None
    _check_imap(settings.imap)
    if settings.retention.raw_message_days < 0:
        raise ConfigError("config key retention.raw_message_days: expected 0 or more days")
    if any(not 1 <= days <= MAX_PAUSE_DAYS for days in settings.preferences.pause_days):
        raise ConfigError(f"config key preferences.pause_days: each must be 1 to {MAX_PAUSE_DAYS} days")
    if settings.review.due_hours < 0:
        raise ConfigError("config key review.due_hours: expected 0 or more hours")
    if settings.signing.max_age_days < 0:
        raise ConfigError("config key signing.max_age_days: expected 0 (never expire) or more days")
    if 0 < settings.signing.max_age_days < MIN_LINK_DAYS:
        # CAN-SPAM gives people 30 days to use a link, Canada's CASL 60.
        raise ConfigError(f"config key signing.max_age_days: links must work for at least {MIN_LINK_DAYS} days"
                          " (Canada's CASL); use 0 for links that never expire")
    if settings.reply.come_back_per_day < 1:
        raise ConfigError("config key reply.come_back_per_day: expected 1 or more")
    if settings.reply.from_address:
        try:
            normalise_address(settings.reply.from_address)
        except InvalidAddress:
            raise ConfigError("config key reply.from_address: not an email address") from None
    if settings.service.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("config key service.log_level: expected DEBUG, INFO, WARNING or ERROR")
    return settings
