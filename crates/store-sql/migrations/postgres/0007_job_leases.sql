-- Leases on background jobs (garbage collection, lifecycle policies), so that with several
-- replicas one runs a job at a time. A lease whose expires_at has passed is free.
CREATE TABLE job_leases (
    job        TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
