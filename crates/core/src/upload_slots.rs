//! A bound on how many uploads one principal streams at once, so one caller (a runaway CI
//! job, a stolen token) cannot hold every connection and disk write of the server.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::Caller;

/// Default bound per principal on requests that stream blob bytes at the same time.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 16;

#[derive(Debug)]
pub struct UploadSlots {
    max_per_principal: usize,
    in_use: Mutex<HashMap<String, usize>>,
}

/// Held while an upload request streams; frees its slot when dropped.
#[derive(Debug)]
pub struct UploadSlot<'a> {
    slots: &'a UploadSlots,
    principal: String,
}

impl UploadSlots {
    pub fn new(max_per_principal: usize) -> Self {
        Self {
            max_per_principal: max_per_principal.max(1),
            in_use: Mutex::new(HashMap::new()),
        }
    }

    pub fn max_per_principal(&self) -> usize {
        self.max_per_principal
    }

    /// A slot for `caller`, or `None` when it already streams the maximum.
    pub fn try_acquire(&self, caller: &Caller) -> Option<UploadSlot<'_>> {
        let principal = caller.arn();
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        let count = in_use.entry(principal.clone()).or_insert(0);
        if *count >= self.max_per_principal {
            return None;
        }
        *count += 1;
        Some(UploadSlot {
            slots: self,
            principal,
        })
    }
}

impl Default for UploadSlots {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CONCURRENT_UPLOADS)
    }
}

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        let mut in_use = self
            .slots
            .in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_use.get_mut(&self.principal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_use.remove(&self.principal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_principal_and_freed_on_drop() {
        let slots = UploadSlots::new(2);
        let alice = Caller::Root {
            account: "111111111111".into(),
        };
        let bob = Caller::Root {
            account: "222222222222".into(),
        };
        let a1 = slots.try_acquire(&alice).unwrap();
        let _a2 = slots.try_acquire(&alice).unwrap();
        assert!(slots.try_acquire(&alice).is_none());
        // Another principal is not affected.
        let _b1 = slots.try_acquire(&bob).unwrap();
        drop(a1);
        let _a3 = slots.try_acquire(&alice).unwrap();
        assert!(slots.try_acquire(&alice).is_none());
    }
}
