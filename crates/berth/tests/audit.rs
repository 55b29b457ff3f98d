//! The audit trail, end to end: calls made with the real aws CLI and skopeo come back
//! from `aws cloudtrail lookup-events` and `berth audit` as CloudTrail records, with the
//! web identity's claims and a denial's explanation, and nothing secret; they survive a
//! restart, and a SIGKILL loses at most the last batch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};

fn clients(server: &Server, home: &Path) -> Clients {
    std::fs::create_dir_all(home).unwrap();
    Clients {
        endpoint: server.endpoint(),
        home: home.to_owned(),
    }
}

const PUSH_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;

/// `lookup-events` with one attribute, every page; the records, newest first.
fn lookup(c: &Clients, key: &str, value: &str) -> Vec<Value> {
    let out = c.aws_ok(
        Some(&root()),
        &[
            "cloudtrail",
            "lookup-events",
            "--lookup-attributes",
            &format!("AttributeKey={key},AttributeValue={value}"),
        ],
    );
    out["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap())
        .collect()
}

/// Waits (the trail is written in batches, within a second) until `lookup` finds at
/// least `count` events.
fn lookup_at_least(c: &Clients, key: &str, value: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = lookup(c, key, value);
        if events.len() >= count || Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn mint_token(c: &Clients, reference: &str) -> String {
    let out = c.berth(
        &root(),
        &[
            "token",
            "--endpoint-url",
            &c.endpoint,
            "--repository",
            "octo-org/octo-repo",
            "--ref",
            reference,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn assume(c: &Clients, role: &str, token: &str) -> std::process::Output {
    c.aws(
        None,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
            "--role-session-name",
            "ci",
            "--web-identity-token",
            token,
        ],
    )
}

/// Pushes a small image as `creds` with skopeo; returns the registry password used.
fn push(
    c: &Clients,
    addr: &str,
    dir: &Path,
    creds: &Creds,
    tag: &str,
    layers: usize,
    layer_size: usize,
) -> (String, std::process::Output) {
    let password = c.aws(Some(creds), &["ecr", "get-login-password"]);
    let password = String::from_utf8_lossy(&password.stdout)
        .trim()
        .trim_matches('"')
        .to_owned();
    let auth = dir.join(format!("auth-{tag}.json"));
    let out = c.skopeo(
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            auth.to_str().unwrap(),
            "--username",
            "AWS",
            "--password-stdin",
            addr,
        ],
        Some(&password),
    );
    if !out.status.success() {
        return (password, out);
    }
    let layout = dir.join(format!("image-{tag}"));
    write_oci_layout(&layout, tag, layers, layer_size);
    let out = c.skopeo(
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-authfile",
            auth.to_str().unwrap(),
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{addr}/octo-repo:{tag}"),
        ],
        None,
    );
    (password, out)
}

#[test]
fn a_web_identity_push_and_a_refused_assume_come_back_from_cloudtrail() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let c = clients(&server, &tmp.path().join("home"));
    let r = Some(root());
    c.aws_ok(
        r.as_ref(),
        &["ecr", "create-repository", "--repository-name", "octo-repo"],
    );
    c.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "create-open-id-connect-provider",
            "--url",
            "https://token.actions.githubusercontent.com",
            "--client-id-list",
            "sts.amazonaws.com",
        ],
    );
    let main_only = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/octo-repo:ref:refs/heads/main"},
            },
        }]
    });
    c.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "create-role",
            "--role-name",
            "pusher",
            "--assume-role-policy-document",
            &main_only.to_string(),
        ],
    );
    c.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "pusher",
            "--policy-name",
            "push",
            "--policy-document",
            PUSH_POLICY,
        ],
    );

    // A feature branch is refused; main is let in and pushes.
    let feature_token = mint_token(&c, "refs/heads/feature");
    assert!(!assume(&c, "pusher", &feature_token).status.success());
    let main_token = mint_token(&c, "refs/heads/main");
    let assumed = assume(&c, "pusher", &main_token);
    assert!(
        assumed.status.success(),
        "{}",
        String::from_utf8_lossy(&assumed.stderr)
    );
    let assumed: Value = serde_json::from_slice(&assumed.stdout).unwrap();
    let k = &assumed["Credentials"];
    let session = Creds {
        access_key_id: k["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: k["SecretAccessKey"].as_str().unwrap().into(),
        session_token: Some(k["SessionToken"].as_str().unwrap().into()),
    };
    let (password, out) = push(&c, &server.addr, tmp.path(), &session, "v1", 2, 64 * 1024);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // AssumeRoleWithWebIdentity, both ways, with what CloudTrail records and the claims.
    let assumes = lookup_at_least(&c, "EventName", "AssumeRoleWithWebIdentity", 2);
    assert_eq!(assumes.len(), 2, "{assumes:#?}");
    let (refused, allowed) = (&assumes[1], &assumes[0]);
    assert_eq!(refused["errorCode"], "AccessDenied");
    assert_eq!(refused["eventSource"], "sts.amazonaws.com");
    assert_eq!(refused["userIdentity"]["type"], "WebIdentityUser");
    assert_eq!(
        refused["userIdentity"]["userName"],
        "repo:octo-org/octo-repo:ref:refs/heads/feature"
    );
    let why = refused["additionalEventData"]["denialExplanation"]
        .as_str()
        .unwrap();
    assert!(
        why.contains("token.actions.githubusercontent.com:sub")
            && why.contains("refs/heads/feature"),
        "{why}"
    );
    assert_eq!(
        refused["additionalEventData"]["tokenClaims"]["ref"],
        "refs/heads/feature"
    );
    assert_eq!(
        refused["additionalEventData"]["tokenClaims"]["repository"],
        "octo-org/octo-repo"
    );
    assert_eq!(
        refused["additionalEventData"]["tokenSignatureVerified"],
        true
    );
    assert!(allowed["errorCode"].is_null(), "{allowed:#}");
    let elements = &allowed["responseElements"];
    assert_eq!(
        elements["subjectFromWebIdentityToken"],
        "repo:octo-org/octo-repo:ref:refs/heads/main"
    );
    assert_eq!(elements["audience"], "sts.amazonaws.com");
    assert_eq!(
        elements["provider"],
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
    );
    assert_eq!(
        elements["credentials"]["accessKeyId"],
        session.access_key_id.as_str()
    );
    for field in [
        "eventVersion",
        "eventTime",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestID",
        "eventID",
        "eventType",
        "recipientAccountId",
    ] {
        assert!(allowed[field].is_string(), "{field} missing: {allowed:#}");
    }
    assert_eq!(allowed["readOnly"], true);

    // The push: each step as the ECR operation, by the session, with its workflow run.
    let pushed = lookup_at_least(&c, "ResourceName", "octo-repo", 4);
    let names: Vec<&str> = pushed
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    for name in ["InitiateLayerUpload", "CompleteLayerUpload", "PutImage"] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    let put = pushed
        .iter()
        .find(|e| e["eventName"] == "PutImage")
        .unwrap();
    assert_eq!(put["eventSource"], "ecr.amazonaws.com");
    assert_eq!(put["readOnly"], false);
    assert_eq!(put["requestParameters"]["repositoryName"], "octo-repo");
    assert_eq!(put["requestParameters"]["imageTag"], "v1");
    let identity = &put["userIdentity"];
    assert_eq!(identity["type"], "AssumedRole");
    assert_eq!(identity["accessKeyId"], session.access_key_id.as_str());
    assert_eq!(
        identity["arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/pusher/ci")
    );
    let context = &identity["sessionContext"];
    assert_eq!(context["sessionIssuer"]["userName"], "pusher");
    assert!(
        context["sessionIssuer"]["principalId"]
            .as_str()
            .unwrap()
            .starts_with("AROA")
    );
    let federation = &context["webIdFederationData"];
    assert_eq!(
        federation["federatedProvider"],
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
    );
    assert_eq!(federation["attributes"]["repository"], "octo-org/octo-repo");
    assert_eq!(federation["attributes"]["ref"], "refs/heads/main");
    assert!(federation["attributes"]["run_id"].is_string());
    assert_eq!(
        put["resources"][0]["ARN"],
        format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/octo-repo")
    );
    // By access key too.
    assert!(lookup(&c, "AccessKeyId", &session.access_key_id).len() >= 4);

    // berth audit: the refusal with its reason; `why` with the claims; an export.
    let out = c.berth(&root(), &["audit", "--denied"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("DENIED") && text.contains("AssumeRoleWithWebIdentity"),
        "{text}"
    );
    assert!(text.contains("why: ") && text.contains(":sub"), "{text}");
    assert_eq!(text.matches("DENIED").count(), 1, "{text}");
    let out = c.berth(&root(), &["audit", "--repository", "octo-repo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PutImage")
            && text.contains("pusher/ci")
            && text.contains("octo-org/octo-repo@refs/heads/main"),
        "{text}"
    );
    let event_id = refused["eventID"].as_str().unwrap();
    let out = c.berth(&root(), &["audit", "why", event_id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("token claims") && text.contains("refs/heads/feature"),
        "{text}"
    );
    assert!(
        text.contains("why") && text.contains("refs/heads/main"),
        "{text}"
    );
    let export = tmp.path().join("export");
    let out = c.berth(
        &root(),
        &[
            "audit",
            "export",
            "--to",
            export.to_str().unwrap(),
            "--since",
            "1h",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<_> = walk(&export);
    assert!(!files.is_empty());
    let mut exported = 0;
    for file in &files {
        let relative = file
            .strip_prefix(&export)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            relative.starts_with(&format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/"))
                && relative.ends_with(".json.gz"),
            "{relative}"
        );
        let mut json = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap()),
            &mut json,
        )
        .unwrap();
        let records: Value = serde_json::from_str(&json).unwrap();
        exported += records["Records"].as_array().unwrap().len();
    }
    assert!(exported >= pushed.len() + assumes.len(), "{exported}");
    // The same files to an S3 bucket (moto's server).
    let (_moto, s3) = start_moto(tmp.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let created = runtime.block_on(reqwest::Client::new().put(format!("{s3}/trail")).send());
    assert!(created.unwrap().status().is_success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "audit",
            "export",
            "--since",
            "1h",
            "--to",
            "s3://trail/exported",
        ])
        .args([
            "--endpoint-url",
            &c.endpoint,
            "--region",
            REGION,
            "--s3-endpoint",
            &s3,
        ])
        .env("AWS_ACCESS_KEY_ID", ROOT_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET)
        .env("AWS_CONFIG_FILE", tmp.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            tmp.path().join("no-credentials"),
        )
        .env("BERTH_S3_ACCESS_KEY_ID", "testing")
        .env("BERTH_S3_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, listing) = get(&format!("{s3}/trail?list-type=2&prefix=exported/AWSLogs/"));
    assert_eq!(status, 200, "{listing}");
    assert_eq!(
        listing.matches("<Key>").count(),
        files.len(),
        "the bucket holds other files than the directory: {listing}"
    );
    assert!(
        listing.contains(&format!("exported/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/")),
        "{listing}"
    );

    // GetSessionToken's credentials are recorded as the root user's, with their own key
    // and a session context, and the operation's answer without its secret.
    let lent = c.aws_ok(Some(&root()), &["sts", "get-session-token"]);
    let lent = &lent["Credentials"];
    let root_session = Creds {
        access_key_id: lent["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: lent["SecretAccessKey"].as_str().unwrap().into(),
        session_token: Some(lent["SessionToken"].as_str().unwrap().into()),
    };
    c.aws_ok(Some(&root_session), &["ecr", "describe-registry"]);
    let described = lookup_at_least(&c, "EventName", "DescribeRegistry", 1);
    let identity = &described[0]["userIdentity"];
    assert_eq!(identity["type"], "Root", "{identity}");
    assert_eq!(
        identity["accessKeyId"],
        root_session.access_key_id.as_str(),
        "{identity}"
    );
    assert_eq!(
        identity["sessionContext"]["attributes"]["mfaAuthenticated"], "false",
        "{identity}"
    );
    assert!(
        identity["sessionContext"].get("sessionIssuer").is_none(),
        "{identity}"
    );
    let issued = lookup_at_least(&c, "EventName", "GetSessionToken", 1);
    assert_eq!(
        issued[0]["responseElements"]["credentials"]["accessKeyId"],
        root_session.access_key_id.as_str()
    );

    // Nothing secret anywhere: not in the database, not in what lookups return.
    let everything = c
        .aws_ok(Some(&root()), &["cloudtrail", "lookup-events"])
        .to_string();
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("berth.db")
        {
            stored.extend(std::fs::read(path).unwrap());
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    let main_signature = main_token.rsplit('.').next().unwrap();
    let feature_signature = feature_token.rsplit('.').next().unwrap();
    for (what, secret) in [
        ("root secret key", ROOT_SECRET),
        ("session secret key", session.secret_access_key.as_str()),
        ("session token", session.session_token.as_deref().unwrap()),
        (
            "GetSessionToken's secret key",
            root_session.secret_access_key.as_str(),
        ),
        (
            "GetSessionToken's session token",
            root_session.session_token.as_deref().unwrap(),
        ),
        ("web identity token", main_token.as_str()),
        ("web identity token signature", main_signature),
        ("refused token", feature_token.as_str()),
        ("refused token signature", feature_signature),
        ("registry password", password.as_str()),
    ] {
        assert!(
            !everything.contains(secret),
            "the {what} is in a LookupEvents answer"
        );
        assert!(!stored.contains(secret), "the {what} is in the database");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn events_survive_a_restart_and_a_sigkill_mid_push_loses_at_most_the_last_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let c = clients(&server, &tmp.path().join("home"));
    c.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", "octo-repo"],
    );
    let (_, out) = push(&c, &addr, tmp.path(), &root(), "first", 2, 64 * 1024);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Past the flush interval (half a second): the first push's events are stored.
    std::thread::sleep(Duration::from_secs(2));

    // A second push, killed in the middle of streaming a layer: its upload has begun
    // (InitiateLayerUpload answered a second before the kill), a chunk is half sent.
    let password = c.aws_ok(Some(&root()), &["ecr", "get-login-password"]);
    let password = password.as_str().unwrap().to_owned();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v2/octo-repo/blobs/uploads/ HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Basic {basic}\r\nUser-Agent: interrupted-push\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 202"), "{head}");
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .unwrap()
        .trim()
        .trim_start_matches(&format!("http://{addr}"))
        .to_owned();
    write!(
        stream,
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {basic}\r\n\
         User-Agent: interrupted-push\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 1048576\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&[7_u8; 64 * 1024]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "the chunk was answered: {}",
        String::from_utf8_lossy(&rest)
    );

    let mut server = Server::start(&data, &addr);
    let c = clients(&server, &tmp.path().join("home"));
    let puts = lookup(&c, "EventName", "PutImage");
    assert!(
        puts.iter()
            .any(|e| e["requestParameters"]["imageTag"] == "first"),
        "the first push's PutImage was lost: {puts:#?}"
    );
    assert!(lookup(&c, "EventName", "CreateRepository").len() == 1);
    // The interrupted push's first step, a second and a half before the kill, is kept.
    let initiated = lookup(&c, "EventName", "InitiateLayerUpload");
    assert!(
        initiated
            .iter()
            .any(|e| e["userAgent"] == "interrupted-push"),
        "{initiated:#?}"
    );

    // A clean stop stores everything first, however recent.
    c.aws_ok(Some(&root()), &["ecr", "describe-repositories"]);
    c.aws_ok(Some(&root()), &["iam", "list-roles"]);
    server.stop();
    let _server = Server::start(&data, &addr);
    assert_eq!(lookup(&c, "EventName", "ListRoles").len(), 1);
    assert!(!lookup(&c, "EventName", "DescribeRepositories").is_empty());
}

/// An HTTP response's head, read byte by byte up to the blank line.
fn read_head(stream: &mut std::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn lookup_events_is_authorised_validated_and_paginated() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let c = clients(&server, &tmp.path().join("home"));
    for n in 0..7 {
        c.aws_ok(
            Some(&root()),
            &[
                "ecr",
                "create-repository",
                "--repository-name",
                &format!("page/{n}"),
            ],
        );
    }
    assert_eq!(
        lookup_at_least(&c, "EventName", "CreateRepository", 7).len(),
        7
    );

    // Pages of 2, newest first, each continuing the last.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut args = vec![
            "cloudtrail",
            "lookup-events",
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=CreateRepository",
            "--no-paginate",
            "--max-results",
            "2",
        ];
        if let Some(t) = &token {
            args.extend(["--next-token", t.as_str()]);
        }
        let page = c.aws_ok(Some(&root()), &args);
        let events = page["Events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(
            events
                .iter()
                .map(|e| e["EventId"].as_str().unwrap().to_owned()),
        );
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 7);
    // By id, and by time: nothing before the start.
    assert_eq!(lookup(&c, "EventId", &seen[3]).len(), 1);
    let out = c.aws_ok(
        Some(&root()),
        &[
            "cloudtrail",
            "lookup-events",
            "--end-time",
            "2001-01-01T00:00:00Z",
        ],
    );
    assert_eq!(out["Events"].as_array().unwrap().len(), 0);

    for (args, code) in [
        (
            vec![
                "--lookup-attributes",
                "AttributeKey=EventName,AttributeValue=A",
                "AttributeKey=Username,AttributeValue=B",
            ],
            "InvalidLookupAttributesException",
        ),
        (
            vec!["--no-paginate", "--max-results", "51"],
            "InvalidMaxResultsException",
        ),
        (
            vec!["--no-paginate", "--next-token", "garbage"],
            "InvalidNextTokenException",
        ),
        (
            vec![
                "--start-time",
                "2030-01-01T00:00:00Z",
                "--end-time",
                "2020-01-01T00:00:00Z",
            ],
            "InvalidTimeRangeException",
        ),
    ] {
        let mut all = vec!["cloudtrail", "lookup-events"];
        all.extend(args);
        let err = c.aws_err(Some(&root()), &all);
        assert!(err.contains(code), "{all:?}: {err}");
    }

    // A session needs cloudtrail:LookupEvents.
    let ecr_only = c.role_session("ecr-only", &serde_json::from_str(PUSH_POLICY).unwrap());
    let err = c.aws_err(Some(&ecr_only), &["cloudtrail", "lookup-events"]);
    assert!(
        err.contains("AccessDenied") && err.contains("cloudtrail:LookupEvents"),
        "{err}"
    );
    let auditor = c.role_session(
        "auditor",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}),
    );
    let out = c.aws_ok(
        Some(&auditor),
        &["cloudtrail", "lookup-events", "--max-items", "1"],
    );
    assert_eq!(out["Events"].as_array().unwrap().len(), 1);
    // LookupEvents is not recorded (a `berth audit --follow` would otherwise record its
    // own polling every two seconds).
    assert!(lookup(&c, "EventSource", "cloudtrail.amazonaws.com").is_empty());
}

#[test]
fn events_older_than_the_retention_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let c = clients(&server, &tmp.path().join("home"));
    c.aws_ok(Some(&root()), &["iam", "list-roles"]);
    server.stop();
    assert_eq!(lookup_offline(&data, &addr, &c, &[]).len(), 1);
    std::thread::sleep(Duration::from_secs(2));
    // The retention job runs at start, then hourly.
    let deadline = Instant::now() + Duration::from_secs(20);
    let _server = Server::start_with(&data, &addr, &["--dev", "--audit-retention", "1s"]);
    while !lookup(&c, "EventName", "ListRoles").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the expired event is still there"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ListRoles events, read by a server started for the purpose with `flags`.
fn lookup_offline(data: &Path, addr: &str, c: &Clients, flags: &[&str]) -> Vec<Value> {
    let mut all = vec!["--dev"];
    all.extend(flags);
    let mut server = Server::start_with(data, addr, &all);
    let events = lookup(c, "EventName", "ListRoles");
    server.stop();
    events
}
