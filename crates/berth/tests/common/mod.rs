//! Starts the real `berth` binary and drives it with real clients (the aws CLI, skopeo).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod idp;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const ROOT_KEY: &str = "AKIAE2ETESTROOTKEY01";
pub const ROOT_SECRET: &str = "e2eRootSecretKeyForTestsOnly0123456789ab";
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub struct Server {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub addr: String,
    /// The metrics listener's address, with `--metrics-listen`.
    pub metrics_addr: Option<String>,
    pub started_in: Duration,
}

impl Server {
    /// Starts `berth serve --dev` on `addr` (use `127.0.0.1:0` for any free port) and
    /// waits for its ready line.
    pub fn start(data_dir: &Path, addr: &str) -> Server {
        Self::start_with(data_dir, addr, &["--dev"])
    }

    /// Starts `berth serve` with extra flags.
    pub fn start_with(data_dir: &Path, addr: &str, flags: &[&str]) -> Server {
        Self::start_with_env(data_dir, addr, flags, &[])
    }

    /// Starts `berth serve` with extra flags and environment variables.
    pub fn start_with_env(
        data_dir: &Path,
        addr: &str,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        Self::spawn(data_dir, addr, flags, env, Stdio::inherit())
    }

    /// Starts `berth serve --dev` with its log (WARN and above) written to `log`.
    pub fn start_logged(data_dir: &Path, addr: &str, log: &Path) -> Server {
        Self::start_logged_with(data_dir, addr, &["--dev"], &[], log)
    }

