-- Time series. The unique (tag_id, time) key makes every resend harmless (INSERT … ON CONFLICT DO NOTHING);
-- TimescaleDB requires the time column in every unique index of a hypertable.
-- No foreign key from samples to tags: the ingester only writes resolved tag ids, and a per-row FK check
-- would cost more than the insert itself.

-- status is the 32-bit OPC UA StatusCode stored as its signed two's complement; quality = (status >> 30) & 3.
CREATE TABLE samples_num (
    tag_id  integer NOT NULL,
    time    timestamptz NOT NULL,
    value   double precision,
    status  integer NOT NULL DEFAULT 0
);
SELECT create_hypertable('samples_num', by_range('time', INTERVAL '1 day'), create_default_indexes => false);
-- INCLUDE (value) lets trend queries read from the index alone.
CREATE UNIQUE INDEX samples_num_tag_time_idx ON samples_num (tag_id, time DESC) INCLUDE (value);

CREATE TABLE samples_text (
    tag_id  integer NOT NULL,
    time    timestamptz NOT NULL,
    value   text,
    status  integer NOT NULL DEFAULT 0
);
SELECT create_hypertable('samples_text', by_range('time', INTERVAL '7 days'), create_default_indexes => false);
CREATE UNIQUE INDEX samples_text_tag_time_idx ON samples_text (tag_id, time DESC);

CREATE TYPE event_kind AS ENUM ('state', 'alarm', 'order');
CREATE TABLE events (
    tag_id  integer NOT NULL,
    time    timestamptz NOT NULL,
    kind    event_kind NOT NULL,
    value   text NOT NULL DEFAULT '',     -- state name, alarm state (active/cleared/acked), order id
    code    text NOT NULL DEFAULT '',     -- reason code or alarm id
    text    text NOT NULL DEFAULT '',
    attrs   jsonb NOT NULL DEFAULT '{}'
);
SELECT create_hypertable('events', by_range('time', INTERVAL '7 days'), create_default_indexes => false);
CREATE UNIQUE INDEX events_tag_time_kind_idx ON events (tag_id, time DESC, kind);

CREATE FUNCTION quality_of(status integer) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE (status >> 30) & 3 WHEN 0 THEN 'good' WHEN 1 THEN 'uncertain' ELSE 'bad' END
$$;

-- One row per committed batch: shows resends and gaps in an edge's seq without scanning samples.
CREATE TABLE ingest_batches (
    edge_id       integer NOT NULL REFERENCES edges ON DELETE CASCADE,
    seq           bigint NOT NULL,
    created_at    timestamptz,
    committed_at  timestamptz NOT NULL DEFAULT now(),
    samples       integer NOT NULL,
    rejected      integer NOT NULL,
    PRIMARY KEY (edge_id, seq)
);
