-- ECR resource tags on repositories (TagResource, CreateRepository's tags). The PostgreSQL
-- twin of store-sqlite's 0006.
CREATE TABLE repository_tags (
    repository TEXT COLLATE "C" NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (repository, key)
);
