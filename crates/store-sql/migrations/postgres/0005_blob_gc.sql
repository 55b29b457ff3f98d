-- Garbage collection of blob bytes (see berth-core's gc module for the protocol). The
-- PostgreSQL twin of store-sqlite's 0005; leases and claims of one digest take turns on a
-- transaction-scoped advisory lock (see the store), since READ COMMITTED alone would let
-- a lease and a claim each miss the other.
-- A lease: a write in progress will store or reference this digest.
CREATE TABLE blob_leases (
    lease      TEXT COLLATE "C" NOT NULL,
    digest     TEXT COLLATE "C" NOT NULL,
    leased_at  BIGINT NOT NULL,
    PRIMARY KEY (lease, digest)
);
CREATE INDEX blob_leases_by_digest ON blob_leases (digest, leased_at);
CREATE INDEX blob_leases_by_leased_at ON blob_leases (leased_at);

-- A claim: the collector found nothing referencing this digest and may delete its bytes.
CREATE TABLE blob_claims (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    claimed_at BIGINT NOT NULL
);

-- Whether any manifest has a digest, in any repository.
CREATE INDEX manifests_by_digest ON manifests (digest);
CREATE INDEX uploads_by_created_at ON uploads (created_at);
