"""Numbered migrations, applied in order at start-up and recorded in PRAGMA user_version.

Append a new entry for every change; never edit one that has shipped.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: suppressions, the append-only change log (audit trail and change feed), API keys.
    """
    CREATE TABLE suppressions (
        email      TEXT NOT NULL,             -- canonical address (suppression/addresses.py)
        topic      TEXT NOT NULL,             -- '' is "all emails"
        key        INTEGER NOT NULL,          -- index key: 64-bit hash of email, as signed
        reason     TEXT NOT NULL,
        source     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (email, topic)
    ) WITHOUT ROWID;
    -- Start-up loads each topic's keys from this index alone, in order.
    CREATE INDEX suppressions_topic_key ON suppressions (topic, key);

    CREATE TABLE changes (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('suppress', 'unsuppress')),
        email  TEXT NOT NULL,
        topic  TEXT NOT NULL,
        reason TEXT,
        source TEXT NOT NULL,
        actor  TEXT NOT NULL
    );
    -- The proof for one address: its history without scanning the whole log.
    CREATE INDEX changes_email ON changes (email);
    CREATE TRIGGER changes_append_only_update BEFORE UPDATE ON changes
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER changes_append_only_delete BEFORE DELETE ON changes
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

    CREATE TABLE api_keys (
        key_id      TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        scope       TEXT NOT NULL CHECK (scope IN ('check', 'admin')),
        secret_hash TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
    );
    """,
)
