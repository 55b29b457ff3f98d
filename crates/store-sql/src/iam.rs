//! IAM: OIDC providers, roles, managed and inline policies, attachments, versions, tags.

use async_trait::async_trait;
use berth_store::{
    AttachedPolicy, Conflict, EffectivePolicy, IamStore, IamTag, InstanceProfileRecord,
    ManagedPolicyRecord, OidcProviderRecord, PolicyVersionRecord, PrincipalPolicies, RoleLastUsed,
    RoleRecord, StoreError, StoreResult,
};

use crate::engine::{Row, Tx, query};
use crate::{SqlStore, delete_listed, found, sql_limit};

const OIDC_COLUMNS: &str = "arn, url, client_ids, thumbprints, created_at";

fn oidc_from_row(row: &Row) -> StoreResult<OidcProviderRecord> {
    Ok(OidcProviderRecord {
        arn: row.identifier("arn")?,
        url: row.get("url")?,
        client_ids: row.list("client_ids")?,
        thumbprints: row.list("thumbprints")?,
        created_at: row.get("created_at")?,
    })
}

/// A role's columns, from `roles r` (a macro, so that `concat!` can build queries with it).
macro_rules! role_columns {
    () => {
        "r.name, r.role_id, r.path, r.arn, r.trust_policy, r.description, \
         r.max_session_duration, r.created_at, r.permissions_boundary, r.last_used_at, \
         r.last_used_region"
    };
}
const ROLE_COLUMNS: &str = role_columns!();

fn role_from_row(row: &Row) -> StoreResult<RoleRecord> {
    Ok(RoleRecord {
        name: row.identifier("name")?,
        role_id: row.get("role_id")?,
        path: row.get("path")?,
        arn: row.identifier("arn")?,
        trust_policy: row.get("trust_policy")?,
        description: row.get("description")?,
        max_session_duration: row.get("max_session_duration")?,
        created_at: row.get("created_at")?,
        permissions_boundary: row.get("permissions_boundary")?,
        last_used: match (
            row.get::<Option<i64>>("last_used_at")?,
            row.get::<Option<String>>("last_used_region")?,
        ) {
            (Some(at), Some(region)) => Some(RoleLastUsed { at, region }),
            _ => None,
        },
    })
}

/// A profile's columns and its role's (a left join: NULL when it holds none).
const PROFILE_SELECT: &str = concat!(
    "SELECT p.id AS profile_row, p.name AS profile_name, p.profile_id, \
     p.path AS profile_path, p.arn AS profile_arn, p.created_at AS profile_created_at, ",
    role_columns!(),
    " FROM instance_profiles p \
     LEFT JOIN instance_profile_roles pr ON pr.profile_id = p.id \
     LEFT JOIN roles r ON r.id = pr.role_id"
);

/// A profile from rows of [`PROFILE_SELECT`], one per role it holds.
fn profiles_from_rows(rows: Vec<(i64, InstanceProfileRecord)>) -> Vec<InstanceProfileRecord> {
    let mut profiles: Vec<(i64, InstanceProfileRecord)> = Vec::new();
    for (row_id, profile) in rows {
        match profiles.last_mut() {
            Some((last, known)) if *last == row_id => known.roles.extend(profile.roles),
            _ => profiles.push((row_id, profile)),
        }
    }
    profiles.into_iter().map(|(_, p)| p).collect()
}

fn profile_from_row(row: &Row) -> StoreResult<(i64, InstanceProfileRecord)> {
    let role_id: Option<String> = row.get("role_id")?;
    Ok((
        row.get("profile_row")?,
        InstanceProfileRecord {
            name: row.get("profile_name")?,
            profile_id: row.get("profile_id")?,
            path: row.get("profile_path")?,
            arn: row.identifier("profile_arn")?,
            created_at: row.get("profile_created_at")?,
            roles: match role_id {
                Some(_) => vec![role_from_row(row)?],
                None => Vec::new(),
            },
        },
    ))
}

/// Locks an instance profile's row until the transaction ends. `NotFound` when absent.
async fn lock_instance_profile(tx: &mut Tx, name: &str) -> StoreResult<i64> {
    let sql = format!(
        "SELECT id FROM instance_profiles WHERE lower(name) = $1{}",
        tx.for_update()
    );
    query(&sql)
        .bind(folded(name))
        .scalar_optional(tx.on())
        .await?
        .ok_or(StoreError::NotFound)
}

async fn holds_a_role(tx: &mut Tx, profile_id: i64) -> StoreResult<bool> {
    Ok(
        query("SELECT 1 AS one FROM instance_profile_roles WHERE profile_id = $1")
            .bind(profile_id)
            .fetch_optional(tx.on())
            .await?
            .is_some(),
    )
}

