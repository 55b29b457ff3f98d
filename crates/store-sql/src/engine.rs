//! The one seam between the SQL the store runs and the engine it runs on.
//!
//! Statements are written once, with PostgreSQL's `$n` placeholders (sqlx's SQLite driver
//! reads `$n` as the n-th argument too). Arguments are collected engine-neutrally and bound
//! when the statement meets a connection, so the same `Query` runs on either engine with
//! each engine's native types and rows. What truly differs between the engines lives here
//! and nowhere else:
//!
//! - transactions: SQLite writes through one connection with `BEGIN IMMEDIATE` (its write
//!   lock, held from the first statement, serialises writers); PostgreSQL takes row locks
//!   (`FOR UPDATE`, [`Tx::for_update`]) and transaction-scoped advisory locks
//!   ([`Tx::lock`]) where a check and the write that depends on it must not interleave;
//! - list columns ([`Query::bind_list`], [`Row::list`]): `TEXT[]` on PostgreSQL, a JSON
//!   array in a `TEXT` column on SQLite;
//! - consistent multi-statement reads ([`Tx::snapshot`]): PostgreSQL needs REPEATABLE READ,
//!   a SQLite read transaction is a snapshot already.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Decode, Transaction, Type};
use sqlx::{PgConnection, PgPool, Postgres, Row as _, Sqlite, SqliteConnection, SqlitePool};

use berth_store::{StoreError, StoreResult};
use berth_types::{Arn, PolicyName, RoleName};

/// The connection pools of one store.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// Reads use `reader` (several connections; in WAL mode they never wait for writers),
    /// writes the single connection of `writer`.
    Sqlite {
        reader: SqlitePool,
        writer: SqlitePool,
    },
    Postgres(PgPool),
}

impl Db {
    /// Where a statement that only reads runs, outside a transaction.
    pub(crate) fn reader(&self) -> Exec<'_> {
        match self {
            Db::Sqlite { reader, .. } => Exec::SqlitePool(reader),
            Db::Postgres(pool) => Exec::PgPool(pool),
        }
    }

    /// Where a single writing statement runs, outside a transaction.
    pub(crate) fn writer(&self) -> Exec<'_> {
        match self {
            Db::Sqlite { writer, .. } => Exec::SqlitePool(writer),
            Db::Postgres(pool) => Exec::PgPool(pool),
        }
    }

    /// A transaction that only reads.
    pub(crate) async fn read(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite { reader, .. } => Tx::Sqlite(reader.begin().await.map_err(db)?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await.map_err(db)?),
        })
    }

    /// A transaction that writes.
    pub(crate) async fn write(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite { writer, .. } => {
                Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?)
            }
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await.map_err(db)?),
        })
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite { reader, writer } => {
                writer.close().await;
                reader.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// An open transaction. Dropped without `commit`, it rolls back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) fn on(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(tx) => Exec::SqliteConn(tx),
            Tx::Postgres(tx) => Exec::PgConn(tx),
        }
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
        .map_err(db)
    }

    /// The clause that locks the rows a `SELECT` read until the transaction ends. SQLite's
    /// write transaction holds the whole database already.
    pub(crate) fn for_update(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "",
            Tx::Postgres(_) => " FOR UPDATE",
        }
    }

    /// Serialises this transaction with every other one that locks the same
    /// `namespace`/`key` until it ends, for checks on rows that may not exist yet (a lease
    /// and a claim of one digest, the first signing key of a purpose).
    pub(crate) async fn lock(&mut self, namespace: &str, key: &str) -> StoreResult<()> {
        if let Tx::Postgres(tx) = self {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))")
                .bind(namespace)
                .bind(key)
                .execute(&mut **tx)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// Makes every read of this (read-only) transaction see one snapshot.
    pub(crate) async fn snapshot(&mut self) -> StoreResult<()> {
        if let Tx::Postgres(tx) = self {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut **tx)
                .await
                .map_err(db)?;
        }
        Ok(())
    }
}

