-- IAM users, their policies and access keys.
CREATE TABLE users (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Unique case-insensitively (IAM's rule; names are ASCII), kept as submitted.
    name                 TEXT COLLATE "C" NOT NULL,
    user_id              TEXT NOT NULL UNIQUE,
    path                 TEXT NOT NULL,
    arn                  TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    permissions_boundary TEXT
);
CREATE UNIQUE INDEX users_by_folded_name ON users (lower(name));
CREATE INDEX users_by_permissions_boundary ON users (permissions_boundary)
    WHERE permissions_boundary IS NOT NULL;

CREATE TABLE user_inline_policies (
    user_row BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name     TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (user_row, name)
);

CREATE TABLE user_policy_attachments (
    user_row   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    policy_arn TEXT NOT NULL REFERENCES managed_policies (arn) ON DELETE RESTRICT,
    PRIMARY KEY (user_row, policy_arn)
);
CREATE INDEX user_policy_attachments_by_policy ON user_policy_attachments (policy_arn);

-- A user's long-term keys. The secret is sealed by the server (never stored in clear).
CREATE TABLE access_keys (
    access_key_id     TEXT PRIMARY KEY NOT NULL,
    user_row          BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    secret_sealed     TEXT NOT NULL,
    status            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    last_used_at      BIGINT,
    last_used_service TEXT,
    last_used_region  TEXT
);
CREATE INDEX access_keys_by_user ON access_keys (user_row);

CREATE TRIGGER users_delete_tags AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION berth_delete_iam_tags();