const POLICY_SELECT: &str = "SELECT p.arn, p.name, p.path, p.policy_id, p.default_version_id, \
     p.description, p.created_at, p.updated_at, \
     (SELECT COUNT(*) FROM role_policy_attachments a WHERE a.policy_arn = p.arn) \
     + (SELECT COUNT(*) FROM user_policy_attachments a WHERE a.policy_arn = p.arn) \
     + (SELECT COUNT(*) FROM group_policy_attachments a WHERE a.policy_arn = p.arn) \
     AS attachment_count, \
     (SELECT COUNT(*) FROM roles b WHERE b.permissions_boundary = p.arn) \
     + (SELECT COUNT(*) FROM users b WHERE b.permissions_boundary = p.arn) \
     AS boundary_usage_count FROM managed_policies p";

fn policy_from_row(row: &Row) -> StoreResult<ManagedPolicyRecord> {
    Ok(ManagedPolicyRecord {
        arn: row.identifier("arn")?,
        name: row.identifier("name")?,
        path: row.get("path")?,
        policy_id: row.get("policy_id")?,
        default_version_id: row.get("default_version_id")?,
        description: row.get("description")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        attachment_count: row.get("attachment_count")?,
        boundary_usage_count: row.get("boundary_usage_count")?,
    })
}

fn version_from_row(row: &Row, version_id: String) -> StoreResult<PolicyVersionRecord> {
    Ok(PolicyVersionRecord {
        version_id,
        document: row.get("document")?,
        is_default: row.get("is_default")?,
        created_at: row.get("created_at")?,
    })
}

/// Role names and IAM tag keys are unique regardless of case, ASCII case (IAM's names are
/// ASCII; tag keys compare as IAM compares them). Folded here, not by SQL's `lower()` on
/// the argument: PostgreSQL would fold an argument by the database's locale, while the
/// columns (`COLLATE "C"`) and SQLite fold ASCII only, so both sides must fold alike.
pub(crate) fn folded(text: &str) -> String {
    text.to_ascii_lowercase()
}

/// A short hash of an inline policy document: changes whenever the document does.
pub(crate) fn document_version(document: &str) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, document.as_bytes());
    let bytes = hash.as_ref();
    hex::encode(bytes.get(..12).unwrap_or(bytes))
}

/// A principal's policies from the rows of an effective-policies query (role or user):
/// `kind` 0 says the principal exists and names its boundary, 1 is an inline policy, 2 an
/// attached one, 3 the boundary's default version, 4 one of the principal's tags (key in
/// `label`, value in `document`).
pub(crate) fn principal_policies(rows: &[Row]) -> StoreResult<PrincipalPolicies> {
    let mut exists = false;
    let mut boundary_arn = String::new();
    let mut boundary = None;
    let mut listed = Vec::with_capacity(rows.len());
    let mut tags = Vec::new();
    for row in rows {
        let kind: i64 = row.get("kind")?;
        let label: String = row.get("label")?;
        let document: String = row.get("document")?;
        match kind {
            0 => {
                exists = true;
                boundary_arn = label;
            }
            1 => listed.push((
                kind,
                EffectivePolicy {
                    label: format!("inline:{label}"),
                    version: document_version(&document),
                    document,
                },
            )),
            2 => listed.push((
                kind,
                EffectivePolicy {
                    label,
                    version: row.get("version")?,
                    document,
                },
            )),
            3 => {
                boundary = Some(EffectivePolicy {
                    label,
                    version: row.get("version")?,
                    document,
                });
            }
            _ => tags.push((label, document)),
        }
    }
    if !exists {
        return Err(StoreError::NotFound);
    }
    if boundary.is_none() && !boundary_arn.is_empty() {
        // Deleting a policy that bounds a principal is refused, so this is a store changed
        // behind Berth's back: the boundary then allows nothing.
        boundary = Some(EffectivePolicy {
            version: "missing".into(),
            document: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
            label: boundary_arn,
        });
    }
    // Inline policies first, then managed ones, each in byte order of their labels
    // (sorted here: the engines' collations of a computed column differ).
    listed.sort_by(|a, b| (a.0, &a.1.label).cmp(&(b.0, &b.1.label)));
    tags.sort();
    Ok(PrincipalPolicies {
        identity: listed.into_iter().map(|(_, policy)| policy).collect(),
        boundary,
        tags,
    })
}

