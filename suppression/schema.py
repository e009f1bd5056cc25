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
    # 2: mail to the request addresses, kept raw with its outcome; replies sent (one a day).
    """
    CREATE TABLE inbox (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at  TEXT NOT NULL,
        mail_from    TEXT NOT NULL,          -- SMTP envelope sender ('' for <>)
        rcpt_to      TEXT NOT NULL,          -- JSON list of envelope recipients
        size         INTEGER NOT NULL,
        raw          BLOB NOT NULL,          -- the message exactly as received
        status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                         ('pending', 'request', 'automatic', 'bounce', 'complaint', 'review')),
        reasons      TEXT,                   -- JSON list: why it got its status
        addresses    TEXT,                   -- JSON list: addresses suppressed because of it
        topic        TEXT,
        sender       TEXT,
        subject      TEXT,
        message_id   TEXT,
        processed_at TEXT
    );
    CREATE INDEX inbox_status ON inbox (status, id);

    CREATE TABLE replies (
        email   TEXT NOT NULL,
        day     TEXT NOT NULL,               -- UTC date: at most one reply an address a day
        sent_at TEXT NOT NULL,
        PRIMARY KEY (email, day)
    ) WITHOUT ROWID;
    """,
    # 3: facts about this database; database_id tells its index snapshot from another's.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('database_id', lower(hex(randomblob(16))));
    """,
    # 4: the receiving MTA's verdict on each message's sender; requests naming other people's
    # addresses, per sender, for the daily limit.
    """
    ALTER TABLE inbox ADD COLUMN authentication TEXT;
    CREATE TABLE sender_requests (
        sender  TEXT NOT NULL,               -- lower-cased From (or envelope) address
        at      TEXT NOT NULL,
        message INTEGER NOT NULL REFERENCES inbox (id)
    );
    CREATE INDEX sender_requests_by_sender ON sender_requests (sender, at);
    """,
    # 5: the per-sender limit counts addresses, not messages (one message naming 300 people
    # used one of ten a day); received mail's size in all is read at start from inbox.size.
    """
    ALTER TABLE sender_requests ADD COLUMN addresses INTEGER NOT NULL DEFAULT 1;
    -- A message handled twice is counted once.
    CREATE INDEX sender_requests_by_message ON sender_requests (message);
    """,
    # 6: the review desk. A message a person decides ends `resolved` (suppressions made) or
    # `dismissed`, with who, when and a note; mail to postmaster is kept as `postmaster`. The
    # reader keeps the addresses it found and the person's own words (read in its child process,
    # never again in the service). SQLite cannot change a CHECK: the table is rebuilt.
    """
    CREATE TABLE inbox_new (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at  TEXT NOT NULL,
        mail_from    TEXT NOT NULL,
        rcpt_to      TEXT NOT NULL,
        size         INTEGER NOT NULL,
        raw          BLOB,                   -- NULL once retention has removed it
        status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                         ('pending', 'request', 'automatic', 'bounce', 'complaint', 'review',
                          'resolved', 'dismissed', 'postmaster')),
        reasons      TEXT,
        addresses    TEXT,
        topic        TEXT,
        sender       TEXT,
        subject      TEXT,
        message_id   TEXT,
        processed_at TEXT,
        authentication TEXT,
        found        TEXT,                   -- JSON list: addresses the reader found (for the desk)
        words        TEXT,                   -- the person's own words, as the reader saw them
        resolved_at  TEXT,
        resolved_by  TEXT,
        note         TEXT
    );
    INSERT INTO inbox_new (id, received_at, mail_from, rcpt_to, size, raw, status, reasons, addresses,
                           topic, sender, subject, message_id, processed_at, authentication)
        SELECT id, received_at, mail_from, rcpt_to, size, raw, status, reasons, addresses,
               topic, sender, subject, message_id, processed_at, authentication FROM inbox;
    DROP TABLE inbox;
    ALTER TABLE inbox_new RENAME TO inbox;
    CREATE INDEX inbox_status ON inbox (status, id);
    """,
    # 7: API keys of scope `sync` (the whole list: change feed and history, no writes). SQLite
    # cannot change a CHECK: the table is rebuilt.
    """
    CREATE TABLE api_keys_new (
        key_id      TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        scope       TEXT NOT NULL CHECK (scope IN ('check', 'sync', 'admin')),
        secret_hash TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
    );
    INSERT INTO api_keys_new SELECT key_id, name, scope, secret_hash, created_at, revoked_at FROM api_keys;
    DROP TABLE api_keys;
    ALTER TABLE api_keys_new RENAME TO api_keys;
    """,
    # 8: erasure. The change log takes an `erase` action and a detail (the cursors an erasure
    # replaced); its one permitted update replaces an address by its keyed hash, nothing else.
    # erased_subjects keeps, per erased address, only keyed hashes: what checks match it by.
    """
    CREATE TABLE changes_new (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('suppress', 'unsuppress', 'erase')),
        email  TEXT NOT NULL,
        topic  TEXT NOT NULL,
        reason TEXT,
        source TEXT NOT NULL,
        actor  TEXT NOT NULL,
        detail TEXT                           -- JSON, for an erase: the cursors it replaced
    );
    INSERT INTO changes_new (id, at, action, email, topic, reason, source, actor)
        SELECT id, at, action, email, topic, reason, source, actor FROM changes;
    DROP TABLE changes;
    ALTER TABLE changes_new RENAME TO changes;
    CREATE INDEX changes_email ON changes (email);
    CREATE TRIGGER changes_append_only_update BEFORE UPDATE ON changes
    WHEN NOT (NEW.email LIKE 'erased:%' AND OLD.email NOT LIKE 'erased:%' AND NEW.id = OLD.id
              AND NEW.at = OLD.at AND NEW.action = OLD.action AND NEW.topic = OLD.topic
              AND NEW.reason IS OLD.reason AND NEW.source IS OLD.source AND NEW.actor IS OLD.actor
              AND (NEW.detail IS OLD.detail OR NEW.detail IS json_remove(OLD.detail, '$.why_text')))
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only; only an erasure may replace an address by its keyed hash'); END;
    CREATE TRIGGER changes_append_only_delete BEFORE DELETE ON changes
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

    CREATE TABLE erased_subjects (
        record     TEXT PRIMARY KEY,          -- 'erased:' + HMAC-SHA256 of the canonical address
        key        INTEGER NOT NULL,          -- its keyed index key
        sha256_key INTEGER NOT NULL,          -- keyed keys of its digests, for hashed checks
        md5_key    INTEGER NOT NULL,
        at         TEXT NOT NULL,
        actor      TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 9: webhooks (CONTRACT §9). `events` is the durable outbox: triggers append one row for each
    # change logged and each message put before a person, in the change log's order and in the
    # same transaction, whichever process wrote it; only while a receiver is configured. Its data
    # is read at delivery from the rows it names, so an erasure reaches what is not yet sent.
    # Each receiver's row keeps how far it has got and how its retries stand, across restarts.
    """
    CREATE TABLE webhook_receivers (
        url             TEXT PRIMARY KEY,
        cursor          INTEGER NOT NULL,     -- the last event it has had (or did not want)
        generation      INTEGER NOT NULL DEFAULT 0,  -- bumped by a replay: progress saved for an
                                              -- older generation is not applied
        added_at        TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,  -- failed attempts at the next event
        failing_since   TEXT,
        next_attempt_at TEXT,
        last_error      TEXT,
        disabled_at     TEXT,                 -- set when it answered 410 Gone
        disabled_reason TEXT
    ) WITHOUT ROWID;
    CREATE TABLE events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        type    TEXT NOT NULL,
        at      TEXT NOT NULL,
        change  INTEGER,                      -- changes.id, for suppression.* and subject.erased
        message INTEGER                       -- inbox.id, for review.opened
    );
    CREATE TRIGGER events_of_changes AFTER INSERT ON changes
    WHEN EXISTS (SELECT 1 FROM webhook_receivers)
    BEGIN
        INSERT INTO events (type, at, change) VALUES (
            CASE NEW.action WHEN 'suppress' THEN 'suppression.created'
                            WHEN 'unsuppress' THEN 'suppression.removed' ELSE 'subject.erased' END,
            NEW.at, NEW.id);
    END;
    CREATE TRIGGER events_of_review AFTER UPDATE OF status ON inbox
    WHEN NEW.status = 'review' AND OLD.status IS NOT 'review' AND EXISTS (SELECT 1 FROM webhook_receivers)
    BEGIN
        INSERT INTO events (type, at, message)
        VALUES ('review.opened', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NEW.id);
    END;
    """,
    # 10: mail read from a mailbox over IMAP names where it came from (a keyed digest of server,
    # mailbox, UIDVALIDITY and UID), so a message read again after a crash between storing it
    # and marking it on the server is stored once.
    """
    ALTER TABLE inbox ADD COLUMN origin TEXT;
    CREATE UNIQUE INDEX inbox_origin ON inbox (origin) WHERE origin IS NOT NULL;
    """,
    # 11: a message stored straight into review (one read from a mailbox that is over the size
    # limit) is put before a person too: review.opened for it as for one the reader sent there.
    """
    CREATE TRIGGER events_of_review_stored AFTER INSERT ON inbox
    WHEN NEW.status = 'review' AND EXISTS (SELECT 1 FROM webhook_receivers)
    BEGIN
        INSERT INTO events (type, at, message)
        VALUES ('review.opened', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NEW.id);
    END;
    """,
    # 12: who may switch mail off. The client network a message came from (IPv4 /24, IPv6 /56;
    # not the address) and, once read, how a request proved whose address it is ('none': on the
    # word of From or the text alone), so unproven requests are counted per network and in all;
    # the report type the reader found, so a person's resolve needs no parse of the raw mail.
    """
    ALTER TABLE inbox ADD COLUMN network TEXT;
    ALTER TABLE inbox ADD COLUMN proof TEXT;
    ALTER TABLE inbox ADD COLUMN report TEXT;
    CREATE INDEX inbox_unproven ON inbox (processed_at) WHERE proof = 'none';
    """,
    # 13: each event's webhook-id is random (128 bits), made as the event is: "evt_<database
    # id>_<seq>" repeated after a restore from a backup, and receivers that drop repeats dropped
    # real opt-outs. Events from before keep the old form.
    """
    ALTER TABLE events ADD COLUMN uid TEXT;
    CREATE TRIGGER events_uid AFTER INSERT ON events WHEN NEW.uid IS NULL
    BEGIN
        UPDATE events SET uid = lower(hex(randomblob(16))) WHERE seq = NEW.seq;
    END;
    """,
    # 14: campaigns and statistics (CONTRACT §10). `campaigns` keeps how many each campaign was
    # sent to. `daily_changes` counts the change log per UTC day and bucket (campaign, topic,
    # source bucket, reason, the person's answer to "why are you leaving?"); no address is in it,
    # and an erasure (an UPDATE of the log) leaves it as it is. Source buckets are a fixed set
    # (docs/stats.md): a desk's "email:123" is "email", never a bucket a message. The history so
    # far is counted once, here (it names no campaign: the log takes `campaign` in 15). The
    # triggers that keep the counts come in 17, on the change log 15 rebuilds.
    """
    CREATE TABLE campaigns (
        id         TEXT PRIMARY KEY,          -- 1 to 64 of A-Za-z0-9._-
        sent       INTEGER NOT NULL CHECK (sent >= 0),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE daily_changes (
        day      TEXT NOT NULL,               -- UTC date of the change, YYYY-MM-DD
        campaign TEXT NOT NULL,               -- '' for none
        topic    TEXT NOT NULL,               -- '' for all emails
        source   TEXT NOT NULL,               -- a source bucket
        reason   TEXT NOT NULL,
        why      TEXT NOT NULL,               -- the person's chosen answer, '' if none
        created  INTEGER NOT NULL,
        lifted   INTEGER NOT NULL,
        PRIMARY KEY (day, campaign, topic, source, reason, why)
    ) WITHOUT ROWID;

    INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)
    SELECT day, '', topic, source, reason, why, sum(created), sum(lifted) FROM (
        SELECT substr(c.at, 1, 10) AS day, c.topic AS topic,
               CASE WHEN m.source IN ('one-click', 'link', 'api', 'cli', 'import') THEN m.source
                    WHEN m.source = 'email' OR m.source LIKE 'email:%'
                    THEN CASE WHEN m.reason IN ('bounce', 'complaint') THEN m.reason ELSE 'email' END
                    ELSE 'other' END AS source,
               coalesce(m.reason, '') AS reason,
               CASE WHEN json_valid(m.detail) THEN coalesce(json_extract(m.detail, '$.why'), '') ELSE '' END AS why,
               c.action = 'suppress' AS created, c.action = 'unsuppress' AS lifted
        FROM changes c LEFT JOIN changes m ON m.id = CASE WHEN c.action = 'suppress' THEN c.id ELSE
            (SELECT p.id FROM changes p WHERE p.email = c.email AND p.topic = c.topic AND p.action = 'suppress'
             AND p.id < c.id ORDER BY p.id DESC LIMIT 1) END
        WHERE c.action IN ('suppress', 'unsuppress')
    ) GROUP BY day, topic, source, reason, why;
    """,
    # 15: a suppression is the set of everyone who asked. Each claim (who, where from, why, when,
    # campaign, and a pause's end) is kept in `claims`; a suppressions row is what its claims add
    # up to (suppression/claims.py): `until` is set when only pauses hold it, `hard` when a
    # bounce, complaint or block without end does. Every existing suppression becomes one claim.
    # The change log takes `lift` (a claim lifted while others hold), the claim's campaign and
    # end, and `state`, the scope's standing after the change, which the index follows. SQLite
    # cannot change a CHECK: the log is rebuilt, with its triggers.
    """
    CREATE TABLE claims (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        email      TEXT NOT NULL,
        topic      TEXT NOT NULL,
        reason     TEXT NOT NULL,
        source     TEXT NOT NULL,
        actor      TEXT NOT NULL,
        created_at TEXT NOT NULL,
        campaign   TEXT,
        until      TEXT                       -- a pause: it holds until then
    );
    CREATE INDEX claims_of ON claims (email, topic);
    INSERT INTO claims (email, topic, reason, source, actor, created_at)
        SELECT s.email, s.topic, s.reason, s.source,
               coalesce((SELECT c.actor FROM changes c WHERE c.email = s.email AND c.topic = s.topic
                         AND c.action = 'suppress' ORDER BY c.id DESC LIMIT 1), s.source),
               s.created_at
        FROM suppressions s ORDER BY s.created_at;
    ALTER TABLE suppressions ADD COLUMN until TEXT;
    ALTER TABLE suppressions ADD COLUMN hard INTEGER NOT NULL DEFAULT 0;
    UPDATE suppressions SET hard = 1 WHERE reason IN ('bounce', 'complaint', 'block');
    -- Start-up reads each kind of key from an index of its own. The lasting keys' index holds
    -- `until` itself (NULL first), not as a partial index's condition: SQLite would read every
    -- row to check it (8x slower for a million rows).
    DROP INDEX suppressions_topic_key;
    CREATE INDEX suppressions_lasting ON suppressions (topic, until, key);
    CREATE INDEX suppressions_hard ON suppressions (topic, key) WHERE hard = 1;
    CREATE INDEX suppressions_paused ON suppressions (until) WHERE until IS NOT NULL;

    CREATE TABLE changes_new (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        action   TEXT NOT NULL CHECK (action IN ('suppress', 'unsuppress', 'lift', 'erase')),
        email    TEXT NOT NULL,
        topic    TEXT NOT NULL,
        reason   TEXT,
        source   TEXT NOT NULL,
        actor    TEXT NOT NULL,
        detail   TEXT,
        campaign TEXT,
        until    TEXT,
        state    TEXT
    );
    INSERT INTO changes_new (id, at, action, email, topic, reason, source, actor, detail)
        SELECT id, at, action, email, topic, reason, source, actor, detail FROM changes;
    DROP TABLE changes;
    ALTER TABLE changes_new RENAME TO changes;
    CREATE INDEX changes_email ON changes (email);
    CREATE TRIGGER changes_append_only_update BEFORE UPDATE ON changes
    WHEN NOT (NEW.email LIKE 'erased:%' AND OLD.email NOT LIKE 'erased:%' AND NEW.id = OLD.id
              AND NEW.at = OLD.at AND NEW.action = OLD.action AND NEW.topic = OLD.topic
              AND NEW.reason IS OLD.reason AND NEW.source IS OLD.source AND NEW.actor IS OLD.actor
              AND NEW.campaign IS OLD.campaign AND NEW.until IS OLD.until AND NEW.state IS OLD.state
              AND (NEW.detail IS OLD.detail OR NEW.detail IS json_remove(OLD.detail, '$.why_text')))
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only; only an erasure may replace an address by its keyed hash'); END;
    CREATE TRIGGER changes_append_only_delete BEFORE DELETE ON changes
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER events_of_changes AFTER INSERT ON changes
    WHEN EXISTS (SELECT 1 FROM webhook_receivers)
    BEGIN
        INSERT INTO events (type, at, change) VALUES (
            CASE NEW.action WHEN 'suppress' THEN 'suppression.created'
                            WHEN 'unsuppress' THEN 'suppression.removed'
                            WHEN 'lift' THEN 'suppression.claim_removed' ELSE 'subject.erased' END,
            NEW.at, NEW.id);
    END;
    """,
    # 16: coming back (CONTRACT §10). How often a person asked today to come back, per inbox:
    # the address as a keyed hash (the erasure key's HMAC, never the address, so an erasure
    # leaves nothing readable here), the UTC day and the count against [reply] come_back_per_day.
    """
    CREATE TABLE return_requests (
        inbox TEXT NOT NULL,                  -- keyed hash of the address without its +tag
        day   TEXT NOT NULL,                  -- UTC date
        count INTEGER NOT NULL,
        PRIMARY KEY (inbox, day)
    ) WITHOUT ROWID;
    """,
    # 17: the statistics' counts follow the change log (docs/stats.md), kept by triggers in the
    # same transaction as each change, whichever process writes it. A `suppress` (a claim added)
    # is counted as created, in its own buckets and campaign; an `unsuppress` (the last claim
    # gone) as lifted, in the buckets of the newest `suppress` of that address and scope before
    # it; a `lift` (one claim gone while others still hold the address) not at all: the address
    # stays suppressed. An import's changes are counted by the import's own statement in its
    # transaction (store.py, import_rows): a row trigger for each of millions doubled the cost.
    """
    CREATE TRIGGER daily_changes_of_suppress AFTER INSERT ON changes
    WHEN NEW.action = 'suppress' AND NEW.source IS NOT 'import'
    BEGIN
        INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)
        VALUES (substr(NEW.at, 1, 10), coalesce(NEW.campaign, ''), NEW.topic,
                CASE WHEN NEW.source IN ('one-click', 'link', 'api', 'cli', 'import') THEN NEW.source
                     WHEN NEW.source = 'email' OR NEW.source LIKE 'email:%'
                     THEN CASE WHEN NEW.reason IN ('bounce', 'complaint') THEN NEW.reason ELSE 'email' END
                     ELSE 'other' END,
                coalesce(NEW.reason, ''),
                CASE WHEN json_valid(NEW.detail) THEN coalesce(json_extract(NEW.detail, '$.why'), '') ELSE '' END,
                1, 0)
        ON CONFLICT (day, campaign, topic, source, reason, why) DO UPDATE SET created = daily_changes.created + 1;
    END;
    CREATE TRIGGER daily_changes_of_lift AFTER INSERT ON changes WHEN NEW.action = 'unsuppress'
    BEGIN
        INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)
        SELECT substr(NEW.at, 1, 10), coalesce(made.campaign, ''), NEW.topic,
               CASE WHEN made.source IN ('one-click', 'link', 'api', 'cli', 'import') THEN made.source
                    WHEN made.source = 'email' OR made.source LIKE 'email:%'
                    THEN CASE WHEN made.reason IN ('bounce', 'complaint') THEN made.reason ELSE 'email' END
                    ELSE 'other' END,
               coalesce(made.reason, ''),
               CASE WHEN json_valid(made.detail) THEN coalesce(json_extract(made.detail, '$.why'), '') ELSE '' END,
               0, 1
        FROM (SELECT 1) LEFT JOIN (SELECT campaign, source, reason, detail FROM changes
                                   WHERE email = NEW.email AND topic = NEW.topic AND action = 'suppress' AND id < NEW.id
                                   ORDER BY id DESC LIMIT 1) made
        WHERE true
        ON CONFLICT (day, campaign, topic, source, reason, why) DO UPDATE SET lifted = daily_changes.lifted + 1;
    END;

    """,
    # 18: one vocabulary (docs/api.md, suppression/model.py): a source says where a change came
    # from, from a fixed set; its actor says who. A decision at the review desk was written with
    # the message as its source ("email:N") and the person as its actor, while a request the
    # reader honoured has the source "email" and the message as its actor ("email:N"): the desk's
    # source is "desk" now. The claims and suppressions (what stands) are rewritten; the change
    # log is append-only and keeps what was written, read as "desk" (suppression/rows.py,
    # source_of_stored). The statistics' triggers count "desk" as they counted "email:N": in the
    # email bucket, or bounce/complaint by reason (and still "email:N", for lifts of old claims).
    """
    UPDATE claims SET source = 'desk' WHERE source LIKE 'email:%';
    UPDATE suppressions SET source = 'desk' WHERE source LIKE 'email:%';
    DROP TRIGGER daily_changes_of_suppress;
    DROP TRIGGER daily_changes_of_lift;
    CREATE TRIGGER daily_changes_of_suppress AFTER INSERT ON changes
    WHEN NEW.action = 'suppress' AND NEW.source IS NOT 'import'
    BEGIN
        INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)
        VALUES (substr(NEW.at, 1, 10), coalesce(NEW.campaign, ''), NEW.topic,
                CASE WHEN NEW.source IN ('one-click', 'link', 'api', 'cli', 'import') THEN NEW.source
                     WHEN NEW.source IN ('email', 'desk') OR NEW.source LIKE 'email:%'
                     THEN CASE WHEN NEW.reason IN ('bounce', 'complaint') THEN NEW.reason ELSE 'email' END
                     ELSE 'other' END,
                coalesce(NEW.reason, ''),
                CASE WHEN json_valid(NEW.detail) THEN coalesce(json_extract(NEW.detail, '$.why'), '') ELSE '' END,
                1, 0)
        ON CONFLICT (day, campaign, topic, source, reason, why) DO UPDATE SET created = daily_changes.created + 1;
    END;
    CREATE TRIGGER daily_changes_of_lift AFTER INSERT ON changes WHEN NEW.action = 'unsuppress'
    BEGIN
        INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)
        SELECT substr(NEW.at, 1, 10), coalesce(made.campaign, ''), NEW.topic,
               CASE WHEN made.source IN ('one-click', 'link', 'api', 'cli', 'import') THEN made.source
                    WHEN made.source IN ('email', 'desk') OR made.source LIKE 'email:%'
                    THEN CASE WHEN made.reason IN ('bounce', 'complaint') THEN made.reason ELSE 'email' END
                    ELSE 'other' END,
               coalesce(made.reason, ''),
               CASE WHEN json_valid(made.detail) THEN coalesce(json_extract(made.detail, '$.why'), '') ELSE '' END,
               0, 1
        FROM (SELECT 1) LEFT JOIN (SELECT campaign, source, reason, detail FROM changes
                                   WHERE email = NEW.email AND topic = NEW.topic AND action = 'suppress' AND id < NEW.id
                                   ORDER BY id DESC LIMIT 1) made
        WHERE true
        ON CONFLICT (day, campaign, topic, source, reason, why) DO UPDATE SET lifted = daily_changes.lifted + 1;
    END;
    """,
    # 19: the unproven budget (suppression/intake.py) counts the requests it honoured in the last
    # hour on the sender's word alone, up to its limits, from an index of those alone: a flood
    # kept for review is not in it, so each message's count costs at most the limits' rows (it
    # read every unproven message of the hour for each one: quadratic in a flood). The index of
    # every unproven message (12) served only that count: it goes, and a flood no longer
    # writes to it.
    """
    CREATE INDEX inbox_unproven_honoured ON inbox (processed_at, network) WHERE proof = 'none' AND status = 'request';
    DROP INDEX inbox_unproven;
    """,
)
