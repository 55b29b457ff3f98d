//! The shared conformance suite on a real PostgreSQL server, plus what is particular to it
//! (migrations, schema refusal, concurrent replicas). Each test gets a schema of its own.
//!
//! The server's URL comes from BERTH_TEST_POSTGRES_URL (scripts/with-test-services.sh
//! starts a throwaway one). Without it the tests fail (`berth_store::suite::required_service`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};

use berth_store::suite;
use berth_store::{Conflict, RepositoryRecord, RepositoryStore, StoreError};
use berth_store_sql::SqlStore;
use berth_types::{RepositoryName, Tag, TagMutability};
use sqlx::Connection;

/// The URL of a fresh, empty schema on the test server (`None`: skipped on request).
async fn fresh_schema() -> Option<String> {
    let base = suite::required_service("BERTH_TEST_POSTGRES_URL")?;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!(
        "test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

async fn migrated_store() -> Option<SqlStore> {
    let url = fresh_schema().await?;
    let store = SqlStore::connect_postgres(&url).await.unwrap();
    store.migrate().await.unwrap();
    Some(store)
}

fn repository(name: &str) -> RepositoryRecord {
    RepositoryRecord {
        name: RepositoryName::parse(name).unwrap(),
        created_at: 1,
        image_tag_mutability: TagMutability::Mutable,
        tag_mutability_exclusions: Vec::new(),
        scan_on_push: false,
        encryption_type: "AES256".into(),
        policy: None,
    }
}

#[tokio::test]
async fn suite_on_postgres() {
    let Some(store) = migrated_store().await else {
        return;
    };
    suite::metadata_suite(&store).await;
}

#[tokio::test]
async fn suite_parts_in_any_order_on_one_store() {
    let Some(store) = migrated_store().await else {
        return;
    };
    suite::signing_keys(&store).await;
    suite::uploads(&store).await;
    suite::repository_pagination(&store).await;
    suite::referrers_and_blob_unlinks(&store).await;
    suite::repositories_and_manifests(&store).await;
    suite::lifecycle_policies(&store).await;
    suite::iam_versions_and_tags(&store).await;
    suite::roles_and_policies(&store).await;
    suite::oidc_providers(&store).await;
}

#[tokio::test]
async fn migrations_are_explicit_idempotent_and_concurrent() {
    let Some(url) = fresh_schema().await else {
        return;
    };
    let a = SqlStore::connect_postgres(&url).await.unwrap();
    let b = SqlStore::connect_postgres(&url).await.unwrap();
    assert_eq!(a.schema_state().await.unwrap().applied, 0);
    // Nothing exists before `migrate`: connecting never changes the schema.
    assert!(matches!(
        a.get_repository(&RepositoryName::parse("xy").unwrap())
            .await,
        Err(StoreError::Backend(_))
    ));
    // Two replicas starting together: both succeed, the migrations run once.
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    let state = a.check_schema().await.unwrap();
    assert!(state.known > 0);
    assert_eq!(state.applied, state.known);
    a.create_repository(&repository("kept/across"))
        .await
        .unwrap();
    a.migrate().await.unwrap();
    assert!(
        b.get_repository(&RepositoryName::parse("kept/across").unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_schema_from_a_newer_berth_is_refused() {
    let Some(store) = migrated_store().await else {
        return;
    };
    // Pretend a newer Berth applied the migration after the newest this one knows.
    let next = store.schema_state().await.unwrap().known + 1;
    let mut conn = store_connection(&store).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from the future', true, '\\x00'::bytea, 0)",
    )
    .bind(next)
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let refused = store.check_schema().await.unwrap_err();
    let StoreError::Conflict(conflict) = refused else {
        panic!("expected Conflict, got {refused:?}");
    };
    assert_eq!(
        conflict,
        Conflict::SchemaTooNew {
            applied: next,
            known: next - 1
        }
    );
    assert!(conflict.to_string().contains("newer"), "{conflict}");
    assert!(matches!(
        store.migrate().await,
        Err(StoreError::Conflict(_))
    ));
}

/// A connection into the store's schema, for tests that tamper with it.
async fn store_connection(store: &SqlStore) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
    store.postgres_pool().unwrap().acquire().await.unwrap()
}

#[tokio::test]
async fn concurrent_pushes_of_one_immutable_tag_let_exactly_one_win() {
    let Some(url) = fresh_schema().await else {
        return;
    };
    let first = SqlStore::connect_postgres(&url).await.unwrap();
    first.migrate().await.unwrap();
    // A second pool stands for a second replica.
    let second = SqlStore::connect_postgres(&url).await.unwrap();
    let mut record = repository("race/immutable");
    record.image_tag_mutability = TagMutability::Immutable;
    first.create_repository(&record).await.unwrap();
    for round in 0..5 {
        let tag = Tag::parse(&format!("v{round}")).unwrap();
        let a = manifest(&record.name, format!("a{round}").as_bytes());
        let b = manifest(&record.name, format!("b{round}").as_bytes());
        let (ra, rb) = tokio::join!(
            first.put_manifest(&a, Some(&tag), true),
            second.put_manifest(&b, Some(&tag), true)
        );
        let wins = [ra.is_ok(), rb.is_ok()];
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{ra:?} {rb:?}");
        let winner = if ra.is_ok() { &a } else { &b };
        assert_eq!(
            first.resolve_tag(&record.name, &tag).await.unwrap(),
            Some(winner.digest.clone())
        );
    }
}

fn manifest(repository: &RepositoryName, seed: &[u8]) -> berth_store::ManifestRecord {
    berth_store::ManifestRecord {
        repository: repository.clone(),
        digest: suite::sha256(seed),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 10,
        image_size: 10,
        pushed_at: 1,
        artifact_type: None,
        subject: None,
        blobs: vec![suite::sha256(b"layer")],
        children: Vec::new(),
    }
}
