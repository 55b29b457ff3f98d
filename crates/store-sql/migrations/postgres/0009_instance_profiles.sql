-- IAM instance profiles: a container for one role, which role modules create by default.
CREATE TABLE instance_profiles (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Unique case-insensitively (IAM's rule; names are ASCII), kept as submitted.
    name       TEXT COLLATE "C" NOT NULL,
    profile_id TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,
    arn        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX instance_profiles_by_folded_name ON instance_profiles (lower(name));

-- A role in a profile cannot be deleted until it is removed from it (IAM's DeleteConflict).
CREATE TABLE instance_profile_roles (
    profile_id BIGINT NOT NULL REFERENCES instance_profiles (id) ON DELETE CASCADE,
    role_id    BIGINT NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
    PRIMARY KEY (profile_id, role_id)
);
CREATE INDEX instance_profile_roles_by_role ON instance_profile_roles (role_id);

CREATE TRIGGER instance_profiles_delete_tags AFTER DELETE ON instance_profiles
    FOR EACH ROW EXECUTE FUNCTION berth_delete_iam_tags();
