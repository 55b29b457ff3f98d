//! The read cache in front of SQLite: the shared suite through it, and its freshness rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use berth_store::cached::CachedMetadataStore;
use berth_store::prelude::*;
use berth_store::suite;
use berth_store::{RepositoryRecord, RoleRecord};
use berth_store_sql::SqlStore;
use berth_types::{Arn, RepositoryName, RoleName, TagMutability};

/// Long enough that no entry expires during a test: only the generation makes writes
/// visible.
const LONG: Duration = Duration::from_secs(3600);

async fn cached(ttl: Duration) -> CachedMetadataStore<SqlStore> {
    CachedMetadataStore::new(SqlStore::open_sqlite_in_memory().await.unwrap(), ttl)
}

fn role(name: &str, trust: &str) -> RoleRecord {
    RoleRecord {
        name: RoleName::parse(name).unwrap(),
        role_id: format!("AROA{}", name.to_uppercase()),
        path: "/".into(),
        arn: Arn::parse(&format!("arn:aws:iam::123456789012:role/{name}")).unwrap(),
        trust_policy: trust.into(),
        description: None,
        max_session_duration: 3600,
        created_at: 1,
        permissions_boundary: None,
        last_used: None,
    }
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
async fn suite_through_the_cache() {
    suite::metadata_suite(&cached(LONG).await).await;
}

#[tokio::test]
async fn suite_parts_in_any_order_through_the_cache() {
    let store = cached(LONG).await;
    suite::signing_keys(&store).await;
    suite::lifecycle_policies(&store).await;
    suite::uploads(&store).await;
    suite::repository_pagination(&store).await;
    suite::repositories_and_manifests(&store).await;
    suite::iam_versions_and_tags(&store).await;
    suite::roles_and_policies(&store).await;
    suite::oidc_providers(&store).await;
}

#[tokio::test]
async fn suite_with_the_cache_off() {
    suite::metadata_suite(&cached(Duration::ZERO).await).await;
}

#[tokio::test]
async fn a_write_through_the_cache_is_seen_by_the_next_read() {
    let store = cached(LONG).await;
    assert_eq!(store.get_role("deploy").await.unwrap(), None);
    assert_eq!(store.role_effective_policies("deploy").await.ok(), None);
    store.create_role(&role("deploy", "{}")).await.unwrap();
    assert_eq!(
        store
            .get_role("deploy")
            .await
            .unwrap()
            .unwrap()
            .trust_policy,
        "{}"
    );
    assert!(
        store
            .role_effective_policies("deploy")
            .await
            .unwrap()
            .identity
            .is_empty()
    );

    store
        .update_role_trust_policy("deploy", r#"{"Version":"2012-10-17"}"#)
        .await
        .unwrap();
    store
        .put_role_policy("deploy", "push", r#"{"Statement":[]}"#)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_role("deploy")
            .await
            .unwrap()
            .unwrap()
            .trust_policy,
        r#"{"Version":"2012-10-17"}"#
    );
    let policies = store
        .role_effective_policies("deploy")
        .await
        .unwrap()
        .identity;
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].document, r#"{"Statement":[]}"#);

    let name = RepositoryName::parse("octo/app").unwrap();
    assert_eq!(store.get_repository(&name).await.unwrap(), None);
    assert!(store.list_repositories(None, 10).await.unwrap().is_empty());
    store
        .create_repository(&repository("octo/app"))
        .await
        .unwrap();
    assert!(store.get_repository(&name).await.unwrap().is_some());
    assert_eq!(store.list_repositories(None, 10).await.unwrap().len(), 1);
    store
        .set_repository_policy(&name, Some(r#"{"Statement":[]}"#))
        .await
        .unwrap();
    assert_eq!(
        store.get_repository(&name).await.unwrap().unwrap().policy,
        Some(r#"{"Statement":[]}"#.into())
    );
    store.delete_repository(&name, false).await.unwrap();
    assert_eq!(store.get_repository(&name).await.unwrap(), None);
    assert!(store.list_repositories(None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn reads_are_cached_until_a_write_through_the_cache() {
    let store = cached(LONG).await;
    store.create_role(&role("deploy", "{}")).await.unwrap();
    assert!(store.get_role("deploy").await.unwrap().is_some());
    // Behind the cache's back: the cached answer stands (the TTL is an hour)...
    store.inner().delete_role("deploy").await.unwrap();
    assert!(store.get_role("deploy").await.unwrap().is_some());
    // ...until any write goes through the cache.
    store
        .create_repository(&repository("any/write"))
        .await
        .unwrap();
    assert_eq!(store.get_role("deploy").await.unwrap(), None);
}

#[tokio::test]
async fn a_write_behind_the_cache_is_seen_once_the_ttl_passes() {
    let store = cached(Duration::from_millis(20)).await;
    store.create_role(&role("deploy", "{}")).await.unwrap();
    assert_eq!(
        store
            .get_role("deploy")
            .await
            .unwrap()
            .unwrap()
            .trust_policy,
        "{}"
    );
    // Another replica (here: the inner store directly) changes the role.
    store
        .inner()
        .update_role_trust_policy("deploy", r#"{"Version":"2012-10-17"}"#)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = store
            .get_role("deploy")
            .await
            .unwrap()
            .unwrap()
            .trust_policy;
        if seen == r#"{"Version":"2012-10-17"}"# {
            break;
        }
        assert!(Instant::now() < deadline, "the change never became visible");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
