-- ECR resource tags on repositories (TagResource, CreateRepository's tags).
CREATE TABLE repository_tags (
    repository TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (repository, key)
);
