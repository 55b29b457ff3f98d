-- The account's alias (IAM allows one per account).
CREATE TABLE account_aliases (
    account TEXT PRIMARY KEY NOT NULL,
    alias   TEXT NOT NULL
);
