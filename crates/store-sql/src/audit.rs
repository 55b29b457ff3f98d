//! The audit trail, stored in segments: each batch the writer appends is one row of
//! `audit_segments` holding its events framed one after the other, plus one row of
//! `audit_segment_keys` per distinct value an event in it has for an attribute
//! `LookupEvents` filters on. Appending a batch of a thousand events is then a handful of
//! rows, not a thousand rows and their indexes: measured through sqlx, a row costs about
//! 17 µs of CPU whatever it holds, more than the request it records.
//!
//! A lookup reads the segments that can match (by key, or by time for an event id, whose
//! time is in the id), newest first, and merges their events in (time, id) order: two
//! replicas' segments may overlap in time, so an event is returned only once no segment
//! still unread can hold a later one.
//!
//! A segment's events: a format byte (2), then, compressed with LZ4 (records of one batch
//! repeat each other, and writing fewer bytes costs less CPU than compressing them), the
//! batch's distinct identities (each `userIdentity` once, however many events share it),
//! then for each event the index of its identity, its lookup fields and the rest of its
//! record. Numbers are little-endian; a string is its u32 length, then its UTF-8 bytes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use berth_store::{
    AuditEventRecord, AuditFilter, AuditQuery, AuditResource, AuditStore, StoreError, StoreResult,
    audit_event_time,
};

use crate::SqlStore;
use crate::engine::{Row, Tx, query};

/// Segments read per query while a lookup walks them.
const SEGMENT_PAGE: i64 = 16;

/// The segment format: LZ4 (block format, the size prepended) over the framed events.
const FORMAT_LZ4: u8 = 2;
/// A segment never decompresses to more than this (a corrupt size is refused, not
/// allocated): segments are written at about [`SEGMENT_BYTES`], plus one record of at most
/// 256 KiB and its identity.
const MAX_SEGMENT_BYTES: usize = 64 * 1024 * 1024;

/// A batch is cut into segments of about this many bytes of framed events: buffers this
/// size are reused by the allocator, where a batch's whole (megabytes at thousands of
/// events a second) would be mapped afresh, page by page, every time.
const SEGMENT_BYTES: usize = 1024 * 1024;

