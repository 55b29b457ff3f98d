-- IAM groups: their members and their policies, which apply to every member.
CREATE TABLE iam_groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    group_id   TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,
    arn        TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_row INTEGER NOT NULL REFERENCES iam_groups (id) ON DELETE RESTRICT,
    user_row  INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    PRIMARY KEY (group_row, user_row)
);
CREATE INDEX group_members_by_user ON group_members (user_row);

CREATE TABLE group_inline_policies (
    group_row INTEGER NOT NULL REFERENCES iam_groups (id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    document  TEXT NOT NULL,
    PRIMARY KEY (group_row, name)
);

CREATE TABLE group_policy_attachments (
    group_row  INTEGER NOT NULL REFERENCES iam_groups (id) ON DELETE CASCADE,
    policy_arn TEXT NOT NULL REFERENCES managed_policies (arn) ON DELETE RESTRICT,
    PRIMARY KEY (group_row, policy_arn)
);
CREATE INDEX group_policy_attachments_by_policy ON group_policy_attachments (policy_arn);
