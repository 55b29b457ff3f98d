//! PostgreSQL metadata store: the `MetadataStore` for several `berth serve` replicas
//! sharing one database.
//!
//! The semantics are store-sqlite's, method for method (and in the same order, so a method
//! added there has an obvious place here): writes that must be atomic run in one
//! transaction, and where SQLite relies on its single writer, this store takes row locks
//! (`FOR UPDATE`) or a transaction-scoped advisory lock, so concurrent replicas cannot
//! interleave a check and the write that depends on it. Listed keys use `COLLATE "C"`, so
//! pagination is in byte order whatever the database's default collation.
//!
//! The schema lives in numbered SQL files under `migrations/` (numbered like store-sqlite's),
//! embedded at compile time. `connect` never changes the schema: `migrate` applies pending
//! migrations, and `check_schema` refuses a database migrated by a newer Berth.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use berth_store::{
    AttachedPolicy, EffectivePolicy, IamTag, LifecyclePolicyRecord, ManagedPolicyRecord,
    ManifestRecord, MetadataStore, OidcProviderRecord, PolicyVersionRecord, PutManifestOutcome,
    RepositoryRecord, RoleRecord, SigningKeyRecord, StoreError, StoreResult, UploadRecord,
};
use berth_types::{Digest, RepositoryName, Tag};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, Row, Transaction};

/// The numbered migrations, oldest first. Every file in `migrations/` must be listed here
/// (a test checks it).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "repository_policy",
        include_str!("../migrations/0002_repository_policy.sql"),
    ),
    (
        3,
        "iam_versions_tags",
        include_str!("../migrations/0003_iam_versions_tags.sql"),
    ),
    (
        4,
        "lifecycle_policies",
        include_str!("../migrations/0004_lifecycle_policies.sql"),
    ),
    (5, "blob_gc", include_str!("../migrations/0005_blob_gc.sql")),
    (
        6,
        "repository_tags",
        include_str!("../migrations/0006_repository_tags.sql"),
    ),
    (
        7,
        "job_leases",
        include_str!("../migrations/0007_job_leases.sql"),
    ),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 7;

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: u32 = 16;

/// Where the schema of a database stands against this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// The newest migration applied, 0 for an empty database.
    pub applied: i64,
    /// The newest migration this build knows.
    pub known: i64,
}

/// A `MetadataStore` on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db?...`, libpq's URL
    /// form). Does not touch the schema: see `migrate` and `check_schema`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(Self { pool })
    }

    /// Applies every pending migration. Concurrent callers (replicas starting together)
    /// serialise on PostgreSQL's advisory lock; a database with a migration this build does
    /// not know is refused untouched.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.check_schema().await?;
        let migrator = Migrator::new(EmbeddedMigrations)
            .await
            .map_err(|e| StoreError::Backend(format!("loading migrations: {e}")))?;
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating the database: {e}")))
    }

    /// The applied and known schema versions.
    pub async fn schema_state(&self) -> StoreResult<SchemaState> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let applied = if exists {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT max(version) FROM _sqlx_migrations WHERE success",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(db)?
            .unwrap_or(0)
        } else {
            0
        };
        Ok(SchemaState {
            applied,
            known: SCHEMA_VERSION,
        })
    }

    /// `Conflict` when the database was migrated by a newer Berth (a schema this build
    /// does not know and must not write to).
    pub async fn check_schema(&self) -> StoreResult<SchemaState> {
        let state = self.schema_state().await?;
        if state.applied > state.known {
            return Err(StoreError::Conflict(format!(
                "the database schema is at version {}, newer than this Berth knows ({}): \
                 upgrade Berth",
                state.applied, state.known
            )));
        }
        Ok(state)
    }

    /// The connection pool, for tools and tests that need raw access to the schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db)
    }
}

// --- Migrations ---------------------------------------------------------------------------

#[derive(Debug)]
struct EmbeddedMigrations;

type BoxDynError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        description.into(),
                        MigrationType::Simple,
                        sql.into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

// --- Error and row helpers ------------------------------------------------------------------

/// Maps a sqlx error: unique violations are `AlreadyExists`, foreign-key violations
/// (a record naming a repository that does not exist) are `NotFound`, the rest `Backend`.
/// Serialises leases and claims of one digest until the transaction ends.
async fn lock_digest(tx: &mut Transaction<'static, Postgres>, digest: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('berth-blob-gc:' || $1, 0))")
        .bind(digest)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}

fn db(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return StoreError::AlreadyExists;
        }
        if d.is_foreign_key_violation() {
            return StoreError::NotFound;
        }
    }
    StoreError::Backend(e.to_string())
}

fn col<'r, T>(row: &'r PgRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name).map_err(db)
}

fn parse_digest(s: &str) -> StoreResult<Digest> {
    Digest::parse(s).map_err(|e| StoreError::Backend(format!("stored digest: {e}")))
}

fn parse_repository(s: &str) -> StoreResult<RepositoryName> {
    RepositoryName::parse(s).map_err(|e| StoreError::Backend(format!("stored repository: {e}")))
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A short hash of an inline policy document: changes whenever the document does. The
/// same function as store-sqlite's, so a database moved between backends keeps its
/// compiled-policy cache keys.
fn document_version(document: &str) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, document.as_bytes());
    let bytes = hash.as_ref();
    hex::encode(bytes.get(..12).unwrap_or(bytes))
}

const OIDC_COLUMNS: &str = "arn, url, client_ids, thumbprints, created_at";

fn oidc_from_row(row: &PgRow) -> StoreResult<OidcProviderRecord> {
    Ok(OidcProviderRecord {
        arn: col(row, "arn")?,
        url: col(row, "url")?,
        client_ids: col(row, "client_ids")?,
        thumbprints: col(row, "thumbprints")?,
        created_at: col(row, "created_at")?,
    })
}

const ROLE_COLUMNS: &str = "name, role_id, path, arn, trust_policy, description, \
     max_session_duration, created_at";

