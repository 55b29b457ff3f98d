-- IAM groups: their members and their policies, which apply to every member.
CREATE TABLE iam_groups (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Unique case-insensitively (IAM's rule; names are ASCII), kept as submitted.
    name       TEXT COLLATE "C" NOT NULL,
    group_id   TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,
    arn        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX iam_groups_by_folded_name ON iam_groups (lower(name));

CREATE TABLE group_members (
    group_row BIGINT NOT NULL REFERENCES iam_groups (id) ON DELETE RESTRICT,
    user_row  BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    PRIMARY KEY (group_row, user_row)
);
CREATE INDEX group_members_by_user ON group_members (user_row);

CREATE TABLE group_inline_policies (
    group_row BIGINT NOT NULL REFERENCES iam_groups (id) ON DELETE CASCADE,
    name      TEXT COLLATE "C" NOT NULL,
    document  TEXT NOT NULL,
    PRIMARY KEY (group_row, name)
);

CREATE TABLE group_policy_attachments (
    group_row  BIGINT NOT NULL REFERENCES iam_groups (id) ON DELETE CASCADE,
    policy_arn TEXT NOT NULL REFERENCES managed_policies (arn) ON DELETE RESTRICT,
    PRIMARY KEY (group_row, policy_arn)
);
CREATE INDEX group_policy_attachments_by_policy ON group_policy_attachments (policy_arn);
