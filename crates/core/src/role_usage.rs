//! IAM's `RoleLastUsed`: when each role was last assumed. An assume only notes it in
//! memory; a background task writes what was noted every few seconds in one batch, so
//! the assume path never waits on a write and the metadata cache is emptied no more
//! often than that. IAM itself reports a role's last use hours late; Berth's lag is one
//! flush interval, and a crash loses at most that interval's uses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::Services;

/// How often noted uses are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Roles noted between two flushes at most; uses of further roles wait for the next
/// interval's notes (a busy role is noted again on its next assume).
const PENDING_LIMIT: usize = 10_000;

/// Uses noted since the last flush: role unique id -> latest assume (Unix seconds).
#[derive(Default)]
pub struct RoleUsage {
    pending: Mutex<HashMap<String, i64>>,
}

impl RoleUsage {
    /// Notes that the role with unique id `role_id` was assumed at `at`.
    pub fn note(&self, role_id: &str, at: i64) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if let Some(latest) = pending.get_mut(role_id) {
            *latest = (*latest).max(at);
        } else if pending.len() < PENDING_LIMIT {
            pending.insert(role_id.to_owned(), at);
        }
    }

    fn take(&self) -> Vec<(String, i64)> {
        self.pending
            .lock()
            .map(|mut pending| pending.drain().collect())
            .unwrap_or_default()
    }
}

impl Services {
    /// Writes the role uses noted since the last call. On a store error they are noted
    /// again, to be written by the next call.
    pub async fn flush_role_usage(&self) {
        let uses = self.role_usage.take();
        if uses.is_empty() {
            return;
        }
        if let Err(e) = self
            .metadata
            .record_roles_last_used(&uses, &self.config.region)
            .await
        {
            tracing::warn!(error = %e, roles = uses.len(), "cannot record when roles were last used; will retry");
            for (role_id, at) in &uses {
                self.role_usage.note(role_id, *at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_use_of_each_role() {
        let usage = RoleUsage::default();
        usage.note("AROAONE", 10);
        usage.note("AROAONE", 30);
        usage.note("AROAONE", 20);
        usage.note("AROATWO", 5);
        let mut taken = usage.take();
        taken.sort();
        assert_eq!(
            taken,
            [("AROAONE".to_owned(), 30), ("AROATWO".to_owned(), 5)]
        );
        assert!(usage.take().is_empty(), "taken once");
    }

    #[test]
    fn notes_a_bounded_number_of_roles() {
        let usage = RoleUsage::default();
        for i in 0..PENDING_LIMIT + 5 {
            usage.note(&format!("AROA{i}"), 1);
        }
        assert_eq!(usage.take().len(), PENDING_LIMIT);
    }
}
