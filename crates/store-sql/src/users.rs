//! IAM users: the users, their inline and attached policies, and their access keys.

use async_trait::async_trait;
use berth_store::{
    AccessKeyLastUsed, AccessKeyRecord, AttachedPolicy, Conflict, GroupRecord, PrincipalPolicies,
    StoreError, StoreResult, UserRecord, UserStore,
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

/// A principal that holds inline and attached policies: a user or a group. The table and
/// column names are constants, never input.
struct Holder {
    table: &'static str,
    inline: &'static str,
    attachments: &'static str,
    column: &'static str,
}

const USER: Holder = Holder {
    table: "users",
    inline: "user_inline_policies",
    attachments: "user_policy_attachments",
    column: "user_row",
};

const GROUP: Holder = Holder {
    table: "iam_groups",
    inline: "group_inline_policies",
    attachments: "group_policy_attachments",
    column: "group_row",
};

/// The row id of a user or group, looked up case-insensitively, its row locked until the
/// transaction ends (as `lock_role` does for roles).
async fn lock_holder(tx: &mut Tx, holder: &Holder, name: &str) -> StoreResult<i64> {
    let sql = format!(
        "SELECT id FROM {} WHERE lower(name) = $1{}",
        holder.table,
        tx.for_update()
    );
    query(&sql)
        .bind(folded(name))
        .scalar_optional(tx.on())
        .await?
        .ok_or(StoreError::NotFound)
}

impl SqlStore {
    async fn put_inline(
        &self,
        holder: &Holder,
        name: &str,
        policy: &str,
        document: &str,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_holder(&mut tx, holder, name).await?;
        let sql = format!(
            "INSERT INTO {inline} ({column}, name, document) VALUES ($1, $2, $3) \
             ON CONFLICT ({column}, name) DO UPDATE SET document = excluded.document",
            inline = holder.inline,
            column = holder.column
        );
        query(&sql)
            .bind(id)
            .bind(policy)
            .bind(document)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn get_inline(
        &self,
        holder: &Holder,
        name: &str,
        policy: &str,
    ) -> StoreResult<Option<String>> {
        let sql = format!(
            "SELECT i.document FROM {table} h JOIN {inline} i ON i.{column} = h.id \
             WHERE lower(h.name) = $1 AND i.name = $2",
            table = holder.table,
            inline = holder.inline,
            column = holder.column
        );
        query(&sql)
            .bind(folded(name))
            .bind(policy)
            .scalar_optional(self.db.reader())
            .await
    }

    async fn delete_inline(&self, holder: &Holder, name: &str, policy: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_holder(&mut tx, holder, name).await?;
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1 AND name = $2",
            holder.inline, holder.column
        );
        found(query(&sql).bind(id).bind(policy).execute(tx.on()).await?)?;
        tx.commit().await
    }

    async fn list_inline(&self, holder: &Holder, name: &str) -> StoreResult<Vec<String>> {
        let sql = format!(
            "SELECT i.name FROM {table} h JOIN {inline} i ON i.{column} = h.id \
             WHERE lower(h.name) = $1 ORDER BY i.name",
            table = holder.table,
            inline = holder.inline,
            column = holder.column
        );
        query(&sql)
            .bind(folded(name))
            .records(self.db.reader(), |row| row.get("name"))
            .await
    }

    async fn attach(&self, holder: &Holder, name: &str, policy_arn: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_holder(&mut tx, holder, name).await?;
        lock_policy(&mut tx, policy_arn).await?;
        let sql = format!(
            "INSERT INTO {attachments} ({column}, policy_arn) VALUES ($1, $2) \
             ON CONFLICT ({column}, policy_arn) DO NOTHING",
            attachments = holder.attachments,
            column = holder.column
        );
        query(&sql)
            .bind(id)
            .bind(policy_arn)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn detach(&self, holder: &Holder, name: &str, policy_arn: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_holder(&mut tx, holder, name).await?;
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1 AND policy_arn = $2",
            holder.attachments, holder.column
        );
        found(
            query(&sql)
                .bind(id)
                .bind(policy_arn)
                .execute(tx.on())
                .await?,
        )?;
        tx.commit().await
    }

    async fn list_attached(&self, holder: &Holder, name: &str) -> StoreResult<Vec<AttachedPolicy>> {
        let sql = format!(
            "SELECT p.name, p.arn FROM {table} h \
             JOIN {attachments} a ON a.{column} = h.id \
             JOIN managed_policies p ON p.arn = a.policy_arn \
             WHERE lower(h.name) = $1 ORDER BY p.name, p.arn",
            table = holder.table,
            attachments = holder.attachments,
            column = holder.column
        );
        query(&sql)
            .bind(folded(name))
            .records(self.db.reader(), |row| {
                Ok(AttachedPolicy {
                    name: row.get("name")?,
                    arn: row.get("arn")?,
                })
            })
            .await
    }
}

async fn lock_user(tx: &mut Tx, name: &str) -> StoreResult<i64> {
    lock_holder(tx, &USER, name).await
}

const GROUP_COLUMNS: &str = "g.name, g.group_id, g.path, g.arn, g.created_at";

fn group_from_row(row: &Row) -> StoreResult<GroupRecord> {
    Ok(GroupRecord {
        name: row.get("name")?,
        group_id: row.get("group_id")?,
        path: row.get("path")?,
        arn: row.identifier("arn")?,
        created_at: row.get("created_at")?,
    })
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
             (SELECT COUNT(*) FROM user_policy_attachments WHERE user_row = $1) AS attached, \
             (SELECT COUNT(*) FROM group_members WHERE user_row = $1) AS groups",
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
        if row.get::<i64>("groups")? > 0 {
            return Err(StoreError::Conflict(Conflict::UserInGroups));
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
        self.put_inline(&USER, user, policy, document).await
    }

    async fn get_user_policy(&self, user: &str, policy: &str) -> StoreResult<Option<String>> {
        self.get_inline(&USER, user, policy).await
    }

    async fn delete_user_policy(&self, user: &str, policy: &str) -> StoreResult<()> {
        self.delete_inline(&USER, user, policy).await
    }

    async fn list_user_policies(&self, user: &str) -> StoreResult<Vec<String>> {
        self.list_inline(&USER, user).await
    }

    async fn attach_user_policy(&self, user: &str, policy_arn: &str) -> StoreResult<()> {
        self.attach(&USER, user, policy_arn).await
    }

    async fn detach_user_policy(&self, user: &str, policy_arn: &str) -> StoreResult<()> {
        self.detach(&USER, user, policy_arn).await
    }

    async fn list_attached_user_policies(&self, user: &str) -> StoreResult<Vec<AttachedPolicy>> {
        self.list_attached(&USER, user).await
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
            "WITH u AS (SELECT id, arn, permissions_boundary FROM users WHERE lower(name) = $1) \
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
             SELECT 1, 'group/' || g.name || '/' || i.name, '', i.document FROM u \
             JOIN group_members m ON m.user_row = u.id \
             JOIN iam_groups g ON g.id = m.group_row \
             JOIN group_inline_policies i ON i.group_row = g.id \
             UNION ALL \
             SELECT 2, p.arn, p.default_version_id, v.document FROM u \
             JOIN group_members m ON m.user_row = u.id \
             JOIN group_policy_attachments a ON a.group_row = m.group_row \
             JOIN managed_policies p ON p.arn = a.policy_arn \
             JOIN policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version_id \
             UNION ALL \
             SELECT 3, p.arn, p.default_version_id, v.document FROM u \
             JOIN managed_policies p ON p.arn = u.permissions_boundary \
             JOIN policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version_id \
             UNION ALL \
             SELECT 4, t.key, '', t.value FROM u JOIN iam_tags t ON t.resource_arn = u.arn",
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

    async fn create_group(&self, group: &GroupRecord) -> StoreResult<()> {
        query(
            "INSERT INTO iam_groups (name, group_id, path, arn, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&group.name)
        .bind(&group.group_id)
        .bind(&group.path)
        .bind(&group.arn)
        .bind(group.created_at)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn get_group(&self, name: &str) -> StoreResult<Option<GroupRecord>> {
        query(&format!(
            "SELECT {GROUP_COLUMNS} FROM iam_groups g WHERE lower(g.name) = $1"
        ))
        .bind(folded(name))
        .record(self.db.reader(), group_from_row)
        .await
    }

    async fn list_groups(&self) -> StoreResult<Vec<GroupRecord>> {
        query(&format!(
            "SELECT {GROUP_COLUMNS} FROM iam_groups g ORDER BY lower(g.name), g.name"
        ))
        .records(self.db.reader(), group_from_row)
        .await
    }

    async fn update_group(
        &self,
        name: &str,
        new_name: &str,
        new_path: &str,
        new_arn: &str,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_holder(&mut tx, &GROUP, name).await?;
        query("UPDATE iam_groups SET name = $1, path = $2, arn = $3 WHERE id = $4")
            .bind(new_name)
            .bind(new_path)
            .bind(new_arn)
            .bind(id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn delete_group(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_holder(&mut tx, &GROUP, name).await?;
        let row = query(
            "SELECT (SELECT COUNT(*) FROM group_members WHERE group_row = $1) AS members, \
             (SELECT COUNT(*) FROM group_inline_policies WHERE group_row = $1) AS inline, \
             (SELECT COUNT(*) FROM group_policy_attachments WHERE group_row = $1) AS attached",
        )
        .bind(id)
        .fetch_one(tx.on())
        .await?;
        if row.get::<i64>("members")? > 0 {
            return Err(StoreError::Conflict(Conflict::GroupHasMembers));
        }
        if row.get::<i64>("inline")? > 0 {
            return Err(StoreError::Conflict(Conflict::GroupHasInlinePolicies));
        }
        if row.get::<i64>("attached")? > 0 {
            return Err(StoreError::Conflict(Conflict::GroupHasAttachedPolicies));
        }
        query("DELETE FROM iam_groups WHERE id = $1")
            .bind(id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn add_user_to_group(&self, group: &str, user: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let group_row = lock_holder(&mut tx, &GROUP, group).await?;
        let user_row = lock_user(&mut tx, user).await?;
        query(
            "INSERT INTO group_members (group_row, user_row) VALUES ($1, $2) \
             ON CONFLICT (group_row, user_row) DO NOTHING",
        )
        .bind(group_row)
        .bind(user_row)
        .execute(tx.on())
        .await?;
        tx.commit().await
    }

    async fn remove_user_from_group(&self, group: &str, user: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let group_row = lock_holder(&mut tx, &GROUP, group).await?;
        let user_row = lock_user(&mut tx, user).await?;
        found(
            query("DELETE FROM group_members WHERE group_row = $1 AND user_row = $2")
                .bind(group_row)
                .bind(user_row)
                .execute(tx.on())
                .await?,
        )?;
        tx.commit().await
    }

    async fn list_group_users(&self, group: &str) -> StoreResult<Vec<UserRecord>> {
        if self.get_group(group).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        query(&format!(
            "SELECT {USER_COLUMNS} FROM iam_groups g JOIN group_members m ON m.group_row = g.id \
             JOIN users u ON u.id = m.user_row WHERE lower(g.name) = $1 \
             ORDER BY lower(u.name), u.name"
        ))
        .bind(folded(group))
        .records(self.db.reader(), user_from_row)
        .await
    }

    async fn list_groups_for_user(&self, user: &str) -> StoreResult<Vec<GroupRecord>> {
        if self.get_user(user).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        query(&format!(
            "SELECT {GROUP_COLUMNS} FROM users u JOIN group_members m ON m.user_row = u.id \
             JOIN iam_groups g ON g.id = m.group_row WHERE lower(u.name) = $1 \
             ORDER BY lower(g.name), g.name"
        ))
        .bind(folded(user))
        .records(self.db.reader(), group_from_row)
        .await
    }

    async fn put_group_policy(&self, group: &str, policy: &str, document: &str) -> StoreResult<()> {
        self.put_inline(&GROUP, group, policy, document).await
    }

    async fn get_group_policy(&self, group: &str, policy: &str) -> StoreResult<Option<String>> {
        self.get_inline(&GROUP, group, policy).await
    }

    async fn delete_group_policy(&self, group: &str, policy: &str) -> StoreResult<()> {
        self.delete_inline(&GROUP, group, policy).await
    }

    async fn list_group_policies(&self, group: &str) -> StoreResult<Vec<String>> {
        self.list_inline(&GROUP, group).await
    }

    async fn attach_group_policy(&self, group: &str, policy_arn: &str) -> StoreResult<()> {
        self.attach(&GROUP, group, policy_arn).await
    }

    async fn detach_group_policy(&self, group: &str, policy_arn: &str) -> StoreResult<()> {
        self.detach(&GROUP, group, policy_arn).await
    }

    async fn list_attached_group_policies(&self, group: &str) -> StoreResult<Vec<AttachedPolicy>> {
        self.list_attached(&GROUP, group).await
    }

    async fn list_policy_groups(&self, policy_arn: &str) -> StoreResult<Vec<GroupRecord>> {
        query(&format!(
            "SELECT {GROUP_COLUMNS} FROM group_policy_attachments a \
             JOIN iam_groups g ON g.id = a.group_row WHERE a.policy_arn = $1 \
             ORDER BY lower(g.name)"
        ))
        .bind(policy_arn)
        .records(self.db.reader(), group_from_row)
        .await
    }
}
