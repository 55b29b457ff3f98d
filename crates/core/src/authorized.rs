//! Proof of an authorisation decision.
//!
//! `Authorized<T>` can only be made inside berth-core, and only where the authorizer has
//! just allowed the request's action(s) on `T`. Every registry and ECR function that reads
//! or writes a repository's content takes one, so a route that skips the decision does not
//! compile: it has no value to pass.

use std::ops::Deref;

/// `T` (a repository, an upload), which the authorizer allowed this request to act on.
#[derive(Debug)]
pub struct Authorized<T> {
    resource: T,
}

impl<T> Authorized<T> {
    /// Only for the functions that have just had the authorizer's Allow for `resource`
    /// (`Registry::authorize_actions`, `Ecr::ecr_repository`, the download
    /// grant check), or that derive it from another proof (an upload of an authorised
    /// repository).
    pub(crate) fn granted(resource: T) -> Self {
        Self { resource }
    }

    pub fn into_inner(self) -> T {
        self.resource
    }
}

impl<T> Deref for Authorized<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.resource
    }
}
