//! The audit trail: events appended in batches, looked up by one attribute and a time
//! range in (time, id) order, pruned by age.

use std::collections::HashMap;

use async_trait::async_trait;
use berth_store::{
    AuditEventRecord, AuditFilter, AuditQuery, AuditResource, AuditStore, StoreResult,
};

use crate::engine::{Row, query};
use crate::{LIST_CHUNK, SqlStore, placeholders};

/// Rows per multi-row INSERT: 8 parameters each, far below either engine's bound.
const INSERT_ROWS: usize = 100;

const EVENT_COLUMNS: &str = "e.event_id, e.event_time, e.event_source, e.event_name, \
     e.read_only, e.username, e.access_key_id, e.document";

fn event_from_row(row: &Row) -> StoreResult<AuditEventRecord> {
    Ok(AuditEventRecord {
        event_id: row.get("event_id")?,
        event_time_ms: row.get("event_time")?,
        event_source: row.get("event_source")?,
        event_name: row.get("event_name")?,
        read_only: row.get("read_only")?,
        username: row.get("username")?,
        access_key_id: row.get("access_key_id")?,
        resources: Vec::new(),
        document: row.get("document")?,
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit_events(&self, events: &[AuditEventRecord]) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        for chunk in events.chunks(INSERT_ROWS) {
            let rows = (0..chunk.len())
                .map(|i| format!("({})", placeholders(i * 8 + 1, 8)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO audit_events (event_id, event_time, event_source, event_name, \
                 read_only, username, access_key_id, document) VALUES {rows} \
                 ON CONFLICT (event_id) DO NOTHING"
            );
            let mut statement = query(&sql);
            for event in chunk {
                statement = statement
                    .bind(&event.event_id)
                    .bind(event.event_time_ms)
                    .bind(&event.event_source)
                    .bind(&event.event_name)
                    .bind(event.read_only)
                    .bind(event.username.as_deref())
                    .bind(event.access_key_id.as_deref())
                    .bind(&event.document);
            }
            statement.execute(tx.on()).await?;
        }
        let resources: Vec<(&AuditEventRecord, &AuditResource)> = events
            .iter()
            .flat_map(|e| e.resources.iter().map(move |r| (e, r)))
            .collect();
        for chunk in resources.chunks(INSERT_ROWS) {
            let rows = (0..chunk.len())
                .map(|i| format!("({})", placeholders(i * 4 + 1, 4)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO audit_event_resources (event_id, event_time, resource_type, \
                 resource_name) VALUES {rows} ON CONFLICT DO NOTHING"
            );
            let mut statement = query(&sql);
            for (event, resource) in chunk {
                statement = statement
                    .bind(&event.event_id)
                    .bind(event.event_time_ms)
                    .bind(&resource.resource_type)
                    .bind(&resource.resource_name);
            }
            statement.execute(tx.on()).await?;
        }
        tx.commit().await
    }

    async fn lookup_audit_events(&self, lookup: &AuditQuery) -> StoreResult<Vec<AuditEventRecord>> {
        // The filter picks the table the walk goes through (and so its index); the time
        // range and the cursor are on that table's (event_time, event_id).
        let (from, at, condition, value) = match &lookup.filter {
            AuditFilter::All => ("audit_events e", "e", None, None),
            AuditFilter::EventId(v) => ("audit_events e", "e", Some("e.event_id"), Some(v)),
            AuditFilter::EventName(v) => ("audit_events e", "e", Some("e.event_name"), Some(v)),
            AuditFilter::Username(v) => ("audit_events e", "e", Some("e.username"), Some(v)),
            AuditFilter::EventSource(v) => ("audit_events e", "e", Some("e.event_source"), Some(v)),
            AuditFilter::AccessKeyId(v) => {
                ("audit_events e", "e", Some("e.access_key_id"), Some(v))
            }
            AuditFilter::ReadOnly(_) => ("audit_events e", "e", Some("e.read_only"), None),
            AuditFilter::ResourceName(v) => (RESOURCE_JOIN, "r", Some("r.resource_name"), Some(v)),
            AuditFilter::ResourceType(v) => (RESOURCE_JOIN, "r", Some("r.resource_type"), Some(v)),
        };
        let mut clauses = Vec::new();
        let mut next = 1;
        let mut placeholder = || {
            let p = format!("${next}");
            next += 1;
            p
        };
        if let Some(column) = condition {
            clauses.push(format!("{column} = {}", placeholder()));
        }
        if lookup.start_ms.is_some() {
            clauses.push(format!("{at}.event_time >= {}", placeholder()));
        }
        if lookup.end_ms.is_some() {
            clauses.push(format!("{at}.event_time < {}", placeholder()));
        }
        let (order, past) = if lookup.oldest_first {
            ("ASC", ">")
        } else {
            ("DESC", "<")
        };
        if lookup.after.is_some() {
            let (time, time_again, id) = (placeholder(), placeholder(), placeholder());
            clauses.push(format!(
                "({at}.event_time {past} {time} OR ({at}.event_time = {time_again} \
                 AND {at}.event_id {past} {id}))"
            ));
        }
        let limit = placeholder();
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {from} {filter} \
             ORDER BY {at}.event_time {order}, {at}.event_id {order} LIMIT {limit}"
        );
        let mut statement = query(&sql);
        if let AuditFilter::ReadOnly(read_only) = &lookup.filter {
            statement = statement.bind(*read_only);
        } else if let Some(value) = value {
            statement = statement.bind(value.as_str());
        }
        if let Some(start) = lookup.start_ms {
            statement = statement.bind(start);
        }
        if let Some(end) = lookup.end_ms {
            statement = statement.bind(end);
        }
        if let Some((time, id)) = &lookup.after {
            statement = statement.bind(*time).bind(*time).bind(id.as_str());
        }
        let limit = i64::try_from(lookup.limit).unwrap_or(i64::MAX);
        let mut events = statement
            .bind(limit)
            .records(self.db.reader(), event_from_row)
            .await?;
        self.attach_resources(&mut events).await?;
        Ok(events)
    }

    async fn prune_audit_events(&self, before_ms: i64, limit: usize) -> StoreResult<u64> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.db.write().await?;
        // The oldest `limit` events, by the time index; their resources go with them.
        let ids: Vec<String> = query(
            "SELECT event_id FROM audit_events WHERE event_time < $1 \
             ORDER BY event_time, event_id LIMIT $2",
        )
        .bind(before_ms)
        .bind(limit)
        .records(tx.on(), |row| row.get("event_id"))
        .await?;
        for chunk in ids.chunks(LIST_CHUNK) {
            let list = placeholders(1, chunk.len());
            for table in ["audit_event_resources", "audit_events"] {
                let sql = format!("DELETE FROM {table} WHERE event_id IN ({list})");
                let mut statement = query(&sql);
                for id in chunk {
                    statement = statement.bind(id.as_str());
                }
                statement.execute(tx.on()).await?;
            }
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}

const RESOURCE_JOIN: &str =
    "audit_event_resources r JOIN audit_events e ON e.event_id = r.event_id";

impl SqlStore {
    /// Fills in each event's resources, in one query per chunk of events.
    async fn attach_resources(&self, events: &mut [AuditEventRecord]) -> StoreResult<()> {
        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
        let mut found: HashMap<String, Vec<AuditResource>> = HashMap::new();
        for chunk in ids.chunks(LIST_CHUNK) {
            let sql = format!(
                "SELECT event_id, resource_type, resource_name FROM audit_event_resources \
                 WHERE event_id IN ({}) ORDER BY resource_type, resource_name",
                placeholders(1, chunk.len())
            );
            let mut statement = query(&sql);
            for id in chunk {
                statement = statement.bind(id.as_str());
            }
            let rows = statement.fetch_all(self.db.reader()).await?;
            for row in rows {
                found
                    .entry(row.get("event_id")?)
                    .or_default()
                    .push(AuditResource {
                        resource_type: row.get("resource_type")?,
                        resource_name: row.get("resource_name")?,
                    });
            }
        }
        for event in events {
            if let Some(resources) = found.remove(&event.event_id) {
                event.resources = resources;
            }
        }
        Ok(())
    }
}
