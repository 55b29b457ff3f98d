-- IAM policy versions beyond v1, tags on IAM entities.

-- The number of the next policy version: IAM never reuses a version id, even after the
-- version is deleted.
ALTER TABLE managed_policies ADD COLUMN next_version_number INTEGER NOT NULL DEFAULT 2;

-- Tags on roles, managed policies and OIDC providers, by the entity's ARN. IAM tag keys
-- are unique regardless of case.
CREATE TABLE iam_tags (
    resource_arn TEXT NOT NULL,
    key          TEXT NOT NULL COLLATE NOCASE,
    value        TEXT NOT NULL,
    position     INTEGER NOT NULL,
    PRIMARY KEY (resource_arn, key)
);

-- An entity's tags go with it, so a new entity under the same ARN starts untagged.
CREATE TRIGGER roles_delete_tags AFTER DELETE ON roles
BEGIN
    DELETE FROM iam_tags WHERE resource_arn = old.arn;
END;

CREATE TRIGGER managed_policies_delete_tags AFTER DELETE ON managed_policies
BEGIN
    DELETE FROM iam_tags WHERE resource_arn = old.arn;
END;

CREATE TRIGGER oidc_providers_delete_tags AFTER DELETE ON oidc_providers
BEGIN
    DELETE FROM iam_tags WHERE resource_arn = old.arn;
END;
