-- The audit trail, in segments: each batch of events the writer stores is one row, its
-- events framed in `events` (see src/audit.rs), so a batch costs one row however many
-- events it holds. `audit_segment_keys` lists, per segment, each value an event in it
-- has for an attribute LookupEvents filters on (EventName, Username, ...), so a lookup
-- reads only the segments that can match. Times are milliseconds since the epoch.
CREATE TABLE audit_segments (
    -- The batch's first event id: a batch retried after an unclear failure is stored once.
    segment_key TEXT PRIMARY KEY NOT NULL,
    first_time  INTEGER NOT NULL,
    last_time   INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    events      BLOB NOT NULL
);
CREATE INDEX audit_segments_by_last_time ON audit_segments (last_time, segment_key);
CREATE INDEX audit_segments_by_first_time ON audit_segments (first_time);

CREATE TABLE audit_segment_keys (
    attribute   TEXT NOT NULL,
    value       TEXT NOT NULL,
    segment_key TEXT NOT NULL,
    last_time   INTEGER NOT NULL,
    PRIMARY KEY (attribute, value, segment_key)
);
CREATE INDEX audit_segment_keys_by_time ON audit_segment_keys (attribute, value, last_time);
CREATE INDEX audit_segment_keys_by_segment ON audit_segment_keys (segment_key);