fn role_from_row(row: &PgRow) -> StoreResult<RoleRecord> {
    Ok(RoleRecord {
        name: col(row, "name")?,
        role_id: col(row, "role_id")?,
        path: col(row, "path")?,
        arn: col(row, "arn")?,
        trust_policy: col(row, "trust_policy")?,
        description: col(row, "description")?,
        max_session_duration: col(row, "max_session_duration")?,
        created_at: col(row, "created_at")?,
    })
}

const REPOSITORY_COLUMNS: &str =
    "name, created_at, image_tag_mutability, scan_on_push, encryption_type, policy";

fn lifecycle_policy_from_row(row: &PgRow) -> StoreResult<LifecyclePolicyRecord> {
    Ok(LifecyclePolicyRecord {
        repository: parse_repository(&col::<String>(row, "repository")?)?,
        text: col(row, "policy_text")?,
        last_evaluated_at: col(row, "last_evaluated_at")?,
    })
}

fn repository_from_row(row: &PgRow) -> StoreResult<RepositoryRecord> {
    Ok(RepositoryRecord {
        name: parse_repository(&col::<String>(row, "name")?)?,
        created_at: col(row, "created_at")?,
        image_tag_mutability: col(row, "image_tag_mutability")?,
        scan_on_push: col(row, "scan_on_push")?,
        encryption_type: col(row, "encryption_type")?,
        policy: col(row, "policy")?,
    })
}

const MANIFEST_COLUMNS: &str =
    "repository, digest, media_type, size, image_size, pushed_at, artifact_type, subject";

/// A manifest row without its blob and child lists.
fn manifest_from_row(row: &PgRow) -> StoreResult<ManifestRecord> {
    let subject: Option<String> = col(row, "subject")?;
    Ok(ManifestRecord {
        repository: parse_repository(&col::<String>(row, "repository")?)?,
        digest: parse_digest(&col::<String>(row, "digest")?)?,
        media_type: col(row, "media_type")?,
        size: col(row, "size")?,
        image_size: col(row, "image_size")?,
        pushed_at: col(row, "pushed_at")?,
        artifact_type: col(row, "artifact_type")?,
        subject: subject.as_deref().map(parse_digest).transpose()?,
        blobs: Vec::new(),
        children: Vec::new(),
    })
}

fn signing_key_from_row(row: &PgRow) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: col(row, "kid")?,
        purpose: col(row, "purpose")?,
        material: col(row, "material")?,
        created_at: col(row, "created_at")?,
    })
}

const POLICY_SELECT: &str = "SELECT p.arn, p.name, p.path, p.policy_id, p.default_version_id, \
     p.description, p.created_at, p.updated_at, \
     (SELECT COUNT(*) FROM role_policy_attachments a WHERE a.policy_arn = p.arn) \
     AS attachment_count FROM managed_policies p";

fn policy_from_row(row: &PgRow) -> StoreResult<ManagedPolicyRecord> {
    Ok(ManagedPolicyRecord {
        arn: col(row, "arn")?,
        name: col(row, "name")?,
        path: col(row, "path")?,
        policy_id: col(row, "policy_id")?,
        default_version_id: col(row, "default_version_id")?,
        description: col(row, "description")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        attachment_count: col(row, "attachment_count")?,
    })
}

