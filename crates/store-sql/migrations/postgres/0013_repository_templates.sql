-- ECR's tag mutability exclusion filters (one per line), and repository creation
-- templates (each ECR's template as JSON, by prefix).
ALTER TABLE repositories ADD COLUMN tag_mutability_exclusions TEXT NOT NULL DEFAULT '';
CREATE TABLE repository_creation_templates (
    prefix     TEXT PRIMARY KEY NOT NULL,
    document   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
