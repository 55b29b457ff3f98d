//! Deciding allocates nothing on the hot path: the document's ECR policy for a push and its
//! trust policy for a token, measured with a counting global allocator. One test in this
//! binary, so no other test thread allocates while it measures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/fixtures.rs"]
mod fixtures;

use std::alloc::System;

use berth_policy::{Decision, PolicySet, Request, decide};
use fixtures::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ROUNDS: usize = 10_000;

#[test]
fn deciding_does_not_allocate() {
    let ecr = ecr().unwrap();
    let identity = [("ecr", &ecr)];
    let ecr_set = PolicySet {
        identity: &identity,
        resource_account: Some(ACCOUNT),
        ..PolicySet::default()
    };
    let session = session_context();
    let push = Request {
        principal: session_principal(),
        action: "ecr:PutImage",
        resource: REPO,
        context: &session,
    };
    let denied_push = Request {
        action: "ECR:DeleteRepository",
        ..push
    };
    let trust = trust().unwrap();
    let trust_set = PolicySet {
        resource: Some(("trust", &trust)),
        resource_account: Some(ACCOUNT),
        ..PolicySet::default()
    };
    let token = token_context();
    let exchange = Request {
        principal: federated_principal(),
        action: "sts:AssumeRoleWithWebIdentity",
        resource: ROLE,
        context: &token,
    };

    let region = Region::new(GLOBAL);
    let mut decisions = [0usize; 3];
    for _ in 0..ROUNDS {
        for request in [
            (&ecr_set, &push),
            (&ecr_set, &denied_push),
            (&trust_set, &exchange),
        ] {
            match decide(request.0, request.1) {
                Decision::Allow => decisions[0] += 1,
                Decision::ImplicitDeny => decisions[1] += 1,
                Decision::ExplicitDeny => decisions[2] += 1,
            }
        }
    }
    let stats = region.change();
    assert_eq!(decisions, [2 * ROUNDS, ROUNDS, 0]);
    // Zero per decision; a handful of stray allocations by the test harness is tolerated.
    assert!(
        stats.allocations < 10,
        "{} allocations in {} decisions",
        stats.allocations,
        3 * ROUNDS
    );
}
