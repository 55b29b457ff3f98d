-- Garbage collection of blob bytes (see berth-core's gc module for the protocol).
-- A lease: a write in progress will store or reference this digest.
CREATE TABLE blob_leases (
    lease      TEXT NOT NULL,
    digest     TEXT NOT NULL,
    leased_at  INTEGER NOT NULL,
    PRIMARY KEY (lease, digest)
);
CREATE INDEX blob_leases_by_digest ON blob_leases (digest, leased_at);

-- A claim: the collector found nothing referencing this digest and may delete its bytes.
CREATE TABLE blob_claims (
    digest     TEXT PRIMARY KEY NOT NULL,
    claimed_at INTEGER NOT NULL
);

-- Whether any manifest has a digest, in any repository.
CREATE INDEX manifests_by_digest ON manifests (digest);
CREATE INDEX uploads_by_created_at ON uploads (created_at);
