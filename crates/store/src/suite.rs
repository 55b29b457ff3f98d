//! The test suite every backend must pass. A backend's tests call these functions with a
//! fresh store: `metadata_suite` for a `MetadataStore`, `blob_suite` for a `BlobStore`.
//! Each part is public too, and the parts use disjoint names, so they may also run one by
//! one or in any order on one store. Failures panic (this is test code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use berth_types::{
    Arn, Digest, DigestAlgorithm, PolicyName, RepositoryName, RoleName, Tag, TagMutability,
};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use crate::{
    AccessKeyLastUsed, AccessKeyRecord, AttachedPolicy, BlobReader, BlobStore, Conflict,
    GroupRecord, IamTag, ImageCursor, LifecyclePolicyRecord, ManagedPolicyRecord, ManifestRecord,
    MetadataStore, OidcProviderRecord, PolicyVersionRecord, PrefixDocument, PrefixDocumentKind,
    PutManifestOutcome, RepositoryRecord, RoleLastUsed, RoleRecord, SigningKeyRecord, StoreError,
    TagStatus, UploadRecord, UserRecord,
};

// --- Helpers ---------------------------------------------------------------------------------

/// The value of `var`, which names a service a test needs (`BERTH_TEST_POSTGRES_URL`,
/// `BERTH_TEST_S3_ENDPOINT`; scripts/with-test-services.sh starts the services and sets
/// them). Without it the test fails: a test that did not run must not count as passed.
/// `BERTH_TEST_ALLOW_SKIP=1` (never set by scripts/test.sh) turns the failure into a skip
/// that says so, for a quick local run: the test then returns early and passes.
pub fn required_service(var: &str) -> Option<String> {
    if let Ok(value) = std::env::var(var) {
        return Some(value);
    }
    assert!(
        std::env::var("BERTH_TEST_ALLOW_SKIP").as_deref() == Ok("1"),
        "{var} is not set: run the tests through scripts/with-test-services.sh (scripts/test.sh \
         does), or set BERTH_TEST_ALLOW_SKIP=1 to skip the tests that need it"
    );
    eprintln!("SKIPPED (BERTH_TEST_ALLOW_SKIP=1): {var} is not set");
    None
}

/// The digest of `bytes` with `algorithm`.
pub fn digest_of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
    let alg = match algorithm {
        DigestAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
        DigestAlgorithm::Sha512 => &aws_lc_rs::digest::SHA512,
    };
    Digest::from_bytes(algorithm, aws_lc_rs::digest::digest(alg, bytes).as_ref())
}

/// The sha256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    digest_of(DigestAlgorithm::Sha256, bytes)
}

fn repo(name: &str) -> RepositoryName {
    RepositoryName::parse(name).unwrap()
}

fn tag(name: &str) -> Tag {
    Tag::parse(name).unwrap()
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}

#[track_caller]
fn assert_already_exists<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "expected AlreadyExists, got {result:?}"
    );
}

/// Asserts `result` is the `Conflict` `kind` (a pattern).
macro_rules! assert_conflict {
    ($result:expr, $kind:pat $(,)?) => {
        match $result {
            Err(StoreError::Conflict($kind)) => {}
            other => panic!("expected Conflict({}), got {other:?}", stringify!($kind)),
        }
    };
}

/// Reads a blob to the end, checking it has the announced length.
pub async fn read_blob(blob: BlobReader) -> Vec<u8> {
    let BlobReader { len, mut reader } = blob;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.unwrap();
    assert_eq!(out.len() as u64, len, "announced length");
    out
}

/// A chunk that yields its bytes, then fails as a dropped connection would.
struct FailingReader {
    data: Vec<u8>,
    pos: usize,
}

