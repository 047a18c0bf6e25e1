-- Registry: who owns what. company ─ site ─ area ─ line ─ asset ─ tag (ISA-95), edges per site, users.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TYPE sector AS ENUM ('electronics', 'petrochemical', 'equipment');
-- Codes appear in MQTT topics and broker ACLs: no wildcards, no '/', lower case.
CREATE DOMAIN code AS text CHECK (VALUE ~ '^[a-z0-9][a-z0-9_-]{0,62}$');

CREATE TABLE companies (
    id          serial PRIMARY KEY,
    code        code NOT NULL UNIQUE,
    name        text NOT NULL,
    sector      sector NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
    id          serial PRIMARY KEY,
    company_id  integer NOT NULL REFERENCES companies ON DELETE RESTRICT,
    code        code NOT NULL,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, code)
);

CREATE TABLE areas (
    id       serial PRIMARY KEY,
    site_id  integer NOT NULL REFERENCES sites ON DELETE RESTRICT,
    code     text NOT NULL,
    name     text NOT NULL,
    UNIQUE (site_id, code)
);

CREATE TABLE lines (
    id       serial PRIMARY KEY,
    area_id  integer NOT NULL REFERENCES areas ON DELETE RESTRICT,
    code     text NOT NULL,
    name     text NOT NULL,
    UNIQUE (area_id, code)
);

CREATE TABLE assets (
    id          serial PRIMARY KEY,
    line_id     integer NOT NULL REFERENCES lines ON DELETE RESTRICT,
    code        text NOT NULL,
    name        text NOT NULL,
    asset_type  text NOT NULL DEFAULT '',
    attrs       jsonb NOT NULL DEFAULT '{}',
    UNIQUE (line_id, code)
);

CREATE TYPE tag_type AS ENUM ('float', 'int', 'bool', 'string', 'state');

CREATE TABLE tags (
    id           serial PRIMARY KEY,
    -- site_id repeats what asset → line → area → site says, so that the ingester resolves a key with one probe.
    site_id      integer NOT NULL REFERENCES sites ON DELETE RESTRICT,
    asset_id     integer NOT NULL REFERENCES assets ON DELETE RESTRICT,
    key          text NOT NULL,          -- area/line/asset/name, unique within the site
    name         text NOT NULL,
    data_type    tag_type NOT NULL,
    unit         text NOT NULL DEFAULT '',
    role         text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    attrs        jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, key),
    UNIQUE (asset_id, name)
);
CREATE INDEX tags_role_idx ON tags (role) WHERE role <> '';

CREATE TABLE edges (
    id             serial PRIMARY KEY,
    site_id        integer NOT NULL REFERENCES sites ON DELETE RESTRICT,
    code           code NOT NULL,
    name           text NOT NULL DEFAULT '',
    enabled        boolean NOT NULL DEFAULT true,
    status         text NOT NULL DEFAULT 'unknown',
    status_at      timestamptz,
    status_detail  jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, code)
);

CREATE VIEW edge_identities AS
    SELECT e.id AS edge_id, e.code AS edge, s.id AS site_id, s.code AS site, c.id AS company_id,
           c.code AS company, e.enabled
    FROM edges e JOIN sites s ON s.id = e.site_id JOIN companies c ON c.id = s.company_id;

CREATE TABLE roles (
    name         text PRIMARY KEY,
    description  text NOT NULL
);
INSERT INTO roles VALUES
    ('admin', 'Manages the registry, users and edges of every company'),
    ('plant_manager', 'Reads production analytics of one company (optionally one site)'),
    ('engineer', 'Runs edges and reads machine data of one company (optionally one site)'),
    ('association_analyst', 'Reads anonymised benchmarks of one sector');

CREATE TABLE users (
    id             serial PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    display_name   text NOT NULL DEFAULT '',
    password_hash  text NOT NULL,
    role           text NOT NULL REFERENCES roles,
    company_id     integer REFERENCES companies ON DELETE RESTRICT,
    site_id        integer REFERENCES sites ON DELETE RESTRICT,
    sector         sector,
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Scope is part of the row, so a user can never exist without the tenant boundary that applies to them.
    CHECK (role <> 'plant_manager' OR company_id IS NOT NULL),
    CHECK (role <> 'engineer' OR company_id IS NOT NULL),
    CHECK (role <> 'association_analyst' OR (sector IS NOT NULL AND company_id IS NULL))
);

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
