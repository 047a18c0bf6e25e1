-- Every payload (or part of one) that failed validation, kept byte for byte so it can be replayed.
CREATE TABLE dead_letters (
    id              bigserial PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT now(),
    topic           text NOT NULL,
    reason          text NOT NULL,
    detail          text NOT NULL DEFAULT '',
    edge_id         integer REFERENCES edges ON DELETE SET NULL,
    seq             bigint,
    sample_count    integer NOT NULL DEFAULT 0,
    payload         bytea NOT NULL,
    payload_sha256  bytea NOT NULL,
    -- A redelivered message must not be stored twice.
    UNIQUE (topic, payload_sha256, reason)
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
CREATE INDEX dead_letters_edge_idx ON dead_letters (edge_id, received_at);