impl AsyncRead for FailingReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let pos = self.pos;
        if pos >= self.data.len() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client went away",
            )));
        }
        let n = buf.remaining().min(self.data.len() - pos);
        buf.put_slice(&self.data[pos..pos + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

// --- Metadata --------------------------------------------------------------------------------

/// Every `MetadataStore` check, on a fresh store.
pub async fn metadata_suite(store: &dyn MetadataStore) {
    oidc_providers(store).await;
    roles_and_policies(store).await;
    iam_versions_and_tags(store).await;
    repositories_and_manifests(store).await;
    repository_pagination(store).await;
    referrers_and_blob_unlinks(store).await;
    uploads(store).await;
    blob_collection_bookkeeping(store).await;
    repository_resource_tags(store).await;
    signing_keys(store).await;
    lifecycle_policies(store).await;
    job_leases(store).await;
    audit_events(store).await;
    instance_profiles(store).await;
    account_alias(store).await;
    permissions_boundaries(store).await;
    roles_last_used(store).await;
    registry_settings(store).await;
    prefix_documents(store).await;
    users_and_access_keys(store).await;
    groups(store).await;
    image_pulls(store).await;
    image_pages(store).await;
}

/// Image listings page newest push first (digest descending among equal times), from a
/// cursor, with each image's tags and last pull.
pub async fn image_pages(store: &dyn MetadataStore) {
    let name = repo("paged/app");
    store
        .create_repository(&repository("paged/app", 1))
        .await
        .unwrap();
    let manifest = |body: &str, pushed_at: i64| ManifestRecord {
        repository: name.clone(),
        digest: sha256(body.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 2,
        image_size: 10,
        pushed_at,
        artifact_type: None,
        subject: None,
        blobs: vec![],
        children: vec![],
    };
    // Seven images, two pushed at the same second; some tagged, one twice.
    let images: Vec<ManifestRecord> = [
        ("a", 100),
        ("b", 200),
        ("c", 200),
        ("d", 300),
        ("e", 400),
        ("f", 500),
        ("g", 600),
    ]
    .into_iter()
    .map(|(body, at)| manifest(body, at))
    .collect();
    for (i, m) in images.iter().enumerate() {
        let tag = (i % 2 == 0).then(|| Tag::parse(&format!("v{i}")).unwrap());
        store.put_manifest(m, tag.as_ref(), false).await.unwrap();
    }
    store
        .put_manifest(&images[0], Some(&Tag::parse("latest").unwrap()), false)
        .await
        .unwrap();
    store
        .record_image_pulls(&[(name.clone(), images[3].digest.clone(), 900)])
        .await
        .unwrap();
    let mut expected = images.clone();
    expected
        .sort_by(|x, y| (y.pushed_at, y.digest.as_str()).cmp(&(x.pushed_at, x.digest.as_str())));

    let name = &name;
    let walk = |status: TagStatus| async move {
        let mut seen = Vec::new();
        let mut from: Option<ImageCursor> = None;
        loop {
            let page = store
                .list_images_page(name, status, from.as_ref(), 3)
                .await
                .unwrap();
            assert!(page.len() <= 3);
            let Some(last) = page.last() else { break };
            from = Some(ImageCursor {
                pushed_at: last.manifest.pushed_at,
                digest: last.manifest.digest.clone(),
                inclusive: false,
            });
            let full = page.len() == 3;
            seen.extend(page);
            if !full {
                break;
            }
        }
        seen
    };
    let all = walk(TagStatus::Any).await;
    let digests: Vec<&Digest> = all.iter().map(|e| &e.manifest.digest).collect();
    assert_eq!(
        digests,
        expected.iter().map(|m| &m.digest).collect::<Vec<_>>()
    );
    let first = all
        .iter()
        .find(|e| e.manifest.digest == images[0].digest)
        .unwrap();
    assert_eq!(first.tags, ["latest", "v0"]);
    assert_eq!(first.manifest.image_size, 10);
    let pulled = all
        .iter()
        .find(|e| e.manifest.digest == images[3].digest)
        .unwrap();
    assert_eq!((pulled.tags.len(), pulled.last_pulled_at), (0, Some(900)));
    let tagged = walk(TagStatus::Tagged).await;
    assert_eq!(tagged.len(), 4);
    assert!(tagged.iter().all(|e| !e.tags.is_empty()));
    let untagged = walk(TagStatus::Untagged).await;
    assert_eq!(untagged.len(), 3);
    assert!(untagged.iter().all(|e| e.tags.is_empty()));
    // An inclusive cursor starts at its image.
    let at = store
        .list_images_page(
            name,
            TagStatus::Any,
            Some(&ImageCursor {
                pushed_at: expected[2].pushed_at,
                digest: expected[2].digest.clone(),
                inclusive: true,
            }),
            2,
        )
        .await
        .unwrap();
    assert_eq!(at[0].manifest.digest, expected[2].digest);
    assert_eq!(at[1].manifest.digest, expected[3].digest);

    // Lifecycle candidates: every image but those an index lists, with tags and pulls.
    let index = ManifestRecord {
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        children: vec![images[1].digest.clone()],
        ..manifest("index", 700)
    };
    store.put_manifest(&index, None, false).await.unwrap();
    let mut candidates = store.lifecycle_candidates(name).await.unwrap();
    candidates.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
    let mut want: Vec<&Digest> = images
        .iter()
        .map(|m| &m.digest)
        .filter(|d| **d != images[1].digest)
        .chain([&index.digest])
        .collect();
    want.sort_by_key(|d| d.as_str());
    assert_eq!(
        candidates.iter().map(|c| &c.digest).collect::<Vec<_>>(),
        want
    );
    let first = candidates
        .iter()
        .find(|c| c.digest == images[0].digest)
        .unwrap();
    let mut tags = first.tags.clone();
    tags.sort();
    assert_eq!(
        (tags, first.pushed_at),
        (vec!["latest".to_owned(), "v0".to_owned()], 100)
    );
    let pulled = candidates
        .iter()
        .find(|c| c.digest == images[3].digest)
        .unwrap();
    assert_eq!((pulled.tags.len(), pulled.last_pulled_at), (0, Some(900)));
    store.delete_manifest(name, &index.digest).await.unwrap();

    let one = store
        .image_entry(name, &images[0].digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.tags, ["latest", "v0"]);
    assert_eq!(
        store.image_entry(name, &sha256(b"none")).await.unwrap(),
        None
    );
    store.delete_repository(name, true).await.unwrap();
}

pub async fn image_pulls(store: &dyn MetadataStore) {
    let name = repo("pulled/app");
    store
        .create_repository(&repository("pulled/app", 1))
        .await
        .unwrap();
    let manifest = |body: &[u8]| ManifestRecord {
        repository: name.clone(),
        digest: sha256(body),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 2,
        image_size: 0,
        pushed_at: 100,
        artifact_type: None,
        subject: None,
        blobs: vec![],
        children: vec![],
    };
    let (one, two) = (manifest(b"one"), manifest(b"two"));
    for m in [&one, &two] {
        store.put_manifest(m, None, false).await.unwrap();
    }
    assert!(store.image_pull_times(&name).await.unwrap().is_empty());
    store
        .record_image_pulls(&[
            (name.clone(), one.digest.clone(), 500),
            (name.clone(), sha256(b"never pushed"), 600),
        ])
        .await
        .unwrap();
    // An older pull recorded late does not move the time back.
    store
        .record_image_pulls(&[(name.clone(), one.digest.clone(), 400)])
        .await
        .unwrap();
    let times = store.image_pull_times(&name).await.unwrap();
    assert_eq!(times.len(), 1, "{times:?}");
    assert_eq!(times.get(&one.digest), Some(&500));
    store
        .record_image_pulls(&[(name.clone(), one.digest.clone(), 700)])
        .await
        .unwrap();
    assert_eq!(
        store
            .image_pull_times(&name)
            .await
            .unwrap()
            .get(&one.digest),
        Some(&700)
    );
    // Gone with its image.
    store.delete_manifest(&name, &one.digest).await.unwrap();
    assert!(store.image_pull_times(&name).await.unwrap().is_empty());
    store.record_image_pulls(&[]).await.unwrap();
    store.delete_repository(&name, true).await.unwrap();
}

pub async fn groups(store: &dyn MetadataStore) {
    let group = |name: &str| GroupRecord {
        name: name.into(),
        group_id: format!("AGPA{}", name.to_uppercase()),
        path: "/".into(),
        arn: Arn::parse(&format!("arn:aws:iam::123456789012:group/{name}")).unwrap(),
        created_at: 1_700_000_000,
    };
    store.create_group(&group("Builders")).await.unwrap();
    assert_already_exists(store.create_group(&group("builders")).await);
    store.create_group(&group("admins")).await.unwrap();
    assert_eq!(
        store.get_group("BUILDERS").await.unwrap(),
        Some(group("Builders"))
    );
    let names: Vec<String> = store
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["admins", "Builders"]);
    store.create_user(&user("member")).await.unwrap();

    // A member gets the group's inline and attached policies.
    let policy = managed_policy("grouppush");
    let arn = policy.arn.to_string();
    let document = r#"{"Version":"2012-10-17","Statement":[]}"#;
    store
        .create_managed_policy(
            &policy,
            &PolicyVersionRecord {
                version_id: "v1".into(),
                document: document.into(),
                is_default: true,
                created_at: 1_700_000_000,
            },
        )
        .await
        .unwrap();
    store
        .put_group_policy("builders", "push", document)
        .await
        .unwrap();
    store.attach_group_policy("builders", &arn).await.unwrap();
    assert_eq!(
        store.list_group_policies("Builders").await.unwrap(),
        ["push"]
    );
    assert_eq!(
        store
            .get_group_policy("builders", "push")
            .await
            .unwrap()
            .as_deref(),
        Some(document)
    );
    assert_eq!(
        store
            .list_attached_group_policies("builders")
            .await
            .unwrap()[0]
            .arn,
        arn
    );
    assert_eq!(
        store.list_policy_groups(&arn).await.unwrap()[0].name,
        "Builders"
    );
    assert!(
        store
            .user_effective_policies("member")
            .await
            .unwrap()
            .identity
            .is_empty()
    );
    store.add_user_to_group("builders", "MEMBER").await.unwrap();
    store.add_user_to_group("builders", "member").await.unwrap();
    assert_not_found(store.add_user_to_group("nobody", "member").await);
    assert_not_found(store.add_user_to_group("builders", "nobody").await);
    let labels: Vec<String> = store
        .user_effective_policies("member")
        .await
        .unwrap()
        .identity
        .into_iter()
        .map(|p| p.label)
        .collect();
    assert_eq!(
        labels,
        ["inline:group/Builders/push".to_owned(), arn.clone()]
    );
    assert_eq!(
        store.list_group_users("builders").await.unwrap()[0].name,
        "member"
    );
    assert_eq!(
        store.list_groups_for_user("member").await.unwrap()[0].name,
        "Builders"
    );
    assert_not_found(store.list_group_users("nobody").await);
    assert_not_found(store.list_groups_for_user("nobody").await);
    assert_eq!(
        store
            .get_managed_policy(&arn)
            .await
            .unwrap()
            .unwrap()
            .attachment_count,
        1
    );
    assert_conflict!(
        store.delete_managed_policy(&arn).await,
        Conflict::PolicyAttached
    );

    // Renamed and moved, with its members and policies; a taken name is refused.
    let moved_arn = "arn:aws:iam::123456789012:group/ci/Builders2";
    store
        .update_group("builders", "Builders2", "/ci/", moved_arn)
        .await
        .unwrap();
    assert_eq!(store.get_group("builders").await.unwrap(), None);
    let moved = store.get_group("BUILDERS2").await.unwrap().unwrap();
    assert_eq!(
        (moved.path.as_str(), moved.arn.as_str()),
        ("/ci/", moved_arn)
    );
    assert_eq!(store.list_group_users("builders2").await.unwrap().len(), 1);
    assert_already_exists(
        store
            .update_group(
                "builders2",
                "admins",
                "/",
                "arn:aws:iam::123456789012:group/admins",
            )
            .await,
    );
    assert_not_found(
        store
            .update_group("nobody", "x", "/", "arn:aws:iam::123456789012:group/x")
            .await,
    );
    store
        .update_group(
            "builders2",
            "Builders",
            "/",
            "arn:aws:iam::123456789012:group/Builders",
        )
        .await
        .unwrap();

    // Neither goes while the other holds on.
    assert_conflict!(store.delete_user("member").await, Conflict::UserInGroups);
    assert_conflict!(
        store.delete_group("builders").await,
        Conflict::GroupHasMembers
    );
    store
        .remove_user_from_group("builders", "member")
        .await
        .unwrap();
    assert_not_found(store.remove_user_from_group("builders", "member").await);
    assert_conflict!(
        store.delete_group("builders").await,
        Conflict::GroupHasInlinePolicies
    );
    store.delete_group_policy("builders", "push").await.unwrap();
    assert_not_found(store.delete_group_policy("builders", "push").await);
    assert_conflict!(
        store.delete_group("builders").await,
        Conflict::GroupHasAttachedPolicies
    );
    store.detach_group_policy("builders", &arn).await.unwrap();
    store.delete_group("builders").await.unwrap();
    assert_not_found(store.delete_group("builders").await);
    store.delete_group("admins").await.unwrap();
    store.delete_user("member").await.unwrap();
    store.delete_managed_policy(&arn).await.unwrap();
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        name: name.into(),
        user_id: format!("AIDA{}", name.to_uppercase()),
        path: "/ci/".into(),
        arn: Arn::parse(&format!("arn:aws:iam::123456789012:user/ci/{name}")).unwrap(),
        created_at: 1_700_000_000,
        permissions_boundary: None,
    }
}

pub async fn users_and_access_keys(store: &dyn MetadataStore) {
    let builder = user("Builder");
    store.create_user(&builder).await.unwrap();
    assert_already_exists(store.create_user(&user("BUILDER")).await);
    assert_eq!(
        store.get_user("builder").await.unwrap(),
        Some(builder.clone())
    );
    store.create_user(&user("auditor")).await.unwrap();
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["auditor", "Builder"]);

    // Policies, inline and attached, and the effective set with a boundary.
    let policy = managed_policy("userpush");
    let arn = policy.arn.to_string();
    let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;
    store
        .create_managed_policy(
            &policy,
            &PolicyVersionRecord {
                version_id: "v1".into(),
                document: document.into(),
                is_default: true,
                created_at: 1_700_000_000,
            },
        )
        .await
        .unwrap();
    store
        .put_user_policy("builder", "inline", document)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_user_policy("BUILDER", "inline")
            .await
            .unwrap()
            .as_deref(),
        Some(document)
    );
    assert_eq!(
        store.list_user_policies("builder").await.unwrap(),
        ["inline"]
    );
    assert_not_found(store.put_user_policy("nobody", "x", document).await);
    store.attach_user_policy("builder", &arn).await.unwrap();
    store.attach_user_policy("builder", &arn).await.unwrap();
    assert_not_found(
        store
            .attach_user_policy("builder", "arn:aws:iam::123456789012:policy/none")
            .await,
    );
    assert_eq!(
        store.list_attached_user_policies("builder").await.unwrap(),
        vec![AttachedPolicy {
            name: "userpush".into(),
            arn: arn.clone()
        }]
    );
    assert_eq!(
        store
            .get_managed_policy(&arn)
            .await
            .unwrap()
            .unwrap()
            .attachment_count,
        1
    );
    assert_eq!(
        store.list_policy_users(&arn).await.unwrap()[0].name,
        "Builder"
    );
    store
        .set_user_permissions_boundary("builder", Some(&arn))
        .await
        .unwrap();
    assert_eq!(store.list_boundary_users(&arn).await.unwrap().len(), 1);
    let effective = store.user_effective_policies("Builder").await.unwrap();
    let labels: Vec<&str> = effective
        .identity
        .iter()
        .map(|p| p.label.as_str())
        .collect();
    assert_eq!(labels, ["inline:inline", arn.as_str()]);
    assert_eq!(effective.boundary.unwrap().label, arn);
    assert_not_found(store.user_effective_policies("nobody").await);
    assert_conflict!(
        store.delete_managed_policy(&arn).await,
        Conflict::PolicyAttached
    );

    // Access keys: at most `max` per user, found with their user, status and last use.
    let key = |id: &str| AccessKeyRecord {
        access_key_id: id.into(),
        secret_sealed: format!("sealed-{id}"),
        status: "Active".into(),
        created_at: 1_700_000_000,
        last_used: None,
    };
    store
        .create_access_key("builder", &key("AKIAONE"), 2)
        .await
        .unwrap();
    store
        .create_access_key("builder", &key("AKIATWO"), 2)
        .await
        .unwrap();
    assert_conflict!(
        store
            .create_access_key("builder", &key("AKIATHREE"), 2)
            .await,
        Conflict::AccessKeyLimit { max: 2 }
    );
    assert_not_found(store.create_access_key("nobody", &key("AKIAX"), 2).await);
    let (found, owner) = store.get_access_key("AKIAONE").await.unwrap().unwrap();
    assert_eq!((found, owner.name.as_str()), (key("AKIAONE"), "Builder"));
    assert_eq!(store.get_access_key("AKIANONE").await.unwrap(), None);
    store
        .set_access_key_status("builder", "AKIAONE", "Inactive")
        .await
        .unwrap();
    assert_not_found(
        store
            .set_access_key_status("auditor", "AKIAONE", "Active")
            .await,
    );
    store
        .record_access_keys_last_used(
            &[("AKIATWO".into(), 1_700_000_500, "ecr".into())],
            "eu-west-1",
        )
        .await
        .unwrap();
    let keys = store.list_access_keys("builder").await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].status, "Inactive");
    assert_eq!(
        keys[1].last_used,
        Some(AccessKeyLastUsed {
            at: 1_700_000_500,
            service: "ecr".into(),
            region: "eu-west-1".into()
        })
    );
    assert_not_found(store.list_access_keys("nobody").await);

    // Renamed and moved: found by the new name, tags follow the new ARN.
    store
        .tag_iam_resource(builder.arn.as_str(), &[iam_tag("team", "ci")], 50)
        .await
        .unwrap();
    assert_eq!(
        store.user_effective_policies("builder").await.unwrap().tags,
        vec![("team".to_owned(), "ci".to_owned())]
    );
    let new_arn = "arn:aws:iam::123456789012:user/ops/Packager";
    store
        .update_user("builder", "Packager", "/ops/", new_arn)
        .await
        .unwrap();
    assert_eq!(store.get_user("builder").await.unwrap(), None);
    let moved = store.get_user("packager").await.unwrap().unwrap();
    assert_eq!(
        (moved.path.as_str(), moved.arn.as_str()),
        ("/ops/", new_arn)
    );
    assert_eq!(
        store.list_iam_resource_tags(new_arn).await.unwrap(),
        vec![iam_tag("team", "ci")]
    );
    assert_already_exists(
        store
            .update_user(
                "packager",
                "auditor",
                "/",
                "arn:aws:iam::123456789012:user/auditor",
            )
            .await,
    );

    // A user goes only once its keys and policies have.
    assert_conflict!(
        store.delete_user("packager").await,
        Conflict::UserHasAccessKeys
    );
    store
        .delete_access_key("packager", "AKIAONE")
        .await
        .unwrap();
    store
        .delete_access_key("packager", "AKIATWO")
        .await
        .unwrap();
    assert_not_found(store.delete_access_key("packager", "AKIATWO").await);
    assert_conflict!(
        store.delete_user("packager").await,
        Conflict::UserHasInlinePolicies
    );
    store
        .delete_user_policy("packager", "inline")
        .await
        .unwrap();
    assert_conflict!(
        store.delete_user("packager").await,
        Conflict::UserHasAttachedPolicies
    );
    store.detach_user_policy("packager", &arn).await.unwrap();
    assert_not_found(store.detach_user_policy("packager", &arn).await);
    store
        .set_user_permissions_boundary("packager", None)
        .await
        .unwrap();
    store.delete_user("packager").await.unwrap();
    assert_eq!(store.list_iam_resource_tags(new_arn).await.unwrap(), vec![]);
    store.delete_user("auditor").await.unwrap();
    assert_not_found(store.delete_user("auditor").await);
    store.delete_managed_policy(&arn).await.unwrap();
}

/// Creation templates and pull-through cache rules: documents by prefix, each kind apart.
pub async fn prefix_documents(store: &dyn MetadataStore) {
    use PrefixDocumentKind::{CreationTemplate, PullThroughCacheRule};
    let document = |prefix: &str, document: &str| PrefixDocument {
        prefix: prefix.into(),
        document: document.into(),
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    };
    assert_eq!(
        store
            .get_prefix_document(CreationTemplate, "prod")
            .await
            .unwrap(),
        None
    );
    store
        .create_prefix_document(CreationTemplate, &document("prod", "{}"))
        .await
        .unwrap();
    store
        .create_prefix_document(CreationTemplate, &document("ROOT", "{\"root\":true}"))
        .await
        .unwrap();
    assert_already_exists(
        store
            .create_prefix_document(CreationTemplate, &document("prod", "{}"))
            .await,
    );
    // The same prefix in another kind is another document.
    store
        .create_prefix_document(PullThroughCacheRule, &document("prod", "{\"rule\":1}"))
        .await
        .unwrap();
    store
        .update_prefix_document(CreationTemplate, "prod", "{\"v\":2}", 1_700_000_100)
        .await
        .unwrap();
    let updated = store
        .get_prefix_document(CreationTemplate, "prod")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            updated.document.as_str(),
            updated.created_at,
            updated.updated_at
        ),
        ("{\"v\":2}", 1_700_000_000, 1_700_000_100)
    );
    let rule = store
        .get_prefix_document(PullThroughCacheRule, "prod")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rule.document, "{\"rule\":1}");
    let prefixes = |kind| async move {
        store
            .list_prefix_documents(kind)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.prefix)
            .collect::<Vec<String>>()
    };
    assert_eq!(prefixes(CreationTemplate).await, ["ROOT", "prod"]);
    assert_eq!(prefixes(PullThroughCacheRule).await, ["prod"]);
    assert_not_found(
        store
            .update_prefix_document(CreationTemplate, "dev", "{}", 1)
            .await,
    );
    assert_not_found(store.delete_prefix_document(CreationTemplate, "dev").await);
    store
        .delete_prefix_document(CreationTemplate, "prod")
        .await
        .unwrap();
    store
        .delete_prefix_document(CreationTemplate, "ROOT")
        .await
        .unwrap();
    assert!(prefixes(CreationTemplate).await.is_empty());
    assert_eq!(prefixes(PullThroughCacheRule).await, ["prod"]);
    store
        .delete_prefix_document(PullThroughCacheRule, "prod")
        .await
        .unwrap();
    assert!(prefixes(PullThroughCacheRule).await.is_empty());
}

