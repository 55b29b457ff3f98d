-- IAM instance profiles: a container for one role, which role modules create by default.
CREATE TABLE instance_profiles (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    profile_id TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,
    arn        TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- A role in a profile cannot be deleted until it is removed from it (IAM's DeleteConflict).
CREATE TABLE instance_profile_roles (
    profile_id INTEGER NOT NULL REFERENCES instance_profiles (id) ON DELETE CASCADE,
    role_id    INTEGER NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
    PRIMARY KEY (profile_id, role_id)
);
CREATE INDEX instance_profile_roles_by_role ON instance_profile_roles (role_id);

CREATE TRIGGER instance_profiles_delete_tags AFTER DELETE ON instance_profiles
BEGIN
    DELETE FROM iam_tags WHERE resource_arn = old.arn;
END;
