//! Decisions per second for the document's policies: the ECR permission policy for a
//! push (`ecr:PutImage` on the repository) and the trust policy for a GitHub token.
//! Targets (issue 3): at least 1,000,000 ECR decisions/s on one core; a trust decision
//! under 2 µs. Run: `cargo bench -p berth-policy --bench decisions`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures.rs"]
mod fixtures;

use std::hint::black_box;

use berth_policy::{Context, Decision, PolicySet, Request, decide, evaluate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fixtures::*;

fn ecr_push(c: &mut Criterion) {
    let policy = ecr().unwrap();
    let identity = [(
        "arn:aws:iam::123456789012:policy/GitHubActionsECRPolicy",
        &policy,
    )];
    let set = PolicySet {
        identity: &identity,
        resource_account: Some(ACCOUNT),
        ..PolicySet::default()
    };
    let context = session_context();
    let request = Request {
        principal: session_principal(),
        action: "ecr:PutImage",
        resource: REPO,
        context: &context,
    };
    assert_eq!(decide(&set, &request), Decision::Allow);
    let mut group = c.benchmark_group("ecr_policy");
    group.throughput(Throughput::Elements(1));
    group.bench_function("push_allowed", |b| {
        b.iter(|| decide(black_box(&set), black_box(&request)))
    });
    let other = Request {
        resource: "arn:aws:ecr:ap-northeast-2:123456789012:repository/octo/other",
        ..request
    };
    group.bench_function("push_denied", |b| {
        b.iter(|| decide(black_box(&set), black_box(&other)))
    });
    group.bench_function("push_allowed_with_matched_list", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&request)))
    });
    group.finish();
}

fn trust_token(c: &mut Criterion) {
    let policy = trust().unwrap();
    let set = PolicySet {
        resource: Some(("trust", &policy)),
        resource_account: Some(ACCOUNT),
        ..PolicySet::default()
    };
    let context = token_context();
    let request = Request {
        principal: federated_principal(),
        action: "sts:AssumeRoleWithWebIdentity",
        resource: ROLE,
        context: &context,
    };
    assert_eq!(decide(&set, &request), Decision::Allow);
    let mut group = c.benchmark_group("trust_policy");
    group.throughput(Throughput::Elements(1));
    group.bench_function("token_allowed", |b| {
        b.iter(|| decide(black_box(&set), black_box(&request)))
    });
    // What STS does per token after verifying it: build the condition keys, then decide.
    let claims = github_claims();
    group.bench_function("token_keys_and_decision", |b| {
        b.iter(|| {
            let mut context = Context::new();
            berth_policy::web_identity::insert_token_keys(
                &mut context,
                "https://token.actions.githubusercontent.com",
                PROVIDER,
                black_box(&claims),
                "sts.amazonaws.com",
            );
            decide(
                &set,
                &Request {
                    context: &context,
                    ..request
                },
            )
        })
    });
    group.finish();
}

criterion_group!(benches, ecr_push, trust_token);
criterion_main!(benches);
