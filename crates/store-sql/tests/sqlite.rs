//! The shared conformance suite, in memory and on a file.

use berth_store::RepositoryRecord;
use berth_store::prelude::*;
use berth_store::suite;
use berth_store_sql::SqlStore;
use berth_types::{RepositoryName, TagMutability};

#[tokio::test]
async fn suite_in_memory() {
    let store = SqlStore::open_sqlite_in_memory().await.unwrap();
    suite::metadata_suite(&store).await;
}

#[tokio::test]
async fn suite_on_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("berth.db"))
        .await
        .unwrap();
    suite::metadata_suite(&store).await;
}

#[tokio::test]
async fn suite_parts_in_any_order_on_one_store() {
    let store = SqlStore::open_sqlite_in_memory().await.unwrap();
    suite::signing_keys(&store).await;
    suite::uploads(&store).await;
    suite::repository_pagination(&store).await;
    suite::repositories_and_manifests(&store).await;
    suite::iam_versions_and_tags(&store).await;
    suite::roles_and_policies(&store).await;
    suite::oidc_providers(&store).await;
}

#[tokio::test]
async fn data_survives_reopen_and_migrations_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested-ok.db");
    let name = RepositoryName::parse("persist/me").unwrap();
    {
        let store = SqlStore::open_sqlite(&path).await.unwrap();
        store
            .create_repository(&RepositoryRecord {
                name: name.clone(),
                created_at: 1,
                image_tag_mutability: TagMutability::Mutable,
                tag_mutability_exclusions: Vec::new(),
                scan_on_push: false,
                encryption_type: "AES256".into(),
                policy: None,
            })
            .await
            .unwrap();
        store.close().await;
    }
    let store = SqlStore::open_sqlite(&path).await.unwrap();
    assert!(store.get_repository(&name).await.unwrap().is_some());
}

#[tokio::test]
async fn upload_for_unknown_repository_is_not_found() {
    let store = SqlStore::open_sqlite_in_memory().await.unwrap();
    let result = store
        .create_upload(&berth_store::UploadRecord {
            id: "u".into(),
            repository: RepositoryName::parse("no/such").unwrap(),
            created_at: 0,
            last_part_size: None,
            small_part_seen: false,
        })
        .await;
    assert!(
        matches!(result, Err(berth_store::StoreError::NotFound)),
        "{result:?}"
    );
}

#[tokio::test]
async fn concurrent_writers_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        SqlStore::open_sqlite(&dir.path().join("c.db"))
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_repository(&RepositoryRecord {
                    name: RepositoryName::parse(&format!("concurrent/r{i:02}")).unwrap(),
                    created_at: i,
                    image_tag_mutability: TagMutability::Mutable,
                    tag_mutability_exclusions: Vec::new(),
                    scan_on_push: false,
                    encryption_type: "AES256".into(),
                    policy: None,
                })
                .await
                .unwrap();
            store.list_repositories(None, 100).await.unwrap().len()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.list_repositories(None, 100).await.unwrap().len(), 16);
}
