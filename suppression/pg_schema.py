"""The numbered migrations in PostgreSQL's dialect: entry N makes what SQLite's migration N
(suppression/schema.py) makes, so both stores stand at the same number. Applied in order, each
in its own transaction under an advisory lock (two instances starting together migrate once),
and recorded in schema_version.

Append a new entry for every change, beside SQLite's; never edit one that has shipped.

Text that is compared or ordered (addresses, topics) uses the "C" collation: byte order, as in
SQLite, whatever the database's locale (the "*@" range of domain entries depends on it).
Timestamps stay ISO 8601 text, as in SQLite, so the model is the same for both stores.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: suppressions, the append-only change log, API keys; the running instances (how far
    # each has followed the log, and whether it is alive: PostgreSQL only).
    """
    CREATE TABLE suppressions (
        email      TEXT COLLATE "C" NOT NULL,
        topic      TEXT COLLATE "C" NOT NULL,
        key        BIGINT NOT NULL,
        reason     TEXT NOT NULL,
        source     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (email, topic)
    );
    CREATE INDEX suppressions_topic_key ON suppressions (topic, key);

    CREATE TABLE changes (
        id     BIGSERIAL PRIMARY KEY,
        at     TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('suppress', 'unsuppress')),
        email  TEXT COLLATE "C" NOT NULL,
        topic  TEXT COLLATE "C" NOT NULL,
        reason TEXT,
        source TEXT NOT NULL,
        actor  TEXT NOT NULL
    );
    CREATE INDEX changes_email ON changes (email);
    CREATE FUNCTION changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit trail is append-only';
    END $$;
    CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE ON changes
        FOR EACH ROW EXECUTE FUNCTION changes_append_only();
    -- Followers wake on this (LISTEN); the payload is the statement's newest change id. One
    -- notification a statement: an import of millions is one.
    CREATE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('suppression_changes', (SELECT max(id) FROM inserted)::text);
        RETURN NULL;
    END $$;
    CREATE TRIGGER changes_notify AFTER INSERT ON changes REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION changes_notify();

    CREATE TABLE api_keys (
        key_id      TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        scope       TEXT NOT NULL CHECK (scope IN ('check', 'admin')),
        secret_hash TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
    );

    CREATE TABLE instances (
        id      TEXT PRIMARY KEY,             -- random, per process
        cursor  BIGINT NOT NULL,              -- the newest change its index has applied
        seen_at TIMESTAMPTZ NOT NULL          -- its last heartbeat
    );
    """,
    # 2: mail to the request addresses; replies sent. A message is claimed by the instance
    # handling it (claimed_by), so each is handled once; a dead instance's claims are taken over.
    """
    CREATE TABLE inbox (
        id           BIGSERIAL PRIMARY KEY,
        received_at  TEXT NOT NULL,
        mail_from    TEXT NOT NULL,
        rcpt_to      TEXT NOT NULL,
        size         INTEGER NOT NULL,
        raw          BYTEA NOT NULL,
        status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                         ('pending', 'request', 'automatic', 'bounce', 'complaint', 'review')),
        reasons      TEXT,
        addresses    TEXT,
        topic        TEXT,
        sender       TEXT,
        subject      TEXT,
        message_id   TEXT,
        processed_at TEXT,
        claimed_by   TEXT
    );
    CREATE INDEX inbox_status ON inbox (status, id);

    CREATE TABLE replies (
        email   TEXT NOT NULL,
        day     TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        PRIMARY KEY (email, day)
    );
    """,
    # 3: facts about this database.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('database_id', md5(random()::text || clock_timestamp()::text));
    """,
    # 4: the receiving MTA's verdict; requests naming other people's addresses, per sender.
    """
    ALTER TABLE inbox ADD COLUMN authentication TEXT;
    CREATE TABLE sender_requests (
        sender  TEXT NOT NULL,
        at      TEXT NOT NULL,
        message BIGINT NOT NULL REFERENCES inbox (id)
    );
    CREATE INDEX sender_requests_by_sender ON sender_requests (sender, at);
    """,
    # 5: the per-sender limit counts addresses.
    """
    ALTER TABLE sender_requests ADD COLUMN addresses INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX sender_requests_by_message ON sender_requests (message);
    """,
    # 6: the review desk.
    """
    ALTER TABLE inbox ALTER COLUMN raw DROP NOT NULL;
    ALTER TABLE inbox DROP CONSTRAINT inbox_status_check;
    ALTER TABLE inbox ADD CONSTRAINT inbox_status_check CHECK (status IN
        ('pending', 'request', 'automatic', 'bounce', 'complaint', 'review', 'resolved', 'dismissed', 'postmaster'));
    ALTER TABLE inbox ADD COLUMN found TEXT, ADD COLUMN words TEXT, ADD COLUMN resolved_at TEXT,
        ADD COLUMN resolved_by TEXT, ADD COLUMN note TEXT;
    """,
    # 7: API keys of scope `sync`.
    """
    ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('check', 'sync', 'admin'));
    """,
    # 8: erasure: an `erase` action and a detail; the one permitted update of the change log
    # replaces an address by its keyed hash (and drops the person's own words), nothing else.
    """
    ALTER TABLE changes DROP CONSTRAINT changes_action_check;
    ALTER TABLE changes ADD CONSTRAINT changes_action_check CHECK (action IN ('suppress', 'unsuppress', 'erase'));
    ALTER TABLE changes ADD COLUMN detail TEXT;
    CREATE OR REPLACE FUNCTION changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.email LIKE 'erased:%' AND OLD.email NOT LIKE 'erased:%'
           AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action AND NEW.topic = OLD.topic
           AND NEW.reason IS NOT DISTINCT FROM OLD.reason AND NEW.source = OLD.source AND NEW.actor = OLD.actor
           AND (NEW.detail IS NOT DISTINCT FROM OLD.detail
                OR NEW.detail IS NOT DISTINCT FROM (OLD.detail::jsonb - 'why_text')::text) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the audit trail is append-only; only an erasure may replace an address by its keyed hash';
    END $$;

    CREATE TABLE erased_subjects (
        record     TEXT PRIMARY KEY,
        key        BIGINT NOT NULL,
        sha256_key BIGINT NOT NULL,
        md5_key    BIGINT NOT NULL,
        at         TEXT NOT NULL,
        actor      TEXT NOT NULL
    );
    """,
    # 9: webhooks: the durable outbox, filled by triggers in the transaction of what it reports,
    # only while a receiver is configured; each receiver's progress. A receiver is delivered to by
    # one live instance at a time: the one that took the lead (PostgreSQL only).
    """
    CREATE TABLE webhook_receivers (
        url             TEXT PRIMARY KEY,
        cursor          BIGINT NOT NULL,
        generation      INTEGER NOT NULL DEFAULT 0,
        added_at        TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        failing_since   TEXT,
        next_attempt_at TEXT,
        last_error      TEXT,
        disabled_at     TEXT,
        disabled_reason TEXT,
        leased_by       TEXT                  -- the instance delivering to it
    );
    CREATE TABLE events (
        seq     BIGSERIAL PRIMARY KEY,
        type    TEXT NOT NULL,
        at      TEXT NOT NULL,
        change  BIGINT,
        message BIGINT
    );
    CREATE FUNCTION events_of_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM webhook_receivers) THEN
            INSERT INTO events (type, at, change) VALUES (
                CASE NEW.action WHEN 'suppress' THEN 'suppression.created'
                                WHEN 'unsuppress' THEN 'suppression.removed' ELSE 'subject.erased' END,
                NEW.at, NEW.id);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER events_of_changes AFTER INSERT ON changes FOR EACH ROW EXECUTE FUNCTION events_of_changes();
    CREATE FUNCTION events_of_review() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.status = 'review' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'review')
           AND EXISTS (SELECT 1 FROM webhook_receivers) THEN
            INSERT INTO events (type, at, message) VALUES (
                'review.opened',
                to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), NEW.id);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER events_of_review AFTER UPDATE OF status ON inbox FOR EACH ROW EXECUTE FUNCTION events_of_review();
    """,
    # 10: where a message read from a mailbox came from, so it is stored once.
    """
    ALTER TABLE inbox ADD COLUMN origin TEXT;
    CREATE UNIQUE INDEX inbox_origin ON inbox (origin) WHERE origin IS NOT NULL;
    """,
    # 11: a message stored straight into review is announced too.
    """
    CREATE TRIGGER events_of_review_stored AFTER INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION events_of_review();
    """,
    # 12: a message's client network, a request's proof, a report's type (see schema.py).
    """
    ALTER TABLE inbox ADD COLUMN network TEXT;
    ALTER TABLE inbox ADD COLUMN proof TEXT;
    ALTER TABLE inbox ADD COLUMN report TEXT;
    CREATE INDEX inbox_unproven ON inbox (processed_at) WHERE proof = 'none';
    """,
    # 13: each event's webhook-id is random (see schema.py); events from before keep the old form.
    """
    ALTER TABLE events ADD COLUMN uid TEXT;
    ALTER TABLE events ALTER COLUMN uid SET DEFAULT md5(random()::text || clock_timestamp()::text || txid_current()::text);
    """,
    # 14: campaigns and statistics (see schema.py): the tables, the functions that bucket a
    # change, and the history so far counted once. The trigger that keeps the counts is 17's.
    """
    CREATE TABLE campaigns (
        id         TEXT COLLATE "C" PRIMARY KEY,
        sent       BIGINT NOT NULL CHECK (sent >= 0),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE daily_changes (
        day      TEXT COLLATE "C" NOT NULL,
        campaign TEXT COLLATE "C" NOT NULL,
        topic    TEXT COLLATE "C" NOT NULL,
        source   TEXT COLLATE "C" NOT NULL,
        reason   TEXT COLLATE "C" NOT NULL,
        why      TEXT COLLATE "C" NOT NULL,
        created  BIGINT NOT NULL,
        lifted   BIGINT NOT NULL,
        PRIMARY KEY (day, campaign, topic, source, reason, why)
    );

    -- The bucket of a change's source (docs/stats.md): a fixed set, whatever sources are written.
    CREATE FUNCTION source_bucket(source TEXT, reason TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN source IN ('one-click', 'link', 'api', 'cli', 'import') THEN source
                    WHEN source = 'email' OR source LIKE 'email:%'
                    THEN CASE WHEN reason IN ('bounce', 'complaint') THEN reason ELSE 'email' END
                    ELSE 'other' END
    $$;
    -- The person's chosen answer in a change's detail (always a JSON object when set); '' for none.
    CREATE FUNCTION why_of(detail TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN detail LIKE '{%' THEN coalesce(detail::jsonb ->> 'why', '') ELSE '' END
    $$;
    INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)
    SELECT substr(c.at, 1, 10), '', c.topic, source_bucket(m.source, m.reason),
           coalesce(m.reason, ''), why_of(m.detail),
           count(*) FILTER (WHERE c.action = 'suppress'), count(*) FILTER (WHERE c.action = 'unsuppress')
    FROM changes c
    LEFT JOIN LATERAL (
        SELECT c.source, c.reason, c.detail WHERE c.action = 'suppress'
        UNION ALL
        (SELECT p.source, p.reason, p.detail FROM changes p
         WHERE c.action = 'unsuppress' AND p.email = c.email AND p.topic = c.topic AND p.action = 'suppress'
           AND p.id < c.id ORDER BY p.id DESC LIMIT 1)
    ) m ON true
    WHERE c.action IN ('suppress', 'unsuppress')
    GROUP BY 1, 2, 3, 4, 5, 6;
    """,
    # 15: claims (see schema.py).
    """
    CREATE TABLE claims (
        id         BIGSERIAL PRIMARY KEY,
        email      TEXT COLLATE "C" NOT NULL,
        topic      TEXT COLLATE "C" NOT NULL,
        reason     TEXT NOT NULL,
        source     TEXT NOT NULL,
        actor      TEXT NOT NULL,
        created_at TEXT NOT NULL,
        campaign   TEXT,
        until      TEXT
    );
    CREATE INDEX claims_of ON claims (email, topic);
    INSERT INTO claims (email, topic, reason, source, actor, created_at)
        SELECT s.email, s.topic, s.reason, s.source,
               coalesce((SELECT c.actor FROM changes c WHERE c.email = s.email AND c.topic = s.topic
                         AND c.action = 'suppress' ORDER BY c.id DESC LIMIT 1), s.source),
               s.created_at
        FROM suppressions s ORDER BY s.created_at;
    ALTER TABLE suppressions ADD COLUMN until TEXT, ADD COLUMN hard BOOLEAN NOT NULL DEFAULT false;
    UPDATE suppressions SET hard = true WHERE reason IN ('bounce', 'complaint', 'block');
    DROP INDEX suppressions_topic_key;
    CREATE INDEX suppressions_lasting ON suppressions (topic, key) WHERE until IS NULL;
    CREATE INDEX suppressions_hard ON suppressions (topic, key) WHERE hard;
    CREATE INDEX suppressions_paused ON suppressions (until) WHERE until IS NOT NULL;

    ALTER TABLE changes DROP CONSTRAINT changes_action_check;
    ALTER TABLE changes ADD CONSTRAINT changes_action_check CHECK (action IN ('suppress', 'unsuppress', 'lift', 'erase'));
    ALTER TABLE changes ADD COLUMN campaign TEXT, ADD COLUMN until TEXT, ADD COLUMN state TEXT;
    CREATE OR REPLACE FUNCTION changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.email LIKE 'erased:%' AND OLD.email NOT LIKE 'erased:%'
           AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action AND NEW.topic = OLD.topic
           AND NEW.reason IS NOT DISTINCT FROM OLD.reason AND NEW.source = OLD.source AND NEW.actor = OLD.actor
           AND NEW.campaign IS NOT DISTINCT FROM OLD.campaign AND NEW.until IS NOT DISTINCT FROM OLD.until
           AND NEW.state IS NOT DISTINCT FROM OLD.state
           AND (NEW.detail IS NOT DISTINCT FROM OLD.detail
                OR NEW.detail IS NOT DISTINCT FROM (OLD.detail::jsonb - 'why_text')::text) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the audit trail is append-only; only an erasure may replace an address by its keyed hash';
    END $$;
    CREATE OR REPLACE FUNCTION events_of_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM webhook_receivers) THEN
            INSERT INTO events (type, at, change) VALUES (
                CASE NEW.action WHEN 'suppress' THEN 'suppression.created'
                                WHEN 'unsuppress' THEN 'suppression.removed'
                                WHEN 'lift' THEN 'suppression.claim_removed' ELSE 'subject.erased' END,
                NEW.at, NEW.id);
        END IF;
        RETURN NULL;
    END $$;
    """,
    # 16: how often a person asked today to come back, per inbox (see schema.py).
    """
    CREATE TABLE return_requests (
        inbox TEXT NOT NULL,
        day   TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (inbox, day)
    );
    """,
    # 17: the statistics' counts follow the change log (see schema.py): one statement-level
    # trigger counts a whole statement's changes at once (an import of millions is one upsert a
    # bucket), and the change log's advisory lock orders its writers, so the counts' rows are
    # never fought over. `lift` is not counted: the address stays suppressed.
    """
    -- A statement's suppressions counted in their own buckets (a plain GROUP BY: an import of
    -- millions reads its transition table once); its lifts in the buckets of the newest earlier
    -- suppress of that address and scope.
    CREATE FUNCTION daily_changes_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO daily_changes AS d (day, campaign, topic, source, reason, why, created, lifted)
        SELECT substr(c.at, 1, 10), coalesce(c.campaign, ''), c.topic, source_bucket(c.source, c.reason),
               coalesce(c.reason, ''), why_of(c.detail), count(*), 0
        FROM inserted c WHERE c.action = 'suppress'
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (day, campaign, topic, source, reason, why) DO UPDATE SET created = d.created + EXCLUDED.created;
        INSERT INTO daily_changes AS d (day, campaign, topic, source, reason, why, created, lifted)
        SELECT substr(c.at, 1, 10), coalesce(m.campaign, ''), c.topic, source_bucket(m.source, m.reason),
               coalesce(m.reason, ''), why_of(m.detail), 0, count(*)
        FROM inserted c
        LEFT JOIN LATERAL (SELECT p.campaign, p.source, p.reason, p.detail FROM changes p
                           WHERE p.email = c.email AND p.topic = c.topic AND p.action = 'suppress' AND p.id < c.id
                           ORDER BY p.id DESC LIMIT 1) m ON true
        WHERE c.action = 'unsuppress'
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (day, campaign, topic, source, reason, why) DO UPDATE SET lifted = d.lifted + EXCLUDED.lifted;
        RETURN NULL;
    END $$;
    CREATE TRIGGER daily_changes_count AFTER INSERT ON changes REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION daily_changes_count();

    """,
    # 18: a decision at the review desk has the source "desk" (see schema.py): what stands is
    # rewritten, the append-only change log is read as "desk", and the bucket counts it as email.
    """
    UPDATE claims SET source = 'desk' WHERE source LIKE 'email:%';
    UPDATE suppressions SET source = 'desk' WHERE source LIKE 'email:%';
    CREATE OR REPLACE FUNCTION source_bucket(source TEXT, reason TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN source IN ('one-click', 'link', 'api', 'cli', 'import') THEN source
                    WHEN source IN ('email', 'desk') OR source LIKE 'email:%'
                    THEN CASE WHEN reason IN ('bounce', 'complaint') THEN reason ELSE 'email' END
                    ELSE 'other' END
    $$;
    """,
    # 19: the requests the unproven budget counts, indexed alone; the index of every unproven
    # message goes (see schema.py).
    """
    CREATE INDEX inbox_unproven_honoured ON inbox (processed_at, network) WHERE proof = 'none' AND status = 'request';
    DROP INDEX inbox_unproven;
    """,
)
