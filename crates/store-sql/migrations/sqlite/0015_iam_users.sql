-- IAM users, their policies and access keys.
CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE COLLATE NOCASE,
    user_id              TEXT NOT NULL UNIQUE,
    path                 TEXT NOT NULL,
    arn                  TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    permissions_boundary TEXT
);
CREATE INDEX users_by_permissions_boundary ON users (permissions_boundary)
    WHERE permissions_boundary IS NOT NULL;

CREATE TABLE user_inline_policies (
    user_row INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (user_row, name)
);

CREATE TABLE user_policy_attachments (
    user_row   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    policy_arn TEXT NOT NULL REFERENCES managed_policies (arn) ON DELETE RESTRICT,
    PRIMARY KEY (user_row, policy_arn)
);
CREATE INDEX user_policy_attachments_by_policy ON user_policy_attachments (policy_arn);

-- A user's long-term keys. The secret is sealed by the server (never stored in clear).
CREATE TABLE access_keys (
    access_key_id     TEXT PRIMARY KEY NOT NULL,
    user_row          INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    secret_sealed     TEXT NOT NULL,
    status            TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER,
    last_used_service TEXT,
    last_used_region  TEXT
);
CREATE INDEX access_keys_by_user ON access_keys (user_row);

CREATE TRIGGER users_delete_tags AFTER DELETE ON users
BEGIN
    DELETE FROM iam_tags WHERE resource_arn = old.arn;
END;
