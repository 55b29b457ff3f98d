-- A role's permissions boundary (a managed policy's ARN), and when and where it was last
-- assumed (IAM's RoleLastUsed).
ALTER TABLE roles ADD COLUMN permissions_boundary TEXT;
ALTER TABLE roles ADD COLUMN last_used_at BIGINT;
ALTER TABLE roles ADD COLUMN last_used_region TEXT;
CREATE INDEX roles_by_permissions_boundary ON roles (permissions_boundary)
    WHERE permissions_boundary IS NOT NULL;
