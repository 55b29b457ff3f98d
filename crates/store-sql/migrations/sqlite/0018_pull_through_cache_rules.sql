-- ECR pull-through cache rules (each rule as JSON, by repository prefix).
CREATE TABLE pull_through_cache_rules (
    prefix     TEXT PRIMARY KEY NOT NULL,
    document   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