/// Where a statement runs: a pool or a transaction's connection.
pub(crate) enum Exec<'c> {
    SqlitePool(&'c SqlitePool),
    SqliteConn(&'c mut SqliteConnection),
    PgPool(&'c PgPool),
    PgConn(&'c mut PgConnection),
}

enum Arg<'q> {
    Int(Option<i64>),
    Bool(bool),
    Text(Option<&'q str>),
    Owned(String),
    Bytes(&'q [u8]),
    List(&'q [String]),
}

/// A value `Query::bind` takes.
pub(crate) trait Bind<'q> {
    fn arg(self) -> ArgValue<'q>;
}

/// An argument on its way into a query (opaque outside this module).
pub(crate) struct ArgValue<'q>(Arg<'q>);

macro_rules! bind_as {
    ($($ty:ty => |$v:ident| $arg:expr;)*) => {
        $(impl<'q> Bind<'q> for $ty {
            fn arg(self) -> ArgValue<'q> {
                let $v = self;
                ArgValue($arg)
            }
        })*
    };
}

bind_as! {
    i64 => |v| Arg::Int(Some(v));
    Option<i64> => |v| Arg::Int(v);
    bool => |v| Arg::Bool(v);
    &'q str => |v| Arg::Text(Some(v));
    &'q String => |v| Arg::Text(Some(v.as_str()));
    Option<&'q str> => |v| Arg::Text(v);
    &'q Option<String> => |v| Arg::Text(v.as_deref());
    String => |v| Arg::Owned(v);
    &'q [u8] => |v| Arg::Bytes(v);
    &'q Vec<u8> => |v| Arg::Bytes(v.as_slice());
    &'q Arn => |v| Arg::Text(Some(v.as_str()));
    &'q RoleName => |v| Arg::Text(Some(v.as_str()));
    &'q PolicyName => |v| Arg::Text(Some(v.as_str()));
}

/// Runs a built query on whichever engine `on` belongs to, mapping the engine's result
/// with `$sqlite` or `$postgres`.
/// Runs a statement on its engine, timed for the `berth_store_query_duration` metric
/// (the time includes waiting for a connection or SQLite's writer).
macro_rules! run {
    ($query:ident, $on:expr, $method:ident, $sqlite:expr, $postgres:expr) => {{
        let started = std::time::Instant::now();
        let (engine, result) = match $on {
            Exec::SqlitePool(p) => ("sqlite", $query.sqlite().$method(p).await.map($sqlite)),
            Exec::SqliteConn(c) => ("sqlite", $query.sqlite().$method(c).await.map($sqlite)),
            Exec::PgPool(p) => (
                "postgres",
                $query.postgres().$method(p).await.map($postgres),
            ),
            Exec::PgConn(c) => (
                "postgres",
                $query.postgres().$method(c).await.map($postgres),
            ),
        };
        berth_metrics::metrics().store_query(engine, started.elapsed());
        result.map_err(db)
    }};
}

/// One SQL statement and its arguments.
pub(crate) struct Query<'q> {
    sql: &'q str,
    args: Vec<Arg<'q>>,
}

pub(crate) fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

impl<'q> Query<'q> {
    pub(crate) fn bind(mut self, value: impl Bind<'q>) -> Self {
        self.args.push(value.arg().0);
        self
    }

    /// A list of strings for a list column.
    pub(crate) fn bind_list(mut self, list: &'q [String]) -> Self {
        self.args.push(Arg::List(list));
        self
    }

    fn sqlite(&self) -> sqlx::query::Query<'_, Sqlite, SqliteArguments<'_>> {
        let mut query = sqlx::query(self.sql);
        for arg in &self.args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Bool(v) => query.bind(*v),
                Arg::Text(v) => query.bind(*v),
                Arg::Owned(v) => query.bind(v.as_str()),
                Arg::Bytes(v) => query.bind(*v),
                Arg::List(v) => query.bind(serde_json::Value::from(v.to_vec()).to_string()),
            };
        }
        query
    }

    fn postgres(&self) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        let mut query = sqlx::query(self.sql);
        for arg in &self.args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Bool(v) => query.bind(*v),
                Arg::Text(v) => query.bind(*v),
                Arg::Owned(v) => query.bind(v.as_str()),
                Arg::Bytes(v) => query.bind(*v),
                Arg::List(v) => query.bind(*v),
            };
        }
        query
    }

    /// Runs the statement; the number of rows it changed.
    pub(crate) async fn execute(self, on: Exec<'_>) -> StoreResult<u64> {
        run!(self, on, execute, |done| done.rows_affected(), |done| done
            .rows_affected())
    }

    pub(crate) async fn fetch_all(self, on: Exec<'_>) -> StoreResult<Vec<Row>> {
        run!(self, on, fetch_all, Row::from_sqlite, Row::from_postgres)
    }

    pub(crate) async fn fetch_optional(self, on: Exec<'_>) -> StoreResult<Option<Row>> {
        run!(
            self,
            on,
            fetch_optional,
            |row| row.map(Row::Sqlite),
            |row| row.map(Row::Postgres)
        )
    }

    /// Every row, each made a record by `record`.
    pub(crate) async fn records<T>(
        self,
        on: Exec<'_>,
        record: impl Fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.fetch_all(on).await?.iter().map(record).collect()
    }

    /// The row, if any, made a record by `record`.
    pub(crate) async fn record<T>(
        self,
        on: Exec<'_>,
        record: impl Fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.fetch_optional(on)
            .await?
            .as_ref()
            .map(record)
            .transpose()
    }

    pub(crate) async fn fetch_one(self, on: Exec<'_>) -> StoreResult<Row> {
        self.fetch_optional(on).await?.ok_or_else(|| {
            StoreError::Backend("a statement that always returns a row returned none".into())
        })
    }

    /// The first column of the one row the statement returns.
    pub(crate) async fn scalar<T: Column>(self, on: Exec<'_>) -> StoreResult<T> {
        self.fetch_one(on).await?.first()
    }

    /// The first column of the row the statement returns, if any.
    pub(crate) async fn scalar_optional<T: Column>(self, on: Exec<'_>) -> StoreResult<Option<T>> {
        self.fetch_optional(on)
            .await?
            .map(|row| row.first())
            .transpose()
    }
}

