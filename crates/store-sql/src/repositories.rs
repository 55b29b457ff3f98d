//! ECR repositories and what they hold: settings, policies, lifecycle policies, resource
//! tags, blob links, manifests and tags.

use std::collections::HashMap;

use async_trait::async_trait;
use berth_store::{
    Conflict, ImageCursor, ImageEntry, LifecycleCandidate, LifecyclePolicyRecord, ManifestRecord,
    PrefixDocument, PrefixDocumentKind, PutManifestOutcome, RepositoryRecord, RepositoryStore,
    StoreError, StoreResult, TagStatus,
};
use berth_types::{Digest, RepositoryName, Tag, TagMutability};

use crate::engine::{Row, Tx, query};
use crate::{
    LIST_CHUNK, SqlStore, delete_listed, found, parse_digest, parse_repository, sql_limit,
};

const REPOSITORY_COLUMNS: &str = "name, created_at, image_tag_mutability, \
     tag_mutability_exclusions, scan_on_push, encryption_type, policy";

/// Exclusion filters are stored one per line (ECR's filter pattern has no line breaks).
fn exclusions_column(filters: &[String]) -> String {
    filters.join("\n")
}

fn prefix_document_from_row(row: &Row) -> StoreResult<PrefixDocument> {
    Ok(PrefixDocument {
        prefix: row.get("prefix")?,
        document: row.get("document")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// The table a kind of prefix document is kept in.
fn prefix_table(kind: PrefixDocumentKind) -> &'static str {
    match kind {
        PrefixDocumentKind::CreationTemplate => "repository_creation_templates",
        PrefixDocumentKind::PullThroughCacheRule => "pull_through_cache_rules",
    }
}

fn repository_from_row(row: &Row) -> StoreResult<RepositoryRecord> {
    Ok(RepositoryRecord {
        name: parse_repository(&row.get::<String>("name")?)?,
        created_at: row.get("created_at")?,
        image_tag_mutability: parse_mutability(&row.get::<String>("image_tag_mutability")?)?,
        tag_mutability_exclusions: row
            .get::<String>("tag_mutability_exclusions")?
            .lines()
            .map(str::to_owned)
            .collect(),
        scan_on_push: row.get("scan_on_push")?,
        encryption_type: row.get("encryption_type")?,
        policy: row.get("policy")?,
    })
}

fn parse_mutability(stored: &str) -> StoreResult<TagMutability> {
    TagMutability::parse(stored)
        .ok_or_else(|| StoreError::Backend(format!("stored tag mutability `{stored}`")))
}

fn lifecycle_policy_from_row(row: &Row) -> StoreResult<LifecyclePolicyRecord> {
    Ok(LifecyclePolicyRecord {
        repository: parse_repository(&row.get::<String>("repository")?)?,
        text: row.get("policy_text")?,
        last_evaluated_at: row.get("last_evaluated_at")?,
    })
}

const MANIFEST_COLUMNS: &str =
    "repository, digest, media_type, size, image_size, pushed_at, artifact_type, subject";

/// A manifest row without its blob and child lists.
fn manifest_from_row(row: &Row) -> StoreResult<ManifestRecord> {
    let subject: Option<String> = row.get("subject")?;
    Ok(ManifestRecord {
        repository: parse_repository(&row.get::<String>("repository")?)?,
        digest: parse_digest(&row.get::<String>("digest")?)?,
        media_type: row.get("media_type")?,
        size: row.get("size")?,
        image_size: row.get("image_size")?,
        pushed_at: row.get("pushed_at")?,
        artifact_type: row.get("artifact_type")?,
        subject: subject.as_deref().map(parse_digest).transpose()?,
        blobs: Vec::new(),
        children: Vec::new(),
    })
}

/// One statement for a set of images (`page`, a query over `manifests m`) with their
/// tags and last pulls: a row per tag (one for an untagged image), in the page's order.
fn image_entries_sql(page: &str) -> String {
    format!(
        "WITH page AS ({page}) \
         SELECT {columns}, t.tag AS tag, p.last_pulled_at AS last_pulled_at FROM page \
         LEFT JOIN tags t ON t.repository = page.repository AND t.digest = page.digest \
         LEFT JOIN image_pulls p ON p.repository = page.repository AND p.digest = page.digest \
         ORDER BY page.pushed_at DESC, page.digest DESC, t.tag",
        columns = MANIFEST_COLUMNS
            .split(", ")
            .map(|c| format!("page.{c} AS {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Folds `image_entries_sql`'s rows into images.
fn image_entries(rows: Vec<Row>) -> StoreResult<Vec<ImageEntry>> {
    let mut out: Vec<ImageEntry> = Vec::new();
    for row in &rows {
        let digest: String = row.get("digest")?;
        let tag: Option<String> = row.get("tag")?;
        match out.last_mut() {
            Some(last) if last.manifest.digest.as_str() == digest => last.tags.extend(tag),
            _ => out.push(ImageEntry {
                manifest: manifest_from_row(row)?,
                tags: tag.into_iter().collect(),
                last_pulled_at: row.get("last_pulled_at")?,
            }),
        }
    }
    Ok(out)
}

/// A manifest's two digest lists: the blobs it references and (an index's) children.
#[derive(Clone, Copy)]
enum DigestList {
    Blobs,
    Children,
}

impl DigestList {
    fn table_and_column(self) -> (&'static str, &'static str) {
        match self {
            DigestList::Blobs => ("manifest_blobs", "blob_digest"),
            DigestList::Children => ("manifest_children", "child_digest"),
        }
    }
}

/// Digests of one list for every manifest of a repository (or one manifest), grouped by
/// manifest digest, in list order.
async fn digest_lists(
    tx: &mut Tx,
    list: DigestList,
    repository: &str,
    manifest: Option<&str>,
) -> StoreResult<HashMap<String, Vec<Digest>>> {
    let (table, column) = list.table_and_column();
    // Two statements, not `$2 IS NULL OR ...`: with the OR, SQLite reads every row of the
    // repository even for one manifest.
    let one = if manifest.is_some() {
        " AND manifest_digest = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT manifest_digest, {column} AS item FROM {table} WHERE repository = $1{one} \
         ORDER BY manifest_digest, position"
    );
    let mut q = query(&sql).bind(repository);
    if let Some(manifest) = manifest {
        q = q.bind(manifest);
    }
    let rows = q.fetch_all(tx.on()).await?;
    let mut out: HashMap<String, Vec<Digest>> = HashMap::new();
    for row in &rows {
        let manifest: String = row.get("manifest_digest")?;
        let item = parse_digest(&row.get::<String>("item")?)?;
        out.entry(manifest).or_default().push(item);
    }
    Ok(out)
}

/// Inserts a manifest's digest list, many rows per statement.
async fn insert_digest_list(
    tx: &mut Tx,
    list: DigestList,
    manifest: &ManifestRecord,
) -> StoreResult<()> {
    let (table, column) = list.table_and_column();
    let items = match list {
        DigestList::Blobs => &manifest.blobs,
        DigestList::Children => &manifest.children,
    };
    for (chunk_index, chunk) in items.chunks(LIST_CHUNK).enumerate() {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, $2, ${}, ${})", 3 + 2 * i, 4 + 2 * i))
            .collect();
        let sql = format!(
            "INSERT INTO {table} (repository, manifest_digest, position, {column}) VALUES {}",
            rows.join(", ")
        );
        let mut statement = query(&sql)
            .bind(manifest.repository.as_str())
            .bind(manifest.digest.as_str());
        let first = chunk_index * LIST_CHUNK;
        for (offset, item) in chunk.iter().enumerate() {
            let position = i64::try_from(first + offset).unwrap_or(i64::MAX);
            statement = statement.bind(position).bind(item.as_str());
        }
        statement.execute(tx.on()).await?;
    }
    Ok(())
}

/// Locks a repository's row until the transaction ends. `NotFound` when absent.
async fn lock_repository(tx: &mut Tx, name: &RepositoryName) -> StoreResult<()> {
    let sql = format!(
        "SELECT 1 AS one FROM repositories WHERE name = $1{}",
        tx.for_update()
    );
    query(&sql)
        .bind(name.as_str())
        .fetch_optional(tx.on())
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(())
}

#[async_trait]
impl RepositoryStore for SqlStore {
    // --- Repositories ---------------------------------------------------------------

    async fn create_repository(&self, repository: &RepositoryRecord) -> StoreResult<()> {
        query(
            "INSERT INTO repositories (name, created_at, image_tag_mutability, \
             tag_mutability_exclusions, scan_on_push, encryption_type, policy) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(repository.name.as_str())
        .bind(repository.created_at)
        .bind(repository.image_tag_mutability.as_str())
        .bind(exclusions_column(&repository.tag_mutability_exclusions))
        .bind(repository.scan_on_push)
        .bind(&repository.encryption_type)
        .bind(&repository.policy)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn get_repository(&self, name: &RepositoryName) -> StoreResult<Option<RepositoryRecord>> {
        query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name = $1"
        ))
        .bind(name.as_str())
        .record(self.db.reader(), repository_from_row)
        .await
    }

    async fn list_repositories(
        &self,
        after: Option<&RepositoryName>,
        limit: usize,
    ) -> StoreResult<Vec<RepositoryRecord>> {
        // Two statements, not `$1 IS NULL OR name > $1`, which SQLite cannot seek on:
        // every page would read the names before it.
        let sql = match after {
            Some(_) => format!(
                "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name > $1 \
                 ORDER BY name LIMIT $2"
            ),
            None => format!("SELECT {REPOSITORY_COLUMNS} FROM repositories ORDER BY name LIMIT $1"),
        };
        let mut q = query(&sql);
        if let Some(after) = after {
            q = q.bind(after.as_str());
        }
        q.bind(sql_limit(limit))
            .records(self.db.reader(), repository_from_row)
            .await
    }

    async fn set_image_tag_mutability(
        &self,
        name: &RepositoryName,
        image_tag_mutability: TagMutability,
        exclusions: &[String],
    ) -> StoreResult<()> {
        found(
            query(
                "UPDATE repositories SET image_tag_mutability = $1, \
                 tag_mutability_exclusions = $2 WHERE name = $3",
            )
            .bind(image_tag_mutability.as_str())
            .bind(exclusions_column(exclusions))
            .bind(name.as_str())
            .execute(self.db.writer())
            .await?,
        )
    }

    async fn create_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        document: &PrefixDocument,
    ) -> StoreResult<()> {
        query(&format!(
            "INSERT INTO {} (prefix, document, created_at, updated_at) VALUES ($1, $2, $3, $4)",
            prefix_table(kind)
        ))
        .bind(&document.prefix)
        .bind(&document.document)
        .bind(document.created_at)
        .bind(document.updated_at)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn get_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
    ) -> StoreResult<Option<PrefixDocument>> {
        query(&format!(
            "SELECT prefix, document, created_at, updated_at FROM {} WHERE prefix = $1",
            prefix_table(kind)
        ))
        .bind(prefix)
        .record(self.db.reader(), prefix_document_from_row)
        .await
    }

    async fn list_prefix_documents(
        &self,
        kind: PrefixDocumentKind,
    ) -> StoreResult<Vec<PrefixDocument>> {
        query(&format!(
            "SELECT prefix, document, created_at, updated_at FROM {} ORDER BY prefix",
            prefix_table(kind)
        ))
        .records(self.db.reader(), prefix_document_from_row)
        .await
    }

    async fn update_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
        document: &str,
        updated_at: i64,
    ) -> StoreResult<()> {
        found(
            query(&format!(
                "UPDATE {} SET document = $1, updated_at = $2 WHERE prefix = $3",
                prefix_table(kind)
            ))
            .bind(document)
            .bind(updated_at)
            .bind(prefix)
            .execute(self.db.writer())
            .await?,
        )
    }

    async fn delete_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
    ) -> StoreResult<()> {
        found(
            query(&format!(
                "DELETE FROM {} WHERE prefix = $1",
                prefix_table(kind)
            ))
            .bind(prefix)
            .execute(self.db.writer())
            .await?,
        )
    }

    async fn set_scan_on_push(&self, name: &RepositoryName, scan_on_push: bool) -> StoreResult<()> {
        found(
            query("UPDATE repositories SET scan_on_push = $1 WHERE name = $2")
                .bind(scan_on_push)
                .bind(name.as_str())
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn get_registry_setting(&self, name: &str) -> StoreResult<Option<String>> {
        query("SELECT value FROM registry_settings WHERE name = $1")
            .bind(name)
            .scalar_optional(self.db.reader())
            .await
    }

    async fn put_registry_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        query(
            "INSERT INTO registry_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn delete_registry_setting(&self, name: &str) -> StoreResult<()> {
        found(
            query("DELETE FROM registry_settings WHERE name = $1")
                .bind(name)
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn set_repository_policy(
        &self,
        name: &RepositoryName,
        policy: Option<&str>,
    ) -> StoreResult<()> {
        found(
            query("UPDATE repositories SET policy = $1 WHERE name = $2")
                .bind(policy)
                .bind(name.as_str())
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn count_manifests(&self, name: &RepositoryName) -> StoreResult<u64> {
        let n: i64 = query("SELECT COUNT(*) FROM manifests WHERE repository = $1")
            .bind(name.as_str())
            .scalar(self.db.reader())
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_repository(&self, name: &RepositoryName, force: bool) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        // The row lock makes concurrent manifest pushes (whose foreign key reads this row)
        // wait: the count below cannot go stale before the delete.
        lock_repository(&mut tx, name).await?;
        if !force {
            let manifests: i64 = query("SELECT COUNT(*) FROM manifests WHERE repository = $1")
                .bind(name.as_str())
                .scalar(tx.on())
                .await?;
            if manifests > 0 {
                return Err(StoreError::Conflict(Conflict::RepositoryNotEmpty));
            }
        }
        // Tags, manifests (with their blob and child lists), blob links and uploads go
        // with it through ON DELETE CASCADE, in this transaction.
        query("DELETE FROM repositories WHERE name = $1")
            .bind(name.as_str())
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    // --- Lifecycle policies ---------------------------------------------------------

    async fn put_lifecycle_policy(
        &self,
        repository: &RepositoryName,
        text: &str,
    ) -> StoreResult<()> {
        // Inserted from the repository's row: none when the repository is absent (and a
        // repository deleted meanwhile fails the foreign key, also `NotFound`). The
        // SELECT has a WHERE clause, which SQLite needs to parse the upsert after it.
        found(
            query(
                "INSERT INTO lifecycle_policies (repository, policy_text, last_evaluated_at) \
                 SELECT name, $1, NULL FROM repositories WHERE name = $2 \
                 ON CONFLICT (repository) DO UPDATE SET policy_text = excluded.policy_text, \
                 last_evaluated_at = NULL",
            )
            .bind(text)
            .bind(repository.as_str())
            .execute(self.db.writer())
            .await?,
        )
    }

    async fn get_lifecycle_policy(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Option<LifecyclePolicyRecord>> {
        query(
            "SELECT repository, policy_text, last_evaluated_at FROM lifecycle_policies \
             WHERE repository = $1",
        )
        .bind(repository.as_str())
        .record(self.db.reader(), lifecycle_policy_from_row)
        .await
    }

    async fn delete_lifecycle_policy(&self, repository: &RepositoryName) -> StoreResult<()> {
        found(
            query("DELETE FROM lifecycle_policies WHERE repository = $1")
                .bind(repository.as_str())
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn set_lifecycle_policy_evaluated(
        &self,
        repository: &RepositoryName,
        at: i64,
    ) -> StoreResult<()> {
        found(
            query("UPDATE lifecycle_policies SET last_evaluated_at = $1 WHERE repository = $2")
                .bind(at)
                .bind(repository.as_str())
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn list_lifecycle_policies(&self) -> StoreResult<Vec<LifecyclePolicyRecord>> {
        query(
            "SELECT repository, policy_text, last_evaluated_at FROM lifecycle_policies \
             ORDER BY repository",
        )
        .records(self.db.reader(), lifecycle_policy_from_row)
        .await
    }

    async fn put_lifecycle_policy_preview(
        &self,
        repository: &RepositoryName,
        text: &str,
    ) -> StoreResult<()> {
        found(
            query(
                "INSERT INTO lifecycle_policy_previews (repository, policy_text) \
                 SELECT name, $1 FROM repositories WHERE name = $2 \
                 ON CONFLICT (repository) DO UPDATE SET policy_text = excluded.policy_text",
            )
            .bind(text)
            .bind(repository.as_str())
            .execute(self.db.writer())
            .await?,
        )
    }

    async fn get_lifecycle_policy_preview(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Option<String>> {
        query("SELECT policy_text FROM lifecycle_policy_previews WHERE repository = $1")
            .bind(repository.as_str())
            .scalar_optional(self.db.reader())
            .await
    }

    async fn tag_repository(
        &self,
        name: &RepositoryName,
        tags: &[(String, String)],
        max_tags: usize,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        // Locking the repository row makes concurrent taggers take turns, so the count
        // below sees every tag another replica added.
        lock_repository(&mut tx, name).await?;
        for (key, value) in tags {
            query(
                "INSERT INTO repository_tags (repository, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository, key) DO UPDATE SET value = excluded.value",
            )
            .bind(name.as_str())
            .bind(key)
            .bind(value)
            .execute(tx.on())
            .await?;
        }
        let count: i64 = query("SELECT COUNT(*) FROM repository_tags WHERE repository = $1")
            .bind(name.as_str())
            .scalar(tx.on())
            .await?;
        if usize::try_from(count).unwrap_or(usize::MAX) > max_tags {
            return Err(StoreError::Conflict(Conflict::RepositoryTagLimit {
                max: max_tags,
            }));
        }
        tx.commit().await
    }

    async fn untag_repository(&self, name: &RepositoryName, keys: &[String]) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        lock_repository(&mut tx, name).await?;
        delete_listed(
            &mut tx,
            "DELETE FROM repository_tags WHERE repository = $1 AND key IN",
            name.as_str(),
            keys,
        )
        .await?;
        tx.commit().await
    }

    async fn list_repository_tags(
        &self,
        name: &RepositoryName,
    ) -> StoreResult<Vec<(String, String)>> {
        query("SELECT key, value FROM repository_tags WHERE repository = $1 ORDER BY key")
            .bind(name.as_str())
            .records(self.db.reader(), |row| {
                Ok((row.get("key")?, row.get("value")?))
            })
            .await
    }

    // --- Blob links -----------------------------------------------------------------

    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: i64,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO blob_links (repository, digest, size) VALUES ($1, $2, $3) \
             ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(repository.as_str())
        .bind(digest.as_str())
        .bind(size)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn blob_link(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<i64>> {
        query("SELECT size FROM blob_links WHERE repository = $1 AND digest = $2")
            .bind(repository.as_str())
            .bind(digest.as_str())
            .scalar_optional(self.db.reader())
            .await
    }

    async fn unlink_blob(&self, repository: &RepositoryName, digest: &Digest) -> StoreResult<()> {
        found(
            query("DELETE FROM blob_links WHERE repository = $1 AND digest = $2")
                .bind(repository.as_str())
                .bind(digest.as_str())
                .execute(self.db.writer())
                .await?,
        )
    }

    // --- Manifests and tags ---------------------------------------------------------

    async fn put_manifest(
        &self,
        manifest: &ManifestRecord,
        tag: Option<&Tag>,
        immutable_tags: bool,
    ) -> StoreResult<PutManifestOutcome> {
        let repository = manifest.repository.as_str();
        let digest = manifest.digest.as_str();
        let mut tx = self.db.write().await?;

        // Lock the tag row (when it exists) so a concurrent push of the same tag waits
        // for this transaction and then sees where the tag points.
        let current: Option<String> = match tag {
            Some(tag) => {
                let sql = format!(
                    "SELECT digest FROM tags WHERE repository = $1 AND tag = $2{}",
                    tx.for_update()
                );
                query(&sql)
                    .bind(repository)
                    .bind(tag.as_str())
                    .scalar_optional(tx.on())
                    .await?
            }
            None => None,
        };
        if current.as_deref().is_some_and(|current| current != digest) && immutable_tags {
            return Err(StoreError::Conflict(Conflict::TagImmutable));
        }

        // ON CONFLICT DO NOTHING: a concurrent push of the same manifest waits for the
        // first and inserts nothing.
        let inserted = query(&format!(
            "INSERT INTO manifests ({MANIFEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (repository, digest) DO NOTHING"
        ))
        .bind(repository)
        .bind(digest)
        .bind(&manifest.media_type)
        .bind(manifest.size)
        .bind(manifest.image_size)
        .bind(manifest.pushed_at)
        .bind(&manifest.artifact_type)
        .bind(manifest.subject.as_ref().map(Digest::as_str))
        .execute(tx.on())
        .await?
            > 0;
        let mut stored = false;
        if inserted {
            insert_digest_list(&mut tx, DigestList::Blobs, manifest).await?;
            insert_digest_list(&mut tx, DigestList::Children, manifest).await?;
            stored = true;
        }

        if let Some(tag) = tag
            && current.as_deref() != Some(digest)
        {
            if immutable_tags {
                // The tag was absent when read; a concurrent push may have created it
                // since. Only ever insert, and refuse when someone else won.
                let won = query(
                    "INSERT INTO tags (repository, tag, digest) VALUES ($1, $2, $3) \
                     ON CONFLICT (repository, tag) DO NOTHING",
                )
                .bind(repository)
                .bind(tag.as_str())
                .bind(digest)
                .execute(tx.on())
                .await?
                    > 0;
                if !won {
                    let now: Option<String> =
                        query("SELECT digest FROM tags WHERE repository = $1 AND tag = $2")
                            .bind(repository)
                            .bind(tag.as_str())
                            .scalar_optional(tx.on())
                            .await?;
                    if now.as_deref() != Some(digest) {
                        return Err(StoreError::Conflict(Conflict::TagImmutable));
                    }
                }
            } else {
                query(
                    "INSERT INTO tags (repository, tag, digest) VALUES ($1, $2, $3) \
                     ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest",
                )
                .bind(repository)
                .bind(tag.as_str())
                .bind(digest)
                .execute(tx.on())
                .await?;
            }
            stored = true;
        }
        tx.commit().await?;
        Ok(if stored {
            PutManifestOutcome::Stored
        } else {
            PutManifestOutcome::Unchanged
        })
    }

    async fn get_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<ManifestRecord>> {
        let mut tx = self.db.read().await?;
        let row = query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repository = $1 AND digest = $2"
        ))
        .bind(repository.as_str())
        .bind(digest.as_str())
        .fetch_optional(tx.on())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut manifest = manifest_from_row(&row)?;
        let key = Some(digest.as_str());
        let name = repository.as_str();
        let mut blobs = digest_lists(&mut tx, DigestList::Blobs, name, key).await?;
        let mut children = digest_lists(&mut tx, DigestList::Children, name, key).await?;
        tx.commit().await?;
        manifest.blobs = blobs.remove(digest.as_str()).unwrap_or_default();
        manifest.children = children.remove(digest.as_str()).unwrap_or_default();
        Ok(Some(manifest))
    }

    async fn resolve_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> StoreResult<Option<Digest>> {
        let digest: Option<String> =
            query("SELECT digest FROM tags WHERE repository = $1 AND tag = $2")
                .bind(repository.as_str())
                .bind(tag.as_str())
                .scalar_optional(self.db.reader())
                .await?;
        digest.as_deref().map(parse_digest).transpose()
    }

    async fn list_tags(
        &self,
        repository: &RepositoryName,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        // Two statements, not `$2 IS NULL OR tag > $2`, which SQLite cannot seek on:
        // every page would read the tags before it.
        let q = match after {
            Some(after) => query(
                "SELECT tag FROM tags WHERE repository = $1 AND tag > $2 ORDER BY tag LIMIT $3",
            )
            .bind(repository.as_str())
            .bind(after),
            None => query("SELECT tag FROM tags WHERE repository = $1 ORDER BY tag LIMIT $2")
                .bind(repository.as_str()),
        };
        q.bind(sql_limit(limit))
            .records(self.db.reader(), |row| row.get("tag"))
            .await
    }

    async fn list_manifests(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Vec<(ManifestRecord, Vec<String>)>> {
        let name = repository.as_str();
        let mut tx = self.db.read().await?;
        tx.snapshot().await?;
        let rows = query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repository = $1 \
             ORDER BY pushed_at DESC, digest"
        ))
        .bind(name)
        .fetch_all(tx.on())
        .await?;
        let mut blobs = digest_lists(&mut tx, DigestList::Blobs, name, None).await?;
        let mut children = digest_lists(&mut tx, DigestList::Children, name, None).await?;
        let tag_rows = query("SELECT digest, tag FROM tags WHERE repository = $1 ORDER BY tag")
            .bind(name)
            .fetch_all(tx.on())
            .await?;
        tx.commit().await?;
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        for row in &tag_rows {
            tags.entry(row.get("digest")?)
                .or_default()
                .push(row.get("tag")?);
        }
        rows.iter()
            .map(|row| {
                let mut manifest = manifest_from_row(row)?;
                let key = manifest.digest.as_str();
                manifest.blobs = blobs.remove(key).unwrap_or_default();
                manifest.children = children.remove(key).unwrap_or_default();
                let tags = tags.remove(key).unwrap_or_default();
                Ok((manifest, tags))
            })
            .collect()
    }

    async fn list_images_page(
        &self,
        repository: &RepositoryName,
        status: TagStatus,
        from: Option<&ImageCursor>,
        limit: usize,
    ) -> StoreResult<Vec<ImageEntry>> {
        let filter = match status {
            TagStatus::Any => "",
            TagStatus::Tagged => {
                " AND EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest)"
            }
            TagStatus::Untagged => {
                " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest)"
            }
        };
        // A row-value comparison walks the (repository, pushed_at, digest) index from
        // the cursor: no row before it is read.
        let after = match from {
            None => "",
            Some(c) if c.inclusive => " AND (m.pushed_at, m.digest) <= ($3, $4)",
            Some(_) => " AND (m.pushed_at, m.digest) < ($3, $4)",
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = image_entries_sql(&format!(
            "SELECT m.* FROM manifests m WHERE m.repository = $1{filter}{after} \
             ORDER BY m.pushed_at DESC, m.digest DESC LIMIT $2"
        ));
        let mut q = query(&sql).bind(repository.as_str()).bind(limit);
        if let Some(c) = from {
            q = q.bind(c.pushed_at).bind(c.digest.as_str());
        }
        image_entries(q.fetch_all(self.db.reader()).await?)
    }

    async fn lifecycle_candidates(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Vec<LifecycleCandidate>> {
        // Tags folded into one string per image by the database (they cannot hold a
        // newline): a row per image, not per tag.
        let tags = match self.engine() {
            crate::Engine::Sqlite => "group_concat(t.tag, char(10))",
            crate::Engine::Postgres => "string_agg(t.tag, chr(10))",
        };
        let sql = format!(
            "SELECT m.digest AS digest, m.pushed_at AS pushed_at, p.last_pulled_at AS last_pulled_at, \
             (SELECT {tags} FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest) AS tags \
             FROM manifests m \
             LEFT JOIN image_pulls p ON p.repository = m.repository AND p.digest = m.digest \
             WHERE m.repository = $1 AND NOT EXISTS (SELECT 1 FROM manifest_children c \
             WHERE c.repository = m.repository AND c.child_digest = m.digest)"
        );
        query(&sql)
            .bind(repository.as_str())
            .records(self.db.reader(), |row| {
                let tags: Option<String> = row.get("tags")?;
                Ok(LifecycleCandidate {
                    digest: parse_digest(&row.get::<String>("digest")?)?,
                    pushed_at: row.get("pushed_at")?,
                    tags: tags
                        .map(|t| t.split('\n').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    last_pulled_at: row.get("last_pulled_at")?,
                })
            })
            .await
    }

    async fn image_entry(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<ImageEntry>> {
        // LIMIT keeps the one-row page from being flattened into the joins, where SQLite
        // would walk the repository's tags instead of looking the image up.
        let sql = image_entries_sql(
            "SELECT m.* FROM manifests m WHERE m.repository = $1 AND m.digest = $2 LIMIT 1",
        );
        let rows = query(&sql)
            .bind(repository.as_str())
            .bind(digest.as_str())
            .fetch_all(self.db.reader())
            .await?;
        Ok(image_entries(rows)?.pop())
    }

    async fn list_referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> StoreResult<Vec<ManifestRecord>> {
        query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repository = $1 AND subject = $2 \
             ORDER BY digest"
        ))
        .bind(repository.as_str())
        .bind(subject.as_str())
        .records(self.db.reader(), manifest_from_row)
        .await
    }

    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<()> {
        // Tags and the blob and child lists go with it through ON DELETE CASCADE.
        found(
            query("DELETE FROM manifests WHERE repository = $1 AND digest = $2")
                .bind(repository.as_str())
                .bind(digest.as_str())
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn delete_tag(&self, repository: &RepositoryName, tag: &Tag) -> StoreResult<()> {
        found(
            query("DELETE FROM tags WHERE repository = $1 AND tag = $2")
                .bind(repository.as_str())
                .bind(tag.as_str())
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn record_image_pulls(&self, pulls: &[(RepositoryName, Digest, i64)]) -> StoreResult<()> {
        if pulls.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.write().await?;
        for (repository, digest, at) in pulls {
            // Only for a manifest that still exists (the foreign key would refuse others).
            query(
                "INSERT INTO image_pulls (repository, digest, last_pulled_at) \
                 SELECT repository, digest, $3 FROM manifests \
                 WHERE repository = $1 AND digest = $2 \
                 ON CONFLICT (repository, digest) DO UPDATE \
                 SET last_pulled_at = excluded.last_pulled_at \
                 WHERE image_pulls.last_pulled_at < excluded.last_pulled_at",
            )
            .bind(repository.as_str())
            .bind(digest.as_str())
            .bind(*at)
            .execute(tx.on())
            .await?;
        }
        tx.commit().await
    }

    async fn image_pull_times(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<HashMap<Digest, i64>> {
        let rows = query("SELECT digest, last_pulled_at FROM image_pulls WHERE repository = $1")
            .bind(repository.as_str())
            .fetch_all(self.db.reader())
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in &rows {
            out.insert(
                parse_digest(&row.get::<String>("digest")?)?,
                row.get("last_pulled_at")?,
            );
        }
        Ok(out)
    }
}
