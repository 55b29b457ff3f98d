//! OIDC federation against an identity provider that is not Berth: a separate process
//! (Python's standard `http.server`) serves a discovery document and a JWKS on loopback;
//! the test holds the RSA and EC private keys and crafts tokens, honest and hostile.
//! Berth must fetch the keys itself, accept what STS accepts and refuse, with AWS's error
//! code, everything STS refuses. Calls go through boto3 and the aws CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use berth_jwt::RsaSigningKey;
use common::idp::{Idp, b64, jws, python};
use common::*;
use serde_json::{Value, json};

struct EcKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl EcKey {
    fn generate(kid: &str) -> EcKey {
        EcKey {
            kid: kid.into(),
            pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
        }
    }
    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
               "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }
    fn sign(&self, claims: &Value) -> String {
        jws(
            &json!({"typ": "JWT", "alg": "ES256", "kid": self.kid}),
            claims,
            |input| {
                self.pair
                    .sign(&SystemRandom::new(), input)
                    .unwrap()
                    .as_ref()
                    .to_vec()
            },
        )
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn run_attempts(endpoint: &str, dir: &Path, attempts: &Value) -> Value {
    let file = dir.join("attempts.json");
    std::fs::write(&file, attempts.to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/sts_attempts.py");
    let out = Command::new(python())
        .arg(script)
        .arg(endpoint)
        .arg(&file)
        .env_clear()
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run boto3 (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "sts_attempts.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn trust_for(provider_arn: &str, host: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {format!("{host}:aud"): "sts.amazonaws.com"},
                "StringLike": {format!("{host}:sub"): "repo:octo/app:*"},
            },
        }],
    })
    .to_string()
}