/// A type both engines decode from a column.
pub(crate) trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A result row.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    fn from_sqlite(rows: Vec<SqliteRow>) -> Vec<Row> {
        rows.into_iter().map(Row::Sqlite).collect()
    }

    fn from_postgres(rows: Vec<PgRow>) -> Vec<Row> {
        rows.into_iter().map(Row::Postgres).collect()
    }

    pub(crate) fn get<T: Column>(&self, column: &str) -> StoreResult<T> {
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => row.try_get(column),
        }
        .map_err(db)
    }

    fn first<T: Column>(&self) -> StoreResult<T> {
        match self {
            Row::Sqlite(row) => row.try_get(0),
            Row::Postgres(row) => row.try_get(0),
        }
        .map_err(db)
    }

    /// A text column holding an identifier (`Arn`, `RoleName`, ...), parsed: stored
    /// identifiers were valid when written, so a failure is the store's.
    pub(crate) fn identifier<T>(&self, column: &str) -> StoreResult<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let text: String = self.get(column)?;
        text.parse()
            .map_err(|e| StoreError::Backend(format!("stored {column}: {e}")))
    }

    /// A list column (see `Query::bind_list`).
    pub(crate) fn list(&self, column: &str) -> StoreResult<Vec<String>> {
        match self {
            Row::Sqlite(row) => {
                let text: String = row.try_get(column).map_err(db)?;
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Backend(format!("stored list {column}: {e}")))
            }
            Row::Postgres(row) => row.try_get(column).map_err(db),
        }
    }
}

/// Maps a sqlx error: unique violations are `AlreadyExists`, foreign-key violations
/// (a record naming a repository that does not exist) are `NotFound`, the rest `Backend`.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
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
