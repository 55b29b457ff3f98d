//! IAM users: the users, their inline and attached policies, and their access keys.

use async_trait::async_trait;
use berth_store::{
    AccessKeyLastUsed, AccessKeyRecord, AttachedPolicy, Conflict, PrincipalPolicies, StoreError,
    StoreResult, UserRecord, UserStore,
};

use crate::engine::{Row, Tx, query};
use crate::iam::{folded, lock_policy};
use crate::{SqlStore, found};

/// A user's columns, from `users u` (a macro, so that `concat!` can build queries with it).
macro_rules! user_columns {
    () => {
        "u.name, u.user_id, u.path, u.arn, u.created_at, u.permissions_boundary"
    };
}
const USER_COLUMNS: &str = user_columns!();

fn user_from_row(row: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        name: row.get("name")?,
        user_id: row.get("user_id")?,
        path: row.get("path")?,
        arn: row.identifier("arn")?,
        created_at: row.get("created_at")?,
        permissions_boundary: row.get("permissions_boundary")?,
    })
}

const KEY_COLUMNS: &str = "k.access_key_id, k.secret_sealed, k.status, k.created_at, \
     k.last_used_at, k.last_used_service, k.last_used_region";

fn key_from_row(row: &Row) -> StoreResult<AccessKeyRecord> {
    let last_used = match (
        row.get::<Option<i64>>("last_used_at")?,
        row.get::<Option<String>>("last_used_service")?,
        row.get::<Option<String>>("last_used_region")?,
    ) {
        (Some(at), Some(service), Some(region)) => Some(AccessKeyLastUsed {
            at,
            service,
            region,
        }),
        _ => None,
    };
    Ok(AccessKeyRecord {
        access_key_id: row.get("access_key_id")?,
        secret_sealed: row.get("secret_sealed")?,
        status: row.get("status")?,
        created_at: row.get("created_at")?,
        last_used,
    })
}

