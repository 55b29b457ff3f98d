-- IAM policy versions beyond v1, tags on IAM entities (the PostgreSQL twin of
-- store-sqlite's 0003).

-- The number of the next policy version: IAM never reuses a version id, even after the
-- version is deleted.
ALTER TABLE managed_policies ADD COLUMN next_version_number BIGINT NOT NULL DEFAULT 2;

-- Tags on roles, managed policies and OIDC providers, by the entity's ARN, in the order
-- they were first added.
CREATE TABLE iam_tags (
    resource_arn TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    value        TEXT NOT NULL,
    position     BIGINT NOT NULL
);
-- IAM tag keys are unique regardless of case (SQLite's COLLATE NOCASE folds ASCII only;
-- so does this index, under the "C" collation).
CREATE UNIQUE INDEX iam_tags_by_folded_key ON iam_tags (resource_arn, lower(key));

-- An entity's tags go with it, so a new entity under the same ARN starts untagged.
CREATE FUNCTION berth_delete_iam_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM iam_tags WHERE resource_arn = OLD.arn;
    RETURN OLD;
END;
$$;

CREATE TRIGGER roles_delete_tags AFTER DELETE ON roles
    FOR EACH ROW EXECUTE FUNCTION berth_delete_iam_tags();

CREATE TRIGGER managed_policies_delete_tags AFTER DELETE ON managed_policies
    FOR EACH ROW EXECUTE FUNCTION berth_delete_iam_tags();

CREATE TRIGGER oidc_providers_delete_tags AFTER DELETE ON oidc_providers
    FOR EACH ROW EXECUTE FUNCTION berth_delete_iam_tags();
