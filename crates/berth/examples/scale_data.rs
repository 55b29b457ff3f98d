//! Fills a `berth serve --data-dir` with a large registry, through the stores (not HTTP,
//! so it takes minutes, not hours), for `bench/scale.sh`:
//!
//! - `scale/big`: `BIG_IMAGES` images (default 100,000), each with `TAGS_PER_IMAGE` tags
//!   (default 10, so a million tags);
//! - `scale/r00001` ... : `REPOSITORIES - 1` more repositories (default 9,999 more), one
//!   image with one tag each.
//!
//! Every manifest's bytes are stored too, so the registry serves them. Layers are named
//! but not stored: the listings, tag walks and manifest reads measured need none.
//!
//! Usage: `cargo run --release -p berth --example scale_data -- DATA_DIR` (SQLite and
//! files), with `BERTH_METADATA=postgres://...` for PostgreSQL instead of SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use berth_store::{BlobStore, ManifestRecord, MetadataStore, RepositoryRecord};
use berth_store_fs::FsBlobStore;
use berth_store_sql::SqlStore;
use berth_types::{Digest, DigestAlgorithm, RepositoryName, Tag, TagMutability};

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn sha256(bytes: &[u8]) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    Digest::from_bytes(DigestAlgorithm::Sha256, d.as_ref())
}

/// A small OCI image manifest, distinct for each `seed`.
fn manifest(seed: &str) -> Vec<u8> {
    let config = sha256(format!("config {seed}").as_bytes());
    let layer = sha256(format!("layer {seed}").as_bytes());
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":512}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":1048576}}]}}"#
    )
    .into_bytes()
}

fn repository(name: &str) -> RepositoryRecord {
    RepositoryRecord {
        name: RepositoryName::parse(name).unwrap(),
        created_at: 1_700_000_000,
        image_tag_mutability: TagMutability::Mutable,
        tag_mutability_exclusions: Vec::new(),
        scan_on_push: false,
        encryption_type: "AES256".into(),
        policy: None,
    }
}

async fn put_image(
    metadata: &dyn MetadataStore,
    blobs: &dyn BlobStore,
    name: &RepositoryName,
    seed: &str,
    pushed_at: i64,
    tags: &[String],
) {
    let bytes = manifest(seed);
    let digest = sha256(&bytes);
    blobs.put(&digest, &bytes).await.unwrap();
    let record = ManifestRecord {
        repository: name.clone(),
        digest,
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: bytes.len() as i64,
        image_size: 1_049_088,
        pushed_at,
        artifact_type: Some("application/vnd.oci.image.config.v1+json".into()),
        subject: None,
        blobs: Vec::new(),
        children: Vec::new(),
    };
    for tag in tags {
        let tag = Tag::parse(tag).unwrap();
        metadata
            .put_manifest(&record, Some(&tag), false)
            .await
            .unwrap();
    }
}

#[tokio::main]
async fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: scale_data DATA_DIR"));
    let repositories = number("REPOSITORIES", 10_000);
    let big_images = number("BIG_IMAGES", 100_000);
    let tags_per_image = number("TAGS_PER_IMAGE", 10);
    std::fs::create_dir_all(&dir).unwrap();
    let metadata: Box<dyn MetadataStore> = match std::env::var("BERTH_METADATA") {
        Ok(url) if url.starts_with("postgres") => {
            let store = SqlStore::connect_postgres(&url).await.unwrap();
            store.migrate().await.unwrap();
            Box::new(store)
        }
        _ => Box::new(SqlStore::open_sqlite(&dir.join("berth.db")).await.unwrap()),
    };
    let blobs = FsBlobStore::open(&dir.join("blobs")).await.unwrap();
    let started = Instant::now();

    let big = RepositoryName::parse("scale/big").unwrap();
    metadata
        .create_repository(&repository("scale/big"))
        .await
        .unwrap();
    for i in 0..big_images {
        let tags: Vec<String> = (0..tags_per_image).map(|t| format!("i{i}-t{t}")).collect();
        let pushed_at = 1_700_000_000 + i as i64;
        put_image(
            metadata.as_ref(),
            &blobs,
            &big,
            &format!("big {i}"),
            pushed_at,
            &tags,
        )
        .await;
        if (i + 1) % 10_000 == 0 {
            println!(
                "{} images ({} tags) in scale/big after {:.0?}",
                i + 1,
                (i + 1) * tags_per_image,
                started.elapsed()
            );
        }
    }
    for r in 1..repositories {
        let name = format!("scale/r{r:05}");
        metadata
            .create_repository(&repository(&name))
            .await
            .unwrap();
        let name = RepositoryName::parse(&name).unwrap();
        put_image(
            metadata.as_ref(),
            &blobs,
            &name,
            &format!("small {r}"),
            1_700_000_000,
            &["latest".to_owned()],
        )
        .await;
    }
    println!(
        "{repositories} repositories, {} images, {} tags in {:.1?}",
        big_images + repositories - 1,
        big_images * tags_per_image + repositories - 1,
        started.elapsed()
    );
}
