//! IAM's `RoleLastUsed` and `AccessKeyLastUsed`, and ECR's `lastRecordedPullTime`: when
//! each role was last assumed, when (and with which service) each user's access key was
//! last used, and when each image was last pulled. A request only
//! notes it in memory; a background task writes what was noted every few seconds in one
//! batch, so no request waits on a write and the metadata cache is emptied no more often
//! than that. IAM itself reports last use hours late; Berth's lag is one flush interval,
//! and a crash loses at most that interval's uses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use berth_types::{Digest, RepositoryName};

use crate::Services;

/// How often noted uses are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Roles noted between two flushes at most; uses of further roles wait for the next
/// interval's notes (a busy role is noted again on its next assume).
const PENDING_LIMIT: usize = 10_000;

/// Uses noted since the last flush: a role's unique id or an access key id -> the latest
/// use (Unix seconds) and the service it was for.
#[derive(Default)]
pub struct RecentUses {
    pending: Mutex<HashMap<String, (i64, &'static str)>>,
}

/// Roles assumed since the last flush.
pub type RoleUsage = RecentUses;

impl RecentUses {
    /// Notes a use of `id` at `at` (for `service`).
    pub fn note(&self, id: &str, at: i64, service: &'static str) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if let Some(latest) = pending.get_mut(id) {
            if at > latest.0 {
                *latest = (at, service);
            }
        } else if pending.len() < PENDING_LIMIT {
            pending.insert(id.to_owned(), (at, service));
        }
    }

    fn take(&self) -> Vec<(String, i64, &'static str)> {
        self.pending
            .lock()
            .map(|mut pending| pending.drain().map(|(id, (at, s))| (id, at, s)).collect())
            .unwrap_or_default()
    }
}

impl Services {
    /// Writes the role and access key uses noted since the last call. On a store error
    /// they are noted again, to be written by the next call.
    pub async fn flush_role_usage(&self) {
        let uses = self.role_usage.take();
        if !uses.is_empty() {
            let roles: Vec<(String, i64)> =
                uses.iter().map(|(id, at, _)| (id.clone(), *at)).collect();
            if let Err(e) = self
                .metadata
                .record_roles_last_used(&roles, &self.config.region)
                .await
            {
                tracing::warn!(error = %e, roles = uses.len(), "cannot record when roles were last used; will retry");
                for (id, at, service) in &uses {
                    self.role_usage.note(id, *at, service);
                }
            }
        }
        let uses = self.pull_usage.take();
        let pulls: Vec<(RepositoryName, Digest, i64)> = uses
            .iter()
            .filter_map(|(key, at, _)| {
                let (repository, digest) = key.split_once('@')?;
                Some((
                    RepositoryName::parse(repository).ok()?,
                    Digest::parse(digest).ok()?,
                    *at,
                ))
            })
            .collect();
        if !pulls.is_empty()
            && let Err(e) = self.metadata.record_image_pulls(&pulls).await
        {
            tracing::warn!(error = %e, images = pulls.len(), "cannot record when images were last pulled; will retry");
            for (key, at, service) in &uses {
                self.pull_usage.note(key, *at, service);
            }
        }
        let uses = self.key_usage.take();
        if !uses.is_empty() {
            let keys: Vec<(String, i64, String)> = uses
                .iter()
                .map(|(id, at, service)| (id.clone(), *at, (*service).to_owned()))
                .collect();
            if let Err(e) = self
                .metadata
                .record_access_keys_last_used(&keys, &self.config.region)
                .await
            {
                tracing::warn!(error = %e, keys = uses.len(), "cannot record when access keys were last used; will retry");
                for (id, at, service) in &uses {
                    self.key_usage.note(id, *at, service);
                }
            }
        }
    }

    /// Notes that an image was pulled just now: its manifest was fetched (GET, or ECR's
    /// BatchGetImage), not merely checked (HEAD).
    pub fn note_image_pull(&self, repository: &RepositoryName, digest: &Digest) {
        self.pull_usage
            .note(&format!("{repository}@{digest}"), crate::now_unix(), "ecr");
    }

    /// Notes that an IAM user's access key signed a request for `service` just now.
    pub fn note_access_key_use(&self, access_key_id: &str, service: &'static str) {
        self.key_usage
            .note(access_key_id, crate::now_unix(), service);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_use_of_each_role() {
        let usage = RecentUses::default();
        usage.note("AROAONE", 10, "sts");
        usage.note("AROAONE", 30, "ecr");
        usage.note("AROAONE", 20, "iam");
        usage.note("AROATWO", 5, "sts");
        let mut taken = usage.take();
        taken.sort();
        assert_eq!(
            taken,
            [
                ("AROAONE".to_owned(), 30, "ecr"),
                ("AROATWO".to_owned(), 5, "sts")
            ]
        );
        assert!(usage.take().is_empty(), "taken once");
    }

    #[test]
    fn notes_a_bounded_number_of_roles() {
        let usage = RecentUses::default();
        for i in 0..PENDING_LIMIT + 5 {
            usage.note(&format!("AROA{i}"), 1, "sts");
        }
        assert_eq!(usage.take().len(), PENDING_LIMIT);
    }
}
