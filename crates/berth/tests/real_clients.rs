//! Real registry clients against the real binary, over plain HTTP on loopback with Basic
//! auth from GetAuthorizationToken (as `aws ecr get-login-password | podman login` does):
//! buildah builds and pushes, podman pulls, re-tags and pushes, buildah pulls that back;
//! the Python `oras` client pushes an artifact with a `subject` and finds it through the
//! referrers API.
//!
//! As root in a container, podman and buildah need `--storage-driver vfs` (no overlay
//! mounts) and `--tls-verify=false` (plain HTTP). scripts/test.sh installs both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use common::*;

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    _server: Server,
    clients: Clients,
    /// host:port
    registry: String,
    password: String,
}

fn start(repositories: &[&str]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&dir.join("data"), "127.0.0.1:0");
    let clients = Clients {
        endpoint: server.endpoint(),
        home,
    };
    for r in repositories {
        clients.aws_ok(
            Some(&root()),
            &["ecr", "create-repository", "--repository-name", r],
        );
    }
    let password = clients
        .aws_ok(Some(&root()), &["ecr", "get-login-password"])
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        registry: server.addr.clone(),
        _server: server,
        clients,
        dir,
        _tmp: tmp,
        password,
    }
}

/// A containers-auth.json with the registry password, as `podman login` would write it.
fn write_authfile(setup: &Setup) -> PathBuf {
    let path = setup.dir.join("auth.json");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{}", setup.password));
    std::fs::write(
        &path,
        serde_json::json!({"auths": {setup.registry.as_str(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    path
}

/// podman or buildah with their own storage under `store` and a clean environment.
fn container_tool(program: &str, home: &Path, store: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("BUILDAH_ISOLATION", "chroot")
        .args(["--storage-driver", "vfs", "--root"])
        .arg(store.join("root"))
        .arg("--runroot")
        .arg(store.join("run"));
    c
}

fn ok(what: &str, out: std::io::Result<Output>) -> String {
    let out = out.unwrap_or_else(|e| {
        panic!("cannot run {what} (scripts/test.sh installs podman and buildah): {e}")
    });
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn buildah_and_podman_push_and_pull() {
    let setup = start(&["clients/buildah", "clients/podman"]);
    let authfile = write_authfile(&setup);
    let home = &setup.clients.home;
    let reg = &setup.registry;
    let builder_store = setup.dir.join("builder");
    let puller_store = setup.dir.join("puller");
    let third_store = setup.dir.join("third");
    let buildah = |store: &Path, args: &[&str]| {
        ok(
            &format!("buildah {args:?}"),
            container_tool("buildah", home, store).args(args).output(),
        )
    };
    let podman = |store: &Path, args: &[&str]| {
        ok(
            &format!("podman {args:?}"),
            container_tool("podman", home, store)
                .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"])
                .args(args)
                .output(),
        )
    };
    let auth = [
        "--authfile",
        authfile.to_str().unwrap(),
        "--tls-verify=false",
    ];

    // buildah: an image from scratch with two layers, pushed.
    let content = setup.dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("hello.txt"), b"hello from buildah\n").unwrap();
    std::fs::write(content.join("big.bin"), vec![7_u8; 3 * 1024 * 1024 + 5]).unwrap();
    let container = buildah(&builder_store, &["from", "scratch"]);
    buildah(
        &builder_store,
        &[
            "copy",
            &container,
            content.join("hello.txt").to_str().unwrap(),
            "/hello.txt",
        ],
    );
    buildah(
        &builder_store,
        &[
            "copy",
            &container,
            content.join("big.bin").to_str().unwrap(),
            "/big.bin",
        ],
    );
    buildah(&builder_store, &["config", "--cmd", "/hello", &container]);
    buildah(&builder_store, &["commit", &container, "localhost/app:1"]);
    let built_id = podman(
        &builder_store,
        &["image", "inspect", "--format", "{{.Id}}", "localhost/app:1"],
    );
    let pushed = format!("{reg}/clients/buildah:1");
    let destination = format!("docker://{pushed}");
    let mut push = vec!["push"];
    push.extend_from_slice(&auth);
    push.extend(["localhost/app:1", destination.as_str()]);
    buildah(&builder_store, &push);

    // podman: pull it into empty storage (the image id is the config digest, so an
    // equal id means the config came back intact; layers are checked by digest).
    let mut pull = vec!["pull"];
    pull.extend_from_slice(&auth);
    pull.push(&pushed);
    podman(&puller_store, &pull);
    let pulled_id = podman(
        &puller_store,
        &["image", "inspect", "--format", "{{.Id}}", &pushed],
    );
    assert_eq!(pulled_id, built_id);

    // podman: re-tag and push to another repository (cross-repository blob reuse).
    let retagged = format!("{reg}/clients/podman:2");
    podman(&puller_store, &["tag", &pushed, &retagged]);
    let mut push = vec!["push"];
    push.extend_from_slice(&auth);
    push.push(&retagged);
    podman(&puller_store, &push);

    // buildah: pull the podman push into a third storage and read a file back.
    let mut pull = vec!["pull"];
    pull.extend_from_slice(&auth);
    pull.push(&retagged);
    buildah(&third_store, &pull);
    let working = buildah(&third_store, &["from", &retagged]);
    let mount = buildah(&third_store, &["mount", &working]);
    assert_eq!(
        std::fs::read(Path::new(&mount).join("hello.txt")).unwrap(),
        b"hello from buildah\n"
    );
    assert_eq!(
        std::fs::metadata(Path::new(&mount).join("big.bin"))
            .unwrap()
            .len(),
        3 * 1024 * 1024 + 5
    );
    buildah(&third_store, &["umount", &working]);

    // A wrong password is refused (and says so).
    let bad = setup.dir.join("bad-auth.json");
    std::fs::write(
        &bad,
        serde_json::json!({"auths": {reg.as_str(): {"auth": base64::engine::general_purpose::STANDARD.encode("AWS:not-a-token")}}})
            .to_string(),
    )
    .unwrap();
    let out = container_tool("podman", home, &puller_store)
        .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"])
        .args([
            "push",
            "--authfile",
            bad.to_str().unwrap(),
            "--tls-verify=false",
            &retagged,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unauthorized") || stderr.contains("authentication required"),
        "{stderr}"
    );
}

#[test]
fn oras_pushes_an_artifact_with_a_subject_and_finds_it_by_referrers() {
    let setup = start(&["clients/oras"]);
    let python = std::env::var("BERTH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/oras_referrers.py"
    );
    let work = setup.dir.join("oras");
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(&python)
        .arg(script)
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &setup.clients.home)
        .env("BERTH_REGISTRY", &setup.registry)
        .env("BERTH_REPOSITORY", "clients/oras")
        .env("BERTH_PASSWORD", &setup.password)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (scripts/test.sh installs oras): {e}"));
    assert!(
        out.status.success(),
        "oras script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("referrers ok"), "{stdout}");

    // ECR's ListImageReferrers finds the same artifact, with its type, and filters by type.
    let printed = |label: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label}in {stdout}"))
            .to_owned()
    };
    let (subject, referrer) = (printed("subject "), printed("referrer "));
    let list = |extra: &[&str]| {
        let mut args = vec![
            "ecr",
            "list-image-referrers",
            "--repository-name",
            "clients/oras",
            "--subject-id",
        ];
        let subject_id = format!("imageDigest={subject}");
        args.push(&subject_id);
        args.extend_from_slice(extra);
        setup.clients.aws_ok(Some(&root()), &args)
    };
    let all = list(&[]);
    let referrers = all["referrers"].as_array().unwrap();
    assert_eq!(referrers.len(), 1, "{all}");
    assert_eq!(referrers[0]["digest"], referrer.as_str());
    assert_eq!(
        referrers[0]["artifactType"],
        "application/vnd.example.sbom.v1+json"
    );
    assert_eq!(referrers[0]["artifactStatus"], "ACTIVE");
    assert_eq!(
        referrers[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let other = list(&["--filter", "artifactTypes=application/vnd.example.other"]);
    assert_eq!(other["referrers"], serde_json::json!([]));
    let archived = list(&["--filter", "artifactStatus=ARCHIVED"]);
    assert_eq!(archived["referrers"], serde_json::json!([]));
}
