-- Berth metadata, initial schema. Timestamps are unix seconds chosen by the caller.

CREATE TABLE oidc_providers (
    arn         TEXT PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL UNIQUE,
    -- JSON arrays of strings.
    client_ids  TEXT NOT NULL,
    thumbprints TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE roles (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role_id              TEXT NOT NULL UNIQUE,
    path                 TEXT NOT NULL,
    arn                  TEXT NOT NULL,
    trust_policy         TEXT NOT NULL,
    description          TEXT,
    max_session_duration INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);

CREATE TABLE managed_policies (
    arn                TEXT PRIMARY KEY NOT NULL,
    name               TEXT NOT NULL,
    path               TEXT NOT NULL,
    policy_id          TEXT NOT NULL UNIQUE,
    default_version_id TEXT NOT NULL,
    description        TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE policy_versions (
    policy_arn TEXT NOT NULL REFERENCES managed_policies (arn) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (policy_arn, version_id)
);

CREATE TABLE role_policy_attachments (
    role_id    INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    policy_arn TEXT NOT NULL REFERENCES managed_policies (arn) ON DELETE RESTRICT,
    PRIMARY KEY (role_id, policy_arn)
);
CREATE INDEX role_policy_attachments_by_policy ON role_policy_attachments (policy_arn);

CREATE TABLE role_inline_policies (
    role_id  INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (role_id, name)
);

CREATE TABLE repositories (
    name                 TEXT PRIMARY KEY NOT NULL,
    created_at           INTEGER NOT NULL,
    image_tag_mutability TEXT NOT NULL,
    scan_on_push         INTEGER NOT NULL,
    encryption_type      TEXT NOT NULL
);

CREATE TABLE blob_links (
    repository TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    digest     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX blob_links_by_digest ON blob_links (digest);

CREATE TABLE manifests (
    repository    TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    size          INTEGER NOT NULL,
    image_size    INTEGER NOT NULL,
    pushed_at     INTEGER NOT NULL,
    artifact_type TEXT,
    subject       TEXT,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repository, subject);

-- Blobs (config and layers) a manifest references, in manifest order.
CREATE TABLE manifest_blobs (
    repository      TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    position        INTEGER NOT NULL,
    blob_digest     TEXT NOT NULL,
    PRIMARY KEY (repository, manifest_digest, position),
    FOREIGN KEY (repository, manifest_digest)
        REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (blob_digest);

-- Manifests an index references, in index order.
CREATE TABLE manifest_children (
    repository      TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    position        INTEGER NOT NULL,
    child_digest    TEXT NOT NULL,
    PRIMARY KEY (repository, manifest_digest, position),
    FOREIGN KEY (repository, manifest_digest)
        REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_children_by_child ON manifest_children (repository, child_digest);

CREATE TABLE tags (
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    digest     TEXT NOT NULL,
    PRIMARY KEY (repository, tag),
    FOREIGN KEY (repository, digest)
        REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
CREATE INDEX tags_by_digest ON tags (repository, digest);

CREATE TABLE uploads (
    id              TEXT PRIMARY KEY NOT NULL,
    repository      TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    last_part_size  INTEGER,
    small_part_seen INTEGER NOT NULL
);
CREATE INDEX uploads_by_repository ON uploads (repository);

CREATE TABLE signing_keys (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kid        TEXT NOT NULL UNIQUE,
    purpose    TEXT NOT NULL,
    material   BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX signing_keys_by_purpose ON signing_keys (purpose, created_at, seq);
