//! The SQL metadata store: one implementation of `MetadataStore` for SQLite (the default,
//! one file in the data directory) and PostgreSQL (several `berth serve` replicas sharing
//! one database).
//!
//! Every statement is written once, in the area modules (`iam`, `repositories`, `uploads`,
//! `leases`, `audit`); what differs between the engines sits behind the small seam in `engine`.
//! Writes that must be atomic run in one transaction, and where a check and the write
//! that depends on it must not interleave across replicas, PostgreSQL takes row locks or a
//! transaction-scoped advisory lock (SQLite's single writer serialises them already).
//! Listed keys sort in byte order on both engines (PostgreSQL's columns use `COLLATE "C"`).
//!
//! The schemas live in numbered SQL files under `migrations/<engine>/`, embedded at
//! compile time. SQLite migrates on open (one process owns the file); PostgreSQL's
//! `connect` never changes the schema: `migrate` applies pending migrations, and
//! `check_schema` refuses a database migrated by a newer Berth.

mod audit;
mod engine;
mod iam;
mod leases;
mod repositories;
mod uploads;
mod users;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use berth_store::{Conflict, StoreError, StoreResult};
use berth_types::{Digest, RepositoryName};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use engine::{Db, db, query};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The numbered migrations of one engine, oldest first, each as (version, description,
/// SQL), embedded from `migrations/<engine>/<version>_<description>.sql`.
macro_rules! migrations {
    ($engine:literal: $($version:literal $description:literal $file:literal),* $(,)?) => {
        &[$(($version, $description, include_str!(concat!("../migrations/", $engine, "/", $file)))),*]
    };
}

/// Every file in `migrations/<engine>/` must be listed (a test checks it).
#[rustfmt::skip]
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = migrations!("sqlite":
    1 "initial" "0001_initial.sql",
    2 "repository_policy" "0002_repository_policy.sql",
    3 "iam_versions_tags" "0003_iam_versions_tags.sql",
    4 "lifecycle_policies" "0004_lifecycle_policies.sql",
    5 "blob_gc" "0005_blob_gc.sql",
    6 "repository_tags" "0006_repository_tags.sql",
    7 "job_leases" "0007_job_leases.sql",
    8 "role_name_index" "0008_role_name_index.sql",
    9 "audit_events" "0009_audit_events.sql",
    10 "instance_profiles" "0010_instance_profiles.sql",
    11 "account_aliases" "0011_account_aliases.sql",
    12 "role_boundary_last_used" "0012_role_boundary_last_used.sql",
    13 "registry_settings" "0013_registry_settings.sql",
    14 "repository_templates" "0014_repository_templates.sql",
    15 "iam_users" "0015_iam_users.sql",
    16 "iam_groups" "0016_iam_groups.sql",
    17 "image_pulls" "0017_image_pulls.sql",
    18 "pull_through_cache_rules" "0018_pull_through_cache_rules.sql",
    19 "manifests_by_push" "0019_manifests_by_push.sql",
);

#[rustfmt::skip]
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = migrations!("postgres":
    1 "initial" "0001_initial.sql",
    2 "repository_policy" "0002_repository_policy.sql",
    3 "iam_versions_tags" "0003_iam_versions_tags.sql",
    4 "lifecycle_policies" "0004_lifecycle_policies.sql",
    5 "blob_gc" "0005_blob_gc.sql",
    6 "repository_tags" "0006_repository_tags.sql",
    7 "job_leases" "0007_job_leases.sql",
    8 "audit_events" "0008_audit_events.sql",
    9 "instance_profiles" "0009_instance_profiles.sql",
    10 "account_aliases" "0010_account_aliases.sql",
    11 "role_boundary_last_used" "0011_role_boundary_last_used.sql",
    12 "registry_settings" "0012_registry_settings.sql",
    13 "repository_templates" "0013_repository_templates.sql",
    14 "iam_users" "0014_iam_users.sql",
    15 "iam_groups" "0015_iam_groups.sql",
    16 "image_pulls" "0016_image_pulls.sql",
    17 "pull_through_cache_rules" "0017_pull_through_cache_rules.sql",
    18 "manifests_by_push" "0018_manifests_by_push.sql",
);

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const SQLITE_READ_CONNECTIONS: u32 = 4;
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
const POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// Where the schema of a database stands against this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// The newest migration applied, 0 for an empty database.
    pub applied: i64,
    /// The newest migration this build knows.
    pub known: i64,
}