#[test]
fn tokens_from_a_foreign_identity_provider() {
    let tmp = tempfile::tempdir().unwrap();
    // A metadata cache that never expires during the test: every IAM change below must
    // reach the next request through the cache's write invalidation alone.
    let server = Server::start_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--dev", "--metadata-cache-ttl", "3600"],
    );
    let clients = Clients {
        endpoint: server.endpoint(),
        home: tmp.path().to_owned(),
    };
    let idp = Idp::start(&tmp.path().join("idp"));
    let rsa = RsaSigningKey::generate("rsa-1").unwrap();
    let ec = EcKey::generate("ec-1");
    let jwks = |keys: Vec<Value>| json!({ "keys": keys }).to_string();
    let rsa_jwk = serde_json::to_value(rsa.public_jwk()).unwrap();
    idp.write("jwks.json", &jwks(vec![rsa_jwk.clone(), ec.jwk()]));

    // An IdP whose JWKS is an HTML page, and one that is down.
    let html_idp = Idp::start(&tmp.path().join("html-idp"));
    html_idp.write("jwks.json", "<html><body>Sign in</body></html>");
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{dead_port}");

    let mut provider_arns = Vec::new();
    for url in [idp.base.as_str(), html_idp.base.as_str(), dead.as_str()] {
        let created = clients.aws_ok(
            Some(&root()),
            &[
                "iam",
                "create-open-id-connect-provider",
                "--url",
                url,
                "--client-id-list",
                "sts.amazonaws.com",
            ],
        );
        provider_arns.push(
            created["OpenIDConnectProviderArn"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        provider_arns[0],
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{}", idp.host())
    );
    for (role, arn, host) in [
        ("Federated", &provider_arns[0], idp.host().to_owned()),
        (
            "OtherProvider",
            &provider_arns[2],
            format!("127.0.0.1:{dead_port}"),
        ),
    ] {
        clients.aws_ok(
            Some(&root()),
            &[
                "iam",
                "create-role",
                "--role-name",
                role,
                "--assume-role-policy-document",
                &trust_for(arn, &host),
            ],
        );
    }
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/Federated");
    let other_role_arn = format!("arn:aws:iam::{ACCOUNT}:role/OtherProvider");

    // GitHub's provider trusted with no condition on the repository: refused by IAM.
    let unscoped = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]});
    let err = clients.aws_err(
        Some(&root()),
        &[
            "iam",
            "create-role",
            "--role-name",
            "Unscoped",
            "--assume-role-policy-document",
            &unscoped.to_string(),
        ],
    );
    assert!(err.contains("(MalformedPolicyDocument)"), "{err}");

    let t = now();
    let claims = |iss: &str| {
        json!({"iss": iss, "aud": "sts.amazonaws.com", "sub": "repo:octo/app:ref:refs/heads/main",
               "iat": t, "nbf": t - 600, "exp": t + 300, "repository": "octo/app"})
    };
    let good = claims(&idp.base);
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let valid_rsa = rsa.sign(&good).unwrap();
    let tampered = {
        let parts: Vec<&str> = valid_rsa.split('.').collect();
        let evil = with(json!({"sub": "repo:octo/app:ref:refs/heads/evil"}));
        format!(
            "{}.{}.{}",
            parts[0],
            b64(evil.to_string().as_bytes()),
            parts[2]
        )
    };
    let hs256_with_public_key = jws(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}),
        &good,
        |input| {
            let key = aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                rsa_jwk.to_string().as_bytes(),
            );
            aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
        },
    );
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good.to_string().as_bytes())
    );
    let oversized = rsa
        .sign(&with(json!({"padding": "x".repeat(20_000)})))
        .unwrap();
    let attempt = |name: &str, role: &str, token: &str| json!({"name": name, "role_arn": role, "token": token});
    let mut attempts = vec![
        attempt("rsa", &role_arn, &valid_rsa),
        attempt("ec", &role_arn, &ec.sign(&good)),
        attempt(
            "forged",
            &role_arn,
            &RsaSigningKey::generate("rsa-1")
                .unwrap()
                .sign(&good)
                .unwrap(),
        ),
        attempt("alg_none", &role_arn, &alg_none),
        attempt("hs256_public_key", &role_arn, &hs256_with_public_key),
        attempt(
            "unknown_kid",
            &role_arn,
            &RsaSigningKey::generate("nobody")
                .unwrap()
                .sign(&good)
                .unwrap(),
        ),
        attempt(
            "expired",
            &role_arn,
            &rsa.sign(&with(json!({"exp": t - 5}))).unwrap(),
        ),
        attempt(
            "nbf_future",
            &role_arn,
            &rsa.sign(&with(json!({"nbf": t + 900}))).unwrap(),
        ),
        attempt(
            "iat_future",
            &role_arn,
            &rsa.sign(&with(json!({"iat": t + 900}))).unwrap(),
        ),
        attempt(
            "wrong_iss",
            &role_arn,
            &rsa.sign(&with(json!({"iss": "https://idp.example.com"})))
                .unwrap(),
        ),
        attempt(
            "wrong_aud",
            &role_arn,
            &rsa.sign(&with(json!({"aud": "https://github.com/octo"})))
                .unwrap(),
        ),
        attempt("tampered", &role_arn, &tampered),
        attempt("oversized", &role_arn, &oversized),
        attempt("garbage", &role_arn, "!!!!.@@@@.####"),
        attempt("issuer_down", &role_arn, &rsa.sign(&claims(&dead)).unwrap()),
        attempt(
            "jwks_html",
            &role_arn,
            &rsa.sign(&claims(&html_idp.base)).unwrap(),
        ),
        attempt("other_provider_role", &other_role_arn, &valid_rsa),
    ];
    let mut too_long = attempt("duration_over_max", &role_arn, &valid_rsa);
    too_long["duration"] = json!(7200);
    attempts.push(too_long);
    let results = run_attempts(&server.endpoint(), tmp.path(), &Value::Array(attempts));

    let code = |name: &str| {
        results[name]["code"]
            .as_str()
            .unwrap_or("<missing>")
            .to_owned()
    };
    for (name, expected) in [
        ("rsa", "OK"),
        ("ec", "OK"),
        ("forged", "InvalidIdentityToken"),
        ("alg_none", "InvalidIdentityToken"),
        ("hs256_public_key", "InvalidIdentityToken"),
        ("unknown_kid", "InvalidIdentityToken"),
        ("expired", "ExpiredTokenException"),
        ("nbf_future", "InvalidIdentityToken"),
        ("iat_future", "InvalidIdentityToken"),
        ("wrong_iss", "InvalidIdentityToken"),
        ("wrong_aud", "InvalidIdentityToken"),
        ("tampered", "InvalidIdentityToken"),
        ("oversized", "ValidationError"),
        ("garbage", "InvalidIdentityToken"),
        ("issuer_down", "IDPCommunicationError"),
        ("jwks_html", "InvalidIdentityToken"),
        ("other_provider_role", "AccessDenied"),
        ("duration_over_max", "ValidationError"),
    ] {
        assert_eq!(code(name), expected, "{name}: {}", results[name]);
    }
    assert_eq!(
        results["wrong_iss"]["message"],
        "No OpenIDConnect provider found in your account for https://idp.example.com"
    );
    assert_eq!(results["wrong_aud"]["message"], "Incorrect token audience");
    assert!(
        results["jwks_html"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Couldn't retrieve verification key"),
        "{}",
        results["jwks_html"]
    );
    let ok = &results["ec"];
    assert_eq!(ok["subject"], "repo:octo/app:ref:refs/heads/main");
    assert_eq!(ok["provider"], provider_arns[0].as_str());
    assert_eq!(ok["audience"], "sts.amazonaws.com");
    assert_eq!(
        ok["caller_arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/Federated/e2e")
    );
    assert_eq!(ok["caller_account"], ACCOUNT);

    // A key rotated in at the issuer: accepted once the cache refreshes, which it does on
    // the unknown kid (at most once a second per issuer, hence the wait).
    let rotated = RsaSigningKey::generate("rsa-2").unwrap();
    idp.write(
        "jwks.json",
        &jwks(vec![
            rsa_jwk.clone(),
            ec.jwk(),
            serde_json::to_value(rotated.public_jwk()).unwrap(),
        ]),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let results = run_attempts(
        &server.endpoint(),
        tmp.path(),
        &json!([attempt("rotated", &role_arn, &rotated.sign(&good).unwrap())]),
    );
    assert_eq!(results["rotated"]["code"], "OK", "{}", results["rotated"]);

    // The aws CLI, with the EC key.
    let out = clients.aws(
        None,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &role_arn,
            "--role-session-name",
            "cli",
            "--web-identity-token",
            &ec.sign(&good),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let assumed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(assumed["Provider"], provider_arns[0].as_str());

    // The credential scope's region must be the server's or us-east-1.
    let err = clients.aws_err(
        Some(&root()),
        &["sts", "get-caller-identity", "--region", "eu-west-1"],
    );
    assert!(err.contains("(SignatureDoesNotMatch)"), "{err}");

    // A session policy narrows the session: the role may push and pull, the session that
    // carries a Deny for ecr:PutImage may only pull.
    clients.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", "app"],
    );
    clients.aws_ok(
        Some(&root()),
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "Federated",
            "--policy-name",
            "ecr",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#,
        ],
    );
    let session_login = |name: &str, policy: Option<&str>| -> PathBuf {
        let token = rsa.sign(&with(json!({"iat": now()}))).unwrap();
        let mut args = vec![
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &role_arn,
            "--role-session-name",
            name,
            "--web-identity-token",
            &token,
        ];
        if let Some(p) = policy {
            args.extend(["--policy", p]);
        }
        let assumed = clients.aws_ok(None, &args);
        if policy.is_some() {
            assert!(
                assumed["PackedPolicySize"].as_i64().unwrap() > 0,
                "{assumed}"
            );
        }
        let c = &assumed["Credentials"];
        let creds = Creds {
            access_key_id: c["AccessKeyId"].as_str().unwrap().into(),
            secret_access_key: c["SecretAccessKey"].as_str().unwrap().into(),
            session_token: Some(c["SessionToken"].as_str().unwrap().into()),
        };
        let password = clients.aws_ok(Some(&creds), &["ecr", "get-login-password"]);
        let auth = tmp.path().join(format!("{name}-auth.json"));
        let out = clients.skopeo(
            &[
                "login",
                "--tls-verify=false",
                "--authfile",
                auth.to_str().unwrap(),
                "--username",
                "AWS",
                "--password-stdin",
                &server.addr,
            ],
            Some(password.as_str().unwrap()),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        auth
    };
    let full = session_login("full", None);
    let no_push = session_login(
        "no-push",
        Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Action":"ecr:PutImage","Resource":"*"}]}"#,
        ),
    );
    let layout = tmp.path().join("image");
    write_oci_layout(&layout, "v1", 1, 1024);
    let src = format!("oci:{}:v1", layout.display());
    let copy = |auth: &Path, from: &str, to: &str| {
        clients.skopeo(
            &[
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--src-authfile",
                auth.to_str().unwrap(),
                "--dest-authfile",
                auth.to_str().unwrap(),
                from,
                to,
            ],
            None,
        )
    };
    let pushed = copy(&full, &src, &format!("docker://{}/app:v1", server.addr));
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let refused = copy(&no_push, &src, &format!("docker://{}/app:v2", server.addr));
    assert!(
        !refused.status.success(),
        "push with ecr:PutImage denied must fail"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("denied") || stderr.contains("403"),
        "{stderr}"
    );
    let pulled = copy(
        &no_push,
        &format!("docker://{}/app:v1", server.addr),
        &format!("oci:{}:v1", tmp.path().join("pulled").display()),
    );
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
}
