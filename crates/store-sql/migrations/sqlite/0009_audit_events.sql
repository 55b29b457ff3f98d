-- The audit trail: one row per event, its CloudTrail record in `document`, with the
-- fields LookupEvents filters on beside it. Times are milliseconds since the epoch.
CREATE TABLE audit_events (
    event_id      TEXT PRIMARY KEY NOT NULL,
    event_time    INTEGER NOT NULL,
    event_source  TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    read_only     INTEGER NOT NULL,
    username      TEXT,
    access_key_id TEXT,
    document      TEXT NOT NULL
);
-- Every lookup pages by (event_time, event_id): each filter has an index that ends so.
CREATE INDEX audit_events_by_time ON audit_events (event_time, event_id);
CREATE INDEX audit_events_by_name ON audit_events (event_name, event_time, event_id);
CREATE INDEX audit_events_by_username ON audit_events (username, event_time, event_id);
CREATE INDEX audit_events_by_access_key ON audit_events (access_key_id, event_time, event_id);
CREATE INDEX audit_events_by_source ON audit_events (event_source, event_time, event_id);

CREATE TABLE audit_event_resources (
    event_id      TEXT NOT NULL,
    event_time    INTEGER NOT NULL,
    resource_type TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    PRIMARY KEY (event_id, resource_type, resource_name)
);
CREATE INDEX audit_resources_by_name ON audit_event_resources (resource_name, event_time, event_id);
CREATE INDEX audit_resources_by_type ON audit_event_resources (resource_type, event_time, event_id);
CREATE INDEX audit_resources_by_time ON audit_event_resources (event_time);
