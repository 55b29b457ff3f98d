-- The registry's own settings (ECR's registry policy, registry scanning configuration and
-- account settings), one row each, by name.
CREATE TABLE registry_settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
