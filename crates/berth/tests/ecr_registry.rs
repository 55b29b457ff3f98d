//! ECR's registry-wide operations and scanning configuration, with the aws CLI against
//! the real binary: scanning configuration (repository and registry), image scans (which
//! Berth answers honestly it cannot run), the registry policy, DescribeRegistry, account
//! settings (BLOB_MOUNTING governs cross-repository mounts), and CreateRepository's
//! encryption configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;

struct Setup {
    server: Server,
    c: Clients,
    _tmp: tempfile::TempDir,
}

fn start() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Clients {
        endpoint: server.endpoint(),
        home,
    };
    Setup {
        server,
        c,
        _tmp: tmp,
    }
}

impl Setup {
    fn root_ok(&self, args: &[&str]) -> serde_json::Value {
        self.c.aws_ok(Some(&root()), args)
    }

    fn root_err(&self, args: &[&str]) -> String {
        self.c.aws_err(Some(&root()), args)
    }

    fn password(&self) -> String {
        self.root_ok(&["ecr", "get-login-password"])
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Pushes a one-layer image to `repository:tag` with skopeo, as the root user.
    fn push(&self, repository: &str, tag: &str) {
        let layout = self._tmp.path().join(format!("layout-{tag}"));
        write_oci_layout(&layout, tag, 1, 1024);
        let creds = format!("AWS:{}", self.password());
        let out = self.c.skopeo(
            &[
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                &creds,
                &format!("oci:{}:{tag}", layout.display()),
                &format!("docker://{}/{repository}:{tag}", self.server.addr),
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn scanning_configuration_is_stored_and_scans_are_refused_honestly() {
    let s = start();
    s.root_ok(&["ecr", "create-repository", "--repository-name", "prod/api"]);
    s.root_ok(&["ecr", "create-repository", "--repository-name", "dev/api"]);

    // Repository level: the flag is stored and shown everywhere.
    let put = s.root_ok(&[
        "ecr",
        "put-image-scanning-configuration",
        "--repository-name",
        "dev/api",
        "--image-scanning-configuration",
        "scanOnPush=true",
    ]);
    assert_eq!(put["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(put["repositoryName"], "dev/api");
    let described = s.root_ok(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        "dev/api",
    ]);
    assert_eq!(
        described["repositories"][0]["imageScanningConfiguration"]["scanOnPush"],
        true
    );
    let batch = s.root_ok(&[
        "ecr",
        "batch-get-repository-scanning-configuration",
        "--repository-names",
        "dev/api",
        "prod/api",
        "nothere",
    ]);
    let configs = batch["scanningConfigurations"].as_array().unwrap();
    assert_eq!(configs.len(), 2, "{batch}");
    assert_eq!(configs[0]["repositoryName"], "dev/api");
    assert_eq!(configs[0]["scanFrequency"], "SCAN_ON_PUSH");
    assert_eq!(configs[1]["scanFrequency"], "MANUAL");
    assert_eq!(
        configs[0]["repositoryArn"],
        "arn:aws:ecr:us-east-1:123456789012:repository/dev/api"
    );
    assert_eq!(batch["failures"][0]["repositoryName"], "nothere");
    assert_eq!(batch["failures"][0]["failureCode"], "REPOSITORY_NOT_FOUND");

    // Registry level: the default, then rules that apply to repositories by name.
    let default = s.root_ok(&["ecr", "get-registry-scanning-configuration"]);
    assert_eq!(default["registryId"], ACCOUNT);
    assert_eq!(default["scanningConfiguration"]["scanType"], "BASIC");
    let rules = r#"[{"scanFrequency":"CONTINUOUS_SCAN","repositoryFilters":[{"filter":"prod/*","filterType":"WILDCARD"}]}]"#;
    let put = s.root_ok(&[
        "ecr",
        "put-registry-scanning-configuration",
        "--scan-type",
        "ENHANCED",
        "--rules",
        rules,
    ]);
    assert_eq!(put["registryScanningConfiguration"]["scanType"], "ENHANCED");
    let got = s.root_ok(&["ecr", "get-registry-scanning-configuration"]);
    assert_eq!(
        got["scanningConfiguration"]["rules"][0]["repositoryFilters"][0]["filter"],
        "prod/*"
    );
    let batch = s.root_ok(&[
        "ecr",
        "batch-get-repository-scanning-configuration",
        "--repository-names",
        "prod/api",
    ]);
    let prod = &batch["scanningConfigurations"][0];
    assert_eq!(prod["scanFrequency"], "CONTINUOUS_SCAN");
    assert_eq!(prod["appliedScanFilters"][0]["filter"], "prod/*");
    let err = s.root_err(&[
        "ecr",
        "put-registry-scanning-configuration",
        "--scan-type",
        "BASIC",
        "--rules",
        rules,
    ]);
    assert!(err.contains("InvalidParameterException"), "{err}");
    let got = s.root_ok(&["ecr", "get-registry-scanning-configuration"]);
    assert_eq!(got["scanningConfiguration"]["scanType"], "ENHANCED");

    // Scans: an image that does not exist is not found; one that does is not scanned,
    // and no findings are ever invented.
    let err = s.root_err(&[
        "ecr",
        "start-image-scan",
        "--repository-name",
        "dev/api",
        "--image-id",
        "imageTag=v1",
    ]);
    assert!(err.contains("ImageNotFoundException"), "{err}");
    s.push("dev/api", "v1");
    let err = s.root_err(&[
        "ecr",
        "start-image-scan",
        "--repository-name",
        "dev/api",
        "--image-id",
        "imageTag=v1",
    ]);
    assert!(
        err.contains("ValidationException") && err.contains("no vulnerability database"),
        "{err}"
    );
    let err = s.root_err(&[
        "ecr",
        "describe-image-scan-findings",
        "--repository-name",
        "dev/api",
        "--image-id",
        "imageTag=v1",
    ]);
    assert!(err.contains("ScanNotFoundException"), "{err}");

    // A caller without the actions is refused, even where nothing exists.
    let session = s.c.role_session(
        "Reader",
        &serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:Describe*","Resource":"*"}]}),
    );
    for args in [
        &["ecr", "get-registry-scanning-configuration"][..],
        &[
            "ecr",
            "put-image-scanning-configuration",
            "--repository-name",
            "dev/api",
            "--image-scanning-configuration",
            "scanOnPush=false",
        ][..],
    ] {
        let err = s.c.aws_err(Some(&session), args);
        assert!(err.contains("AccessDenied"), "{args:?}: {err}");
    }
}

#[test]
fn registry_policy_description_and_account_settings() {
    let s = start();
    let err = s.root_err(&["ecr", "get-registry-policy"]);
    assert!(err.contains("RegistryPolicyNotFoundException"), "{err}");
    let err = s.root_err(&["ecr", "delete-registry-policy"]);
    assert!(err.contains("RegistryPolicyNotFoundException"), "{err}");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Replication","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"}]}"#;
    let put = s.root_ok(&["ecr", "put-registry-policy", "--policy-text", policy]);
    assert_eq!(put["registryId"], ACCOUNT);
    assert_eq!(put["policyText"], policy);
    assert_eq!(
        s.root_ok(&["ecr", "get-registry-policy"])["policyText"],
        policy
    );
    let err = s.root_err(&["ecr", "put-registry-policy", "--policy-text", "{not json"]);
    assert!(err.contains("InvalidParameterException"), "{err}");
    assert_eq!(
        s.root_ok(&["ecr", "delete-registry-policy"])["policyText"],
        policy
    );
    let err = s.root_err(&["ecr", "get-registry-policy"]);
    assert!(err.contains("RegistryPolicyNotFoundException"), "{err}");

    let registry = s.root_ok(&["ecr", "describe-registry"]);
    assert_eq!(registry["registryId"], ACCOUNT);
    assert_eq!(
        registry["replicationConfiguration"]["rules"],
        serde_json::json!([])
    );

    // Account settings: defaults, a change, and what is not a setting or a value.
    let get = |name: &str| {
        s.root_ok(&["ecr", "get-account-setting", "--name", name])["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(get("BASIC_SCAN_TYPE_VERSION"), "AWS_NATIVE");
    assert_eq!(get("REGISTRY_POLICY_SCOPE"), "V2");
    assert_eq!(get("BLOB_MOUNTING"), "ENABLED");
    for (name, value) in [("NO_SUCH_SETTING", "x"), ("BLOB_MOUNTING", "MAYBE")] {
        let err = s.root_err(&[
            "ecr",
            "put-account-setting",
            "--name",
            name,
            "--value",
            value,
        ]);
        assert!(err.contains("InvalidParameterException"), "{err}");
    }

    // BLOB_MOUNTING decides whether a push mounts a blob another repository holds.
    s.root_ok(&["ecr", "create-repository", "--repository-name", "source"]);
    s.root_ok(&["ecr", "create-repository", "--repository-name", "target"]);
    s.push("source", "v1");
    let layer = s.root_ok(&[
        "ecr",
        "batch-get-image",
        "--repository-name",
        "source",
        "--image-ids",
        "imageTag=v1",
    ]);
    let manifest: serde_json::Value =
        serde_json::from_str(layer["images"][0]["imageManifest"].as_str().unwrap()).unwrap();
    let digest = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let mount = || -> u16 {
        let url = format!(
            "{}/v2/target/blobs/uploads/?mount={digest}&from=source",
            s.c.endpoint
        );
        let password = s.password();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                reqwest::Client::new()
                    .post(&url)
                    .basic_auth("AWS", Some(password))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
    };
    s.root_ok(&[
        "ecr",
        "put-account-setting",
        "--name",
        "BLOB_MOUNTING",
        "--value",
        "DISABLED",
    ]);
    assert_eq!(get("BLOB_MOUNTING"), "DISABLED");
    assert_eq!(
        mount(),
        202,
        "a mount while disabled starts an upload instead"
    );
    s.root_ok(&[
        "ecr",
        "put-account-setting",
        "--name",
        "BLOB_MOUNTING",
        "--value",
        "ENABLED",
    ]);
    assert_eq!(mount(), 201, "mounted");
}

#[test]
fn encryption_is_aes256_and_kms_is_refused() {
    let s = start();
    let created = s.root_ok(&[
        "ecr",
        "create-repository",
        "--repository-name",
        "plain",
        "--encryption-configuration",
        "encryptionType=AES256",
    ]);
    assert_eq!(
        created["repository"]["encryptionConfiguration"]["encryptionType"],
        "AES256"
    );
    let err = s.root_err(&[
        "ecr",
        "create-repository",
        "--repository-name",
        "keyed",
        "--encryption-configuration",
        "encryptionType=KMS,kmsKey=arn:aws:kms:us-east-1:123456789012:key/abc",
    ]);
    assert!(
        err.contains("KmsException") && err.contains("AES256"),
        "{err}"
    );
    let err = s.root_err(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        "keyed",
    ]);
    assert!(err.contains("RepositoryNotFoundException"), "{err}");
    let err = s.root_err(&[
        "ecr",
        "create-repository",
        "--repository-name",
        "odd",
        "--encryption-configuration",
        "encryptionType=ROT13",
    ]);
    assert!(err.contains("ValidationException"), "{err}");
}
