-- Broker identities: who may connect to the platform broker, how they prove it, and (through the role and the
-- edge) which topics the rendered ACL grants them. Secrets are never stored: a password only as the hash line
-- Mosquitto checks, a client certificate only by serial and fingerprint.
CREATE TABLE broker_accounts (
    id              serial PRIMARY KEY,
    -- The topic namespace the identity is valid for (`tonghu` in production); the broker renders its own only.
    topic_prefix    text NOT NULL,
    username        text NOT NULL CHECK (username ~ '^[A-Za-z0-9._-]{1,200}$'),
    role            text NOT NULL CHECK (role IN ('edge', 'ingester')),
    edge_id         integer REFERENCES edges ON DELETE CASCADE,
    auth            text NOT NULL CHECK (auth IN ('password', 'certificate')),
    password_hash   text CHECK (password_hash ~ '^\$7\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$'),
    cert_serial     numeric(50, 0),   -- X.509 serials are up to 20 octets
    cert_sha256     text,
    cert_not_after  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic_prefix, username),
    CHECK ((role = 'edge') = (edge_id IS NOT NULL)),
    CHECK ((auth = 'password') = (password_hash IS NOT NULL)),
    CHECK ((auth = 'certificate') = (cert_serial IS NOT NULL AND cert_sha256 IS NOT NULL))
);
CREATE UNIQUE INDEX broker_accounts_edge_idx ON broker_accounts (topic_prefix, edge_id) WHERE edge_id IS NOT NULL;

-- Client certificates revoked before they expired: the broker's CRL is rendered from these rows.
CREATE TABLE broker_revoked_certificates (
    topic_prefix  text NOT NULL,
    serial        numeric(50, 0) NOT NULL,
    username      text NOT NULL,
    not_after     timestamptz,
    revoked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic_prefix, serial)
);