/// The row id of a role, looked up case-insensitively, its row locked until the
/// transaction ends (a concurrent delete waits, and a concurrent attach cannot slip in
/// between a check and the write that depends on it).
async fn lock_role(conn: &mut PgConnection, name: &str) -> StoreResult<i64> {
    let row = sqlx::query("SELECT id FROM roles WHERE lower(name) = lower($1) FOR UPDATE")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    row.map(|r| col(&r, "id"))
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// Digests listed in `table` (`manifest_blobs` or `manifest_children`) for every manifest
/// of a repository (or one manifest), grouped by manifest digest, in list order.
async fn digest_lists(
    conn: &mut PgConnection,
    table: ListTable,
    repository: &str,
    manifest: Option<&str>,
) -> StoreResult<HashMap<String, Vec<Digest>>> {
    let (table, column) = match table {
        ListTable::Blobs => ("manifest_blobs", "blob_digest"),
        ListTable::Children => ("manifest_children", "child_digest"),
    };
    let sql = format!(
        "SELECT manifest_digest, {column} AS item FROM {table} WHERE repository = $1 \
         AND ($2::text IS NULL OR manifest_digest = $2) ORDER BY manifest_digest, position"
    );
    let rows = sqlx::query(&sql)
        .bind(repository)
        .bind(manifest)
        .fetch_all(conn)
        .await
        .map_err(db)?;
    let mut out: HashMap<String, Vec<Digest>> = HashMap::new();
    for row in &rows {
        let manifest: String = col(row, "manifest_digest")?;
        let item = parse_digest(&col::<String>(row, "item")?)?;
        out.entry(manifest).or_default().push(item);
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum ListTable {
    Blobs,
    Children,
}

/// Inserts a manifest's blob or child list in one statement (`unnest` of the digests with
/// their positions), whatever its length.
async fn insert_digest_list(
    conn: &mut PgConnection,
    table: ListTable,
    manifest: &ManifestRecord,
) -> StoreResult<()> {
    let (sql, items) = match table {
        ListTable::Blobs => (
            "INSERT INTO manifest_blobs (repository, manifest_digest, position, blob_digest) \
             SELECT $1, $2, position - 1, item FROM unnest($3::text[]) \
             WITH ORDINALITY AS list (item, position)",
            &manifest.blobs,
        ),
        ListTable::Children => (
            "INSERT INTO manifest_children (repository, manifest_digest, position, child_digest) \
             SELECT $1, $2, position - 1, item FROM unnest($3::text[]) \
             WITH ORDINALITY AS list (item, position)",
            &manifest.children,
        ),
    };
    if items.is_empty() {
        return Ok(());
    }
    let items: Vec<&str> = items.iter().map(Digest::as_str).collect();
    sqlx::query(sql)
        .bind(manifest.repository.as_str())
        .bind(manifest.digest.as_str())
        .bind(items)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

fn immutable_tag_conflict(tag: &Tag, repository: &str) -> StoreError {
    StoreError::Conflict(format!(
        "The image tag '{tag}' already exists in the '{repository}' repository and \
         cannot be overwritten because the repository is immutable."
    ))
}

/// One of the list columns of an OIDC provider (`client_ids` or `thumbprints`), its row
/// locked until the transaction ends (concurrent updates of one provider take turns).
/// `NotFound` when the provider does not exist.
async fn lock_oidc_list(
    conn: &mut PgConnection,
    arn: &str,
    column: &'static str,
) -> StoreResult<Vec<String>> {
    let row = sqlx::query(&format!(
        "SELECT {column} AS list FROM oidc_providers WHERE arn = $1 FOR UPDATE"
    ))
    .bind(arn)
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .ok_or(StoreError::NotFound)?;
    col(&row, "list")
}

async fn set_oidc_list(
    conn: &mut PgConnection,
    arn: &str,
    column: &'static str,
    list: &[String],
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE oidc_providers SET {column} = $1 WHERE arn = $2"
    ))
    .bind(list)
    .bind(arn)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl MetadataStore for PostgresStore {
    // --- OIDC providers -------------------------------------------------------------

    async fn create_oidc_provider(&self, provider: &OidcProviderRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oidc_providers (arn, url, client_ids, thumbprints, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&provider.arn)
        .bind(&provider.url)
        .bind(&provider.client_ids)
        .bind(&provider.thumbprints)
        .bind(provider.created_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_oidc_provider(&self, arn: &str) -> StoreResult<Option<OidcProviderRecord>> {
        sqlx::query(&format!(
            "SELECT {OIDC_COLUMNS} FROM oidc_providers WHERE arn = $1"
        ))
        .bind(arn)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(oidc_from_row)
        .transpose()
    }

    async fn find_oidc_provider_by_url(
        &self,
        url: &str,
    ) -> StoreResult<Option<OidcProviderRecord>> {
        sqlx::query(&format!(
            "SELECT {OIDC_COLUMNS} FROM oidc_providers WHERE url = $1"
        ))
        .bind(url)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(oidc_from_row)
        .transpose()
    }

    async fn list_oidc_providers(&self) -> StoreResult<Vec<OidcProviderRecord>> {
        sqlx::query(&format!(
            "SELECT {OIDC_COLUMNS} FROM oidc_providers ORDER BY arn"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(oidc_from_row)
        .collect()
    }

    async fn delete_oidc_provider(&self, arn: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM oidc_providers WHERE arn = $1")
            .bind(arn)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // --- Roles ----------------------------------------------------------------------

    async fn create_role(&self, role: &RoleRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO roles (name, role_id, path, arn, trust_policy, description, \
             max_session_duration, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&role.name)
        .bind(&role.role_id)
        .bind(&role.path)
        .bind(&role.arn)
        .bind(&role.trust_policy)
        .bind(&role.description)
        .bind(role.max_session_duration)
        .bind(role.created_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_role(&self, name: &str) -> StoreResult<Option<RoleRecord>> {
        sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles WHERE lower(name) = lower($1)"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(role_from_row)
        .transpose()
    }

    async fn list_roles(&self) -> StoreResult<Vec<RoleRecord>> {
        // Case-insensitive order, as store-sqlite's NOCASE column sorts.
        sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles ORDER BY lower(name), name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(role_from_row)
        .collect()
    }

    async fn update_role_trust_policy(&self, name: &str, document: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE roles SET trust_policy = $1 WHERE lower(name) = lower($2)")
            .bind(document)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let id = lock_role(&mut tx, name).await?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM role_inline_policies WHERE role_id = $1) AS inline, \
             (SELECT COUNT(*) FROM role_policy_attachments WHERE role_id = $1) AS attached",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let inline: i64 = col(&row, "inline")?;
        let attached: i64 = col(&row, "attached")?;
        if inline > 0 {
            return Err(StoreError::Conflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        if attached > 0 {
            return Err(StoreError::Conflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    // --- Managed policies -----------------------------------------------------------

    async fn create_managed_policy(
        &self,
        policy: &ManagedPolicyRecord,
        version: &PolicyVersionRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO managed_policies (arn, name, path, policy_id, default_version_id, \
             description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&policy.arn)
        .bind(&policy.name)
        .bind(&policy.path)
        .bind(&policy.policy_id)
        .bind(&version.version_id)
        .bind(&policy.description)
        .bind(policy.created_at)
        .bind(policy.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO policy_versions (policy_arn, version_id, document, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&policy.arn)
        .bind(&version.version_id)
        .bind(&version.document)
        .bind(version.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_managed_policy(&self, arn: &str) -> StoreResult<Option<ManagedPolicyRecord>> {
        sqlx::query(&format!("{POLICY_SELECT} WHERE p.arn = $1"))
            .bind(arn)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(policy_from_row)
            .transpose()
    }

    async fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> StoreResult<Option<PolicyVersionRecord>> {
        let row = sqlx::query(
            "SELECT v.version_id, v.document, v.created_at, \
             (v.version_id = p.default_version_id) AS is_default \
             FROM policy_versions v JOIN managed_policies p ON p.arn = v.policy_arn \
             WHERE v.policy_arn = $1 AND v.version_id = $2",
        )
        .bind(arn)
        .bind(version_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|row| {
            Ok(PolicyVersionRecord {
                version_id: col(&row, "version_id")?,
                document: col(&row, "document")?,
                is_default: col(&row, "is_default")?,
                created_at: col(&row, "created_at")?,
            })
        })
        .transpose()
    }

    async fn delete_managed_policy(&self, arn: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // The row lock makes a concurrent attach wait for this delete (and then fail).
        sqlx::query("SELECT 1 AS one FROM managed_policies WHERE arn = $1 FOR UPDATE")
            .bind(arn)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        let attached: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM role_policy_attachments WHERE policy_arn = $1",
        )
        .bind(arn)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if attached > 0 {
            return Err(StoreError::Conflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        sqlx::query("DELETE FROM managed_policies WHERE arn = $1")
            .bind(arn)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    // --- Attachments and inline policies -------------------------------------------

    async fn attach_role_policy(&self, role_name: &str, policy_arn: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let id = lock_role(&mut tx, role_name).await?;
        let done = sqlx::query(
            "INSERT INTO role_policy_attachments (role_id, policy_arn) \
             SELECT $1, arn FROM managed_policies WHERE arn = $2 \
             ON CONFLICT (role_id, policy_arn) DO NOTHING",
        )
        .bind(id)
        .bind(policy_arn)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            // Either already attached (fine) or no such policy.
            let exists = sqlx::query("SELECT 1 AS one FROM managed_policies WHERE arn = $1")
                .bind(policy_arn)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
        }
        tx.commit().await.map_err(db)
    }

    async fn detach_role_policy(&self, role_name: &str, policy_arn: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let id = lock_role(&mut tx, role_name).await?;
        let done = sqlx::query(
            "DELETE FROM role_policy_attachments WHERE role_id = $1 AND policy_arn = $2",
        )
        .bind(id)
        .bind(policy_arn)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db)
    }

    async fn list_attached_role_policies(
        &self,
        role_name: &str,
    ) -> StoreResult<Vec<AttachedPolicy>> {
        let rows = sqlx::query(
            "SELECT p.name, p.arn FROM roles r \
             JOIN role_policy_attachments a ON a.role_id = r.id \
             JOIN managed_policies p ON p.arn = a.policy_arn \
             WHERE lower(r.name) = lower($1) ORDER BY p.name, p.arn",
        )
        .bind(role_name)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(AttachedPolicy {
                    name: col(row, "name")?,
                    arn: col(row, "arn")?,
                })
            })
            .collect()
    }

    async fn put_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let id = lock_role(&mut tx, role_name).await?;
        sqlx::query(
            "INSERT INTO role_inline_policies (role_id, name, document) VALUES ($1, $2, $3) \
             ON CONFLICT (role_id, name) DO UPDATE SET document = excluded.document",
        )
        .bind(id)
        .bind(policy_name)
        .bind(document)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT i.document FROM roles r JOIN role_inline_policies i ON i.role_id = r.id \
             WHERE lower(r.name) = lower($1) AND i.name = $2",
        )
        .bind(role_name)
        .bind(policy_name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| col(&r, "document")).transpose()
    }

    async fn delete_role_policy(&self, role_name: &str, policy_name: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let id = lock_role(&mut tx, role_name).await?;
        let done = sqlx::query("DELETE FROM role_inline_policies WHERE role_id = $1 AND name = $2")
            .bind(id)
            .bind(policy_name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db)
    }

    async fn list_role_policies(&self, role_name: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT i.name FROM roles r JOIN role_inline_policies i ON i.role_id = r.id \
             WHERE lower(r.name) = lower($1) ORDER BY i.name",
        )
        .bind(role_name)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| col(r, "name")).collect()
    }

    async fn role_effective_policies(&self, role_name: &str) -> StoreResult<Vec<EffectivePolicy>> {
        // Every authorized request reads this: one statement is one round trip and one
        // consistent snapshot, without BEGIN/COMMIT. The `kind` 0 row says the role exists.
        let rows = sqlx::query(
            "WITH r AS (SELECT id FROM roles WHERE lower(name) = lower($1)) \
             SELECT 0 AS kind, ''::text COLLATE \"C\" AS label, ''::text AS version, \
             ''::text AS document FROM r \
             UNION ALL \
             SELECT 1, i.name, '', i.document FROM r \
             JOIN role_inline_policies i ON i.role_id = r.id \
             UNION ALL \
             SELECT 2, p.arn, p.default_version_id, v.document FROM r \
             JOIN role_policy_attachments a ON a.role_id = r.id \
             JOIN managed_policies p ON p.arn = a.policy_arn \
             JOIN policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version_id \
             ORDER BY kind, label",
        )
        .bind(role_name)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut role_exists = false;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind: i32 = col(row, "kind")?;
            let label: String = col(row, "label")?;
            let document: String = col(row, "document")?;
            match kind {
                0 => role_exists = true,
                1 => out.push(EffectivePolicy {
                    label: format!("inline:{label}"),
                    version: document_version(&document),
                    document,
                }),
                _ => out.push(EffectivePolicy {
                    label,
                    version: col(row, "version")?,
                    document,
                }),
            }
        }
        if !role_exists {
            return Err(StoreError::NotFound);
        }
        Ok(out)
    }

    // --- IAM: policy versions, listings, tags, provider updates -----------------------

    async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        created_at: i64,
        set_as_default: bool,
        max_versions: usize,
    ) -> StoreResult<PolicyVersionRecord> {
        let mut tx = self.begin().await?;
        // The row lock makes concurrent version changes of one policy take turns: the
        // count and the next number cannot go stale before the insert.
        let row = sqlx::query(
            "SELECT p.next_version_number, \
             (SELECT COUNT(*) FROM policy_versions v WHERE v.policy_arn = p.arn) AS versions \
             FROM managed_policies p WHERE p.arn = $1 FOR UPDATE",
        )
        .bind(arn)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        let number: i64 = col(&row, "next_version_number")?;
        let versions: i64 = col(&row, "versions")?;
        if versions >= sql_limit(max_versions) {
            return Err(StoreError::Conflict(format!(
                "A managed policy can have up to {max_versions} versions. Before you create a \
                 new version, you must delete an existing version."
            )));
        }
        let version_id = format!("v{number}");
        sqlx::query(
            "INSERT INTO policy_versions (policy_arn, version_id, document, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(arn)
        .bind(&version_id)
        .bind(document)
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "UPDATE managed_policies SET next_version_number = next_version_number + 1, \
             default_version_id = CASE WHEN $2 THEN $3 ELSE default_version_id END, \
             updated_at = CASE WHEN $2 THEN $4 ELSE updated_at END WHERE arn = $1",
        )
        .bind(arn)
        .bind(set_as_default)
        .bind(&version_id)
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(PolicyVersionRecord {
            version_id,
            document: document.to_owned(),
            is_default: set_as_default,
            created_at,
        })
    }

    async fn list_policy_versions(&self, arn: &str) -> StoreResult<Vec<PolicyVersionRecord>> {
        // One statement, one snapshot. The LEFT JOIN keeps a row for the policy itself, so
        // an existing policy is told from a missing one. Version ids are `v<number>`: order
        // by the number, not the text (`v10` > `v9`).
        let rows = sqlx::query(
            "SELECT v.version_id, v.document, v.created_at, \
             (v.version_id = p.default_version_id) AS is_default \
             FROM managed_policies p LEFT JOIN policy_versions v ON v.policy_arn = p.arn \
             WHERE p.arn = $1 \
             ORDER BY CAST(substr(v.version_id, 2) AS BIGINT) DESC",
        )
        .bind(arn)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(version_id) = col::<Option<String>>(row, "version_id")? else {
                continue;
            };
            out.push(PolicyVersionRecord {
                version_id,
                document: col(row, "document")?,
                is_default: col(row, "is_default")?,
                created_at: col(row, "created_at")?,
            });
        }
        Ok(out)
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Locking the policy row: a concurrent SetDefaultPolicyVersion to this version
        // waits, so the default check cannot go stale before the delete.
        let row = sqlx::query(
            "SELECT (p.default_version_id = v.version_id) AS is_default \
             FROM managed_policies p JOIN policy_versions v ON v.policy_arn = p.arn \
             WHERE p.arn = $1 AND v.version_id = $2 FOR UPDATE OF p",
        )
        .bind(arn)
        .bind(version_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        if col::<bool>(&row, "is_default")? {
            return Err(StoreError::Conflict(
                "Cannot delete the default version of a policy.".into(),
            ));
        }
        sqlx::query("DELETE FROM policy_versions WHERE policy_arn = $1 AND version_id = $2")
            .bind(arn)
            .bind(version_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn set_default_policy_version(
        &self,
        arn: &str,
        version_id: &str,
        updated_at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Lock the policy row first (as delete_policy_version does), then check the
        // version: a concurrent delete of it has either finished or not started.
        sqlx::query("SELECT 1 AS one FROM managed_policies WHERE arn = $1 FOR UPDATE")
            .bind(arn)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        let done = sqlx::query(
            "UPDATE managed_policies SET default_version_id = $2, updated_at = $3 \
             WHERE arn = $1 AND EXISTS (SELECT 1 FROM policy_versions v \
             WHERE v.policy_arn = $1 AND v.version_id = $2)",
        )
        .bind(arn)
        .bind(version_id)
        .bind(updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db)
    }

    async fn list_managed_policies(&self) -> StoreResult<Vec<ManagedPolicyRecord>> {
        sqlx::query(&format!("{POLICY_SELECT} ORDER BY p.arn"))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(policy_from_row)
            .collect()
    }

    async fn tag_iam_resource(
        &self,
        arn: &str,
        tags: &[IamTag],
        max_tags: usize,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // The entity may have no row to lock (tags are by ARN): a transaction-scoped
        // advisory lock per ARN makes concurrent taggers take turns, so positions stay
        // distinct and the quota holds across replicas.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('berth-iam-tags:' || $1, 0))")
            .bind(arn)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for tag in tags {
            // A key already present (in any case) keeps its position and takes the new
            // spelling and value.
            sqlx::query(
                "INSERT INTO iam_tags (resource_arn, key, value, position) \
                 VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM iam_tags \
                 WHERE resource_arn = $1)) \
                 ON CONFLICT (resource_arn, lower(key)) DO UPDATE SET key = excluded.key, \
                 value = excluded.value",
            )
            .bind(arn)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM iam_tags WHERE resource_arn = $1")
            .bind(arn)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n > sql_limit(max_tags) {
            return Err(StoreError::Conflict(format!(
                "Cannot exceed quota for TagsPerEntity: {max_tags}"
            )));
        }
        tx.commit().await.map_err(db)
    }

    async fn untag_iam_resource(&self, arn: &str, keys: &[String]) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM iam_tags WHERE resource_arn = $1 \
             AND lower(key) = ANY (SELECT lower(k COLLATE \"C\") FROM unnest($2::text[]) AS k)",
        )
        .bind(arn)
        .bind(keys)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_iam_resource_tags(&self, arn: &str) -> StoreResult<Vec<IamTag>> {
        sqlx::query("SELECT key, value FROM iam_tags WHERE resource_arn = $1 ORDER BY position")
            .bind(arn)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(|row| {
                Ok(IamTag {
                    key: col(row, "key")?,
                    value: col(row, "value")?,
                })
            })
            .collect()
    }

    async fn add_oidc_provider_client_id(
        &self,
        arn: &str,
        client_id: &str,
        max_client_ids: usize,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let mut ids = lock_oidc_list(&mut tx, arn, "client_ids").await?;
        if ids.iter().any(|id| id == client_id) {
            return Ok(());
        }
        if ids.len() >= max_client_ids {
            return Err(StoreError::Conflict(format!(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {max_client_ids}"
            )));
        }
        ids.push(client_id.to_owned());
        set_oidc_list(&mut tx, arn, "client_ids", &ids).await?;
        tx.commit().await.map_err(db)
    }

    async fn remove_oidc_provider_client_id(&self, arn: &str, client_id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let mut ids = lock_oidc_list(&mut tx, arn, "client_ids").await?;
        ids.retain(|id| id != client_id);
        set_oidc_list(&mut tx, arn, "client_ids", &ids).await?;
        tx.commit().await.map_err(db)
    }

    async fn update_oidc_provider_thumbprints(
        &self,
        arn: &str,
        thumbprints: &[String],
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE oidc_providers SET thumbprints = $1 WHERE arn = $2")
            .bind(thumbprints)
            .bind(arn)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // --- Repositories ---------------------------------------------------------------

    async fn create_repository(&self, repository: &RepositoryRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO repositories (name, created_at, image_tag_mutability, scan_on_push, \
             encryption_type, policy) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(repository.name.as_str())
        .bind(repository.created_at)
        .bind(&repository.image_tag_mutability)
        .bind(repository.scan_on_push)
        .bind(&repository.encryption_type)
        .bind(&repository.policy)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_repository(&self, name: &RepositoryName) -> StoreResult<Option<RepositoryRecord>> {
        sqlx::query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(repository_from_row)
        .transpose()
    }

    async fn list_repositories(
        &self,
        after: Option<&RepositoryName>,
        limit: usize,
    ) -> StoreResult<Vec<RepositoryRecord>> {
        sqlx::query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories \
             WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2"
        ))
        .bind(after.map(RepositoryName::as_str))
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(repository_from_row)
        .collect()
    }

    async fn count_manifests(&self, name: &RepositoryName) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM manifests WHERE repository = $1")
            .bind(name.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_repository(&self, name: &RepositoryName, force: bool) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // The row lock makes concurrent manifest pushes (whose foreign key reads this row)
        // wait: the count below cannot go stale before the delete.
        sqlx::query("SELECT 1 AS one FROM repositories WHERE name = $1 FOR UPDATE")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        if !force {
            let manifests: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM manifests WHERE repository = $1")
                    .bind(name.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
            if manifests > 0 {
                return Err(StoreError::Conflict(format!(
                    "The repository with name '{name}' cannot be deleted because it still contains images"
                )));
            }
        }
        // Tags, manifests (with their blob and child lists), blob links and uploads go
        // with it through ON DELETE CASCADE, in this transaction.
        sqlx::query("DELETE FROM repositories WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn set_image_tag_mutability(
        &self,
        name: &RepositoryName,
        image_tag_mutability: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE repositories SET image_tag_mutability = $1 WHERE name = $2")
            .bind(image_tag_mutability)
            .bind(name.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_repository_policy(
        &self,
        name: &RepositoryName,
        policy: Option<&str>,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE repositories SET policy = $1 WHERE name = $2")
            .bind(policy)
            .bind(name.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // --- Lifecycle policies ---------------------------------------------------------

    async fn put_lifecycle_policy(
        &self,
        repository: &RepositoryName,
        text: &str,
    ) -> StoreResult<()> {
        // Inserted from the repository's row: none when the repository is absent (and a
        // repository deleted meanwhile fails the foreign key, also `NotFound`).
        let done = sqlx::query(
            "INSERT INTO lifecycle_policies (repository, policy_text, last_evaluated_at) \
             SELECT name, $1, NULL FROM repositories WHERE name = $2 \
             ON CONFLICT (repository) DO UPDATE SET policy_text = excluded.policy_text, \
             last_evaluated_at = NULL",
        )
        .bind(text)
        .bind(repository.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_lifecycle_policy(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Option<LifecyclePolicyRecord>> {
        sqlx::query(
            "SELECT repository, policy_text, last_evaluated_at FROM lifecycle_policies \
             WHERE repository = $1",
        )
        .bind(repository.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(lifecycle_policy_from_row)
        .transpose()
    }

    async fn delete_lifecycle_policy(&self, repository: &RepositoryName) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM lifecycle_policies WHERE repository = $1")
            .bind(repository.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_lifecycle_policy_evaluated(
        &self,
        repository: &RepositoryName,
        at: i64,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE lifecycle_policies SET last_evaluated_at = $1 WHERE repository = $2",
        )
        .bind(at)
        .bind(repository.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_lifecycle_policies(&self) -> StoreResult<Vec<LifecyclePolicyRecord>> {
        sqlx::query(
            "SELECT repository, policy_text, last_evaluated_at FROM lifecycle_policies \
             ORDER BY repository",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(lifecycle_policy_from_row)
        .collect()
    }

    async fn put_lifecycle_policy_preview(
        &self,
        repository: &RepositoryName,
        text: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO lifecycle_policy_previews (repository, policy_text) \
             SELECT name, $1 FROM repositories WHERE name = $2 \
             ON CONFLICT (repository) DO UPDATE SET policy_text = excluded.policy_text",
        )
        .bind(text)
        .bind(repository.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_lifecycle_policy_preview(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Option<String>> {
        sqlx::query_scalar(
            "SELECT policy_text FROM lifecycle_policy_previews WHERE repository = $1",
        )
        .bind(repository.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)
    }

    async fn tag_repository(
        &self,
        name: &RepositoryName,
        tags: &[(String, String)],
        max_tags: usize,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Locking the repository row makes concurrent taggers take turns, so the count
        // below sees every tag another replica added.
        let exists = sqlx::query("SELECT 1 FROM repositories WHERE name = $1 FOR UPDATE")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound);
        }
        for (key, value) in tags {
            sqlx::query(
                "INSERT INTO repository_tags (repository, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository, key) DO UPDATE SET value = excluded.value",
            )
            .bind(name.as_str())
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM repository_tags WHERE repository = $1")
                .bind(name.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        if usize::try_from(count).unwrap_or(usize::MAX) > max_tags {
            return Err(StoreError::Conflict(format!(
                "a repository can have at most {max_tags} tags"
            )));
        }
        tx.commit().await.map_err(db)
    }

    async fn untag_repository(&self, name: &RepositoryName, keys: &[String]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM repositories WHERE name = $1 FOR UPDATE")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM repository_tags WHERE repository = $1 AND key = ANY($2)")
            .bind(name.as_str())
            .bind(keys)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn list_repository_tags(
        &self,
        name: &RepositoryName,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT key, value FROM repository_tags WHERE repository = $1 ORDER BY key",
        )
        .bind(name.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| Ok((col(row, "key")?, col(row, "value")?)))
            .collect()
    }

    // --- Blob links -----------------------------------------------------------------

    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO blob_links (repository, digest, size) VALUES ($1, $2, $3) \
             ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(repository.as_str())
        .bind(digest.as_str())
        .bind(size)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn blob_link(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT size FROM blob_links WHERE repository = $1 AND digest = $2")
            .bind(repository.as_str())
            .bind(digest.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn unlink_blob(&self, repository: &RepositoryName, digest: &Digest) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM blob_links WHERE repository = $1 AND digest = $2")
            .bind(repository.as_str())
            .bind(digest.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
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
        let mut tx = self.begin().await?;

        // Lock the tag row (when it exists) so a concurrent push of the same tag waits
        // for this transaction and then sees where the tag points.
        let current: Option<String> = match tag {
            Some(tag) => sqlx::query_scalar(
                "SELECT digest FROM tags WHERE repository = $1 AND tag = $2 FOR UPDATE",
            )
            .bind(repository)
            .bind(tag.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?,
            None => None,
        };
        if let (Some(tag), Some(current)) = (tag, &current)
            && current != digest
            && immutable_tags
        {
            return Err(immutable_tag_conflict(tag, repository));
        }

        // ON CONFLICT DO NOTHING: a concurrent push of the same manifest waits for the
        // first and inserts nothing.
        let inserted = sqlx::query(&format!(
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
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
            > 0;
        let mut stored = false;
        if inserted {
            insert_digest_list(&mut tx, ListTable::Blobs, manifest).await?;
            insert_digest_list(&mut tx, ListTable::Children, manifest).await?;
            stored = true;
        }

        if let Some(tag) = tag
            && current.as_deref() != Some(digest)
        {
            if immutable_tags {
                // The tag was absent when read; a concurrent push may have created it
                // since. Only ever insert, and refuse when someone else won.
                let won = sqlx::query(
                    "INSERT INTO tags (repository, tag, digest) VALUES ($1, $2, $3) \
                     ON CONFLICT (repository, tag) DO NOTHING",
                )
                .bind(repository)
                .bind(tag.as_str())
                .bind(digest)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected()
                    > 0;
                if !won {
                    let now: Option<String> = sqlx::query_scalar(
                        "SELECT digest FROM tags WHERE repository = $1 AND tag = $2",
                    )
                    .bind(repository)
                    .bind(tag.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
                    if now.as_deref() != Some(digest) {
                        return Err(immutable_tag_conflict(tag, repository));
                    }
                }
            } else {
                sqlx::query(
                    "INSERT INTO tags (repository, tag, digest) VALUES ($1, $2, $3) \
                     ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest",
                )
                .bind(repository)
                .bind(tag.as_str())
                .bind(digest)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            stored = true;
        }
        tx.commit().await.map_err(db)?;
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
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repository = $1 AND digest = $2"
        ))
        .bind(repository.as_str())
        .bind(digest.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut manifest = manifest_from_row(&row)?;
        let key = Some(digest.as_str());
        let mut blobs = digest_lists(&mut tx, ListTable::Blobs, repository.as_str(), key).await?;
        let mut children =
            digest_lists(&mut tx, ListTable::Children, repository.as_str(), key).await?;
        tx.commit().await.map_err(db)?;
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
            sqlx::query_scalar("SELECT digest FROM tags WHERE repository = $1 AND tag = $2")
                .bind(repository.as_str())
                .bind(tag.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        digest.as_deref().map(parse_digest).transpose()
    }

    async fn list_tags(
        &self,
        repository: &RepositoryName,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT tag FROM tags WHERE repository = $1 AND ($2::text IS NULL OR tag > $2) \
             ORDER BY tag LIMIT $3",
        )
        .bind(repository.as_str())
        .bind(after)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    async fn list_manifests(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Vec<(ManifestRecord, Vec<String>)>> {
        let name = repository.as_str();
        let mut tx = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let rows = sqlx::query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repository = $1 \
             ORDER BY pushed_at DESC, digest"
        ))
        .bind(name)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut blobs = digest_lists(&mut tx, ListTable::Blobs, name, None).await?;
        let mut children = digest_lists(&mut tx, ListTable::Children, name, None).await?;
        let tag_rows =
            sqlx::query("SELECT digest, tag FROM tags WHERE repository = $1 ORDER BY tag")
                .bind(name)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        for row in &tag_rows {
            tags.entry(col(row, "digest")?)
                .or_default()
                .push(col(row, "tag")?);
        }
        rows.iter()
            .map(|row| {
                let mut manifest = manifest_from_row(row)?;
                let key = manifest.digest.as_str();
                manifest.blobs = blobs.remove(key).unwrap_or_default();
                manifest.children = children.remove(key).unwrap_or_default();
                let tags = tags.remove(manifest.digest.as_str()).unwrap_or_default();
                Ok((manifest, tags))
            })
            .collect()
    }

    async fn list_referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> StoreResult<Vec<ManifestRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repository = $1 AND subject = $2 \
             ORDER BY digest"
        ))
        .bind(repository.as_str())
        .bind(subject.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(manifest_from_row).collect()
    }

    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<()> {
        // Tags and the blob and child lists go with it through ON DELETE CASCADE.
        let done = sqlx::query("DELETE FROM manifests WHERE repository = $1 AND digest = $2")
            .bind(repository.as_str())
            .bind(digest.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_tag(&self, repository: &RepositoryName, tag: &Tag) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM tags WHERE repository = $1 AND tag = $2")
            .bind(repository.as_str())
            .bind(tag.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // --- Uploads --------------------------------------------------------------------

    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, created_at, last_part_size, small_part_seen) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&upload.id)
        .bind(upload.repository.as_str())
        .bind(upload.created_at)
        .bind(upload.last_part_size)
        .bind(upload.small_part_seen)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> StoreResult<Option<UploadRecord>> {
        let row = sqlx::query(
            "SELECT id, repository, created_at, last_part_size, small_part_seen \
             FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|row| {
            Ok(UploadRecord {
                id: col(&row, "id")?,
                repository: parse_repository(&col::<String>(&row, "repository")?)?,
                created_at: col(&row, "created_at")?,
                last_part_size: col(&row, "last_part_size")?,
                small_part_seen: col(&row, "small_part_seen")?,
            })
        })
        .transpose()
    }

    async fn update_upload_parts(
        &self,
        id: &str,
        last_part_size: i64,
        small_part_seen: bool,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE uploads SET last_part_size = $1, small_part_seen = $2 WHERE id = $3",
        )
        .bind(last_part_size)
        .bind(small_part_seen)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_upload(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_uploads_created_before(&self, before: i64) -> StoreResult<Vec<UploadRecord>> {
        let rows = sqlx::query(
            "SELECT id, repository, created_at, last_part_size, small_part_seen \
             FROM uploads WHERE created_at < $1 ORDER BY created_at",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(UploadRecord {
                    id: col(row, "id")?,
                    repository: parse_repository(&col::<String>(row, "repository")?)?,
                    created_at: col(row, "created_at")?,
                    last_part_size: col(row, "last_part_size")?,
                    small_part_seen: col(row, "small_part_seen")?,
                })
            })
            .collect()
    }

    // --- Garbage collection of blob bytes -------------------------------------------
    // A lease and a claim of the same digest take turns on a transaction-scoped advisory
    // lock per digest: under READ COMMITTED each would otherwise miss the other's
    // uncommitted row and both succeed.

    async fn lease_blobs(
        &self,
        lease: &str,
        digests: &[Digest],
        now: i64,
        live_claims_since: i64,
    ) -> StoreResult<()> {
        // Locks taken in one order, so two leases of overlapping digests cannot deadlock.
        let mut sorted: Vec<&str> = digests.iter().map(Digest::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut tx = self.begin().await?;
        for digest in sorted {
            lock_digest(&mut tx, digest).await?;
            let claimed =
                sqlx::query("SELECT 1 FROM blob_claims WHERE digest = $1 AND claimed_at >= $2")
                    .bind(digest)
                    .bind(live_claims_since)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?
                    .is_some();
            if claimed {
                return Err(StoreError::Conflict(format!(
                    "blob {digest} is being garbage-collected"
                )));
            }
            sqlx::query(
                "INSERT INTO blob_leases (lease, digest, leased_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (lease, digest) DO UPDATE SET leased_at = excluded.leased_at",
            )
            .bind(lease)
            .bind(digest)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn release_blob_lease(&self, lease: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM blob_leases WHERE lease = $1")
            .bind(lease)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn claim_unreferenced_blob(
        &self,
        digest: &Digest,
        now: i64,
        live_leases_since: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        lock_digest(&mut tx, digest.as_str()).await?;
        let referenced: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM blob_links WHERE digest = $1) \
             OR EXISTS (SELECT 1 FROM manifests WHERE digest = $1) \
             OR EXISTS (SELECT 1 FROM manifest_blobs WHERE blob_digest = $1) \
             OR EXISTS (SELECT 1 FROM blob_leases WHERE digest = $1 AND leased_at >= $2)",
        )
        .bind(digest.as_str())
        .bind(live_leases_since)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if referenced {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO blob_claims (digest, claimed_at) VALUES ($1, $2) \
             ON CONFLICT (digest) DO UPDATE SET claimed_at = excluded.claimed_at",
        )
        .bind(digest.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn drop_blob_claim(&self, digest: &Digest) -> StoreResult<()> {
        sqlx::query("DELETE FROM blob_claims WHERE digest = $1")
            .bind(digest.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn prune_blob_leases_and_claims(&self, before: i64) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for statement in [
            "DELETE FROM blob_leases WHERE leased_at < $1",
            "DELETE FROM blob_claims WHERE claimed_at < $1",
        ] {
            sqlx::query(statement)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    // --- Background jobs --------------------------------------------------------------

    async fn acquire_job_lease(
        &self,
        job: &str,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        // One statement: the row lock taken by ON CONFLICT makes concurrent replicas
        // see each other's lease.
        let taken = sqlx::query(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= $4",
        )
        .bind(job)
        .bind(holder)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        Ok(taken)
    }

    async fn release_job_lease(&self, job: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
            .bind(job)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    // --- Signing keys ---------------------------------------------------------------

    async fn get_or_create_signing_key(
        &self,
        candidate: &SigningKeyRecord,
    ) -> StoreResult<SigningKeyRecord> {
        // A transaction-scoped advisory lock per purpose: concurrent callers (on any
        // replica) run one after the other, and all see the first one's key.
        let mut tx = self.begin().await?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('berth-signing-key:' || $1, 0))",
        )
        .bind(&candidate.purpose)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let newest = sqlx::query(
            "SELECT kid, purpose, material, created_at FROM signing_keys WHERE purpose = $1 \
             ORDER BY created_at DESC, seq DESC LIMIT 1",
        )
        .bind(&candidate.purpose)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(row) = newest {
            return signing_key_from_row(&row);
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, purpose, material, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&candidate.kid)
        .bind(&candidate.purpose)
        .bind(&candidate.material)
        .bind(candidate.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(candidate.clone())
    }

    async fn list_signing_keys(&self, purpose: &str) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query(
            "SELECT kid, purpose, material, created_at FROM signing_keys WHERE purpose = $1 \
             ORDER BY created_at DESC, seq DESC",
        )
        .bind(purpose)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(signing_key_from_row)
        .collect()
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, purpose, material, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.kid)
        .bind(&key.purpose)
        .bind(&key.material)
        .bind(key.created_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn delete_signing_key(&self, purpose: &str, kid: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM signing_keys WHERE purpose = $1 AND kid = $2")
            .bind(purpose)
            .bind(kid)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len());
        for (file, &(version, description, _)) in files.iter().zip(MIGRATIONS) {
            assert_eq!(file, &format!("{version:04}_{description}.sql"));
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(SCHEMA_VERSION));
    }

    #[test]
    fn migrations_mirror_store_sqlite_numbering() {
        let sqlite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../store-sqlite/migrations");
        let mut theirs: Vec<String> = std::fs::read_dir(sqlite)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        theirs.sort();
        let ours: Vec<String> = MIGRATIONS
            .iter()
            .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
            .collect();
        assert_eq!(
            ours, theirs,
            "a schema change in one backend needs its twin here"
        );
    }

    #[test]
    fn document_version_changes_with_the_document() {
        assert_ne!(document_version("a"), document_version("b"));
        assert_eq!(document_version("a").len(), 24);
    }
}