fn encode(events: &[&AuditEventRecord]) -> Vec<u8> {
    let framed = frame(events);
    let header = 1 + 4;
    let mut out = vec![0; header + lz4_flex::block::get_maximum_output_size(framed.len())];
    out[0] = FORMAT_LZ4;
    out[1..header].copy_from_slice(
        &u32::try_from(framed.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    match lz4_flex::block::compress_into(&framed, &mut out[header..]) {
        Ok(length) => out.truncate(header + length),
        // Cannot happen (the buffer has the maximum size); kept correct regardless.
        Err(_) => {
            out.truncate(1);
            out.extend_from_slice(&lz4_flex::block::compress_prepend_size(&framed));
        }
    }
    out
}

/// `events` cut into runs of about [`SEGMENT_BYTES`] framed, one segment each.
fn segments_of(events: &[AuditEventRecord]) -> Vec<Vec<&AuditEventRecord>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for event in events {
        let event_size = event.document.len() + event.identity.len() + 128;
        if !current.is_empty() && size + event_size > SEGMENT_BYTES {
            segments.push(std::mem::take(&mut current));
            size = 0;
        }
        size += event_size;
        current.push(event);
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

fn decode(bytes: &[u8]) -> StoreResult<Vec<AuditEventRecord>> {
    let Some((&FORMAT_LZ4, compressed)) = bytes.split_first() else {
        return Err(corrupt("unknown format"));
    };
    let size = compressed
        .first_chunk::<4>()
        .map(|n| u32::from_le_bytes(*n) as usize)
        .ok_or_else(|| corrupt("no size"))?;
    if size > MAX_SEGMENT_BYTES {
        return Err(corrupt("too large"));
    }
    let framed = lz4_flex::block::decompress_size_prepended(compressed)
        .map_err(|e| corrupt(&e.to_string()))?;
    unframe(&framed)
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u32(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_optional(out: &mut Vec<u8>, text: Option<&str>) {
    out.push(u8::from(text.is_some()));
    if let Some(text) = text {
        put_str(out, text);
    }
}

fn frame(events: &[&AuditEventRecord]) -> Vec<u8> {
    // Identities by address: the writer gives one caller's events the same `Arc`.
    let mut index: HashMap<*const u8, usize> = HashMap::new();
    let mut identities: Vec<&str> = Vec::new();
    let identity_of: Vec<usize> = events
        .iter()
        .map(|event| {
            *index.entry(event.identity.as_ptr()).or_insert_with(|| {
                identities.push(&event.identity);
                identities.len() - 1
            })
        })
        .collect();
    let size: usize = identities.iter().map(|i| i.len() + 4).sum::<usize>()
        + events.iter().map(|e| e.document.len() + 160).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    put_u32(&mut out, identities.len());
    for identity in identities {
        put_str(&mut out, identity);
    }
    for (event, identity) in events.iter().zip(identity_of) {
        put_u32(&mut out, identity);
        put_str(&mut out, &event.event_id);
        out.extend_from_slice(&event.event_time_ms.to_le_bytes());
        put_str(&mut out, &event.event_source);
        put_str(&mut out, &event.event_name);
        out.push(u8::from(event.read_only));
        put_optional(&mut out, event.username.as_deref());
        put_optional(&mut out, event.access_key_id.as_deref());
        put_u32(&mut out, event.resources.len());
        for resource in &event.resources {
            put_str(&mut out, &resource.resource_type);
            put_str(&mut out, &resource.resource_name);
        }
        put_str(&mut out, &event.document);
    }
    out
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("an audit segment is corrupt: {what}"))
}

/// Reads what [`frame`] wrote, refusing anything cut short.
struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    fn bytes(&mut self, length: usize) -> StoreResult<&'a [u8]> {
        if self.rest.len() < length {
            return Err(corrupt("a frame is cut"));
        }
        let (taken, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(taken)
    }

    fn u32(&mut self) -> StoreResult<usize> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
    }

    fn i64(&mut self) -> StoreResult<i64> {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(self.bytes(8)?);
        Ok(i64::from_le_bytes(bytes))
    }

    fn flag(&mut self) -> StoreResult<bool> {
        Ok(self.bytes(1)?[0] != 0)
    }

    fn text(&mut self) -> StoreResult<&'a str> {
        let length = self.u32()?;
        std::str::from_utf8(self.bytes(length)?).map_err(|_| corrupt("a string is not UTF-8"))
    }

    fn optional(&mut self) -> StoreResult<Option<String>> {
        Ok(if self.flag()? {
            Some(self.text()?.to_owned())
        } else {
            None
        })
    }
}

fn unframe(bytes: &[u8]) -> StoreResult<Vec<AuditEventRecord>> {
    let mut frames = Frames { rest: bytes };
    let count = frames.u32()?;
    let mut identities: Vec<Arc<str>> = Vec::with_capacity(count.min(bytes.len() / 4));
    for _ in 0..count {
        identities.push(frames.text()?.into());
    }
    let mut events = Vec::new();
    while !frames.rest.is_empty() {
        let identity = identities
            .get(frames.u32()?)
            .ok_or_else(|| corrupt("an identity is missing"))?
            .clone();
        let event_id = frames.text()?.to_owned();
        let event_time_ms = frames.i64()?;
        let event_source = frames.text()?.to_owned();
        let event_name = frames.text()?.to_owned();
        let read_only = frames.flag()?;
        let username = frames.optional()?;
        let access_key_id = frames.optional()?;
        let resource_count = frames.u32()?;
        let mut resources = Vec::with_capacity(resource_count.min(frames.rest.len() / 8));
        for _ in 0..resource_count {
            resources.push(AuditResource {
                resource_type: frames.text()?.to_owned(),
                resource_name: frames.text()?.to_owned(),
            });
        }
        let document = frames.text()?.to_owned();
        events.push(AuditEventRecord {
            event_id,
            event_time_ms,
            event_source,
            event_name,
            read_only,
            username,
            access_key_id,
            resources,
            identity,
            document,
        });
    }
    Ok(events)
}

/// The (attribute, value) pairs `LookupEvents` can ask for that `event` has.
fn keys(event: &AuditEventRecord) -> impl Iterator<Item = (&'static str, &str)> {
    let read_only = if event.read_only { "true" } else { "false" };
    [
        ("EventName", Some(event.event_name.as_str())),
        ("EventSource", Some(event.event_source.as_str())),
        ("ReadOnly", Some(read_only)),
        ("Username", event.username.as_deref()),
        ("AccessKeyId", event.access_key_id.as_deref()),
    ]
    .into_iter()
    .filter_map(|(attribute, value)| Some((attribute, value?)))
    .chain(event.resources.iter().flat_map(|resource| {
        [
            ("ResourceName", resource.resource_name.as_str()),
            ("ResourceType", resource.resource_type.as_str()),
        ]
    }))
}

/// The attribute and value a filter looks up by key; `None` for no filter and for an
/// event id (found by its time).
fn filter_key(filter: &AuditFilter) -> Option<(&'static str, String)> {
    Some(match filter {
        AuditFilter::All | AuditFilter::EventId(_) => return None,
        AuditFilter::EventName(v) => ("EventName", v.clone()),
        AuditFilter::ReadOnly(v) => ("ReadOnly", v.to_string()),
        AuditFilter::Username(v) => ("Username", v.clone()),
        AuditFilter::ResourceType(v) => ("ResourceType", v.clone()),
        AuditFilter::ResourceName(v) => ("ResourceName", v.clone()),
        AuditFilter::EventSource(v) => ("EventSource", v.clone()),
        AuditFilter::AccessKeyId(v) => ("AccessKeyId", v.clone()),
    })
}

fn matches(filter: &AuditFilter, event: &AuditEventRecord) -> bool {
    match filter {
        AuditFilter::All => true,
        AuditFilter::EventId(v) => &event.event_id == v,
        AuditFilter::EventName(v) => &event.event_name == v,
        AuditFilter::ReadOnly(v) => event.read_only == *v,
        AuditFilter::Username(v) => event.username.as_ref() == Some(v),
        AuditFilter::ResourceType(v) => event.resources.iter().any(|r| &r.resource_type == v),
        AuditFilter::ResourceName(v) => event.resources.iter().any(|r| &r.resource_name == v),
        AuditFilter::EventSource(v) => &event.event_source == v,
        AuditFilter::AccessKeyId(v) => event.access_key_id.as_ref() == Some(v),
    }
}

struct Segment {
    key: String,
    first_time: i64,
    last_time: i64,
    event_count: i64,
    events: Vec<u8>,
}

fn segment_from_row(row: &Row) -> StoreResult<Segment> {
    Ok(Segment {
        key: row.get("segment_key")?,
        first_time: row.get("first_time")?,
        last_time: row.get("last_time")?,
        event_count: row.get("event_count")?,
        events: row.get("events")?,
    })
}

/// Writes a segment of `events` (none: nothing) and its keys.
async fn insert_segment(tx: &mut Tx, events: &[&AuditEventRecord]) -> StoreResult<()> {
    let (Some(first), Some(first_time), Some(last_time)) = (
        events.first(),
        events.iter().map(|e| e.event_time_ms).min(),
        events.iter().map(|e| e.event_time_ms).max(),
    ) else {
        return Ok(());
    };
    let inserted = query(
        "INSERT INTO audit_segments (segment_key, first_time, last_time, event_count, events) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (segment_key) DO NOTHING",
    )
    .bind(first.event_id.as_str())
    .bind(first_time)
    .bind(last_time)
    .bind(i64::try_from(events.len()).unwrap_or(i64::MAX))
    .bind(&encode(events))
    .execute(tx.on())
    .await?;
    if inserted == 0 {
        // The same batch, retried: stored already, keys and all.
        return Ok(());
    }
    let distinct: HashSet<(&'static str, &str)> = events.iter().flat_map(|e| keys(e)).collect();
    let distinct: Vec<_> = distinct.into_iter().collect();
    for chunk in distinct.chunks(100) {
        let rows = (0..chunk.len())
            .map(|i| format!("(${}, ${}, $1, $2)", i * 2 + 3, i * 2 + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO audit_segment_keys (attribute, value, segment_key, last_time) \
             VALUES {rows} ON CONFLICT DO NOTHING"
        );
        let mut statement = query(&sql).bind(first.event_id.as_str()).bind(last_time);
        for (attribute, value) in chunk {
            statement = statement.bind(*attribute).bind(*value);
        }
        statement.execute(tx.on()).await?;
    }
    Ok(())
}

async fn delete_segment(tx: &mut Tx, key: &str) -> StoreResult<()> {
    for statement in [
        "DELETE FROM audit_segment_keys WHERE segment_key = $1",
        "DELETE FROM audit_segments WHERE segment_key = $1",
    ] {
        query(statement).bind(key).execute(tx.on()).await?;
    }
    Ok(())
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit_events(&self, events: &[AuditEventRecord]) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        for segment in segments_of(events) {
            insert_segment(&mut tx, &segment).await?;
        }
        tx.commit().await
    }

    async fn lookup_audit_events(&self, lookup: &AuditQuery) -> StoreResult<Vec<AuditEventRecord>> {
        // The window [low, high) of event times that can be returned.
        let mut low = lookup.start_ms.unwrap_or(i64::MIN);
        let mut high = lookup.end_ms.unwrap_or(i64::MAX);
        if let AuditFilter::EventId(id) = &lookup.filter {
            let Some(time) = audit_event_time(id) else {
                return Ok(Vec::new());
            };
            low = low.max(time);
            high = high.min(time.saturating_add(1));
        }
        match &lookup.after {
            Some((time, _)) if lookup.oldest_first => low = low.max(*time),
            Some((time, _)) => high = high.min(time.saturating_add(1)),
            None => {}
        }
        if low >= high || lookup.limit == 0 {
            return Ok(Vec::new());
        }
        let beyond_cursor = |event: &AuditEventRecord| match &lookup.after {
            None => true,
            Some((time, id)) if lookup.oldest_first => {
                (event.event_time_ms, &event.event_id) > (*time, id)
            }
            Some((time, id)) => (event.event_time_ms, &event.event_id) < (*time, id),
        };
        let key = filter_key(&lookup.filter);
        let mut found = Vec::new();
        let mut pending: Vec<AuditEventRecord> = Vec::new();
        let mut position: Option<(i64, String)> = None;
        loop {
            let segments = self
                .segments(
                    key.as_ref(),
                    low,
                    high,
                    lookup.oldest_first,
                    position.as_ref(),
                )
                .await?;
            let last_page = (segments.len() as i64) < SEGMENT_PAGE;
            for segment in segments {
                // Every segment still unread holds events on the far side of this bound.
                let bound = if lookup.oldest_first {
                    segment.first_time
                } else {
                    segment.last_time
                };
                release(&mut pending, &mut found, Some(bound), lookup.oldest_first);
                if found.len() >= lookup.limit {
                    found.truncate(lookup.limit);
                    return Ok(found);
                }
                pending.extend(decode(&segment.events)?.into_iter().filter(|event| {
                    (low..high).contains(&event.event_time_ms)
                        && matches(&lookup.filter, event)
                        && beyond_cursor(event)
                }));
                position = Some((bound, segment.key));
            }
            if last_page {
                release(&mut pending, &mut found, None, lookup.oldest_first);
                found.truncate(lookup.limit);
                return Ok(found);
            }
        }
    }

    async fn prune_audit_events(&self, before_ms: i64, limit: usize) -> StoreResult<u64> {
        let mut tx = self.db.write().await?;
        let mut deleted: usize = 0;
        while deleted < limit {
            let oldest = query(
                "SELECT segment_key, first_time, last_time, event_count, events \
                 FROM audit_segments WHERE first_time < $1 \
                 ORDER BY first_time, segment_key LIMIT 1",
            )
            .bind(before_ms)
            .record(tx.on(), segment_from_row)
            .await?;
            let Some(segment) = oldest else { break };
            let count = usize::try_from(segment.event_count).unwrap_or(usize::MAX);
            if segment.last_time < before_ms && deleted + count <= limit {
                delete_segment(&mut tx, &segment.key).await?;
                deleted += count;
                continue;
            }
            // Part of the segment goes: the oldest of its events before the cut, as many
            // as the limit leaves; the rest is written back as a segment of its own.
            let mut events = decode(&segment.events)?;
            events.sort_by(|a, b| {
                (a.event_time_ms, &a.event_id).cmp(&(b.event_time_ms, &b.event_id))
            });
            let old = events
                .iter()
                .take_while(|e| e.event_time_ms < before_ms)
                .count()
                .min(limit - deleted);
            delete_segment(&mut tx, &segment.key).await?;
            let kept: Vec<&AuditEventRecord> = events[old..].iter().collect();
            insert_segment(&mut tx, &kept).await?;
            deleted += old;
            if old == 0 {
                break;
            }
        }
        tx.commit().await?;
        Ok(deleted as u64)
    }
}

/// Moves from `pending` to `found`, in order, the events no unread segment can precede:
/// beyond `bound` (all of them at the end).
fn release(
    pending: &mut Vec<AuditEventRecord>,
    found: &mut Vec<AuditEventRecord>,
    bound: Option<i64>,
    oldest_first: bool,
) {
    let (mut ready, waiting): (Vec<_>, Vec<_>) = pending.drain(..).partition(|event| match bound {
        None => true,
        Some(bound) if oldest_first => event.event_time_ms < bound,
        Some(bound) => event.event_time_ms > bound,
    });
    *pending = waiting;
    ready.sort_by(|a, b| (a.event_time_ms, &a.event_id).cmp(&(b.event_time_ms, &b.event_id)));
    if !oldest_first {
        ready.reverse();
    }
    found.extend(ready);
}

impl SqlStore {
    /// The next page of segments that can hold events in [low, high) matching `key`, in
    /// the lookup's order, after `position` (the last segment's bound and key).
    async fn segments(
        &self,
        key: Option<&(&'static str, String)>,
        low: i64,
        high: i64,
        oldest_first: bool,
        position: Option<&(i64, String)>,
    ) -> StoreResult<Vec<Segment>> {
        // Newest first, a filtered walk follows the keys' index on (attribute, value,
        // last_time), which holds each segment's last_time too.
        let (order_column, order, past) = match (oldest_first, key.is_some()) {
            (true, _) => ("s.first_time", "ASC", ">"),
            (false, true) => ("k.last_time", "DESC", "<"),
            (false, false) => ("s.last_time", "DESC", "<"),
        };
        let (from, mut next) = match key {
            Some(_) => (
                "audit_segment_keys k JOIN audit_segments s ON s.segment_key = k.segment_key \
                 WHERE k.attribute = $1 AND k.value = $2 AND",
                3,
            ),
            None => ("audit_segments s WHERE", 1),
        };
        let mut placeholder = || {
            let p = format!("${next}");
            next += 1;
            p
        };
        let (low_p, high_p) = (placeholder(), placeholder());
        let mut sql = format!(
            "SELECT s.segment_key, s.first_time, s.last_time, s.event_count, s.events \
             FROM {from} s.last_time >= {low_p} AND s.first_time < {high_p}"
        );
        if position.is_some() {
            let (bound, bound_again, segment) = (placeholder(), placeholder(), placeholder());
            sql.push_str(&format!(
                " AND ({order_column} {past} {bound} OR ({order_column} = {bound_again} \
                 AND s.segment_key {past} {segment}))"
            ));
        }
        let limit = placeholder();
        sql.push_str(&format!(
            " ORDER BY {order_column} {order}, s.segment_key {order} LIMIT {limit}"
        ));
        let mut statement = query(&sql);
        if let Some((attribute, value)) = key {
            statement = statement.bind(*attribute).bind(value.as_str());
        }
        statement = statement.bind(low).bind(high);
        if let Some((bound, segment)) = position {
            statement = statement.bind(*bound).bind(*bound).bind(segment.as_str());
        }
        statement
            .bind(SEGMENT_PAGE)
            .records(self.db.reader(), segment_from_row)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u8, identity: &Arc<str>) -> AuditEventRecord {
        AuditEventRecord {
            event_id: format!("id-{n}"),
            event_time_ms: i64::from(n) * 1_000,
            event_source: "ecr.amazonaws.com".into(),
            event_name: "PutImage".into(),
            read_only: n.is_multiple_of(2),
            username: n.is_multiple_of(3).then(|| "session".into()),
            access_key_id: Some("ASIAEXAMPLE".into()),
            resources: vec![AuditResource {
                resource_type: "AWS::ECR::Repository".into(),
                resource_name: format!("repo-{n}"),
            }],
            identity: identity.clone(),
            document: format!(r#"{{"eventID":"id-{n}"}}"#),
        }
    }

    #[test]
    fn segments_round_trip_with_each_identity_stored_once() {
        let (a, b): (Arc<str>, Arc<str>) = (r#"{"type":"Root"}"#.into(), r#"{"x":1}"#.into());
        let events: Vec<_> = (0..10)
            .map(|n| event(n, if n < 7 { &a } else { &b }))
            .collect();
        let refs: Vec<&AuditEventRecord> = events.iter().collect();
        let framed = frame(&refs);
        assert_eq!(
            framed
                .windows(a.len())
                .filter(|w| *w == a.as_bytes())
                .count(),
            1
        );
        assert_eq!(decode(&encode(&refs)).unwrap(), events);
    }

    #[test]
    fn a_large_batch_is_cut_into_segments_of_about_a_mebibyte() {
        let identity: Arc<str> = "{}".into();
        let mut events: Vec<_> = (0..100).map(|n| event(n, &identity)).collect();
        for event in &mut events {
            event.document = format!(r#"{{"x":"{}"}}"#, "y".repeat(30_000));
        }
        let segments = segments_of(&events);
        assert_eq!(segments.len(), 3);
        assert_eq!(segments.iter().map(Vec::len).sum::<usize>(), 100);
        assert!(segments.iter().all(|s| s.len() <= 35));
        assert_eq!(segments_of(&events[..1]).len(), 1);
        assert!(segments_of(&[]).is_empty());
    }

    #[test]
    fn a_cut_or_corrupt_segment_is_an_error() {
        let identity: Arc<str> = "{}".into();
        let events = [event(1, &identity), event(2, &identity)];
        let refs: Vec<&AuditEventRecord> = events.iter().collect();
        let framed = frame(&refs);
        for cut in 0..framed.len() - 1 {
            // Cut anywhere (but at an event's end): never a panic, never a wrong event.
            if let Ok(decoded) = unframe(&framed[..cut]) {
                assert!(decoded.len() < 2 && decoded.iter().all(|e| e == &events[0]));
            }
        }
        let mut bad_identity = framed.clone();
        bad_identity[4 + 4 + identity.len()] = 9;
        assert!(unframe(&bad_identity).is_err());
        assert!(decode(&[1, 0, 0, 0, 0]).is_err(), "another format");
        assert!(decode(&[FORMAT_LZ4, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }
}
