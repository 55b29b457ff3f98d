//! Bounds on uploads streamed at once: per access key, so that one caller (a runaway CI
//! job, a stolen token) cannot hold every connection and disk write of the server, and in
//! all, so that many callers together cannot either.
//!
//! Per access key, not per principal: parallel CI jobs assume the same role with the same
//! session name (`GitHubActions`), and each job's session has its own key, so they do not
//! starve each other; choosing another session name gets another key only by assuming the
//! role again, which the total bound still covers.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::Caller;

/// Default bound per access key on requests that stream blob bytes at the same time.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 16;
/// Default bound on such requests for the whole server.
pub const DEFAULT_MAX_TOTAL_UPLOADS: usize = 256;

#[derive(Debug)]
pub struct UploadSlots {
    max_per_key: usize,
    max_total: usize,
    in_use: Mutex<InUse>,
}

#[derive(Debug, Default)]
struct InUse {
    total: usize,
    per_key: HashMap<String, usize>,
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRefused {
    /// The caller's access key streams `--max-concurrent-uploads` uploads already.
    PerKey(usize),
    /// The server streams `--max-total-uploads` uploads already.
    Total(usize),
}

impl std::fmt::Display for SlotRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PerKey(n) => write!(
                f,
                "these credentials already stream {n} uploads at once; retry when one finishes"
            ),
            Self::Total(n) => write!(
                f,
                "the server already streams its maximum of {n} uploads at once; retry shortly"
            ),
        }
    }
}

/// Held while an upload request streams; frees its slot when dropped.
#[derive(Debug)]
pub struct UploadSlot<'a> {
    slots: &'a UploadSlots,
    key: String,
}

impl UploadSlots {
    pub fn new(max_per_key: usize, max_total: usize) -> Self {
        Self {
            max_per_key: max_per_key.max(1),
            max_total: max_total.max(1),
            in_use: Mutex::new(InUse::default()),
        }
    }

    /// A slot for `caller`, keyed by its access key.
    pub fn try_acquire(&self, caller: &Caller) -> Result<UploadSlot<'_>, SlotRefused> {
        let key = caller.access_key_id().to_owned();
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        if in_use.total >= self.max_total {
            return Err(SlotRefused::Total(self.max_total));
        }
        let count = in_use.per_key.entry(key.clone()).or_insert(0);
        if *count >= self.max_per_key {
            return Err(SlotRefused::PerKey(self.max_per_key));
        }
        *count += 1;
        in_use.total += 1;
        berth_metrics::metrics().uploads_in_progress().inc();
        Ok(UploadSlot { slots: self, key })
    }
}

impl Default for UploadSlots {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CONCURRENT_UPLOADS, DEFAULT_MAX_TOTAL_UPLOADS)
    }
}

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        berth_metrics::metrics().uploads_in_progress().dec();
        let mut in_use = self
            .slots
            .in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_use.total = in_use.total.saturating_sub(1);
        if let Some(count) = in_use.per_key.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_use.per_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RoleSession;

    fn session(name: &str, key: &str) -> Caller {
        Caller::AssumedRole(Box::new(RoleSession {
            account: "111111111111".into(),
            role_name: "R".into(),
            role_arn: "arn:aws:iam::111111111111:role/R".into(),
            role_id: "AROAEXAMPLE".into(),
            session_name: name.into(),
            access_key_id: key.into(),
            ..RoleSession::default()
        }))
    }

    #[test]
    fn bounded_per_access_key_and_freed_on_drop() {
        let slots = UploadSlots::new(2, 100);
        // Two CI jobs: the same role and session name, each with its own key.
        let job1 = session("GitHubActions", "ASIAJOB1");
        let job2 = session("GitHubActions", "ASIAJOB2");
        let a1 = slots.try_acquire(&job1).unwrap();
        let _a2 = slots.try_acquire(&job1).unwrap();
        assert_eq!(
            slots.try_acquire(&job1).unwrap_err(),
            SlotRefused::PerKey(2)
        );
        let _b1 = slots.try_acquire(&job2).unwrap();
        drop(a1);
        let _a3 = slots.try_acquire(&job1).unwrap();
        assert!(slots.try_acquire(&job1).is_err());
    }

    #[test]
    fn bounded_in_total() {
        let slots = UploadSlots::new(2, 3);
        let held: Vec<_> = ["ASIA1", "ASIA2", "ASIA3"]
            .iter()
            .map(|k| slots.try_acquire(&session(k, k)).unwrap())
            .collect();
        // A new session name (a new key) does not get past the total.
        assert_eq!(
            slots.try_acquire(&session("other", "ASIA4")).unwrap_err(),
            SlotRefused::Total(3)
        );
        drop(held);
        assert!(slots.try_acquire(&session("other", "ASIA4")).is_ok());
    }
}