/// The row id of a role, looked up case-insensitively, its row locked until the
/// transaction ends (a concurrent delete waits, and a concurrent attach cannot slip in
/// between a check and the write that depends on it).
async fn lock_role(tx: &mut Tx, name: &str) -> StoreResult<i64> {
    let sql = format!(
        "SELECT id FROM roles WHERE lower(name) = $1{}",
        tx.for_update()
    );
    query(&sql)
        .bind(folded(name))
        .scalar_optional(tx.on())
        .await?
        .ok_or(StoreError::NotFound)
}

/// Locks a managed policy's row until the transaction ends. `NotFound` when absent.
pub(crate) async fn lock_policy(tx: &mut Tx, arn: &str) -> StoreResult<()> {
    let sql = format!(
        "SELECT 1 AS one FROM managed_policies WHERE arn = $1{}",
        tx.for_update()
    );
    query(&sql)
        .bind(arn)
        .fetch_optional(tx.on())
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(())
}

/// One of the list columns of an OIDC provider (`client_ids` or `thumbprints`), its row
/// locked until the transaction ends (concurrent updates of one provider take turns).
/// `NotFound` when the provider does not exist.
async fn lock_oidc_list(tx: &mut Tx, arn: &str, column: &'static str) -> StoreResult<Vec<String>> {
    let sql = format!(
        "SELECT {column} AS list FROM oidc_providers WHERE arn = $1{}",
        tx.for_update()
    );
    let row = query(&sql)
        .bind(arn)
        .fetch_optional(tx.on())
        .await?
        .ok_or(StoreError::NotFound)?;
    row.list("list")
}

async fn set_oidc_list(
    tx: &mut Tx,
    arn: &str,
    column: &'static str,
    list: &[String],
) -> StoreResult<()> {
    let sql = format!("UPDATE oidc_providers SET {column} = $1 WHERE arn = $2");
    query(&sql)
        .bind_list(list)
        .bind(arn)
        .execute(tx.on())
        .await?;
    Ok(())
}

#[async_trait]
impl IamStore for SqlStore {
    // --- OIDC providers -------------------------------------------------------------

    async fn create_oidc_provider(&self, provider: &OidcProviderRecord) -> StoreResult<()> {
        query(
            "INSERT INTO oidc_providers (arn, url, client_ids, thumbprints, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&provider.arn)
        .bind(&provider.url)
        .bind_list(&provider.client_ids)
        .bind_list(&provider.thumbprints)
        .bind(provider.created_at)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn get_oidc_provider(&self, arn: &str) -> StoreResult<Option<OidcProviderRecord>> {
        query(&format!(
            "SELECT {OIDC_COLUMNS} FROM oidc_providers WHERE arn = $1"
        ))
        .bind(arn)
        .record(self.db.reader(), oidc_from_row)
        .await
    }

    async fn find_oidc_provider_by_url(
        &self,
        url: &str,
    ) -> StoreResult<Option<OidcProviderRecord>> {
        query(&format!(
            "SELECT {OIDC_COLUMNS} FROM oidc_providers WHERE url = $1"
        ))
        .bind(url)
        .record(self.db.reader(), oidc_from_row)
        .await
    }

    async fn list_oidc_providers(&self) -> StoreResult<Vec<OidcProviderRecord>> {
        query(&format!(
            "SELECT {OIDC_COLUMNS} FROM oidc_providers ORDER BY arn"
        ))
        .records(self.db.reader(), oidc_from_row)
        .await
    }

    async fn delete_oidc_provider(&self, arn: &str) -> StoreResult<()> {
        found(
            query("DELETE FROM oidc_providers WHERE arn = $1")
                .bind(arn)
                .execute(self.db.writer())
                .await?,
        )
    }

    // --- Roles ----------------------------------------------------------------------

    async fn create_role(&self, role: &RoleRecord) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        if let Some(boundary) = &role.permissions_boundary {
            // As for a boundary set later: a concurrent delete of the policy waits, then
            // sees the role.
            lock_policy(&mut tx, boundary).await?;
        }
        query(
            "INSERT INTO roles (name, role_id, path, arn, trust_policy, description, \
             max_session_duration, created_at, permissions_boundary) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&role.name)
        .bind(&role.role_id)
        .bind(&role.path)
        .bind(&role.arn)
        .bind(&role.trust_policy)
        .bind(&role.description)
        .bind(role.max_session_duration)
        .bind(role.created_at)
        .bind(&role.permissions_boundary)
        .execute(tx.on())
        .await?;
        tx.commit().await
    }

    async fn get_role(&self, name: &str) -> StoreResult<Option<RoleRecord>> {
        query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles r WHERE lower(r.name) = $1"
        ))
        .bind(folded(name))
        .record(self.db.reader(), role_from_row)
        .await
    }

