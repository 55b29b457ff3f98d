-- When each image was last pulled (ECR's lastRecordedPullTime; lifecycle sinceImagePulled).
-- Kept apart from `manifests` so that recording pulls never rewrites manifest rows.
CREATE TABLE image_pulls (
    repository     TEXT NOT NULL,
    digest         TEXT NOT NULL,
    last_pulled_at INTEGER NOT NULL,
    PRIMARY KEY (repository, digest),
    FOREIGN KEY (repository, digest) REFERENCES manifests (repository, digest) ON DELETE CASCADE
);
