-- ECR lifecycle policies (PutLifecyclePolicy) exactly as submitted, with when the server
-- last applied each; and the policy text of each repository's last preview
-- (StartLifecyclePolicyPreview), which GetLifecyclePolicyPreview evaluates.
CREATE TABLE lifecycle_policies (
    repository        TEXT PRIMARY KEY NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    policy_text       TEXT NOT NULL,
    last_evaluated_at INTEGER
);

CREATE TABLE lifecycle_policy_previews (
    repository  TEXT PRIMARY KEY NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    policy_text TEXT NOT NULL
);