    async fn list_roles(&self) -> StoreResult<Vec<RoleRecord>> {
        // Case-insensitive order, as IAM lists them.
        query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles r ORDER BY lower(r.name), r.name"
        ))
        .records(self.db.reader(), role_from_row)
        .await
    }

    async fn update_role_trust_policy(&self, name: &str, document: &str) -> StoreResult<()> {
        found(
            query("UPDATE roles SET trust_policy = $1 WHERE lower(name) = $2")
                .bind(document)
                .bind(folded(name))
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn update_role(
        &self,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> StoreResult<()> {
        found(
            query(
                "UPDATE roles SET description = COALESCE($1, description), \
                 max_session_duration = COALESCE($2, max_session_duration) \
                 WHERE lower(name) = $3",
            )
            .bind(description)
            .bind(max_session_duration)
            .bind(folded(name))
            .execute(self.db.writer())
            .await?,
        )
    }

    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_role(&mut tx, name).await?;
        let row = query(
            "SELECT (SELECT COUNT(*) FROM role_inline_policies WHERE role_id = $1) AS inline, \
             (SELECT COUNT(*) FROM role_policy_attachments WHERE role_id = $1) AS attached",
        )
        .bind(id)
        .fetch_one(tx.on())
        .await?;
        if row.get::<i64>("inline")? > 0 {
            return Err(StoreError::Conflict(Conflict::RoleHasInlinePolicies));
        }
        if row.get::<i64>("attached")? > 0 {
            return Err(StoreError::Conflict(Conflict::RoleHasAttachedPolicies));
        }
        let in_profile = query("SELECT 1 AS one FROM instance_profile_roles WHERE role_id = $1")
            .bind(id)
            .fetch_optional(tx.on())
            .await?;
        if in_profile.is_some() {
            return Err(StoreError::Conflict(Conflict::RoleInInstanceProfile));
        }
        query("DELETE FROM roles WHERE id = $1")
            .bind(id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn list_policy_roles(&self, policy_arn: &str) -> StoreResult<Vec<RoleRecord>> {
        query(&format!(
            "SELECT {ROLE_COLUMNS} \
             FROM role_policy_attachments a JOIN roles r ON r.id = a.role_id \
             WHERE a.policy_arn = $1 ORDER BY lower(r.name)"
        ))
        .bind(policy_arn)
        .records(self.db.reader(), role_from_row)
        .await
    }

    async fn list_boundary_roles(&self, policy_arn: &str) -> StoreResult<Vec<RoleRecord>> {
        query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles r WHERE r.permissions_boundary = $1 \
             ORDER BY lower(r.name)"
        ))
        .bind(policy_arn)
        .records(self.db.reader(), role_from_row)
        .await
    }

    async fn set_role_permissions_boundary(
        &self,
        name: &str,
        policy_arn: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_role(&mut tx, name).await?;
        if let Some(arn) = policy_arn {
            // The policy's row lock makes a concurrent delete of the policy wait for this
            // change, and then see the role it bounds.
            lock_policy(&mut tx, arn).await?;
        }
        query("UPDATE roles SET permissions_boundary = $1 WHERE id = $2")
            .bind(policy_arn)
            .bind(id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn record_roles_last_used(
        &self,
        uses: &[(String, i64)],
        region: &str,
    ) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.write().await?;
        for (role_id, at) in uses {
            query(
                "UPDATE roles SET last_used_at = $1, last_used_region = $2 \
                 WHERE role_id = $3 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .bind(*at)
            .bind(region)
            .bind(role_id)
            .execute(tx.on())
            .await?;
        }
        tx.commit().await
    }

    // --- The account's alias ---------------------------------------------------------

    async fn get_account_alias(&self, account: &str) -> StoreResult<Option<String>> {
        query("SELECT alias FROM account_aliases WHERE account = $1")
            .bind(account)
            .scalar_optional(self.db.reader())
            .await
    }

    async fn set_account_alias(&self, account: &str, alias: &str) -> StoreResult<()> {
        query(
            "INSERT INTO account_aliases (account, alias) VALUES ($1, $2) \
             ON CONFLICT (account) DO UPDATE SET alias = excluded.alias",
        )
        .bind(account)
        .bind(alias)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn delete_account_alias(&self, account: &str, alias: &str) -> StoreResult<()> {
        found(
            query("DELETE FROM account_aliases WHERE account = $1 AND alias = $2")
                .bind(account)
                .bind(alias)
                .execute(self.db.writer())
                .await?,
        )
    }

    // --- Instance profiles ----------------------------------------------------------

    async fn create_instance_profile(&self, profile: &InstanceProfileRecord) -> StoreResult<()> {
        query(
            "INSERT INTO instance_profiles (name, profile_id, path, arn, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(profile.name.as_str())
        .bind(profile.profile_id.as_str())
        .bind(profile.path.as_str())
        .bind(&profile.arn)
        .bind(profile.created_at)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn get_instance_profile(&self, name: &str) -> StoreResult<Option<InstanceProfileRecord>> {
        let sql = format!("{PROFILE_SELECT} WHERE lower(p.name) = $1");
        let rows = query(&sql)
            .bind(folded(name))
            .records(self.db.reader(), profile_from_row)
            .await?;
        Ok(profiles_from_rows(rows).pop())
    }

    async fn list_instance_profiles(
        &self,
        role: Option<&str>,
    ) -> StoreResult<Vec<InstanceProfileRecord>> {
        let rows = match role {
            None => {
                let sql = format!("{PROFILE_SELECT} ORDER BY lower(p.name), p.id");
                query(&sql)
                    .records(self.db.reader(), profile_from_row)
                    .await?
            }
            Some(role) => {
                let role_id: i64 = query("SELECT id FROM roles WHERE lower(name) = $1")
                    .bind(folded(role))
                    .scalar_optional(self.db.reader())
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let sql = format!(
                    "{PROFILE_SELECT} WHERE p.id IN \
                     (SELECT profile_id FROM instance_profile_roles WHERE role_id = $1) \
                     ORDER BY lower(p.name), p.id"
                );
                query(&sql)
                    .bind(role_id)
                    .records(self.db.reader(), profile_from_row)
                    .await?
            }
        };
        Ok(profiles_from_rows(rows))
    }

    async fn add_role_to_instance_profile(&self, profile: &str, role: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let profile_id = lock_instance_profile(&mut tx, profile).await?;
        let role_id = lock_role(&mut tx, role).await?;
        if holds_a_role(&mut tx, profile_id).await? {
            return Err(StoreError::Conflict(Conflict::InstanceProfileFull));
        }
        query("INSERT INTO instance_profile_roles (profile_id, role_id) VALUES ($1, $2)")
            .bind(profile_id)
            .bind(role_id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn remove_role_from_instance_profile(
        &self,
        profile: &str,
        role: &str,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let profile_id = lock_instance_profile(&mut tx, profile).await?;
        let role_id = lock_role(&mut tx, role).await?;
        found(
            query("DELETE FROM instance_profile_roles WHERE profile_id = $1 AND role_id = $2")
                .bind(profile_id)
                .bind(role_id)
                .execute(tx.on())
                .await?,
        )?;
        tx.commit().await
    }

    async fn delete_instance_profile(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let profile_id = lock_instance_profile(&mut tx, name).await?;
        if holds_a_role(&mut tx, profile_id).await? {
            return Err(StoreError::Conflict(Conflict::InstanceProfileHasRole));
        }
        query("DELETE FROM instance_profiles WHERE id = $1")
            .bind(profile_id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    // --- Managed policies -----------------------------------------------------------

    async fn create_managed_policy(
        &self,
        policy: &ManagedPolicyRecord,
        version: &PolicyVersionRecord,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        query(
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
        .execute(tx.on())
        .await?;
        query(
            "INSERT INTO policy_versions (policy_arn, version_id, document, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&policy.arn)
        .bind(&version.version_id)
        .bind(&version.document)
        .bind(version.created_at)
        .execute(tx.on())
        .await?;
        tx.commit().await
    }

    async fn get_managed_policy(&self, arn: &str) -> StoreResult<Option<ManagedPolicyRecord>> {
        query(&format!("{POLICY_SELECT} WHERE p.arn = $1"))
            .bind(arn)
            .record(self.db.reader(), policy_from_row)
            .await
    }

    async fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> StoreResult<Option<PolicyVersionRecord>> {
        query(
            "SELECT v.version_id, v.document, v.created_at, \
             (v.version_id = p.default_version_id) AS is_default \
             FROM policy_versions v JOIN managed_policies p ON p.arn = v.policy_arn \
             WHERE v.policy_arn = $1 AND v.version_id = $2",
        )
        .bind(arn)
        .bind(version_id)
        .fetch_optional(self.db.reader())
        .await?
        .map(|row| version_from_row(&row, row.get("version_id")?))
        .transpose()
    }

    async fn delete_managed_policy(&self, arn: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        // The row lock makes a concurrent attach wait for this delete (and then fail).
        lock_policy(&mut tx, arn).await?;
        let attached: i64 = query(
            "SELECT (SELECT COUNT(*) FROM role_policy_attachments WHERE policy_arn = $1) \
             + (SELECT COUNT(*) FROM user_policy_attachments WHERE policy_arn = $1) \
             + (SELECT COUNT(*) FROM group_policy_attachments WHERE policy_arn = $1)",
        )
        .bind(arn)
        .scalar(tx.on())
        .await?;
        if attached > 0 {
            return Err(StoreError::Conflict(Conflict::PolicyAttached));
        }
        let bounding = query(
            "SELECT 1 AS one FROM roles WHERE permissions_boundary = $1 \
             UNION ALL SELECT 1 FROM users WHERE permissions_boundary = $1",
        )
        .bind(arn)
        .fetch_optional(tx.on())
        .await?;
        if bounding.is_some() {
            return Err(StoreError::Conflict(Conflict::PolicyAttached));
        }
        query("DELETE FROM managed_policies WHERE arn = $1")
            .bind(arn)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    // --- Attachments and inline policies -------------------------------------------

    async fn attach_role_policy(&self, role_name: &str, policy_arn: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_role(&mut tx, role_name).await?;
        let inserted = query(
            "INSERT INTO role_policy_attachments (role_id, policy_arn) \
             SELECT $1, arn FROM managed_policies WHERE arn = $2 \
             ON CONFLICT (role_id, policy_arn) DO NOTHING",
        )
        .bind(id)
        .bind(policy_arn)
        .execute(tx.on())
        .await?;
        if inserted == 0 {
            // Either already attached (fine) or no such policy.
            query("SELECT 1 AS one FROM managed_policies WHERE arn = $1")
                .bind(policy_arn)
                .fetch_optional(tx.on())
                .await?
                .ok_or(StoreError::NotFound)?;
        }
        tx.commit().await
    }

    async fn detach_role_policy(&self, role_name: &str, policy_arn: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_role(&mut tx, role_name).await?;
        found(
            query("DELETE FROM role_policy_attachments WHERE role_id = $1 AND policy_arn = $2")
                .bind(id)
                .bind(policy_arn)
                .execute(tx.on())
                .await?,
        )?;
        tx.commit().await
    }

    async fn list_attached_role_policies(
        &self,
        role_name: &str,
    ) -> StoreResult<Vec<AttachedPolicy>> {
        query(
            "SELECT p.name, p.arn FROM roles r \
             JOIN role_policy_attachments a ON a.role_id = r.id \
             JOIN managed_policies p ON p.arn = a.policy_arn \
             WHERE lower(r.name) = $1 ORDER BY p.name, p.arn",
        )
        .bind(folded(role_name))
        .records(self.db.reader(), |row| {
            Ok(AttachedPolicy {
                name: row.get("name")?,
                arn: row.get("arn")?,
            })
        })
        .await
    }

    async fn put_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_role(&mut tx, role_name).await?;
        query(
            "INSERT INTO role_inline_policies (role_id, name, document) VALUES ($1, $2, $3) \
             ON CONFLICT (role_id, name) DO UPDATE SET document = excluded.document",
        )
        .bind(id)
        .bind(policy_name)
        .bind(document)
        .execute(tx.on())
        .await?;
        tx.commit().await
    }

    async fn get_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> StoreResult<Option<String>> {
        query(
            "SELECT i.document FROM roles r JOIN role_inline_policies i ON i.role_id = r.id \
             WHERE lower(r.name) = $1 AND i.name = $2",
        )
        .bind(folded(role_name))
        .bind(policy_name)
        .scalar_optional(self.db.reader())
        .await
    }

    async fn delete_role_policy(&self, role_name: &str, policy_name: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let id = lock_role(&mut tx, role_name).await?;
        found(
            query("DELETE FROM role_inline_policies WHERE role_id = $1 AND name = $2")
                .bind(id)
                .bind(policy_name)
                .execute(tx.on())
                .await?,
        )?;
        tx.commit().await
    }

    async fn list_role_policies(&self, role_name: &str) -> StoreResult<Vec<String>> {
        query(
            "SELECT i.name FROM roles r JOIN role_inline_policies i ON i.role_id = r.id \
             WHERE lower(r.name) = $1 ORDER BY i.name",
        )
        .bind(folded(role_name))
        .records(self.db.reader(), |row| row.get("name"))
        .await
    }

    async fn role_effective_policies(&self, role_name: &str) -> StoreResult<PrincipalPolicies> {
        // Every authorized request reads this: one statement is one round trip and one
        // consistent snapshot, without BEGIN/COMMIT. The `kind` 0 row says the role exists
        // and names its boundary.
        let rows = query(
            "WITH r AS (SELECT id, arn, permissions_boundary FROM roles WHERE lower(name) = $1) \
             SELECT CAST(0 AS BIGINT) AS kind, CAST(COALESCE(r.permissions_boundary, '') AS TEXT) \
             AS label, CAST('' AS TEXT) AS version, CAST('' AS TEXT) AS document FROM r \
             UNION ALL \
             SELECT 1, i.name, '', i.document FROM r \
             JOIN role_inline_policies i ON i.role_id = r.id \
             UNION ALL \
             SELECT 2, p.arn, p.default_version_id, v.document FROM r \
             JOIN role_policy_attachments a ON a.role_id = r.id \
             JOIN managed_policies p ON p.arn = a.policy_arn \
             JOIN policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version_id \
             UNION ALL \
             SELECT 3, p.arn, p.default_version_id, v.document FROM r \
             JOIN managed_policies p ON p.arn = r.permissions_boundary \
             JOIN policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version_id \
             UNION ALL \
             SELECT 4, t.key, '', t.value FROM r JOIN iam_tags t ON t.resource_arn = r.arn",
        )
        .bind(folded(role_name))
        .fetch_all(self.db.reader())
        .await?;
        principal_policies(&rows)
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
        let mut tx = self.db.write().await?;
        // The row lock makes concurrent version changes of one policy take turns: the
        // count and the next number cannot go stale before the insert.
        let sql = format!(
            "SELECT p.next_version_number, \
             (SELECT COUNT(*) FROM policy_versions v WHERE v.policy_arn = p.arn) AS versions \
             FROM managed_policies p WHERE p.arn = $1{}",
            tx.for_update()
        );
        let row = query(&sql)
            .bind(arn)
            .fetch_optional(tx.on())
            .await?
            .ok_or(StoreError::NotFound)?;
        let number: i64 = row.get("next_version_number")?;
        if row.get::<i64>("versions")? >= sql_limit(max_versions) {
            return Err(StoreError::Conflict(Conflict::PolicyVersionLimit {
                max: max_versions,
            }));
        }
        let version_id = format!("v{number}");
        query(
            "INSERT INTO policy_versions (policy_arn, version_id, document, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(arn)
        .bind(&version_id)
        .bind(document)
        .bind(created_at)
        .execute(tx.on())
        .await?;
        query(
            "UPDATE managed_policies SET next_version_number = next_version_number + 1, \
             default_version_id = CASE WHEN $2 THEN $3 ELSE default_version_id END, \
             updated_at = CASE WHEN $2 THEN $4 ELSE updated_at END WHERE arn = $1",
        )
        .bind(arn)
        .bind(set_as_default)
        .bind(&version_id)
        .bind(created_at)
        .execute(tx.on())
        .await?;
        tx.commit().await?;
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
        let rows = query(
            "SELECT v.version_id, v.document, v.created_at, \
             (v.version_id = p.default_version_id) AS is_default \
             FROM managed_policies p LEFT JOIN policy_versions v ON v.policy_arn = p.arn \
             WHERE p.arn = $1 \
             ORDER BY CAST(substr(v.version_id, 2) AS BIGINT) DESC",
        )
        .bind(arn)
        .fetch_all(self.db.reader())
        .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(version_id) = row.get::<Option<String>>("version_id")? {
                out.push(version_from_row(row, version_id)?);
            }
        }
        Ok(out)
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        // Locking the policy row: a concurrent SetDefaultPolicyVersion to this version
        // waits, so the default check cannot go stale before the delete.
        lock_policy(&mut tx, arn).await?;
        let is_default: bool = query(
            "SELECT (p.default_version_id = v.version_id) AS is_default \
             FROM managed_policies p JOIN policy_versions v ON v.policy_arn = p.arn \
             WHERE p.arn = $1 AND v.version_id = $2",
        )
        .bind(arn)
        .bind(version_id)
        .scalar_optional(tx.on())
        .await?
        .ok_or(StoreError::NotFound)?;
        if is_default {
            return Err(StoreError::Conflict(Conflict::DefaultPolicyVersion));
        }
        query("DELETE FROM policy_versions WHERE policy_arn = $1 AND version_id = $2")
            .bind(arn)
            .bind(version_id)
            .execute(tx.on())
            .await?;
        tx.commit().await
    }

    async fn set_default_policy_version(
        &self,
        arn: &str,
        version_id: &str,
        updated_at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        // Lock the policy row first (as delete_policy_version does), then check the
        // version: a concurrent delete of it has either finished or not started.
        lock_policy(&mut tx, arn).await?;
        found(
            query(
                "UPDATE managed_policies SET default_version_id = $2, updated_at = $3 \
                 WHERE arn = $1 AND EXISTS (SELECT 1 FROM policy_versions v \
                 WHERE v.policy_arn = $1 AND v.version_id = $2)",
            )
            .bind(arn)
            .bind(version_id)
            .bind(updated_at)
            .execute(tx.on())
            .await?,
        )?;
        tx.commit().await
    }

    async fn list_managed_policies(&self) -> StoreResult<Vec<ManagedPolicyRecord>> {
        query(&format!("{POLICY_SELECT} ORDER BY p.arn"))
            .records(self.db.reader(), policy_from_row)
            .await
    }

    async fn tag_iam_resource(
        &self,
        arn: &str,
        tags: &[IamTag],
        max_tags: usize,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        // The entity may have no row to lock (tags are by ARN): taggers of one ARN take
        // turns, so positions stay distinct and the quota holds across replicas.
        tx.lock("berth-iam-tags", arn).await?;
        for tag in tags {
            // A key already present (in any case) keeps its position and takes the new
            // spelling and value.
            let updated = query(
                "UPDATE iam_tags SET key = $2, value = $3 \
                 WHERE resource_arn = $1 AND lower(key) = $4",
            )
            .bind(arn)
            .bind(&tag.key)
            .bind(&tag.value)
            .bind(folded(&tag.key))
            .execute(tx.on())
            .await?;
            if updated == 0 {
                query(
                    "INSERT INTO iam_tags (resource_arn, key, value, position) \
                     VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM iam_tags \
                     WHERE resource_arn = $1))",
                )
                .bind(arn)
                .bind(&tag.key)
                .bind(&tag.value)
                .execute(tx.on())
                .await?;
            }
        }
        let n: i64 = query("SELECT COUNT(*) FROM iam_tags WHERE resource_arn = $1")
            .bind(arn)
            .scalar(tx.on())
            .await?;
        if n > sql_limit(max_tags) {
            return Err(StoreError::Conflict(Conflict::IamTagLimit {
                max: max_tags,
            }));
        }
        tx.commit().await
    }

    async fn untag_iam_resource(&self, arn: &str, keys: &[String]) -> StoreResult<()> {
        let folded: Vec<String> = keys.iter().map(|k| folded(k)).collect();
        let mut tx = self.db.write().await?;
        delete_listed(
            &mut tx,
            "DELETE FROM iam_tags WHERE resource_arn = $1 AND lower(key) IN",
            arn,
            &folded,
        )
        .await?;
        tx.commit().await
    }

    async fn list_iam_resource_tags(&self, arn: &str) -> StoreResult<Vec<IamTag>> {
        query("SELECT key, value FROM iam_tags WHERE resource_arn = $1 ORDER BY position")
            .bind(arn)
            .records(self.db.reader(), |row| {
                Ok(IamTag {
                    key: row.get("key")?,
                    value: row.get("value")?,
                })
            })
            .await
    }

    async fn add_oidc_provider_client_id(
        &self,
        arn: &str,
        client_id: &str,
        max_client_ids: usize,
    ) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let mut ids = lock_oidc_list(&mut tx, arn, "client_ids").await?;
        if ids.iter().any(|id| id == client_id) {
            return Ok(());
        }
        if ids.len() >= max_client_ids {
            return Err(StoreError::Conflict(Conflict::ClientIdLimit {
                max: max_client_ids,
            }));
        }
        ids.push(client_id.to_owned());
        set_oidc_list(&mut tx, arn, "client_ids", &ids).await?;
        tx.commit().await
    }

    async fn remove_oidc_provider_client_id(&self, arn: &str, client_id: &str) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        let mut ids = lock_oidc_list(&mut tx, arn, "client_ids").await?;
        ids.retain(|id| id != client_id);
        set_oidc_list(&mut tx, arn, "client_ids", &ids).await?;
        tx.commit().await
    }

    async fn update_oidc_provider_thumbprints(
        &self,
        arn: &str,
        thumbprints: &[String],
    ) -> StoreResult<()> {
        found(
            query("UPDATE oidc_providers SET thumbprints = $1 WHERE arn = $2")
                .bind_list(thumbprints)
                .bind(arn)
                .execute(self.db.writer())
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_version_changes_with_the_document() {
        assert_ne!(document_version("a"), document_version("b"));
        assert_eq!(document_version("a"), document_version("a"));
        assert_eq!(document_version("a").len(), 24);
    }
}