/// The row id of a user, looked up case-insensitively, its row locked until the
/// transaction ends (as `lock_role` does for roles).
async fn lock_user(tx: &mut Tx, name: &str) -> StoreResult<i64> {
    let sql = format!(
        "SELECT id FROM users WHERE lower(name) = $1{}",
        tx.for_update()
    );
    query(&sql)
        .bind(folded(name))
        .scalar_optional(tx.on())
        .await?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        if let Some(boundary) = &user.permissions_boundary {
            lock_policy(&mut tx, boundary).await?;
        }
        query(
            "INSERT INTO users (name, user_id, path, arn, created_at, permissions_boundary) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.name)
        .bind(&user.user_id)
        .bind(&user.path)
        .bind(&user.arn)
        .bind(user.created_at)
        .bind(&user.permissions_boundary)
        .execute(tx.on())
        .await?;
        tx.commit().await
    }

    async fn get_user(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE lower(u.name) = $1"
        ))
        .bind(folded(name))
        .record(self.db.reader(), user_from_row)
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY lower(u.name), u.name"
        ))
        .records(self.db.reader(), user_from_row)
        .await
    }

    async fn update_user(
        &self,
        name: &str,
        new_name: &str,
        new_path: &str,
        new_arn: &str,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_user(&mut tx, name).await?;
        let old_arn: String = query("SELECT arn FROM users WHERE id = $1")
            .bind(id)
            .scalar(tx.on())
            .await?;
        query("UPDATE users SET name = $1, path = $2, arn = $3 WHERE id = $4")
            .bind(new_name)
            .bind(new_path)
            .bind(new_arn)
            .bind(id)
            .execute(tx.on())
            .await?;
        query("UPDATE iam_tags SET resource_arn = $1 WHERE resource_arn = $2")
            .bind(new_arn)
            .bind(&old_arn)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn delete_user(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_user(&mut tx, name).await?;
        let row = query(
            "SELECT (SELECT COUNT(*) FROM access_keys WHERE user_row = $1) AS keys, \
             (SELECT COUNT(*) FROM user_inline_policies WHERE user_row = $1) AS inline, \
             (SELECT COUNT(*) FROM user_policy_attachments WHERE user_row = $1) AS attached",
        )
        .bind(id)
        .fetch_one(tx.on())
        .await?;
        if row.get::<i64>("keys")? > 0 {
            return Err(StoreError::Conflict(Conflict::UserHasAccessKeys));
        }
        if row.get::<i64>("inline")? > 0 {
            return Err(StoreError::Conflict(Conflict::UserHasInlinePolicies));
        }
        if row.get::<i64>("attached")? > 0 {
            return Err(StoreError::Conflict(Conflict::UserHasAttachedPolicies));
        }
        query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn set_user_permissions_boundary(
        &self,
        name: &str,
        policy_arn: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_user(&mut tx, name).await?;
        if let Some(arn) = policy_arn {
            lock_policy(&mut tx, arn).await?;
        }
        query("UPDATE users SET permissions_boundary = $1 WHERE id = $2")
            .bind(policy_arn)
            .bind(id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn put_user_policy(&self, user: &str, policy: &str, document: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_user(&mut tx, user).await?;
        query(
            "INSERT INTO user_inline_policies (user_row, name, document) VALUES ($1, $2, $3) \
             ON CONFLICT (user_row, name) DO UPDATE SET document = excluded.document",
        )
        .bind(id)
        .bind(policy)
        .bind(document)
        .execute(tx.on())
        .await?;
        tx.commit().await
    }

    async fn get_user_policy(&self, user: &str, policy: &str) -> StoreResult<Option<String>> {
        query(
            "SELECT i.document FROM users u JOIN user_inline_policies i ON i.user_row = u.id \
             WHERE lower(u.name) = $1 AND i.name = $2",
        )
        .bind(folded(user))
        .bind(policy)
        .scalar_optional(self.db.reader())
        .await
    }

    async fn delete_user_policy(&self, user: &str, policy: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_user(&mut tx, user).await?;
        found(
            query("DELETE FROM user_inline_policies WHERE user_row = $1 AND name = $2")
                .bind(id)
                .bind(policy)
                .execute(tx.on())
                .await?,
        )?;
        tx.commit().await
    }

    async fn list_user_policies(&self, user: &str) -> StoreResult<Vec<String>> {
        query(
            "SELECT i.name FROM users u JOIN user_inline_policies i ON i.user_row = u.id \
             WHERE lower(u.name) = $1 ORDER BY i.name",
        )
        .bind(folded(user))
        .records(self.db.reader(), |row| row.get("name"))
        .await
    }

    async fn attach_user_policy(&self, user: &str, policy_arn: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_user(&mut tx, user).await?;
        lock_policy(&mut tx, policy_arn).await?;
        query(
            "INSERT INTO user_policy_attachments (user_row, policy_arn) VALUES ($1, $2) \
             ON CONFLICT (user_row, policy_arn) DO NOTHING",
        )
        .bind(id)
        .bind(policy_arn)
        .execute(tx.on())
        .await?;
        tx.commit().await
    }

    async fn detach_user_policy(&self, user: &str, policy_arn: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_user(&mut tx, user).await?;
        found(
            query("DELETE FROM user_policy_attachments WHERE user_row = $1 AND policy_arn = $2")
                .bind(id)
                .bind(policy_arn)
                .execute(tx.on())
                .await?,
        )?;
        tx.commit().await
    }

    async fn list_attached_user_policies(&self, user: &str) -> StoreResult<Vec<AttachedPolicy>> {
        query(
            "SELECT p.name, p.arn FROM users u \
             JOIN user_policy_attachments a ON a.user_row = u.id \
             JOIN managed_policies p ON p.arn = a.policy_arn \
             WHERE lower(u.name) = $1 ORDER BY p.name, p.arn",
        )
        .bind(folded(user))
        .records(self.db.reader(), |row| {
            Ok(AttachedPolicy {
                name: row.get("name")?,
                arn: row.get("arn")?,
            })
        })
        .await
    }

    async fn list_policy_users(&self, policy_arn: &str) -> StoreResult<Vec<UserRecord>> {
        query(&format!(
            "SELECT {USER_COLUMNS} FROM user_policy_attachments a \
             JOIN users u ON u.id = a.user_row WHERE a.policy_arn = $1 ORDER BY lower(u.name)"
        ))
        .bind(policy_arn)
        .records(self.db.reader(), user_from_row)
        .await
    }

    async fn list_boundary_users(&self, policy_arn: &str) -> StoreResult<Vec<UserRecord>> {
        query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.permissions_boundary = $1 \
             ORDER BY lower(u.name)"
        ))
        .bind(policy_arn)
        .records(self.db.reader(), user_from_row)
        .await
    }

    async fn user_effective_policies(&self, name: &str) -> StoreResult<PrincipalPolicies> {
        // One statement, as for roles: every signed request of a user reads this.
        let rows = query(
            "WITH u AS (SELECT id, permissions_boundary FROM users WHERE lower(name) = $1) \
             SELECT CAST(0 AS BIGINT) AS kind, CAST(COALESCE(u.permissions_boundary, '') AS TEXT) \
             AS label, CAST('' AS TEXT) AS version, CAST('' AS TEXT) AS document FROM u \
             UNION ALL \
             SELECT 1, i.name, '', i.document FROM u \
             JOIN user_inline_policies i ON i.user_row = u.id \
             UNION ALL \
             SELECT 2, p.arn, p.default_version_id, v.document FROM u \
             JOIN user_policy_attachments a ON a.user_row = u.id \
             JOIN managed_policies p ON p.arn = a.policy_arn \
             JOIN policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version_id \
             UNION ALL \
             SELECT 3, p.arn, p.default_version_id, v.document FROM u \
             JOIN managed_policies p ON p.arn = u.permissions_boundary \
             JOIN policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version_id",
        )
        .bind(folded(name))
        .fetch_all(self.db.reader())
        .await?;
        crate::iam::principal_policies(&rows)
    }

    async fn create_access_key(
        &self,
        user: &str,
        key: &AccessKeyRecord,
        max_per_user: usize,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        // The user's row lock makes concurrent creates take turns: the count holds.
        let id = lock_user(&mut tx, user).await?;
        let count: i64 = query("SELECT COUNT(*) FROM access_keys WHERE user_row = $1")
            .bind(id)
            .scalar(tx.on())
            .await?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_user {
            return Err(StoreError::Conflict(Conflict::AccessKeyLimit {
                max: max_per_user,
            }));
        }
        query(
            "INSERT INTO access_keys (access_key_id, user_row, secret_sealed, status, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.access_key_id)
        .bind(id)
        .bind(&key.secret_sealed)
        .bind(&key.status)
        .bind(key.created_at)
        .execute(tx.on())
        .await?;
        tx.commit().await
    }

    async fn get_access_key(&self, id: &str) -> StoreResult<Option<(AccessKeyRecord, UserRecord)>> {
        query(&format!(
            "SELECT {KEY_COLUMNS}, {USER_COLUMNS} FROM access_keys k \
             JOIN users u ON u.id = k.user_row WHERE k.access_key_id = $1"
        ))
        .bind(id)
        .record(self.db.reader(), |row| {
            Ok((key_from_row(row)?, user_from_row(row)?))
        })
        .await
    }

    async fn list_access_keys(&self, user: &str) -> StoreResult<Vec<AccessKeyRecord>> {
        let exists = query("SELECT 1 AS one FROM users WHERE lower(name) = $1")
            .bind(folded(user))
            .fetch_optional(self.db.reader())
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        query(&format!(
            "SELECT {KEY_COLUMNS} FROM access_keys k JOIN users u ON u.id = k.user_row \
             WHERE lower(u.name) = $1 ORDER BY k.created_at, k.access_key_id"
        ))
        .bind(folded(user))
        .records(self.db.reader(), key_from_row)
        .await
    }

    async fn set_access_key_status(&self, user: &str, id: &str, status: &str) -> StoreResult<()> {
        found(
            query(
                "UPDATE access_keys SET status = $1 WHERE access_key_id = $2 \
                 AND user_row = (SELECT id FROM users WHERE lower(name) = $3)",
            )
            .bind(status)
            .bind(id)
            .bind(folded(user))
            .execute(self.db.writer())
            .await?,
        )
    }

    async fn delete_access_key(&self, user: &str, id: &str) -> StoreResult<()> {
        found(
            query(
                "DELETE FROM access_keys WHERE access_key_id = $1 \
                 AND user_row = (SELECT id FROM users WHERE lower(name) = $2)",
            )
            .bind(id)
            .bind(folded(user))
            .execute(self.db.writer())
            .await?,
        )
    }

    async fn record_access_keys_last_used(
        &self,
        uses: &[(String, i64, String)],
        region: &str,
    ) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.write().await?;
        for (id, at, service) in uses {
            query(
                "UPDATE access_keys SET last_used_at = $1, last_used_service = $2, \
                 last_used_region = $3 \
                 WHERE access_key_id = $4 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .bind(*at)
            .bind(service)
            .bind(region)
            .bind(id)
            .execute(tx.on())
            .await?;
        }
        tx.commit().await
    }
}