pub async fn registry_settings(store: &dyn MetadataStore) {
    assert_eq!(store.get_registry_setting("policy").await.unwrap(), None);
    assert_not_found(store.delete_registry_setting("policy").await);
    store.put_registry_setting("policy", "{}").await.unwrap();
    store
        .put_registry_setting("policy", "{\"v\":2}")
        .await
        .unwrap();
    store.put_registry_setting("other", "x").await.unwrap();
    assert_eq!(
        store
            .get_registry_setting("policy")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"v\":2}")
    );
    store.delete_registry_setting("policy").await.unwrap();
    assert_eq!(store.get_registry_setting("policy").await.unwrap(), None);
    assert_eq!(
        store
            .get_registry_setting("other")
            .await
            .unwrap()
            .as_deref(),
        Some("x")
    );
    store.delete_registry_setting("other").await.unwrap();

    let name = repo("scanned");
    store
        .create_repository(&repository("scanned", 1_700_000_000))
        .await
        .unwrap();
    store.set_scan_on_push(&name, true).await.unwrap();
    assert!(
        store
            .get_repository(&name)
            .await
            .unwrap()
            .unwrap()
            .scan_on_push
    );
    store.set_scan_on_push(&name, false).await.unwrap();
    assert!(
        !store
            .get_repository(&name)
            .await
            .unwrap()
            .unwrap()
            .scan_on_push
    );
    assert_not_found(store.set_scan_on_push(&repo("nothere"), true).await);
    store.delete_repository(&name, true).await.unwrap();
}

/// A customer managed policy `name` at path `/`, as created (version `v1`, no description).
fn managed_policy(name: &str) -> ManagedPolicyRecord {
    ManagedPolicyRecord {
        arn: Arn::parse(&format!("arn:aws:iam::123456789012:policy/{name}")).unwrap(),
        name: PolicyName::parse(name).unwrap(),
        path: "/".into(),
        policy_id: format!("ANPA{}", name.to_uppercase()),
        default_version_id: "v1".into(),
        description: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
        attachment_count: 0,
        boundary_usage_count: 0,
    }
}