    /// Starts `berth serve` with extra flags and variables, its log written to `log`.
    pub fn start_logged_with(
        data_dir: &Path,
        addr: &str,
        flags: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Server {
        let file = std::fs::File::create(log).expect("create the server log");
        Self::spawn(data_dir, addr, flags, env, Stdio::from(file))
    }

    fn spawn(
        data_dir: &Path,
        addr: &str,
        flags: &[&str],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Server {
        let started = Instant::now();
        // `env` comes last, so a test may choose other root keys or log level.
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .args(flags)
            .args(["--listen", addr, "--data-dir"])
            .arg(data_dir)
            .env("BERTH_ROOT_ACCESS_KEY_ID", ROOT_KEY)
            .env("BERTH_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("BERTH_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start berth");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = lines
            .next()
            .expect("berth printed nothing")
            .expect("read berth stdout");
        assert!(
            line.starts_with("berth ready"),
            "unexpected first line: {line}"
        );
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap()
            .to_owned();
        let metrics_addr = line
            .split("metrics on http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .map(str::to_owned);
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child: Some(child),
            data_dir: data_dir.to_owned(),
            addr,
            metrics_addr,
            started_in: started.elapsed(),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the process dies mid-whatever, as a crashed machine would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let status = child.wait().unwrap();
            assert!(status.success(), "berth did not exit cleanly: {status}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Credentials a client command runs with.
#[derive(Clone)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

pub fn root() -> Creds {
    Creds {
        access_key_id: ROOT_KEY.into(),
        secret_access_key: ROOT_SECRET.into(),
        session_token: None,
    }
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// A clean environment: no profile, no config file, no retries, this server's endpoint.
fn client_command(program: &str, endpoint: &str, creds: Option<&Creds>, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_PAGER", "");
    if let Some(creds) = creds {
        c.env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key);
        if let Some(t) = &creds.session_token {
            c.env("AWS_SESSION_TOKEN", t);
        }
    }
    c
}

/// The document's trust policy: GitHub's OIDC provider, audience sts.amazonaws.com, any
/// ref of octo-org/octo-repo.
pub fn github_trust() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/octo-repo:*"},
            },
        }]
    })
}

pub struct Clients {
    pub endpoint: String,
    pub home: PathBuf,
}

impl Clients {
    pub fn aws(&self, creds: Option<&Creds>, args: &[&str]) -> Output {
        let aws = tool("BERTH_TEST_AWS", "aws");
        client_command(&aws, &self.endpoint, creds, &self.home)
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {aws} (run the suite with scripts/test.sh, which installs it): {e}"
                )
            })
    }

    /// Runs the aws CLI and parses its JSON output; panics with stderr on failure.
    pub fn aws_ok(&self, creds: Option<&Creds>, args: &[&str]) -> serde_json::Value {
        let out = self.aws(creds, args);
        assert!(
            out.status.success(),
            "aws {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| serde_json::Value::String(text.trim().to_owned()))
        }
    }

    /// Runs the aws CLI expecting failure; returns stderr.
    pub fn aws_err(&self, creds: Option<&Creds>, args: &[&str]) -> String {
        let out = self.aws(creds, args);
        assert!(!out.status.success(), "aws {args:?} unexpectedly succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Temporary credentials for a new role `role` whose only policy is `policy`, by the
    /// document's flow: a GitHub OIDC provider, a role trusting octo-org/octo-repo
    /// ([`github_trust`]), a dev issuer token, AssumeRoleWithWebIdentity.
    pub fn role_session(&self, role: &str, policy: &serde_json::Value) -> Creds {
        self.role_session_trusting(role, &github_trust(), policy)
            .unwrap_or_else(|e| panic!("assuming {role}: {e}"))
    }

    /// As [`Clients::role_session`], with `trust` as the role's trust policy; `Err` with
    /// the aws CLI's message when the assume is refused.
    pub fn role_session_trusting(
        &self,
        role: &str,
        trust: &serde_json::Value,
        policy: &serde_json::Value,
    ) -> Result<Creds, String> {
        let r = Some(root());
        // The provider may exist already (several roles in one test).
        let _ = self.aws(
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
        self.aws_ok(
            r.as_ref(),
            &[
                "iam",
                "create-role",
                "--role-name",
                role,
                "--assume-role-policy-document",
                &trust.to_string(),
            ],
        );
        self.aws_ok(
            r.as_ref(),
            &[
                "iam",
                "put-role-policy",
                "--role-name",
                role,
                "--policy-name",
                "only",
                "--policy-document",
                &policy.to_string(),
            ],
        );
        let token = self.dev_token("octo-org/octo-repo");
        let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
        let out = self.aws(
            None,
            &[
                "sts",
                "assume-role-with-web-identity",
                "--role-arn",
                &role_arn,
                "--role-session-name",
                "e2e",
                "--web-identity-token",
                &token,
            ],
        );
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let assumed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let c = &assumed["Credentials"];
        Ok(Creds {
            access_key_id: c["AccessKeyId"].as_str().unwrap().into(),
            secret_access_key: c["SecretAccessKey"].as_str().unwrap().into(),
            session_token: Some(c["SessionToken"].as_str().unwrap().into()),
        })
    }

    /// A token from the dev issuer for a workflow run of `repository` (on main).
    pub fn dev_token(&self, repository: &str) -> String {
        let out = self.berth(
            &root(),
            &[
                "token",
                "--endpoint-url",
                &self.endpoint,
                "--repository",
                repository,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn berth(&self, creds: &Creds, args: &[&str]) -> Output {
        client_command(
            env!("CARGO_BIN_EXE_berth"),
            &self.endpoint,
            Some(creds),
            &self.home,
        )
        .args(args)
        .output()
        .unwrap()
    }

    pub fn skopeo(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let policy = self.home.join("policy.json");
        if !policy.exists() {
            std::fs::write(
                &policy,
                r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
            )
            .unwrap();
        }
        let mut c = client_command("skopeo", &self.endpoint, None, &self.home);
        c.arg("--policy").arg(&policy).args(args);
        if let Some(input) = stdin {
            use std::io::Write;
            c.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c
                .spawn()
                .expect("run skopeo (installed by scripts/test.sh)");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        } else {
            c.output()
                .expect("run skopeo (installed by scripts/test.sh)")
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    berth_sigv4::sha256_hex(bytes)
}

/// Writes an OCI image layout with a config and `layers` random layers; returns the
/// manifest bytes.
pub fn write_oci_layout(dir: &Path, tag: &str, layers: usize, layer_size: usize) -> Vec<u8> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> String {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    };
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ layers as u64;
    for i in 0..layers {
        let mut bytes = Vec::with_capacity(layer_size);
        while bytes.len() < layer_size {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.extend_from_slice(&seed.to_le_bytes());
        }
        bytes.truncate(layer_size + i);
        let digest = put(&bytes);
        diff_ids.push(digest.clone());
        layer_descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": bytes.len(),
        }));
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    })
    .to_string();
    let config_digest = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": layer_descs,
    })
    .to_string()
    .into_bytes();
    let manifest_digest = put(&manifest);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    manifest
}

/// The manifest bytes of the single image in an OCI layout.
pub fn read_layout_manifest(dir: &Path) -> Vec<u8> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
}

// --- Helpers for servers beside Berth ------------------------------------------------

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    })
}

/// moto's S3 server from the test virtualenv, on a free port.
pub fn start_moto(dir: &Path) -> (Killed, String) {
    let python = idp::python();
    let bin = Path::new(&python).parent().unwrap().join("moto_server");
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("moto.log")).unwrap(),
        ))
        .spawn()
        .unwrap_or_else(|e| panic!("run {} (installed by scripts/test.sh): {e}", bin.display()));
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{endpoint}/moto-api/")).0 != 200 {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    (Killed(child), endpoint)
}
