-- Berth metadata, initial schema (the PostgreSQL twin of store-sqlite's 0001). Timestamps
-- are unix seconds chosen by the caller. Keys that are listed in order use COLLATE "C":
-- pagination is in byte order, whatever the database's default collation.

CREATE TABLE oidc_providers (
    arn         TEXT COLLATE "C" PRIMARY KEY,
    url         TEXT NOT NULL UNIQUE,
    client_ids  TEXT[] NOT NULL,
    thumbprints TEXT[] NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE roles (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Unique case-insensitively (IAM's rule; names are ASCII), kept as submitted.
    name                 TEXT COLLATE "C" NOT NULL,
    role_id              TEXT NOT NULL UNIQUE,
    path                 TEXT NOT NULL,
    arn                  TEXT NOT NULL,
    trust_policy         TEXT NOT NULL,
    description          TEXT,
    max_session_duration BIGINT NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX roles_by_folded_name ON roles (lower(name));

CREATE TABLE managed_policies (
    arn                TEXT COLLATE "C" PRIMARY KEY,
    name               TEXT COLLATE "C" NOT NULL,
    path               TEXT NOT NULL,
    policy_id          TEXT NOT NULL UNIQUE,
    default_version_id TEXT NOT NULL,
    description        TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE policy_versions (
    policy_arn TEXT COLLATE "C" NOT NULL REFERENCES managed_policies (arn) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (policy_arn, version_id)
);

CREATE TABLE role_policy_attachments (
    role_id    BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    policy_arn TEXT COLLATE "C" NOT NULL REFERENCES managed_policies (arn) ON DELETE RESTRICT,
    PRIMARY KEY (role_id, policy_arn)
);
CREATE INDEX role_policy_attachments_by_policy ON role_policy_attachments (policy_arn);

CREATE TABLE role_inline_policies (
    role_id  BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    name     TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (role_id, name)
);

CREATE TABLE repositories (
    name                 TEXT COLLATE "C" PRIMARY KEY,
    created_at           BIGINT NOT NULL,
    image_tag_mutability TEXT NOT NULL,
    scan_on_push         BOOLEAN NOT NULL,
    encryption_type      TEXT NOT NULL
);

CREATE TABLE blob_links (
    repository TEXT COLLATE "C" NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    digest     TEXT COLLATE "C" NOT NULL,
    size       BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX blob_links_by_digest ON blob_links (digest);

CREATE TABLE manifests (
    repository    TEXT COLLATE "C" NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    digest        TEXT COLLATE "C" NOT NULL,
    media_type    TEXT NOT NULL,
    size          BIGINT NOT NULL,
    image_size    BIGINT NOT NULL,
    pushed_at     BIGINT NOT NULL,
    artifact_type TEXT,
    subject       TEXT COLLATE "C",
    PRIMARY KEY (repository, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repository, subject);

-- Blobs (config and layers) a manifest references, in manifest order.
CREATE TABLE manifest_blobs (
    repository      TEXT COLLATE "C" NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    position        BIGINT NOT NULL,
    blob_digest     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository, manifest_digest, position),
    FOREIGN KEY (repository, manifest_digest)
        REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (blob_digest);

-- Manifests an index references, in index order.
CREATE TABLE manifest_children (
    repository      TEXT COLLATE "C" NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    position        BIGINT NOT NULL,
    child_digest    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository, manifest_digest, position),
    FOREIGN KEY (repository, manifest_digest)
        REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_children_by_child ON manifest_children (repository, child_digest);

CREATE TABLE tags (
    repository TEXT COLLATE "C" NOT NULL,
    tag        TEXT COLLATE "C" NOT NULL,
    digest     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository, tag),
    FOREIGN KEY (repository, digest)
        REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX tags_by_digest ON tags (repository, digest);

CREATE TABLE uploads (
    id              TEXT PRIMARY KEY,
    repository      TEXT COLLATE "C" NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    last_part_size  BIGINT,
    small_part_seen BOOLEAN NOT NULL
);
CREATE INDEX uploads_by_repository ON uploads (repository);

CREATE TABLE signing_keys (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kid        TEXT NOT NULL UNIQUE,
    purpose    TEXT NOT NULL,
    material   BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX signing_keys_by_purpose ON signing_keys (purpose, created_at, seq);