pub async fn permissions_boundaries(store: &dyn MetadataStore) {
    let arn = "arn:aws:iam::123456789012:policy/boundary";
    let policy = managed_policy("boundary");
    let pull_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*"}]}"#;
    let version = PolicyVersionRecord {
        version_id: "v1".into(),
        document: pull_only.into(),
        is_default: true,
        created_at: 1_700_000_000,
    };
    store
        .create_managed_policy(&policy, &version)
        .await
        .unwrap();

    // Set on create: read back, counted, listed, and part of the effective policies.
    let bounded = RoleRecord {
        permissions_boundary: Some(arn.into()),
        ..role("Bounded")
    };
    store.create_role(&bounded).await.unwrap();
    assert_eq!(
        store.get_role("bounded").await.unwrap(),
        Some(bounded.clone())
    );
    let counted = store.get_managed_policy(arn).await.unwrap().unwrap();
    assert_eq!(
        (counted.attachment_count, counted.boundary_usage_count),
        (0, 1)
    );
    let listed: Vec<String> = store
        .list_boundary_roles(arn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(listed, ["Bounded"]);
    assert!(store.list_policy_roles(arn).await.unwrap().is_empty());
    let effective = store.role_effective_policies("BOUNDED").await.unwrap();
    assert!(effective.identity.is_empty());
    let boundary = effective.boundary.expect("the boundary");
    assert_eq!(
        (boundary.label.as_str(), boundary.version.as_str()),
        (arn, "v1")
    );
    assert_eq!(boundary.document, pull_only);

    // A policy that bounds a role cannot be deleted.
    assert_conflict!(
        store.delete_managed_policy(arn).await,
        Conflict::PolicyAttached
    );

    // Removed, then set again on an existing role; a missing role or policy is NotFound.
    store
        .set_role_permissions_boundary("bounded", None)
        .await
        .unwrap();
    assert_eq!(
        store
            .role_effective_policies("bounded")
            .await
            .unwrap()
            .boundary,
        None
    );
    assert_eq!(
        store
            .get_role("bounded")
            .await
            .unwrap()
            .unwrap()
            .permissions_boundary,
        None
    );
    store
        .set_role_permissions_boundary("BOUNDED", Some(arn))
        .await
        .unwrap();
    assert!(
        store
            .role_effective_policies("bounded")
            .await
            .unwrap()
            .boundary
            .is_some()
    );
    assert_not_found(
        store
            .set_role_permissions_boundary("nobody", Some(arn))
            .await,
    );
    assert_not_found(
        store
            .set_role_permissions_boundary("bounded", Some("arn:aws:iam::123456789012:policy/none"))
            .await,
    );
    let missing_policy = RoleRecord {
        permissions_boundary: Some("arn:aws:iam::123456789012:policy/none".into()),
        ..role("unbounded")
    };
    assert_not_found(store.create_role(&missing_policy).await);
    assert_eq!(store.get_role("unbounded").await.unwrap(), None);

    // Gone with the role; then the policy may go.
    store.delete_role("bounded").await.unwrap();
    assert_eq!(
        store
            .get_managed_policy(arn)
            .await
            .unwrap()
            .unwrap()
            .boundary_usage_count,
        0
    );
    store.delete_managed_policy(arn).await.unwrap();
}

pub async fn roles_last_used(store: &dyn MetadataStore) {
    let used = role("used");
    store.create_role(&used).await.unwrap();
    assert_eq!(
        store.get_role("used").await.unwrap().unwrap().last_used,
        None
    );
    store
        .record_roles_last_used(&[(used.role_id.clone(), 1_700_000_100)], "eu-west-1")
        .await
        .unwrap();
    let last = RoleLastUsed {
        at: 1_700_000_100,
        region: "eu-west-1".into(),
    };
    assert_eq!(
        store.get_role("used").await.unwrap().unwrap().last_used,
        Some(last.clone())
    );
    // An older use recorded late does not move it back; unknown ids are skipped.
    store
        .record_roles_last_used(
            &[
                (used.role_id.clone(), 1_700_000_050),
                ("AROAGONE".into(), 1_700_000_200),
            ],
            "us-east-1",
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_role("used").await.unwrap().unwrap().last_used,
        Some(last)
    );
    store
        .record_roles_last_used(&[], "us-east-1")
        .await
        .unwrap();
    store.delete_role("used").await.unwrap();
}

pub async fn account_alias(store: &dyn MetadataStore) {
    let account = "123456789012";
    assert_eq!(store.get_account_alias(account).await.unwrap(), None);
    store.set_account_alias(account, "acme").await.unwrap();
    store.set_account_alias(account, "acme-prod").await.unwrap();
    assert_eq!(
        store.get_account_alias(account).await.unwrap().as_deref(),
        Some("acme-prod"),
        "one alias, the newest"
    );
    assert_not_found(store.delete_account_alias(account, "acme").await);
    store
        .delete_account_alias(account, "acme-prod")
        .await
        .unwrap();
    assert_eq!(store.get_account_alias(account).await.unwrap(), None);
}

pub async fn instance_profiles(store: &dyn MetadataStore) {
    use crate::{Conflict, InstanceProfileRecord};
    let profile = |name: &str| InstanceProfileRecord {
        name: name.into(),
        profile_id: format!("AIPA{}", name.to_uppercase()),
        path: "/".into(),
        arn: Arn::parse(&format!(
            "arn:aws:iam::123456789012:instance-profile/{name}"
        ))
        .unwrap(),
        created_at: 1_700_000_000,
        roles: Vec::new(),
    };
    store.create_role(&role("Holder")).await.unwrap();
    store
        .create_instance_profile(&profile("Holder"))
        .await
        .unwrap();
    store
        .create_instance_profile(&profile("another"))
        .await
        .unwrap();
    assert_already_exists(store.create_instance_profile(&profile("HOLDER")).await);

    store
        .add_role_to_instance_profile("holder", "HOLDER")
        .await
        .unwrap();
    let held = store.get_instance_profile("HOLDER").await.unwrap().unwrap();
    assert_eq!(held.name, "Holder");
    assert_eq!(held.roles, vec![role("Holder")]);
    // One role per profile, as IAM allows.
    store.create_role(&role("Second")).await.unwrap();
    assert!(matches!(
        store.add_role_to_instance_profile("Holder", "Second").await,
        Err(StoreError::Conflict(Conflict::InstanceProfileFull))
    ));
    assert_not_found(store.add_role_to_instance_profile("Holder", "nobody").await);
    assert_not_found(
        store
            .add_role_to_instance_profile("nothing", "Second")
            .await,
    );

    let all = store.list_instance_profiles(None).await.unwrap();
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["another", "Holder"]);
    assert!(all[0].roles.is_empty());
    let for_role = store.list_instance_profiles(Some("holder")).await.unwrap();
    assert_eq!(for_role.len(), 1);
    assert_eq!(for_role[0].roles[0].name.as_str(), "Holder");
    assert!(
        store
            .list_instance_profiles(Some("Second"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(store.list_instance_profiles(Some("nobody")).await);

    // Neither goes while the other holds it.
    assert!(matches!(
        store.delete_role("Holder").await,
        Err(StoreError::Conflict(Conflict::RoleInInstanceProfile))
    ));
    assert!(matches!(
        store.delete_instance_profile("Holder").await,
        Err(StoreError::Conflict(Conflict::InstanceProfileHasRole))
    ));
    assert_not_found(
        store
            .remove_role_from_instance_profile("Holder", "Second")
            .await,
    );
    store
        .remove_role_from_instance_profile("Holder", "holder")
        .await
        .unwrap();
    store.delete_instance_profile("holder").await.unwrap();
    store.delete_role("Holder").await.unwrap();
    assert_eq!(store.get_instance_profile("Holder").await.unwrap(), None);
    assert_not_found(store.delete_instance_profile("Holder").await);
    store.delete_instance_profile("another").await.unwrap();
    store.delete_role("Second").await.unwrap();
}

pub async fn audit_events(store: &dyn MetadataStore) {
    use crate::{AuditEventRecord, AuditFilter, AuditQuery, AuditResource, audit_event_id};
    let id = |n: i64| audit_event_id(1_000 * n, [n as u8; 10]);
    // Three callers, each identity shared by its events as the writer shares it.
    let identities: Vec<std::sync::Arc<str>> = (0..3)
        .map(|n| format!(r#"{{"type":"AssumedRole","principalId":"AROA:{n}"}}"#).into())
        .collect();
    let event = |n: i64, name: &str, repository: Option<&str>| AuditEventRecord {
        event_id: id(n),
        event_time_ms: 1_000 * n,
        event_source: "ecr.amazonaws.com".into(),
        event_name: name.into(),
        read_only: name.starts_with("Get") || name.starts_with("Batch"),
        username: Some(if n % 2 == 0 { "even" } else { "odd" }.into()),
        access_key_id: (n % 3 == 0).then(|| "ASIAEXAMPLE".into()),
        resources: repository
            .map(|r| {
                vec![AuditResource {
                    resource_type: "AWS::ECR::Repository".into(),
                    resource_name: r.into(),
                }]
            })
            .unwrap_or_default(),
        identity: identities[(n % 3) as usize].clone(),
        document: format!(r#"{{"eventID":"{}"}}"#, id(n)),
    };
    // 1,200 events: more than one insert chunk and one deletion chunk.
    let events: Vec<AuditEventRecord> = (0..1_200)
        .map(|n| match n % 4 {
            0 => event(n, "PutImage", Some("app")),
            1 => event(n, "BatchGetImage", Some("app")),
            2 => event(n, "GetAuthorizationToken", None),
            _ => event(n, "PutImage", Some("other")),
        })
        .collect();
    // In batches whose times overlap, as replicas' batches do: every third event, and the
    // last third in batches of 100.
    let third = |r: i64| -> Vec<AuditEventRecord> {
        events
            .iter()
            .filter(|e| (e.event_time_ms / 1_000) % 3 == r)
            .cloned()
            .collect()
    };
    store.append_audit_events(&third(0)).await.unwrap();
    store.append_audit_events(&third(1)).await.unwrap();
    let last = third(2);
    for batch in last.chunks(100) {
        store.append_audit_events(batch).await.unwrap();
    }
    // A batch retried after an unclear failure is not stored twice.
    store.append_audit_events(&last[..100]).await.unwrap();

    let lookup = |filter: AuditFilter| AuditQuery {
        filter,
        limit: 10_000,
        ..AuditQuery::default()
    };
    let ids = |events: &[AuditEventRecord]| -> Vec<String> {
        events.iter().map(|e| e.event_id.clone()).collect()
    };
    let all = store
        .lookup_audit_events(&lookup(AuditFilter::All))
        .await
        .unwrap();
    assert_eq!(all.len(), 1_200);
    assert_eq!(all[0].event_id, id(1199), "newest first");
    let mut oldest_first = all.clone();
    oldest_first.reverse();
    assert_eq!(oldest_first, events, "every event as it was appended");
    assert_eq!(
        all[0].cloudtrail_json(),
        format!(
            r#"{{"userIdentity":{},"eventID":"{}"}}"#,
            identities[1199 % 3],
            id(1199)
        )
    );
    let names = store
        .lookup_audit_events(&lookup(AuditFilter::EventName("PutImage".into())))
        .await
        .unwrap();
    assert_eq!(names.len(), 600);
    let by_repository = store
        .lookup_audit_events(&lookup(AuditFilter::ResourceName("app".into())))
        .await
        .unwrap();
    assert_eq!(by_repository.len(), 600);
    assert!(
        by_repository
            .iter()
            .all(|e| e.resources[0].resource_name == "app")
    );
    for (filter, expected) in [
        (AuditFilter::EventId(id(7)), 1),
        (AuditFilter::EventId("absent".into()), 0),
        (AuditFilter::EventId(audit_event_id(7_000, [9; 10])), 0),
        (AuditFilter::ReadOnly(true), 600),
        (AuditFilter::ReadOnly(false), 600),
        (AuditFilter::Username("odd".into()), 600),
        (AuditFilter::AccessKeyId("ASIAEXAMPLE".into()), 400),
        (AuditFilter::EventSource("ecr.amazonaws.com".into()), 1_200),
        (AuditFilter::EventSource("iam.amazonaws.com".into()), 0),
        (
            AuditFilter::ResourceType("AWS::ECR::Repository".into()),
            900,
        ),
    ] {
        let found = store
            .lookup_audit_events(&lookup(filter.clone()))
            .await
            .unwrap();
        assert_eq!(found.len(), expected, "{filter:?}");
    }

    // Pages of 7, newest first, within [100 s, 200 s): each page continues the last.
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .lookup_audit_events(&AuditQuery {
                filter: AuditFilter::ResourceName("app".into()),
                start_ms: Some(100_000),
                end_ms: Some(200_000),
                after: after.clone(),
                limit: 7,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.event_time_ms, last.event_id.clone()));
        pages.extend(ids(&page));
    }
    let expected: Vec<String> = (100..200).rev().filter(|n| n % 4 < 2).map(id).collect();
    assert_eq!(pages, expected);
    // Oldest first.
    let oldest = store
        .lookup_audit_events(&AuditQuery {
            oldest_first: true,
            after: Some((5_000, id(5))),
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&oldest), [id(6), id(7)]);

    // Pruning: at most `limit` at a time, oldest first, resources with them.
    assert_eq!(store.prune_audit_events(1_000_000, 600).await.unwrap(), 600);
    assert_eq!(store.prune_audit_events(1_000_000, 600).await.unwrap(), 400);
    assert_eq!(store.prune_audit_events(1_000_000, 600).await.unwrap(), 0);
    let left = store
        .lookup_audit_events(&lookup(AuditFilter::All))
        .await
        .unwrap();
    assert_eq!(left.len(), 200);
    assert_eq!(left.last().unwrap().event_id, id(1000));
    let left = store
        .lookup_audit_events(&lookup(AuditFilter::ResourceName("app".into())))
        .await
        .unwrap();
    assert_eq!(left.len(), 100);
    store.prune_audit_events(i64::MAX, 10_000).await.unwrap();
}

pub async fn job_leases(store: &dyn MetadataStore) {
    let acquire = |holder: &'static str, now: i64| async move {
        store
            .acquire_job_lease("gc", holder, now, now + 60)
            .await
            .unwrap()
    };
    assert!(acquire("replica-a", 1000).await, "a free lease is taken");
    assert!(!acquire("replica-b", 1010).await, "a held lease is refused");
    assert!(
        acquire("replica-a", 1030).await,
        "the holder renews (until 1090)"
    );
    assert!(!acquire("replica-b", 1089).await, "the renewal counts");
    assert!(
        store
            .acquire_job_lease("lifecycle", "replica-b", 1089, 1149)
            .await
            .unwrap(),
        "leases on other jobs are independent"
    );
    assert!(acquire("replica-b", 1090).await, "an expired lease is free");
    assert!(!acquire("replica-a", 1091).await);
    store.release_job_lease("gc", "replica-a").await.unwrap();
    assert!(
        !acquire("replica-a", 1092).await,
        "releasing someone else's lease does nothing"
    );
    store.release_job_lease("gc", "replica-b").await.unwrap();
    assert!(acquire("replica-a", 1093).await, "a released lease is free");
}

pub async fn oidc_providers(store: &dyn MetadataStore) {
    let github = OidcProviderRecord {
        arn: Arn::parse(
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
        )
        .unwrap(),
        url: "token.actions.githubusercontent.com".into(),
        client_ids: vec!["sts.amazonaws.com".into(), "other \"client\"".into()],
        thumbprints: vec!["a".repeat(40)],
        created_at: 1_700_000_000,
    };
    let gitlab = OidcProviderRecord {
        arn: Arn::parse("arn:aws:iam::123456789012:oidc-provider/gitlab.example.com").unwrap(),
        url: "gitlab.example.com".into(),
        client_ids: vec![],
        thumbprints: vec![],
        created_at: 1_700_000_001,
    };
    assert_eq!(store.get_oidc_provider(&github.arn).await.unwrap(), None);
    store.create_oidc_provider(&github).await.unwrap();
    assert_eq!(
        store.get_oidc_provider(&github.arn).await.unwrap(),
        Some(github.clone())
    );
    assert_eq!(
        store.find_oidc_provider_by_url(&github.url).await.unwrap(),
        Some(github.clone())
    );
    assert_eq!(
        store
            .find_oidc_provider_by_url("nope.example.com")
            .await
            .unwrap(),
        None
    );
    // Same URL, another ARN.
    let mut duplicate = gitlab.clone();
    duplicate.url = github.url.clone();
    assert_already_exists(store.create_oidc_provider(&duplicate).await);
    assert_already_exists(store.create_oidc_provider(&github).await);

    store.create_oidc_provider(&gitlab).await.unwrap();
    let mut all = store.list_oidc_providers().await.unwrap();
    all.sort_by(|a, b| a.arn.cmp(&b.arn));
    let mut expected = vec![github.clone(), gitlab.clone()];
    expected.sort_by(|a, b| a.arn.cmp(&b.arn));
    assert_eq!(all, expected);

    store.delete_oidc_provider(&github.arn).await.unwrap();
    assert_not_found(store.delete_oidc_provider(&github.arn).await);
    assert_eq!(store.get_oidc_provider(&github.arn).await.unwrap(), None);
    assert_eq!(
        store.find_oidc_provider_by_url(&github.url).await.unwrap(),
        None
    );
    assert_eq!(store.list_oidc_providers().await.unwrap(), vec![gitlab]);
}

fn role(name: &str) -> RoleRecord {
    RoleRecord {
        name: RoleName::parse(name).unwrap(),
        role_id: format!("AROA{}", name.to_uppercase()),
        path: "/ci/".into(),
        arn: Arn::parse(&format!("arn:aws:iam::123456789012:role/ci/{name}")).unwrap(),
        trust_policy: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        description: Some("pushes images".into()),
        max_session_duration: 3600,
        created_at: 1_700_000_000,
        permissions_boundary: None,
        last_used: None,
    }
}

pub async fn roles_and_policies(store: &dyn MetadataStore) {
    // Roles: names are unique and looked up case-insensitively.
    let deployer = role("Deployer");
    store.create_role(&deployer).await.unwrap();
    assert_eq!(
        store.get_role("deployer").await.unwrap(),
        Some(deployer.clone())
    );
    assert_eq!(
        store.get_role("DEPLOYER").await.unwrap(),
        Some(deployer.clone())
    );
    let mut shouting = role("DEPLOYER");
    shouting.role_id = "AROAOTHER".into();
    assert_already_exists(store.create_role(&shouting).await);
    let mut reader = role("Reader");
    reader.description = None;
    store.create_role(&reader).await.unwrap();
    let roles = store.list_roles().await.unwrap();
    assert!(
        roles.contains(&deployer) && roles.contains(&reader),
        "{roles:?}"
    );
    assert_eq!(store.get_role("nobody").await.unwrap(), None);

    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}"#;
    store
        .update_role_trust_policy("deployer", trust)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_role("Deployer")
            .await
            .unwrap()
            .unwrap()
            .trust_policy,
        trust
    );
    assert_not_found(store.update_role_trust_policy("nobody", trust).await);

    // UpdateRole: what is given changes, the rest stays.
    store
        .update_role("DEPLOYER", Some("pushes"), Some(7_200))
        .await
        .unwrap();
    store
        .update_role("deployer", None, Some(3_600))
        .await
        .unwrap();
    let updated = store.get_role("deployer").await.unwrap().unwrap();
    assert_eq!(updated.description.as_deref(), Some("pushes"));
    assert_eq!(updated.max_session_duration, 3_600);
    assert_eq!(updated.trust_policy, trust);
    assert_not_found(store.update_role("nobody", Some("x"), None).await);

    // Managed policies.
    let arn = "arn:aws:iam::123456789012:policy/ci/push";
    let policy = ManagedPolicyRecord {
        arn: Arn::parse(arn).unwrap(),
        name: PolicyName::parse("push").unwrap(),
        path: "/ci/".into(),
        policy_id: "ANPAPUSH".into(),
        default_version_id: "v1".into(),
        description: Some("push anything".into()),
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
        attachment_count: 0,
        boundary_usage_count: 0,
    };
    let version = PolicyVersionRecord {
        version_id: "v1".into(),
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#.into(),
        is_default: true,
        created_at: 1_700_000_000,
    };
    store
        .create_managed_policy(&policy, &version)
        .await
        .unwrap();
    assert_already_exists(store.create_managed_policy(&policy, &version).await);
    assert_eq!(
        store.get_managed_policy(arn).await.unwrap(),
        Some(policy.clone())
    );
    assert_eq!(
        store.get_policy_version(arn, "v1").await.unwrap(),
        Some(version.clone())
    );
    assert_eq!(store.get_policy_version(arn, "v2").await.unwrap(), None);
    assert_eq!(
        store
            .get_managed_policy("arn:aws:iam::123456789012:policy/none")
            .await
            .unwrap(),
        None
    );

    // Attachments.
    store.attach_role_policy("deployer", arn).await.unwrap();
    store.attach_role_policy("Deployer", arn).await.unwrap(); // idempotent
    assert_not_found(store.attach_role_policy("nobody", arn).await);
    assert_not_found(
        store
            .attach_role_policy("deployer", "arn:aws:iam::123456789012:policy/none")
            .await,
    );
    assert_eq!(
        store.list_attached_role_policies("DEPLOYER").await.unwrap(),
        vec![AttachedPolicy {
            name: "push".into(),
            arn: arn.into()
        }]
    );
    assert_eq!(
        store.list_attached_role_policies("Reader").await.unwrap(),
        vec![]
    );
    let attached_to: Vec<String> = store
        .list_policy_roles(arn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(attached_to, ["Deployer"]);
    assert!(
        store
            .list_policy_roles("arn:aws:iam::123456789012:policy/none")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .get_managed_policy(arn)
            .await
            .unwrap()
            .unwrap()
            .attachment_count,
        1
    );
    assert_conflict!(
        store.delete_managed_policy(arn).await,
        Conflict::PolicyAttached
    );

    // Inline policies.
    let inline_v1 =
        r#"{"Statement":[{"Effect":"Deny","Action":"ecr:DeleteRepository","Resource":"*"}]}"#;
    let inline_v2 = r#"{"Statement":[{"Effect":"Deny","Action":"ecr:*","Resource":"*"}]}"#;
    store
        .put_role_policy("deployer", "no-delete", inline_v1)
        .await
        .unwrap();
    assert_not_found(store.put_role_policy("nobody", "x", inline_v1).await);
    assert_eq!(
        store
            .get_role_policy("Deployer", "no-delete")
            .await
            .unwrap(),
        Some(inline_v1.to_owned())
    );
    assert_eq!(
        store.get_role_policy("Deployer", "other").await.unwrap(),
        None
    );
    assert_eq!(
        store.list_role_policies("deployer").await.unwrap(),
        vec!["no-delete".to_owned()]
    );
    assert_eq!(
        store.list_role_policies("reader").await.unwrap(),
        Vec::<String>::new()
    );

    // Effective policies.
    let effective = store.role_effective_policies("DEPLOYER").await.unwrap();
    assert_eq!(effective.boundary, None);
    let effective = effective.identity;
    assert_eq!(effective.len(), 2, "{effective:?}");
    let inline = effective
        .iter()
        .find(|p| p.label == "inline:no-delete")
        .expect("inline policy");
    assert_eq!(inline.document, inline_v1);
    let managed = effective.iter().find(|p| p.label == arn).expect("managed");
    assert_eq!(managed.version, "v1");
    assert_eq!(managed.document, version.document);
    let old_version = inline.version.clone();
    store
        .put_role_policy("deployer", "no-delete", inline_v2)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_role_policy("deployer", "no-delete")
            .await
            .unwrap(),
        Some(inline_v2.to_owned())
    );
    let effective = store
        .role_effective_policies("deployer")
        .await
        .unwrap()
        .identity;
    let inline = effective
        .iter()
        .find(|p| p.label == "inline:no-delete")
        .expect("inline policy");
    assert_eq!(inline.document, inline_v2);
    assert_ne!(
        inline.version, old_version,
        "version must change with the document"
    );
    assert_eq!(
        store
            .role_effective_policies("reader")
            .await
            .unwrap()
            .identity,
        vec![]
    );
    assert_not_found(store.role_effective_policies("nobody").await);

    // A role with policies cannot go.
    assert_conflict!(
        store.delete_role("deployer").await,
        Conflict::RoleHasInlinePolicies
    );
    store.detach_role_policy("deployer", arn).await.unwrap();
    assert_not_found(store.detach_role_policy("deployer", arn).await);
    assert_not_found(store.detach_role_policy("nobody", arn).await);
    assert_eq!(
        store
            .get_managed_policy(arn)
            .await
            .unwrap()
            .unwrap()
            .attachment_count,
        0
    );
    assert_conflict!(
        store.delete_role("deployer").await,
        Conflict::RoleHasInlinePolicies
    ); // the inline policy remains
    store
        .delete_role_policy("deployer", "no-delete")
        .await
        .unwrap();
    assert_not_found(store.delete_role_policy("deployer", "no-delete").await);
    assert_not_found(store.delete_role_policy("nobody", "no-delete").await);
    assert_eq!(
        store
            .role_effective_policies("deployer")
            .await
            .unwrap()
            .identity,
        vec![]
    );
    store.delete_role("DEPLOYER").await.unwrap();
    assert_not_found(store.delete_role("deployer").await);
    assert_eq!(store.get_role("deployer").await.unwrap(), None);
    // The name is free again.
    store.create_role(&role("deployer")).await.unwrap();
    store.delete_role("deployer").await.unwrap();

    store.delete_managed_policy(arn).await.unwrap();
    assert_not_found(store.delete_managed_policy(arn).await);
    assert_eq!(store.get_managed_policy(arn).await.unwrap(), None);
    assert_eq!(store.get_policy_version(arn, "v1").await.unwrap(), None);
    store.delete_role("reader").await.unwrap();
}

fn repository(name: &str, created_at: i64) -> RepositoryRecord {
    RepositoryRecord {
        name: repo(name),
        created_at,
        image_tag_mutability: TagMutability::Mutable,
        tag_mutability_exclusions: Vec::new(),
        scan_on_push: false,
        encryption_type: "AES256".into(),
        policy: None,
    }
}

fn blob_digest(n: u8) -> Digest {
    sha256(&[n; 7])
}

fn iam_tag(key: &str, value: &str) -> IamTag {
    IamTag {
        key: key.into(),
        value: value.into(),
    }
}

/// Policy versions, policy listings, tags on IAM entities and OIDC provider updates.
pub async fn iam_versions_and_tags(store: &dyn MetadataStore) {
    let arn = "arn:aws:iam::123456789012:policy/versioned";
    let policy = managed_policy("versioned");
    let v1 = PolicyVersionRecord {
        version_id: "v1".into(),
        document: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        is_default: true,
        created_at: 1_700_000_000,
    };
    store.create_managed_policy(&policy, &v1).await.unwrap();
    let missing = "arn:aws:iam::123456789012:policy/missing";

    // Versions get the next number; only the one made default changes the default.
    let doc2 =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    let v2 = store
        .create_policy_version(arn, doc2, 1_700_000_100, false, 5)
        .await
        .unwrap();
    assert_eq!(
        (v2.version_id.as_str(), v2.is_default, v2.document.as_str()),
        ("v2", false, doc2)
    );
    assert_eq!(
        store
            .get_managed_policy(arn)
            .await
            .unwrap()
            .unwrap()
            .default_version_id,
        "v1"
    );
    let v3 = store
        .create_policy_version(arn, "{}", 1_700_000_200, true, 5)
        .await
        .unwrap();
    assert_eq!((v3.version_id.as_str(), v3.is_default), ("v3", true));
    let after = store.get_managed_policy(arn).await.unwrap().unwrap();
    assert_eq!(
        (after.default_version_id.as_str(), after.updated_at),
        ("v3", 1_700_000_200)
    );
    assert!(
        store
            .get_policy_version(arn, "v3")
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
    assert!(
        !store
            .get_policy_version(arn, "v1")
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
    let listed: Vec<(String, bool)> = store
        .list_policy_versions(arn)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.version_id, v.is_default))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("v3".into(), true),
            ("v2".into(), false),
            ("v1".into(), false)
        ]
    );
    assert_not_found(store.list_policy_versions(missing).await);
    assert_not_found(
        store
            .create_policy_version(missing, "{}", 1, false, 5)
            .await,
    );

    // The quota counts versions that exist now.
    assert_conflict!(
        store.create_policy_version(arn, "{}", 1, false, 3).await,
        Conflict::PolicyVersionLimit { max: 3 }
    );

    // The default version cannot be deleted; others can, and ids are never reused.
    assert_conflict!(
        store.delete_policy_version(arn, "v3").await,
        Conflict::DefaultPolicyVersion
    );
    store.delete_policy_version(arn, "v2").await.unwrap();
    assert_not_found(store.delete_policy_version(arn, "v2").await);
    assert_not_found(store.delete_policy_version(missing, "v1").await);
    assert_eq!(store.get_policy_version(arn, "v2").await.unwrap(), None);
    let v4 = store
        .create_policy_version(arn, "{}", 1_700_000_300, false, 5)
        .await
        .unwrap();
    assert_eq!(v4.version_id, "v4");

    store
        .set_default_policy_version(arn, "v1", 1_700_000_400)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_managed_policy(arn)
            .await
            .unwrap()
            .unwrap()
            .default_version_id,
        "v1"
    );
    assert_not_found(store.set_default_policy_version(arn, "v2", 1).await);
    assert_not_found(store.set_default_policy_version(missing, "v1", 1).await);
    assert_eq!(
        store
            .get_managed_policy(arn)
            .await
            .unwrap()
            .unwrap()
            .default_version_id,
        "v1"
    );

    let all = store.list_managed_policies().await.unwrap();
    assert!(all.iter().any(|p| p.arn == arn), "{all:?}");
    let arns: Vec<&str> = all.iter().map(|p| p.arn.as_str()).collect();
    let mut sorted = arns.clone();
    sorted.sort_unstable();
    assert_eq!(arns, sorted, "ARN order");

    // Tags: insertion order, keys case-insensitive, replaced in place.
    assert_eq!(store.list_iam_resource_tags(arn).await.unwrap(), vec![]);
    store
        .tag_iam_resource(
            arn,
            &[iam_tag("managed-by", "berth"), iam_tag("team", "ci")],
            3,
        )
        .await
        .unwrap();
    store
        .tag_iam_resource(arn, &[iam_tag("Team", "platform"), iam_tag("env", "")], 3)
        .await
        .unwrap();
    assert_eq!(
        store.list_iam_resource_tags(arn).await.unwrap(),
        vec![
            iam_tag("managed-by", "berth"),
            iam_tag("Team", "platform"),
            iam_tag("env", ""),
        ]
    );
    // Going over the quota changes nothing.
    assert_conflict!(
        store
            .tag_iam_resource(arn, &[iam_tag("one-too-many", "x")], 3)
            .await,
        Conflict::IamTagLimit { max: 3 },
    );
    assert_eq!(store.list_iam_resource_tags(arn).await.unwrap().len(), 3);
    store
        .untag_iam_resource(arn, &["TEAM".into(), "never-there".into()])
        .await
        .unwrap();
    assert_eq!(
        store.list_iam_resource_tags(arn).await.unwrap(),
        vec![iam_tag("managed-by", "berth"), iam_tag("env", "")]
    );

    // Tags go with their entity.
    store.delete_policy_version(arn, "v3").await.unwrap();
    store.delete_policy_version(arn, "v4").await.unwrap();
    store.delete_managed_policy(arn).await.unwrap();
    assert_eq!(store.list_iam_resource_tags(arn).await.unwrap(), vec![]);
    store.create_managed_policy(&policy, &v1).await.unwrap();
    assert_eq!(store.list_iam_resource_tags(arn).await.unwrap(), vec![]);
    store.delete_managed_policy(arn).await.unwrap();

    let tagged = role("Tagged");
    store.create_role(&tagged).await.unwrap();
    store
        .tag_iam_resource(&tagged.arn, &[iam_tag("managed-by", "berth")], 50)
        .await
        .unwrap();
    // Keys beyond ASCII: the same key again replaces its value (whatever the database's
    // locale), and untagging by it removes it.
    for value in ["1", "2"] {
        store
            .tag_iam_resource(&tagged.arn, &[iam_tag("Größe-Ä", value)], 50)
            .await
            .unwrap();
    }
    assert_eq!(
        store.list_iam_resource_tags(&tagged.arn).await.unwrap(),
        vec![iam_tag("managed-by", "berth"), iam_tag("Größe-Ä", "2")]
    );
    store
        .untag_iam_resource(&tagged.arn, &["größe-Ä".into()])
        .await
        .unwrap();
    assert_eq!(
        store.list_iam_resource_tags(&tagged.arn).await.unwrap(),
        vec![iam_tag("managed-by", "berth")]
    );
    store.delete_role("tagged").await.unwrap();
    assert_eq!(
        store.list_iam_resource_tags(&tagged.arn).await.unwrap(),
        vec![]
    );

    // OIDC providers: client ids and thumbprints change in place.
    let provider = OidcProviderRecord {
        arn: Arn::parse("arn:aws:iam::123456789012:oidc-provider/updates.example.com").unwrap(),
        url: "updates.example.com".into(),
        client_ids: vec!["sts.amazonaws.com".into()],
        thumbprints: vec![],
        created_at: 1_700_000_000,
    };
    let parn = provider.arn.as_str();
    let missing_provider = "arn:aws:iam::123456789012:oidc-provider/missing.example.com";
    store.create_oidc_provider(&provider).await.unwrap();
    store
        .tag_iam_resource(parn, &[iam_tag("managed-by", "berth")], 50)
        .await
        .unwrap();
    store
        .add_oidc_provider_client_id(parn, "other", 3)
        .await
        .unwrap();
    store
        .add_oidc_provider_client_id(parn, "other", 3)
        .await
        .unwrap();
    store
        .add_oidc_provider_client_id(parn, "third", 3)
        .await
        .unwrap();
    assert_conflict!(
        store.add_oidc_provider_client_id(parn, "fourth", 3).await,
        Conflict::ClientIdLimit { max: 3 }
    );
    assert_eq!(
        store
            .get_oidc_provider(parn)
            .await
            .unwrap()
            .unwrap()
            .client_ids,
        vec!["sts.amazonaws.com", "other", "third"]
    );
    store
        .remove_oidc_provider_client_id(parn, "other")
        .await
        .unwrap();
    store
        .remove_oidc_provider_client_id(parn, "never")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_oidc_provider(parn)
            .await
            .unwrap()
            .unwrap()
            .client_ids,
        vec!["sts.amazonaws.com", "third"]
    );
    let thumbprints = vec!["a".repeat(40), "b".repeat(40)];
    store
        .update_oidc_provider_thumbprints(parn, &thumbprints)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_oidc_provider(parn)
            .await
            .unwrap()
            .unwrap()
            .thumbprints,
        thumbprints
    );
    assert_not_found(
        store
            .add_oidc_provider_client_id(missing_provider, "x", 3)
            .await,
    );
    assert_not_found(
        store
            .remove_oidc_provider_client_id(missing_provider, "x")
            .await,
    );
    assert_not_found(
        store
            .update_oidc_provider_thumbprints(missing_provider, &[])
            .await,
    );
    store.delete_oidc_provider(parn).await.unwrap();
    assert_eq!(store.list_iam_resource_tags(parn).await.unwrap(), vec![]);
}