/// A `MetadataStore` on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    /// Opens (creating it when missing) the SQLite database file at `path` and brings its
    /// schema up to date.
    pub async fn open_sqlite(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(SQLITE_READ_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(db)?;
        let store = Self {
            db: Db::Sqlite { reader, writer },
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A fresh private in-memory SQLite database (tests).
    pub async fn open_sqlite_in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db)?
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        // The database lives as long as its one connection: never let the pool close it.
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db)?;
        let store = Self {
            db: Db::Sqlite {
                reader: pool.clone(),
                writer: pool,
            },
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user@host:port/db?...`,
    /// libpq's URL form). Does not touch the schema: see `migrate` and `check_schema`.
    pub async fn connect_postgres(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(Self {
            db: Db::Postgres(pool),
        })
    }

    pub fn engine(&self) -> Engine {
        match self.db {
            Db::Sqlite { .. } => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// The PostgreSQL pool, for tools and tests that need raw access to the schema.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite { .. } => None,
        }
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.db.close().await;
    }

    fn migrations(&self) -> &'static [(i64, &'static str, &'static str)] {
        match self.engine() {
            Engine::Sqlite => SQLITE_MIGRATIONS,
            Engine::Postgres => POSTGRES_MIGRATIONS,
        }
    }

    /// Applies every pending migration. Concurrent callers (PostgreSQL replicas starting
    /// together) serialise on the migrator's lock; a database with a migration this build
    /// does not know is refused untouched.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.check_schema().await?;
        let migrator = Migrator::new(EmbeddedMigrations(self.migrations()))
            .await
            .map_err(|e| StoreError::Backend(format!("loading migrations: {e}")))?;
        match &self.db {
            Db::Sqlite { writer, .. } => migrator.run(writer).await,
            Db::Postgres(pool) => migrator.run(pool).await,
        }
        .map_err(|e| StoreError::Backend(format!("migrating the database: {e}")))
    }

    /// The applied and known schema versions.
    pub async fn schema_state(&self) -> StoreResult<SchemaState> {
        let exists_sql = match self.engine() {
            Engine::Sqlite => {
                "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                 WHERE type = 'table' AND name = '_sqlx_migrations')"
            }
            Engine::Postgres => "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
        };
        let exists: bool = query(exists_sql).scalar(self.db.reader()).await?;
        let applied = if exists {
            query("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .scalar::<Option<i64>>(self.db.reader())
                .await?
                .unwrap_or(0)
        } else {
            0
        };
        let known = self.migrations().last().map_or(0, |m| m.0);
        Ok(SchemaState { applied, known })
    }

    /// `Conflict(SchemaTooNew)` when the database was migrated by a newer Berth (a schema
    /// this build does not know and must not write to).
    pub async fn check_schema(&self) -> StoreResult<SchemaState> {
        let state = self.schema_state().await?;
        if state.applied > state.known {
            return Err(StoreError::Conflict(Conflict::SchemaTooNew {
                applied: state.applied,
                known: state.known,
            }));
        }
        Ok(state)
    }
}

#[derive(Debug)]
struct EmbeddedMigrations(&'static [(i64, &'static str, &'static str)]);

type BoxDynError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(self
                .0
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

// --- Helpers the area modules share ---------------------------------------------------------

fn parse_digest(s: &str) -> StoreResult<Digest> {
    Digest::parse(s).map_err(|e| StoreError::Backend(format!("stored digest: {e}")))
}

fn parse_repository(s: &str) -> StoreResult<RepositoryName> {
    RepositoryName::parse(s).map_err(|e| StoreError::Backend(format!("stored repository: {e}")))
}

/// `NotFound` when a write changed nothing.
fn found(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Items per statement when a list becomes an `IN (...)` list or a multi-row `VALUES`:
/// far below either engine's limit on bound parameters (SQLite's 32,766), however long
/// the list a request brings.
const LIST_CHUNK: usize = 500;

/// `{delete} ($2, $3, ...)` for every chunk of `keys`, with `$1` bound to `owner`, in
/// `tx`: `delete` is a `DELETE ... WHERE owner_column = $1 AND key_expression IN`.
async fn delete_listed(
    tx: &mut engine::Tx,
    delete: &str,
    owner: &str,
    keys: &[String],
) -> StoreResult<()> {
    for chunk in keys.chunks(LIST_CHUNK) {
        let sql = format!("{delete} ({})", placeholders(2, chunk.len()));
        let mut statement = query(&sql).bind(owner);
        for key in chunk {
            statement = statement.bind(key);
        }
        statement.execute(tx.on()).await?;
    }
    Ok(())
}

/// `$first, $first+1, ...`: `count` placeholders for an `IN (...)` list.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded() {
        for (engine, list) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(engine);
            let mut files: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<String> = list
                .iter()
                .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(files, listed, "{engine}");
        }
    }

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(placeholders(1, 0), "");
    }
}
