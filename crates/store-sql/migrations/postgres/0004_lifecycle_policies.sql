-- ECR lifecycle policies (PutLifecyclePolicy) exactly as submitted, with when the server
-- last applied each; and the policy text of each repository's last preview
-- (StartLifecyclePolicyPreview), which GetLifecyclePolicyPreview evaluates. The
-- PostgreSQL twin of store-sqlite's 0004.
CREATE TABLE lifecycle_policies (
    repository        TEXT COLLATE "C" PRIMARY KEY REFERENCES repositories (name) ON DELETE CASCADE,
    policy_text       TEXT NOT NULL,
    last_evaluated_at BIGINT
);

CREATE TABLE lifecycle_policy_previews (
    repository  TEXT COLLATE "C" PRIMARY KEY REFERENCES repositories (name) ON DELETE CASCADE,
    policy_text TEXT NOT NULL
);