pub async fn repositories_and_manifests(store: &dyn MetadataStore) {
    let name = repo("team/app");
    let mut record = repository("team/app", 1_700_000_000);
    record.image_tag_mutability = TagMutability::Immutable;
    record.scan_on_push = true;
    assert_eq!(store.get_repository(&name).await.unwrap(), None);
    store.create_repository(&record).await.unwrap();
    assert_already_exists(store.create_repository(&record).await);
    assert_eq!(
        store.get_repository(&name).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(store.count_manifests(&name).await.unwrap(), 0);

    // Mutability (with its exclusion filters) and the repository policy change in place.
    let filters = vec!["latest".to_owned(), "dev-*".to_owned()];
    store
        .set_image_tag_mutability(&name, TagMutability::ImmutableWithExclusion, &filters)
        .await
        .unwrap();
    let excluded = store.get_repository(&name).await.unwrap().unwrap();
    assert_eq!(
        excluded.image_tag_mutability,
        TagMutability::ImmutableWithExclusion
    );
    assert_eq!(excluded.tag_mutability_exclusions, filters);
    store
        .set_image_tag_mutability(&name, TagMutability::Mutable, &[])
        .await
        .unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    store
        .set_repository_policy(&name, Some(policy))
        .await
        .unwrap();
    let changed = store.get_repository(&name).await.unwrap().unwrap();
    assert_eq!(changed.image_tag_mutability, TagMutability::Mutable);
    assert_eq!(changed.policy.as_deref(), Some(policy));
    store.set_repository_policy(&name, None).await.unwrap();
    store
        .set_image_tag_mutability(&name, TagMutability::Immutable, &[])
        .await
        .unwrap();
    assert_eq!(
        store.get_repository(&name).await.unwrap(),
        Some(record.clone())
    );
    assert_not_found(store.set_repository_policy(&repo("team/none"), None).await);
    assert_not_found(
        store
            .set_image_tag_mutability(&repo("team/none"), TagMutability::Mutable, &[])
            .await,
    );
    let other = repo("team/other");
    store
        .create_repository(&repository("team/other", 1))
        .await
        .unwrap();

    // Blob links.
    let (b1, b2, b3) = (blob_digest(1), blob_digest(2), blob_digest(3));
    store.link_blob(&name, &b1, 100).await.unwrap();
    store.link_blob(&name, &b1, 100).await.unwrap(); // idempotent
    store.link_blob(&name, &b2, 2000).await.unwrap();
    assert_eq!(store.blob_link(&name, &b1).await.unwrap(), Some(100));
    assert_eq!(store.blob_link(&name, &b2).await.unwrap(), Some(2000));
    assert_eq!(store.blob_link(&name, &b3).await.unwrap(), None);
    assert_eq!(store.blob_link(&other, &b1).await.unwrap(), None);

    // A manifest with a tag.
    let m1 = ManifestRecord {
        repository: name.clone(),
        digest: sha256(b"manifest one"),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 512,
        image_size: 2100,
        pushed_at: 100,
        artifact_type: None,
        subject: None,
        blobs: vec![b2.clone(), b1.clone()], // order kept, not sorted
        children: vec![],
    };
    assert_eq!(
        store
            .put_manifest(&m1, Some(&tag("v1")), false)
            .await
            .unwrap(),
        PutManifestOutcome::Stored
    );
    assert_eq!(
        store.get_manifest(&name, &m1.digest).await.unwrap(),
        Some(m1.clone())
    );
    assert_eq!(store.get_manifest(&other, &m1.digest).await.unwrap(), None);
    assert_eq!(
        store.resolve_tag(&name, &tag("v1")).await.unwrap(),
        Some(m1.digest.clone())
    );
    assert_eq!(store.resolve_tag(&name, &tag("v2")).await.unwrap(), None);
    assert_eq!(store.resolve_tag(&other, &tag("v1")).await.unwrap(), None);
    // Same again: nothing changes, with or without the tag, immutable or not.
    for (t, immutable) in [
        (Some(tag("v1")), false),
        (Some(tag("v1")), true),
        (None, false),
    ] {
        assert_eq!(
            store
                .put_manifest(&m1, t.as_ref(), immutable)
                .await
                .unwrap(),
            PutManifestOutcome::Unchanged
        );
    }
    // A new tag on a known manifest is a change.
    assert_eq!(
        store
            .put_manifest(&m1, Some(&tag("latest")), true)
            .await
            .unwrap(),
        PutManifestOutcome::Stored
    );

    // An index with a subject and children; moving `v1` to it.
    let m2 = ManifestRecord {
        repository: name.clone(),
        digest: sha256(b"manifest two"),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        size: 300,
        image_size: 0,
        pushed_at: 200,
        artifact_type: Some("application/vnd.example+type".into()),
        subject: Some(m1.digest.clone()),
        blobs: vec![],
        children: vec![m1.digest.clone(), b3.clone()],
    };
    // Immutable: the tag may not move, and nothing is stored.
    assert_conflict!(
        store.put_manifest(&m2, Some(&tag("v1")), true).await,
        Conflict::TagImmutable
    );
    assert_eq!(store.get_manifest(&name, &m2.digest).await.unwrap(), None);
    assert_eq!(
        store.resolve_tag(&name, &tag("v1")).await.unwrap(),
        Some(m1.digest.clone())
    );
    // Mutable: the tag moves.
    assert_eq!(
        store
            .put_manifest(&m2, Some(&tag("v1")), false)
            .await
            .unwrap(),
        PutManifestOutcome::Stored
    );
    assert_eq!(
        store.resolve_tag(&name, &tag("v1")).await.unwrap(),
        Some(m2.digest.clone())
    );
    assert_eq!(
        store.get_manifest(&name, &m2.digest).await.unwrap(),
        Some(m2.clone())
    );
    assert_eq!(
        store.get_manifest(&name, &m1.digest).await.unwrap(),
        Some(m1.clone())
    );
    // Moving it back is a change too.
    assert_eq!(
        store
            .put_manifest(&m1, Some(&tag("v1")), false)
            .await
            .unwrap(),
        PutManifestOutcome::Stored
    );
    assert_eq!(
        store
            .put_manifest(&m2, Some(&tag("v1")), false)
            .await
            .unwrap(),
        PutManifestOutcome::Stored
    );
    // The same manifest in another repository is another record.
    let mut m1_other = m1.clone();
    m1_other.repository = other.clone();
    assert_eq!(
        store
            .put_manifest(&m1_other, Some(&tag("v1")), true)
            .await
            .unwrap(),
        PutManifestOutcome::Stored
    );
    assert_eq!(
        store.resolve_tag(&name, &tag("v1")).await.unwrap(),
        Some(m2.digest.clone())
    );

    // Tags: lexical (byte) order and pagination.
    for t in ["b", "a-1", "Z9", "c.2", "_x", "a"] {
        store.put_manifest(&m1, Some(&tag(t)), false).await.unwrap();
    }
    let mut expected: Vec<String> = ["b", "a-1", "Z9", "c.2", "_x", "a", "v1", "latest"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    expected.sort(); // byte order: `Z9` < `_x` < `a` < `a-1` < ...
    assert_eq!(store.list_tags(&name, None, 1000).await.unwrap(), expected);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..=expected.len() {
        let page = store.list_tags(&name, after.as_deref(), 3).await.unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, expected);
    assert_eq!(
        store.list_tags(&name, Some("a0"), 2).await.unwrap(),
        vec!["b".to_owned(), "c.2".to_owned()]
    );
    assert_eq!(
        store.list_tags(&name, Some("zzz"), 10).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.list_tags(&name, None, 0).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.list_tags(&other, None, 10).await.unwrap(),
        vec!["v1".to_owned()]
    );

    // Manifests with their tags, newest push first.
    assert_eq!(store.count_manifests(&name).await.unwrap(), 2);
    let listed = store.list_manifests(&name).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].0, m2);
    assert_eq!(listed[1].0, m1);
    let mut tags_m2 = listed[0].1.clone();
    tags_m2.sort();
    assert_eq!(tags_m2, vec!["v1".to_owned()]);
    let mut tags_m1 = listed[1].1.clone();
    tags_m1.sort();
    let mut want_m1: Vec<String> = expected.iter().filter(|t| *t != "v1").cloned().collect();
    want_m1.sort();
    assert_eq!(tags_m1, want_m1);

    // Deleting tags and manifests.
    store.delete_tag(&name, &tag("latest")).await.unwrap();
    assert_not_found(store.delete_tag(&name, &tag("latest")).await);
    assert_not_found(store.delete_tag(&name, &tag("never")).await);
    assert_eq!(
        store.resolve_tag(&name, &tag("latest")).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_manifest(&name, &m1.digest).await.unwrap(),
        Some(m1.clone()),
        "deleting a tag keeps the manifest"
    );
    store.delete_manifest(&name, &m1.digest).await.unwrap();
    assert_not_found(store.delete_manifest(&name, &m1.digest).await);
    assert_eq!(store.get_manifest(&name, &m1.digest).await.unwrap(), None);
    assert_eq!(store.resolve_tag(&name, &tag("b")).await.unwrap(), None);
    assert_eq!(
        store.list_tags(&name, None, 100).await.unwrap(),
        vec!["v1".to_owned()],
        "the deleted manifest's tags go with it"
    );
    assert_eq!(store.count_manifests(&name).await.unwrap(), 1);
    assert_eq!(
        store.get_manifest(&other, &m1.digest).await.unwrap(),
        Some(m1_other.clone()),
        "other repositories keep their copy"
    );

    // Deleting the repository cascades, in one go.
    let upload = UploadRecord {
        id: "cascade-upload".into(),
        repository: name.clone(),
        created_at: 5,
        last_part_size: None,
        small_part_seen: false,
    };
    store.create_upload(&upload).await.unwrap();
    assert_conflict!(
        store.delete_repository(&name, false).await,
        Conflict::RepositoryNotEmpty
    );
    assert!(store.get_repository(&name).await.unwrap().is_some());
    assert_eq!(store.count_manifests(&name).await.unwrap(), 1);
    store.delete_repository(&name, true).await.unwrap();
    assert_not_found(store.delete_repository(&name, true).await);
    assert_eq!(store.get_repository(&name).await.unwrap(), None);
    assert_eq!(store.get_manifest(&name, &m2.digest).await.unwrap(), None);
    assert_eq!(store.resolve_tag(&name, &tag("v1")).await.unwrap(), None);
    assert_eq!(store.blob_link(&name, &b1).await.unwrap(), None);
    assert_eq!(store.get_upload(&upload.id).await.unwrap(), None);
    assert_eq!(store.count_manifests(&name).await.unwrap(), 0);
    // Recreated under the same name, it starts empty.
    store.create_repository(&record).await.unwrap();
    assert_eq!(
        store.list_tags(&name, None, 100).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(store.list_manifests(&name).await.unwrap(), vec![]);
    assert_eq!(store.blob_link(&name, &b2).await.unwrap(), None);
    // An empty repository goes without `force`.
    store.delete_repository(&name, false).await.unwrap();
    // The other repository was not touched.
    assert_eq!(
        store.resolve_tag(&other, &tag("v1")).await.unwrap(),
        Some(m1.digest.clone())
    );
    store.delete_repository(&other, true).await.unwrap();
}

pub async fn referrers_and_blob_unlinks(store: &dyn MetadataStore) {
    let name = repo("refs/app");
    let other = repo("refs/other");
    store
        .create_repository(&repository("refs/app", 1))
        .await
        .unwrap();
    store
        .create_repository(&repository("refs/other", 1))
        .await
        .unwrap();

    // Unlinking a blob removes only that repository's link.
    let b = blob_digest(40);
    store.link_blob(&name, &b, 10).await.unwrap();
    store.link_blob(&other, &b, 10).await.unwrap();
    store.unlink_blob(&name, &b).await.unwrap();
    assert_eq!(store.blob_link(&name, &b).await.unwrap(), None);
    assert_eq!(store.blob_link(&other, &b).await.unwrap(), Some(10));
    assert_not_found(store.unlink_blob(&name, &b).await);

    let subject = sha256(b"subject manifest");
    let referrer =
        |text: &[u8], repository: &RepositoryName, subject: Option<&Digest>| ManifestRecord {
            repository: repository.clone(),
            digest: sha256(text),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 100,
            image_size: 0,
            pushed_at: 1,
            artifact_type: Some("application/vnd.example.sbom".into()),
            subject: subject.cloned(),
            blobs: vec![],
            children: vec![],
        };
    // The subject need not exist: referrers may be pushed first.
    assert_eq!(store.list_referrers(&name, &subject).await.unwrap(), vec![]);
    let r1 = referrer(b"referrer one", &name, Some(&subject));
    let r2 = referrer(b"referrer two", &name, Some(&subject));
    let unrelated = referrer(b"no subject", &name, None);
    let elsewhere = referrer(b"referrer one", &other, Some(&subject));
    for m in [&r1, &r2, &unrelated, &elsewhere] {
        store.put_manifest(m, None, false).await.unwrap();
    }
    let mut want = vec![r1.clone(), r2.clone()];
    want.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
    assert_eq!(store.list_referrers(&name, &subject).await.unwrap(), want);
    store.delete_manifest(&name, &r1.digest).await.unwrap();
    assert_eq!(
        store.list_referrers(&name, &subject).await.unwrap(),
        vec![r2.clone()]
    );
    assert_eq!(
        store.list_referrers(&other, &subject).await.unwrap(),
        vec![elsewhere.clone()]
    );
    store.delete_repository(&name, true).await.unwrap();
    store.delete_repository(&other, true).await.unwrap();
}

/// Leases, claims and the listing of old uploads: the metadata side of garbage collection.
pub async fn blob_collection_bookkeeping(store: &dyn MetadataStore) {
    let name = repo("gc/app");
    store
        .create_repository(&repository("gc/app", 1))
        .await
        .unwrap();
    let linked = blob_digest(60);
    let in_manifest = blob_digest(61);
    let loose = blob_digest(62);
    let leased = blob_digest(63);
    store.link_blob(&name, &linked, 1).await.unwrap();
    let manifest = ManifestRecord {
        repository: name.clone(),
        digest: sha256(b"gc manifest"),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 11,
        image_size: 1,
        pushed_at: 1,
        artifact_type: None,
        subject: None,
        blobs: vec![in_manifest.clone()],
        children: vec![],
    };
    store.put_manifest(&manifest, None, false).await.unwrap();

    // Anything linked, referenced by a manifest, or a manifest itself is never claimed.
    for d in [&linked, &in_manifest, &manifest.digest] {
        assert!(
            !store.claim_unreferenced_blob(d, 100, 0).await.unwrap(),
            "{d}"
        );
    }
    // A live lease protects; a lease older than the cut-off does not.
    store
        .lease_blobs("lease-1", std::slice::from_ref(&leased), 100, 0)
        .await
        .unwrap();
    assert!(
        !store
            .claim_unreferenced_blob(&leased, 100, 50)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_unreferenced_blob(&leased, 200, 150)
            .await
            .unwrap()
    );
    store.drop_blob_claim(&leased).await.unwrap();
    store.release_blob_lease("lease-1").await.unwrap();
    store.release_blob_lease("lease-1").await.unwrap(); // unknown: fine

    // A live claim refuses a lease, for every digest of it; a dead claim does not.
    assert!(store.claim_unreferenced_blob(&loose, 300, 0).await.unwrap());
    assert_conflict!(
        store
            .lease_blobs("lease-2", &[leased.clone(), loose.clone()], 310, 300)
            .await,
        Conflict::BlobBeingCollected(_),
    );
    store
        .lease_blobs("lease-2", &[leased.clone(), loose.clone()], 310, 301)
        .await
        .unwrap();
    // ... and once leased, the collector cannot claim it again.
    assert!(!store.claim_unreferenced_blob(&loose, 320, 0).await.unwrap());
    store.release_blob_lease("lease-2").await.unwrap();
    assert!(store.claim_unreferenced_blob(&loose, 330, 0).await.unwrap());
    store.drop_blob_claim(&loose).await.unwrap();
    store
        .lease_blobs("lease-3", std::slice::from_ref(&loose), 340, 0)
        .await
        .unwrap();

    // Pruning forgets old leases and claims only.
    assert!(
        store
            .claim_unreferenced_blob(&leased, 100, 0)
            .await
            .unwrap()
    );
    store.prune_blob_leases_and_claims(200).await.unwrap();
    // The claim at 100 is gone: a lease with any cut-off succeeds.
    store
        .lease_blobs("lease-4", std::slice::from_ref(&leased), 400, 0)
        .await
        .unwrap();
    // The lease at 340 survived: the digest stays protected.
    assert!(!store.claim_unreferenced_blob(&loose, 400, 0).await.unwrap());
    store.release_blob_lease("lease-3").await.unwrap();
    store.release_blob_lease("lease-4").await.unwrap();

    // Uploads by age.
    for (id, created_at) in [("gc-upload-old", 10), ("gc-upload-new", 1000)] {
        store
            .create_upload(&UploadRecord {
                id: id.into(),
                repository: name.clone(),
                created_at,
                last_part_size: None,
                small_part_seen: false,
            })
            .await
            .unwrap();
    }
    let old: Vec<String> = store
        .list_uploads_created_before(500)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .filter(|id| id.starts_with("gc-upload"))
        .collect();
    assert_eq!(old, vec!["gc-upload-old".to_owned()]);
    store.delete_repository(&name, true).await.unwrap();
    // The repository's deletion took its links and manifests: nothing protects them now.
    assert!(
        store
            .claim_unreferenced_blob(&linked, 500, 0)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_unreferenced_blob(&in_manifest, 500, 0)
            .await
            .unwrap()
    );
    for d in [&linked, &in_manifest] {
        store.drop_blob_claim(d).await.unwrap();
    }
}

pub async fn repository_resource_tags(store: &dyn MetadataStore) {
    let name = repo("tagged/app");
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_not_found(store.tag_repository(&name, &[pair("a", "1")], 50).await);
    assert_not_found(store.untag_repository(&name, &["a".into()]).await);
    store
        .create_repository(&repository("tagged/app", 1))
        .await
        .unwrap();
    assert_eq!(store.list_repository_tags(&name).await.unwrap(), vec![]);
    store
        .tag_repository(&name, &[pair("team", "x"), pair("env", "")], 3)
        .await
        .unwrap();
    store
        .tag_repository(&name, &[pair("team", "y")], 3)
        .await
        .unwrap();
    assert_eq!(
        store.list_repository_tags(&name).await.unwrap(),
        vec![pair("env", ""), pair("team", "y")]
    );
    // Over the limit: refused, and nothing changed.
    assert_conflict!(
        store
            .tag_repository(&name, &[pair("b", "1"), pair("c", "2")], 3)
            .await,
        Conflict::RepositoryTagLimit { max: 3 },
    );
    assert_eq!(store.list_repository_tags(&name).await.unwrap().len(), 2);
    store
        .untag_repository(&name, &["team".into(), "absent".into()])
        .await
        .unwrap();
    assert_eq!(
        store.list_repository_tags(&name).await.unwrap(),
        vec![pair("env", "")]
    );
    // A request may name more keys than an engine binds parameters in one statement.
    let mut many: Vec<String> = (0..40_000).map(|i| format!("k{i}")).collect();
    many.push("env".into());
    store.untag_repository(&name, &many).await.unwrap();
    assert_eq!(store.list_repository_tags(&name).await.unwrap(), vec![]);
    store
        .untag_iam_resource("arn:aws:iam::123456789012:role/many", &many)
        .await
        .unwrap();
    store.delete_repository(&name, false).await.unwrap();
    assert_eq!(store.list_repository_tags(&name).await.unwrap(), vec![]);
}

pub async fn repository_pagination(store: &dyn MetadataStore) {
    let names = [
        "page/delta",
        "page/alpha",
        "page/charlie",
        "page/bravo",
        "page/echo",
    ];
    for (i, n) in names.iter().enumerate() {
        store
            .create_repository(&repository(n, i as i64))
            .await
            .unwrap();
    }
    let all: Vec<RepositoryName> = store
        .list_repositories(None, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "name order");
    let mine: Vec<&str> = all
        .iter()
        .map(RepositoryName::as_str)
        .filter(|n| n.starts_with("page/"))
        .collect();
    assert_eq!(
        mine,
        vec![
            "page/alpha",
            "page/bravo",
            "page/charlie",
            "page/delta",
            "page/echo"
        ]
    );
    let mut paged = Vec::new();
    let mut after: Option<RepositoryName> = None;
    for _ in 0..=all.len() {
        let page = store.list_repositories(after.as_ref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        paged.extend(page.into_iter().map(|r| r.name));
    }
    assert_eq!(paged, all);
    let after_charlie = store
        .list_repositories(Some(&repo("page/charlie")), 1)
        .await
        .unwrap();
    assert_eq!(after_charlie.len(), 1);
    assert_eq!(after_charlie[0], repository("page/delta", 0));
    assert_eq!(store.list_repositories(None, 0).await.unwrap(), vec![]);
    for n in names {
        store.delete_repository(&repo(n), false).await.unwrap();
    }
}

pub async fn uploads(store: &dyn MetadataStore) {
    let name = repo("uploads/repo");
    store
        .create_repository(&repository("uploads/repo", 1))
        .await
        .unwrap();
    let upload = UploadRecord {
        id: "0b7c3f6e-upload".into(),
        repository: name.clone(),
        created_at: 42,
        last_part_size: None,
        small_part_seen: false,
    };
    assert_eq!(store.get_upload(&upload.id).await.unwrap(), None);
    store.create_upload(&upload).await.unwrap();
    assert_already_exists(store.create_upload(&upload).await);
    assert_eq!(
        store.get_upload(&upload.id).await.unwrap(),
        Some(upload.clone())
    );
    store
        .update_upload_parts(&upload.id, 5 * 1024 * 1024, false)
        .await
        .unwrap();
    store
        .update_upload_parts(&upload.id, 1024, true)
        .await
        .unwrap();
    let updated = store.get_upload(&upload.id).await.unwrap().unwrap();
    assert_eq!(updated.last_part_size, Some(1024));
    assert!(updated.small_part_seen);
    assert_eq!(updated.created_at, 42);
    assert_eq!(updated.repository, name);
    assert_not_found(store.update_upload_parts("unknown", 1, false).await);
    store.delete_upload(&upload.id).await.unwrap();
    assert_eq!(store.get_upload(&upload.id).await.unwrap(), None);
    store.delete_upload(&upload.id).await.unwrap(); // unknown: fine
    store.delete_repository(&name, false).await.unwrap();
}

pub async fn signing_keys(store: &dyn MetadataStore) {
    let first = SigningKeyRecord {
        kid: "key-1".into(),
        purpose: "session-token".into(),
        material: vec![0, 1, 2, 255],
        created_at: 10,
    };
    let second = SigningKeyRecord {
        kid: "key-2".into(),
        purpose: "session-token".into(),
        material: vec![9; 32],
        created_at: 20,
    };
    assert_eq!(
        store.list_signing_keys("session-token").await.unwrap(),
        vec![]
    );
    assert_eq!(
        store.get_or_create_signing_key(&first).await.unwrap(),
        first
    );
    assert_eq!(
        store.get_or_create_signing_key(&second).await.unwrap(),
        first
    );
    assert_eq!(
        store.list_signing_keys("session-token").await.unwrap(),
        vec![first.clone()]
    );
    let issuer = SigningKeyRecord {
        kid: "key-3".into(),
        purpose: "dev-issuer".into(),
        material: vec![7; 64],
        created_at: 30,
    };
    assert_eq!(
        store.get_or_create_signing_key(&issuer).await.unwrap(),
        issuer
    );
    assert_eq!(
        store.list_signing_keys("dev-issuer").await.unwrap(),
        vec![issuer]
    );
    assert_eq!(store.list_signing_keys("other").await.unwrap(), vec![]);

    // Rotation: a key added later (even one that starts being used in the future) is
    // listed first; deleting the superseded one leaves the other purposes alone.
    store.add_signing_key(&second).await.unwrap();
    assert_eq!(
        store.list_signing_keys("session-token").await.unwrap(),
        vec![second.clone(), first.clone()]
    );
    store
        .delete_signing_key("session-token", &first.kid)
        .await
        .unwrap();
    store
        .delete_signing_key("session-token", "unknown")
        .await
        .unwrap();
    store
        .delete_signing_key("dev-issuer", &second.kid)
        .await
        .unwrap();
    assert_eq!(
        store.list_signing_keys("session-token").await.unwrap(),
        vec![second.clone()]
    );
    assert_eq!(
        store.list_signing_keys("dev-issuer").await.unwrap().len(),
        1
    );

    // Concurrent callers all get the same key.
    let candidates: Vec<SigningKeyRecord> = (0..4)
        .map(|i| SigningKeyRecord {
            kid: format!("race-{i}"),
            purpose: "race".into(),
            material: vec![i; 16],
            created_at: 100,
        })
        .collect();
    let (a, b, c, d) = tokio::join!(
        store.get_or_create_signing_key(&candidates[0]),
        store.get_or_create_signing_key(&candidates[1]),
        store.get_or_create_signing_key(&candidates[2]),
        store.get_or_create_signing_key(&candidates[3]),
    );
    let a = a.unwrap();
    assert_eq!(b.unwrap(), a);
    assert_eq!(c.unwrap(), a);
    assert_eq!(d.unwrap(), a);
    assert_eq!(store.list_signing_keys("race").await.unwrap(), vec![a]);
}

// --- Blobs -----------------------------------------------------------------------------------

/// Every `BlobStore` check, on a fresh store.
pub async fn blob_suite(store: &dyn BlobStore) {
    blobs(store).await;
    upload_lifecycle(store).await;
    upload_edge_cases(store).await;
    blob_listing_and_deletion(store).await;
}

pub async fn blobs(store: &dyn BlobStore) {
    let content = b"hello world";
    let digest = sha256(content);
    assert_eq!(store.stat(&digest).await.unwrap(), None);
    assert!(matches!(
        store.open(&digest, None).await,
        Err(StoreError::NotFound)
    ));
    store.put(&digest, content).await.unwrap();
    store.put(&digest, content).await.unwrap(); // idempotent
    assert_eq!(store.stat(&digest).await.unwrap(), Some(11));
    assert_eq!(
        read_blob(store.open(&digest, None).await.unwrap()).await,
        content
    );

    // Ranges are inclusive.
    for (first, last, want) in [
        (0, 4, &b"hello"[..]),
        (6, 10, b"world"),
        (10, 10, b"d"),
        (0, 10, b"hello world"),
        (4, 6, b"o w"),
    ] {
        let blob = store.open(&digest, Some((first, last))).await.unwrap();
        assert_eq!(blob.len, want.len() as u64);
        assert_eq!(read_blob(blob).await, want, "range {first}-{last}");
    }
    for (first, last) in [(11, 11), (11, 20), (100, 200), (5, 3)] {
        let result = store
            .open(&digest, Some((first, last)))
            .await
            .map(|b| b.len);
        assert_conflict!(result, Conflict::RangeNotSatisfiable { .. });
    }

    // sha512 content lives beside sha256 content.
    let big = vec![0xa5_u8; 3 * 1024 * 1024 + 17];
    let d512 = digest_of(DigestAlgorithm::Sha512, &big);
    store.put(&d512, &big).await.unwrap();
    assert_eq!(store.stat(&d512).await.unwrap(), Some(big.len() as u64));
    assert_eq!(read_blob(store.open(&d512, None).await.unwrap()).await, big);
    let tail = store
        .open(&d512, Some((big.len() as u64 - 3, big.len() as u64 - 1)))
        .await
        .unwrap();
    assert_eq!(read_blob(tail).await, vec![0xa5; 3]);

    // The empty blob.
    let empty = sha256(b"");
    store.put(&empty, b"").await.unwrap();
    assert_eq!(store.stat(&empty).await.unwrap(), Some(0));
    assert_eq!(
        read_blob(store.open(&empty, None).await.unwrap()).await,
        b""
    );
    assert_conflict!(
        store.open(&empty, Some((0, 0))).await.map(|b| b.len),
        Conflict::RangeNotSatisfiable { .. }
    );
}

/// Listing and deleting blobs and listing uploads: the bytes side of garbage collection.
pub async fn blob_listing_and_deletion(store: &dyn BlobStore) {
    let content = b"collect me";
    let digest = sha256(content);
    store.put(&digest, content).await.unwrap();
    let listed = store.list_blobs().await.unwrap();
    let (_, written) = listed
        .iter()
        .find(|(d, _)| d == &digest)
        .expect("a stored blob is listed");
    assert!(
        *written > 1_600_000_000,
        "write time {written} is unix seconds"
    );
    store.delete_blob(&digest).await.unwrap();
    assert_eq!(store.stat(&digest).await.unwrap(), None);
    assert!(
        !store
            .list_blobs()
            .await
            .unwrap()
            .iter()
            .any(|(d, _)| d == &digest)
    );
    store.delete_blob(&digest).await.unwrap(); // unknown: fine

    let id = "listing-upload_1";
    store.create_upload(id).await.unwrap();
    let mut chunk: &[u8] = b"abc";
    store.append_upload(id, 0, &mut chunk).await.unwrap();
    let uploads = store.list_uploads().await.unwrap();
    let found: Vec<_> = uploads.iter().filter(|(u, _)| u == id).collect();
    assert_eq!(found.len(), 1, "one entry per upload: {uploads:?}");
    assert!(found[0].1 > 1_600_000_000);
    store.delete_upload(id).await.unwrap();
    assert!(
        !store
            .list_uploads()
            .await
            .unwrap()
            .iter()
            .any(|(u, _)| u == id)
    );
}

pub async fn upload_lifecycle(store: &dyn BlobStore) {
    let id = "upload-lifecycle_1";
    store.create_upload(id).await.unwrap();
    assert_eq!(store.upload_len(id).await.unwrap(), 0);
    assert_not_found(store.upload_len("never-created").await);

    assert_eq!(
        store
            .append_upload(id, 0, &mut &b"hello "[..])
            .await
            .unwrap(),
        6
    );
    assert_eq!(store.upload_len(id).await.unwrap(), 6);
    // Wrong offsets: behind, ahead.
    assert_conflict!(
        store.append_upload(id, 0, &mut &b"again"[..]).await,
        Conflict::UploadOffset { .. }
    );
    assert_conflict!(
        store.append_upload(id, 7, &mut &b"gap"[..]).await,
        Conflict::UploadOffset { .. }
    );
    assert_eq!(store.upload_len(id).await.unwrap(), 6);
    // An interrupted chunk does not count.
    let mut failing = FailingReader {
        data: b"garbage that never completes".to_vec(),
        pos: 0,
    };
    assert!(store.append_upload(id, 6, &mut failing).await.is_err());
    assert_eq!(store.upload_len(id).await.unwrap(), 6);
    // An empty chunk is fine.
    assert_eq!(store.append_upload(id, 6, &mut &b""[..]).await.unwrap(), 6);
    // A chunk with no offset goes at the end.
    assert_eq!(
        store
            .append_upload_at_end(id, &mut &b"wor"[..])
            .await
            .unwrap(),
        9
    );
    assert_eq!(
        store.append_upload(id, 9, &mut &b"ld"[..]).await.unwrap(),
        11
    );
    assert_not_found(
        store
            .append_upload("never-created", 0, &mut &b"x"[..])
            .await,
    );
    assert_not_found(
        store
            .append_upload_at_end("never-created", &mut &b"x"[..])
            .await,
    );

    // A wrong digest: Conflict, and the upload stays as it was.
    let content = b"hello world";
    let wrong = sha256(b"something else");
    assert_conflict!(
        store.commit_upload(id, &wrong).await,
        Conflict::DigestMismatch { .. }
    );
    assert_eq!(store.stat(&wrong).await.unwrap(), None);
    assert_eq!(store.upload_len(id).await.unwrap(), 11);
    // The right algorithm matters too.
    let wrong_algorithm = digest_of(DigestAlgorithm::Sha512, b"hello");
    assert_conflict!(
        store.commit_upload(id, &wrong_algorithm).await,
        Conflict::DigestMismatch { .. }
    );
    assert_eq!(store.upload_len(id).await.unwrap(), 11);

    // The right digest: the blob appears, the upload goes.
    let digest = sha256(content);
    assert_eq!(store.commit_upload(id, &digest).await.unwrap(), 11);
    assert_eq!(store.stat(&digest).await.unwrap(), Some(11));
    assert_eq!(
        read_blob(store.open(&digest, None).await.unwrap()).await,
        content
    );
    assert_not_found(store.upload_len(id).await);
    assert_not_found(store.commit_upload(id, &digest).await);
    assert_not_found(store.commit_upload("never-created", &digest).await);

    // Committing content that is already stored is fine.
    let id2 = "upload-lifecycle_2";
    store.create_upload(id2).await.unwrap();
    store
        .append_upload(id2, 0, &mut &content[..])
        .await
        .unwrap();
    assert_eq!(store.commit_upload(id2, &digest).await.unwrap(), 11);
    assert_not_found(store.upload_len(id2).await);

    // sha512, over several chunks that straddle buffer sizes.
    let id3 = "upload-lifecycle_3";
    store.create_upload(id3).await.unwrap();
    let data: Vec<u8> = (0..(1024 * 1024 + 4099)).map(|i| (i % 251) as u8).collect();
    let mut offset = 0_u64;
    for piece in data.chunks(300_001) {
        offset = store
            .append_upload(id3, offset, &mut &piece[..])
            .await
            .unwrap();
    }
    assert_eq!(offset, data.len() as u64);
    let d512 = digest_of(DigestAlgorithm::Sha512, &data);
    assert_eq!(
        store.commit_upload(id3, &d512).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(
        read_blob(store.open(&d512, None).await.unwrap()).await,
        data
    );
    let middle = store.open(&d512, Some((300_000, 300_009))).await.unwrap();
    assert_eq!(read_blob(middle).await, &data[300_000..300_010]);
}

pub async fn upload_edge_cases(store: &dyn BlobStore) {
    // An empty upload commits to the empty blob.
    let id = "upload-empty";
    store.create_upload(id).await.unwrap();
    let empty = sha256(b"");
    assert_eq!(store.commit_upload(id, &empty).await.unwrap(), 0);
    assert_eq!(store.stat(&empty).await.unwrap(), Some(0));

    // Deleting discards; unknown ids are fine.
    let id = "upload-deleted";
    store.create_upload(id).await.unwrap();
    store.append_upload(id, 0, &mut &b"abc"[..]).await.unwrap();
    store.delete_upload(id).await.unwrap();
    assert_not_found(store.upload_len(id).await);
    store.delete_upload(id).await.unwrap();
    store.delete_upload("never-created").await.unwrap();
    assert_not_found(store.commit_upload(id, &sha256(b"abc")).await);
    assert_eq!(store.stat(&sha256(b"abc")).await.unwrap(), None);

    // The id can be used again after a delete.
    store.create_upload(id).await.unwrap();
    assert_eq!(store.upload_len(id).await.unwrap(), 0);
    store.delete_upload(id).await.unwrap();
}

pub async fn lifecycle_policies(store: &dyn MetadataStore) {
    let name = repo("lifecycle/app");
    let other = repo("lifecycle/other");
    for n in [&name, &other] {
        store
            .create_repository(&RepositoryRecord {
                name: n.clone(),
                created_at: 1_700_000_000,
                image_tag_mutability: TagMutability::Mutable,
                tag_mutability_exclusions: Vec::new(),
                scan_on_push: false,
                encryption_type: "AES256".into(),
                policy: None,
            })
            .await
            .unwrap();
    }
    let missing = repo("lifecycle/missing");
    assert_eq!(store.get_lifecycle_policy(&name).await.unwrap(), None);
    assert_not_found(store.put_lifecycle_policy(&missing, "{}").await);
    assert_not_found(store.delete_lifecycle_policy(&name).await);
    assert_not_found(store.set_lifecycle_policy_evaluated(&name, 1).await);

    store
        .put_lifecycle_policy(&name, "{\"rules\":1}")
        .await
        .unwrap();
    store
        .set_lifecycle_policy_evaluated(&name, 1_700_000_100)
        .await
        .unwrap();
    let record = LifecyclePolicyRecord {
        repository: name.clone(),
        text: "{\"rules\":1}".into(),
        last_evaluated_at: Some(1_700_000_100),
    };
    assert_eq!(
        store.get_lifecycle_policy(&name).await.unwrap(),
        Some(record.clone())
    );
    // Replacing the text clears the evaluation time.
    store
        .put_lifecycle_policy(&name, "{\"rules\":2}")
        .await
        .unwrap();
    let replaced = store.get_lifecycle_policy(&name).await.unwrap().unwrap();
    assert_eq!(
        (replaced.text.as_str(), replaced.last_evaluated_at),
        ("{\"rules\":2}", None)
    );
    store.put_lifecycle_policy(&other, "o").await.unwrap();
    let listed: Vec<RepositoryName> = store
        .list_lifecycle_policies()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.repository)
        .filter(|r| r.as_str().starts_with("lifecycle/"))
        .collect();
    assert_eq!(listed, vec![name.clone(), other.clone()]);
    store.delete_lifecycle_policy(&name).await.unwrap();
    assert_eq!(store.get_lifecycle_policy(&name).await.unwrap(), None);

    // Previews: the latest text per repository.
    assert_eq!(
        store.get_lifecycle_policy_preview(&name).await.unwrap(),
        None
    );
    assert_not_found(store.put_lifecycle_policy_preview(&missing, "p").await);
    store
        .put_lifecycle_policy_preview(&name, "p1")
        .await
        .unwrap();
    store
        .put_lifecycle_policy_preview(&name, "p2")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_lifecycle_policy_preview(&name)
            .await
            .unwrap()
            .as_deref(),
        Some("p2")
    );

    // Both go with their repository.
    store
        .put_lifecycle_policy_preview(&other, "q")
        .await
        .unwrap();
    store.delete_repository(&other, true).await.unwrap();
    assert_eq!(store.get_lifecycle_policy(&other).await.unwrap(), None);
    assert_eq!(
        store.get_lifecycle_policy_preview(&other).await.unwrap(),
        None
    );
    store
        .create_repository(&RepositoryRecord {
            name: other.clone(),
            created_at: 1_700_000_000,
            image_tag_mutability: TagMutability::Mutable,
            tag_mutability_exclusions: Vec::new(),
            scan_on_push: false,
            encryption_type: "AES256".into(),
            policy: None,
        })
        .await
        .unwrap();
    assert_eq!(store.get_lifecycle_policy(&other).await.unwrap(), None);
    store.delete_repository(&name, true).await.unwrap();
    store.delete_repository(&other, true).await.unwrap();
}

#[cfg(test)]
mod tests {
    /// Without its service a test fails; it is skipped (and says so) only on request.
    #[test]
    fn a_missing_service_fails_the_test_unless_skipping_is_asked_for() {
        let outcome = std::panic::catch_unwind(|| {
            super::required_service("BERTH_TEST_SERVICE_THAT_IS_NEVER_SET")
        });
        if std::env::var("BERTH_TEST_ALLOW_SKIP").as_deref() == Ok("1") {
            assert_eq!(outcome.ok(), Some(None));
        } else {
            let message = outcome.expect_err("a missing service must fail the test");
            let text = message
                .downcast_ref::<String>()
                .map(String::as_str)
                .unwrap_or_default();
            assert!(text.contains("BERTH_TEST_ALLOW_SKIP=1"), "{text}");
        }
    }
}
