//! The AssumeRoleWithWebIdentity path without HTTP: a GitHub Actions token from the dev
//! issuer, verified (RS256), checked against the role's trust policy, and a session token
//! sealed, on the stores `berth serve` uses (SQLite behind the metadata cache). So the
//! per-request cost of STS is visible without the network; bench/sts.sh measures it with
//! HTTP. Run: `cargo bench -p berth-core --bench assume`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use berth_core::authorizer::RequestFacts;
use berth_core::issuer::MintRequest;
use berth_core::keys::RootCredentials;
use berth_core::sts::AssumeRoleWithWebIdentityInput;
use berth_core::{Caller, ServerConfig, Services};
use berth_store::cached::CachedMetadataStore;
use berth_store_fs::FsBlobStore;
use berth_store_sql::SqlStore;
use berth_types::AccountId;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ACCOUNT: &str = "123456789012";
const GITHUB: &str = "https://token.actions.githubusercontent.com";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    services: Services,
    input: AssumeRoleWithWebIdentityInput,
    facts: RequestFacts,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (services, input, facts) = runtime.block_on(async {
        let metadata = SqlStore::open_sqlite(&dir.path().join("berth.db")).await.unwrap();
        let blobs = FsBlobStore::open(&dir.path().join("blobs")).await.unwrap();
        let config = ServerConfig {
            account_id: AccountId::parse(ACCOUNT).unwrap(),
            region: "us-east-1".into(),
            public_url: "http://127.0.0.1:5000".into(),
            dev: true,
            allow_unscoped_github_trust: false,
        };
        let root = RootCredentials {
            access_key_id: "AKIABENCHROOTKEY0001".into(),
            secret_access_key: "benchRootSecretKeyOnly0123456789abcdefgh".into(),
        };
        // As `berth serve` wraps its store, with its default TTL.
        let metadata = CachedMetadataStore::new(metadata, Duration::from_secs(1));
        let services = Services::new(config, Arc::new(metadata), Arc::new(blobs), root)
            .await
            .unwrap();
        let root = Caller::Root {
            account: ACCOUNT.into(),
            session: None,
        };
        let facts = RequestFacts {
            source_ip: Some("127.0.0.1".into()),
            ..RequestFacts::default()
        };
        let provider = services
            .iam().create_open_id_connect_provider(
                &root,
                &facts,
                GITHUB,
                &["sts.amazonaws.com".to_owned()],
                &[],
            )
            .await
            .unwrap();
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": provider.arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                    "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo/app:*"},
                },
            }],
        });
        let (role, _) = services
            .iam().create_role(
                &root,
                &facts,
                &berth_core::iam::CreateRoleInput {
                    name: "bench",
                    path: None,
                    trust_policy: &trust.to_string(),
                    description: None,
                    max_session_duration: None,
                    permissions_boundary: None,
                    tags: &[],
                },
            )
            .await
            .unwrap();
        let token = services
            .issuer
            .as_ref()
            .unwrap()
            .mint(
                &MintRequest {
                    repository: "octo/app".into(),
                    audience: Some("sts.amazonaws.com".into()),
                    expires_in: Some(3600),
                    ..MintRequest::default()
                },
                berth_core::now_unix(),
            )
            .unwrap();
        let input = AssumeRoleWithWebIdentityInput {
            role_arn: role.arn.to_string(),
            role_session_name: "bench".into(),
            web_identity_token: token,
            duration_seconds: None,
            policy: None,
            policy_arns: Vec::new(),
        };
        (services, input, facts)
    });
    Fixture {
        runtime,
        services,
        input,
        facts,
        _dir: dir,
    }
}

fn assume(c: &mut Criterion) {
    let f = fixture();
    let assume = || {
        f.runtime
            .block_on(f.services.sts().assume_role_with_web_identity(
                black_box(&f.input),
                black_box(&f.facts),
                &mut Default::default(),
            ))
            .unwrap()
    };
    // The session it issues works: the sealed token opens to the role's session.
    let out = assume();
    let (_, caller) = f
        .runtime
        .block_on(f.services.sts().resolve_access_key(
            &out.credentials.access_key_id,
            Some(&out.credentials.session_token),
            berth_core::now_unix(),
        ))
        .unwrap();
    assert_eq!(caller.arn(), out.assumed_role_arn);

    let mut group = c.benchmark_group("sts");
    group.throughput(Throughput::Elements(1));
    group.bench_function("assume_role_with_web_identity", |b| b.iter(assume));
    // Its parts: the token's signature, and the session token's seal (opened again by
    // every signed request the session makes).
    let jwks = f.services.issuer.as_ref().unwrap().jwks();
    group.bench_function("token_decode_and_verify", |b| {
        b.iter(|| {
            berth_jwt::decode_unverified(black_box(&f.input.web_identity_token))
                .unwrap()
                .verify_signature(&jwks)
                .unwrap()
        })
    });
    group.bench_function("session_token_open", |b| {
        b.iter(|| {
            // A session key is opened without I/O: the future completes at once.
            f.runtime
                .block_on(f.services.sts().resolve_access_key(
                    black_box(&out.credentials.access_key_id),
                    Some(black_box(&out.credentials.session_token)),
                    berth_core::now_unix(),
                ))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, assume);
criterion_main!(benches);
