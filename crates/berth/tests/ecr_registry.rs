//! ECR's registry-wide operations and scanning configuration, with the aws CLI against
//! the real binary: scanning configuration (repository and registry), image scans (which
//! Berth answers honestly it cannot run), the registry policy, DescribeRegistry, account
//! settings (BLOB_MOUNTING governs cross-repository mounts), CreateRepository's
//! encryption configuration, and the pull-through cache (with Debian's docker-registry,
//! distribution, as the upstream).
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
    start_with(&["--dev"])
}

fn start_with(flags: &[&str]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start_with(&tmp.path().join("data"), "127.0.0.1:0", flags);
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
        self.password_of(&root())
    }

    fn password_of(&self, creds: &Creds) -> String {
        self.c
            .aws_ok(Some(creds), &["ecr", "get-login-password"])
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Pushes a one-layer image to `repository:tag` with skopeo, as the root user.
    fn push(&self, repository: &str, tag: &str) {
        let out = self.push_as(&root(), repository, tag, 1024);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Pushes a one-layer image whose layer is `layer_size` bytes (so different sizes are
    /// different images) to `repository:tag` with skopeo, as `creds`.
    fn push_as(
        &self,
        creds: &Creds,
        repository: &str,
        tag: &str,
        layer_size: usize,
    ) -> std::process::Output {
        let layout = self._tmp.path().join(format!("layout-{tag}-{layer_size}"));
        write_oci_layout(&layout, tag, 1, layer_size);
        let creds = format!("AWS:{}", self.password_of(creds));
        self.c.skopeo(
            &[
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                &creds,
                &format!("oci:{}:{tag}", layout.display()),
                &format!("docker://{}/{repository}:{tag}", self.server.addr),
            ],
            None,
        )
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

#[test]
fn creation_templates_create_repositories_on_push() {
    let s = start();
    let lifecycle = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}"#;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:BatchGetImage"}]}"#;
    let created = s.root_ok(&[
        "ecr",
        "create-repository-creation-template",
        "--prefix",
        "team",
        "--description",
        "the team's images",
        "--applied-for",
        "CREATE_ON_PUSH",
        "--image-tag-mutability",
        "IMMUTABLE_WITH_EXCLUSION",
        "--image-tag-mutability-exclusion-filters",
        "filterType=WILDCARD,filter=latest",
        "--resource-tags",
        "Key=team,Value=a",
        "--lifecycle-policy",
        lifecycle,
        "--repository-policy",
        policy,
    ]);
    let template = &created["repositoryCreationTemplate"];
    assert_eq!(template["prefix"], "team");
    assert_eq!(
        template["appliedFor"],
        serde_json::json!(["CREATE_ON_PUSH"])
    );
    assert_eq!(
        template["encryptionConfiguration"]["encryptionType"],
        "AES256"
    );
    // A template that is not for create-on-push does not create anything.
    s.root_ok(&[
        "ecr",
        "create-repository-creation-template",
        "--prefix",
        "ROOT",
        "--applied-for",
        "REPLICATION",
    ]);
    for (args, code) in [
        (
            &[
                "ecr",
                "create-repository-creation-template",
                "--prefix",
                "team",
                "--applied-for",
                "CREATE_ON_PUSH",
            ][..],
            "TemplateAlreadyExistsException",
        ),
        (
            &[
                "ecr",
                "create-repository-creation-template",
                "--prefix",
                "keyed",
                "--applied-for",
                "CREATE_ON_PUSH",
                "--encryption-configuration",
                "encryptionType=KMS",
            ][..],
            "KmsException",
        ),
        (
            &[
                "ecr",
                "create-repository-creation-template",
                "--prefix",
                "bad",
                "--applied-for",
                "CREATE_ON_PUSH",
                "--lifecycle-policy",
                "{\"rules\":[]}",
            ][..],
            "InvalidParameterException",
        ),
    ] {
        let err = s.root_err(args);
        assert!(err.contains(code), "{args:?}: {err}");
    }

    // A template's author must be allowed what the template will do: one who may make
    // templates and repositories, but not set repository policies, cannot hand out a
    // policy through a template. Nor may a template's policy name a role that is not there.
    let author = s.c.role_session(
        "Author",
        &serde_json::json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["ecr:CreateRepositoryCreationTemplate","ecr:CreateRepository"],"Resource":"*"}]}),
    );
    let err = s.c.aws_err(
        Some(&author),
        &[
            "ecr",
            "create-repository-creation-template",
            "--prefix",
            "sneaky",
            "--applied-for",
            "CREATE_ON_PUSH",
            "--repository-policy",
            policy,
        ],
    );
    assert!(
        err.contains("AccessDenied") && err.contains("ecr:SetRepositoryPolicy"),
        "{err}"
    );
    let err = s.root_err(&[
        "ecr",
        "create-repository-creation-template",
        "--prefix",
        "ghost",
        "--applied-for",
        "CREATE_ON_PUSH",
        "--repository-policy",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/NotYetARole"},"Action":"ecr:*"}]}"#,
    ]);
    assert!(err.contains("InvalidParameterException"), "{err}");

    // A pusher that may push but not create repositories: refused, nothing created.
    let pusher = s.c.role_session(
        "Pusher",
        &serde_json::json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"ecr:*","Resource":"*"},
            {"Effect":"Deny","Action":"ecr:CreateRepository","Resource":"*"}]}),
    );
    let refused = s.push_as(&pusher, "team/app", "v1", 1024);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("ecr:CreateRepository"), "{stderr}");
    let err = s.root_err(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        "team/app",
    ]);
    assert!(err.contains("RepositoryNotFoundException"), "{err}");

    // One that may: the repository appears with the template's settings.
    let creator = s.c.role_session(
        "Creator",
        &serde_json::json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}),
    );
    let pushed = s.push_as(&creator, "team/app", "v1", 1024);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let repo = s.root_ok(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        "team/app",
    ]);
    let repo = &repo["repositories"][0];
    assert_eq!(repo["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION");
    assert_eq!(
        repo["imageTagMutabilityExclusionFilters"],
        serde_json::json!([{"filterType": "WILDCARD", "filter": "latest"}])
    );
    let tags = s.root_ok(&[
        "ecr",
        "list-tags-for-resource",
        "--resource-arn",
        "arn:aws:ecr:us-east-1:123456789012:repository/team/app",
    ]);
    assert_eq!(
        tags["tags"],
        serde_json::json!([{"Key": "team", "Value": "a"}])
    );
    let got = s.root_ok(&[
        "ecr",
        "get-lifecycle-policy",
        "--repository-name",
        "team/app",
    ]);
    assert_eq!(got["lifecyclePolicyText"], lifecycle);
    let got = s.root_ok(&[
        "ecr",
        "get-repository-policy",
        "--repository-name",
        "team/app",
    ]);
    assert_eq!(got["policyText"], policy);

    // The template's mutability holds: v1 may not move, `latest` (excluded) may.
    let moved = s.push_as(&creator, "team/app", "v1", 2048);
    assert!(!moved.status.success(), "an immutable tag moved");
    let stderr = String::from_utf8_lossy(&moved.stderr);
    assert!(
        stderr.contains("immutable") || stderr.contains("IMMUTABLE"),
        "{stderr}"
    );
    for size in [1024, 2048] {
        let latest = s.push_as(&creator, "team/app", "latest", size);
        assert!(
            latest.status.success(),
            "{}",
            String::from_utf8_lossy(&latest.stderr)
        );
    }

    // No CREATE_ON_PUSH template matches: the push fails as before.
    let unmatched = s.push_as(&creator, "other/app", "v1", 1024);
    assert!(!unmatched.status.success());
    let stderr = String::from_utf8_lossy(&unmatched.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let err = s.root_err(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        "other/app",
    ]);
    assert!(err.contains("RepositoryNotFoundException"), "{err}");

    // Describe, update, delete.
    let all = s.root_ok(&["ecr", "describe-repository-creation-templates"]);
    let prefixes: Vec<&str> = all["repositoryCreationTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["prefix"].as_str().unwrap())
        .collect();
    assert_eq!(prefixes, ["ROOT", "team"]);
    let updated = s.root_ok(&[
        "ecr",
        "update-repository-creation-template",
        "--prefix",
        "team",
        "--description",
        "renamed",
    ]);
    let updated = &updated["repositoryCreationTemplate"];
    assert_eq!(updated["description"], "renamed");
    assert_eq!(updated["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION");
    let deleted = s.root_ok(&[
        "ecr",
        "delete-repository-creation-template",
        "--prefix",
        "team",
    ]);
    assert_eq!(
        deleted["repositoryCreationTemplate"]["description"],
        "renamed"
    );
    let err = s.root_err(&[
        "ecr",
        "delete-repository-creation-template",
        "--prefix",
        "team",
    ]);
    assert!(err.contains("TemplateNotFoundException"), "{err}");
}

#[test]
fn tag_mutability_exclusions_on_existing_repositories() {
    let s = start();
    let created = s.root_ok(&[
        "ecr",
        "create-repository",
        "--repository-name",
        "app",
        "--image-tag-mutability",
        "MUTABLE_WITH_EXCLUSION",
        "--image-tag-mutability-exclusion-filters",
        "filterType=WILDCARD,filter=release-*",
    ]);
    assert_eq!(
        created["repository"]["imageTagMutabilityExclusionFilters"][0]["filter"],
        "release-*"
    );
    let root = root();
    for (tag, size, ok) in [
        ("dev", 1024, true),
        ("dev", 2048, true),
        ("release-1", 1024, true),
        ("release-1", 2048, false),
    ] {
        let out = s.push_as(&root, "app", tag, size);
        assert_eq!(
            out.status.success(),
            ok,
            "{tag} ({size}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let put = s.root_ok(&[
        "ecr",
        "put-image-tag-mutability",
        "--repository-name",
        "app",
        "--image-tag-mutability",
        "IMMUTABLE",
    ]);
    assert_eq!(put["imageTagMutability"], "IMMUTABLE");
    assert!(
        put.get("imageTagMutabilityExclusionFilters").is_none(),
        "{put}"
    );
    for args in [
        &[
            "ecr",
            "put-image-tag-mutability",
            "--repository-name",
            "app",
            "--image-tag-mutability",
            "IMMUTABLE_WITH_EXCLUSION",
        ][..],
        &[
            "ecr",
            "put-image-tag-mutability",
            "--repository-name",
            "app",
            "--image-tag-mutability",
            "MUTABLE",
            "--image-tag-mutability-exclusion-filters",
            "filterType=WILDCARD,filter=x",
        ][..],
        &[
            "ecr",
            "put-image-tag-mutability",
            "--repository-name",
            "app",
            "--image-tag-mutability",
            "MUTABLE_WITH_EXCLUSION",
            "--image-tag-mutability-exclusion-filters",
            "filterType=WILDCARD,filter=no/slash",
        ][..],
    ] {
        let err = s.root_err(args);
        assert!(err.contains("InvalidParameterException"), "{args:?}: {err}");
    }
    let repo = s.root_ok(&["ecr", "describe-repositories", "--repository-names", "app"]);
    assert_eq!(repo["repositories"][0]["imageTagMutability"], "IMMUTABLE");
}

/// A pull is recorded (DescribeImages' `lastRecordedPullTime`) and lifecycle rules may
/// count from it (`sinceImagePulled`).
#[test]
fn pulls_are_recorded_for_lifecycle_rules() {
    let s = start();
    s.root_ok(&["ecr", "create-repository", "--repository-name", "pulled"]);
    s.push("pulled", "v1");
    let described = s.root_ok(&["ecr", "describe-images", "--repository-name", "pulled"]);
    assert!(
        described["imageDetails"][0]
            .get("lastRecordedPullTime")
            .is_none(),
        "{described}"
    );
    // BatchGetImage is a pull (as a registry GET of the manifest is; a HEAD is not).
    s.root_ok(&[
        "ecr",
        "batch-get-image",
        "--repository-name",
        "pulled",
        "--image-ids",
        "imageTag=v1",
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let described = s.root_ok(&["ecr", "describe-images", "--repository-name", "pulled"]);
        if described["imageDetails"][0]
            .get("lastRecordedPullTime")
            .is_some()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {described}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let policy = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}"#;
    s.root_ok(&[
        "ecr",
        "put-lifecycle-policy",
        "--repository-name",
        "pulled",
        "--lifecycle-policy-text",
        policy,
    ]);
    let preview = s.root_ok(&[
        "ecr",
        "start-lifecycle-policy-preview",
        "--repository-name",
        "pulled",
    ]);
    assert_eq!(preview["status"], "COMPLETE", "{preview}");
    let got = s.root_ok(&[
        "ecr",
        "get-lifecycle-policy-preview",
        "--repository-name",
        "pulled",
    ]);
    assert_eq!(got["previewResults"], serde_json::json!([]), "{got}");
    let bad = policy.replace("\"countUnit\":\"days\",", "");
    let err = s.root_err(&[
        "ecr",
        "put-lifecycle-policy",
        "--repository-name",
        "pulled",
        "--lifecycle-policy-text",
        &bad,
    ]);
    assert!(err.contains("sinceImagePulled"), "{err}");
}

/// Debian's `docker-registry` (distribution), anonymous and plain HTTP, on a free port.
fn start_upstream(dir: &std::path::Path) -> (Killed, String) {
    let bin = std::env::var("BERTH_TEST_DOCKER_REGISTRY")
        .unwrap_or_else(|_| "/usr/bin/docker-registry".into());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("upstream.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("upstream-data").display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(&bin)
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(
            std::fs::File::create(dir.join("upstream.log")).unwrap(),
        ))
        .spawn()
        .unwrap_or_else(|e| panic!("run {bin} (installed by scripts/test.sh): {e}"));
    let upstream = Killed(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while get(&format!("http://{addr}/v2/")).0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "docker-registry did not start: {}",
            std::fs::read_to_string(dir.join("upstream.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (upstream, addr)
}

impl Setup {
    /// Pushes an image of `layers` layers to the anonymous upstream; its manifest digest.
    fn push_upstream(&self, upstream: &str, reference: &str, layers: usize) -> String {
        let layout = self._tmp.path().join(format!("upstream-layout-{layers}"));
        write_oci_layout(&layout, "t", layers, 2048);
        let out = self.c.skopeo(
            &[
                "copy",
                "--dest-tls-verify=false",
                &format!("oci:{}:t", layout.display()),
                &format!("docker://{upstream}/{reference}"),
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.digest_of(&["--tls-verify=false"], &format!("{upstream}/{reference}"))
    }

    /// The manifest digest a registry answers for `reference`, as skopeo inspect sees it.
    fn digest_of(&self, flags: &[&str], reference: &str) -> String {
        let mut args = vec!["inspect"];
        args.extend_from_slice(flags);
        let image = format!("docker://{reference}");
        args.push(&image);
        let out = self.c.skopeo(&args, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        inspected["Digest"].as_str().unwrap().to_owned()
    }

    /// Pulls `reference` from Berth with skopeo as `creds`; the manifest digest it got.
    fn pull(&self, creds: &Creds, reference: &str) -> Result<String, String> {
        let dir = self._tmp.path().join(format!("pulled-{}", rand_suffix()));
        let login = format!("AWS:{}", self.password_of(creds));
        let out = self.c.skopeo(
            &[
                "copy",
                "--src-tls-verify=false",
                "--src-creds",
                &login,
                &format!("docker://{}/{reference}", self.server.addr),
                &format!("oci:{}:t", dir.display()),
            ],
            None,
        );
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(self.digest_of(
            &["--tls-verify=false", "--creds", &login],
            &format!("{}/{reference}", self.server.addr),
        ))
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn a_pull_through_cache_fills_from_its_upstream_refreshes_and_outlives_it() {
    let s = start_with(&[
        "--dev",
        "--allow-any-upstream",
        "--pull-through-refresh",
        "2s",
    ]);
    let (mut upstream, upstream_addr) = start_upstream(s._tmp.path());
    let v1 = s.push_upstream(&upstream_addr, "library/app:v1", 1);

    // The rule, with ECR's errors for what Berth cannot do.
    let url = format!("http://{upstream_addr}");
    // aws CLI v1 fetches a parameter that starts with http:// and sends what it got: the
    // URL goes in the input JSON instead.
    let rule_input =
        serde_json::json!({"ecrRepositoryPrefix": "mirror", "upstreamRegistryUrl": url})
            .to_string();
    let created = s.root_ok(&[
        "ecr",
        "create-pull-through-cache-rule",
        "--cli-input-json",
        &rule_input,
    ]);
    assert_eq!(created["ecrRepositoryPrefix"], "mirror");
    assert_eq!(created["upstreamRegistryUrl"], url.as_str());
    assert_eq!(created["upstreamRepositoryPrefix"], "ROOT");
    let err = s.root_err(&[
        "ecr",
        "create-pull-through-cache-rule",
        "--cli-input-json",
        &rule_input,
    ]);
    assert!(
        err.contains("PullThroughCacheRuleAlreadyExistsException"),
        "{err}"
    );
    // A rule inside another's prefix would take over its cache.
    let nested =
        serde_json::json!({"ecrRepositoryPrefix": "mirror/library", "upstreamRegistryUrl": url})
            .to_string();
    let err = s.root_err(&[
        "ecr",
        "create-pull-through-cache-rule",
        "--cli-input-json",
        &nested,
    ]);
    assert!(
        err.contains("InvalidParameterException") && err.contains("overlaps"),
        "{err}"
    );
    let err = s.root_err(&[
        "ecr",
        "create-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "hub",
        "--upstream-registry-url",
        "registry-1.docker.io",
        "--credential-arn",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub",
    ]);
    assert!(err.contains("UnableToAccessSecretException"), "{err}");
    let err = s.root_err(&[
        "ecr",
        "describe-pull-through-cache-rules",
        "--ecr-repository-prefixes",
        "nothing",
    ]);
    assert!(
        err.contains("PullThroughCacheRuleNotFoundException"),
        "{err}"
    );
    let rules = s.root_ok(&["ecr", "describe-pull-through-cache-rules"]);
    assert_eq!(
        rules["pullThroughCacheRules"].as_array().unwrap().len(),
        1,
        "{rules}"
    );
    let updated = s.root_ok(&[
        "ecr",
        "update-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "mirror",
    ]);
    assert_eq!(updated["ecrRepositoryPrefix"], "mirror");
    let valid = s.root_ok(&[
        "ecr",
        "validate-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "mirror",
    ]);
    assert_eq!(valid["isValid"], true, "{valid}");

    // A puller that may not import nor create finds nothing yet.
    let reader = s.c.role_session(
        "Reader",
        &serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability"], "Resource": "*"}]}),
    );
    let err = s.pull(&reader, "mirror/library/app:v1").unwrap_err();
    assert!(
        err.contains("denied") || err.contains("not authorized"),
        "{err}"
    );
    let err = s.root_err(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        "mirror/library/app",
    ]);
    assert!(err.contains("RepositoryNotFoundException"), "{err}");

    // The first pull by one who may creates the repository and imports the image.
    assert_eq!(s.pull(&root(), "mirror/library/app:v1").unwrap(), v1);
    let images = s.root_ok(&[
        "ecr",
        "describe-images",
        "--repository-name",
        "mirror/library/app",
    ]);
    assert_eq!(
        images["imageDetails"][0]["imageDigest"],
        v1.as_str(),
        "{images}"
    );
    assert_eq!(images["imageDetails"][0]["imageTags"][0], "v1", "{images}");
    // Now cached, the reader pulls it too.
    assert_eq!(s.pull(&reader, "mirror/library/app:v1").unwrap(), v1);
    // Upstream has no such tag: refused plainly.
    let err = s.pull(&root(), "mirror/library/app:nope").unwrap_err();
    assert!(
        err.contains("manifest unknown") || err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );

    // The tag moves upstream: once the refresh time has passed, Berth asks again and
    // serves the new image. (Whether a pull falls within the refresh time depends on the
    // machine's speed, so only the refresh itself is checked.)
    let v2 = s.push_upstream(&upstream_addr, "library/app:v1", 2);
    assert_ne!(v1, v2);
    std::thread::sleep(Duration::from_millis(2_500));
    // The repository's policy decides the import too: an explicit Deny of
    // ecr:BatchImportUpstreamImage keeps even the root user on the cached image.
    s.root_ok(&[
        "ecr",
        "set-repository-policy",
        "--repository-name",
        "mirror/library/app",
        "--policy-text",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:BatchImportUpstreamImage"}]}"#,
    ]);
    assert_eq!(s.pull(&root(), "mirror/library/app:v1").unwrap(), v1);
    s.root_ok(&[
        "ecr",
        "delete-repository-policy",
        "--repository-name",
        "mirror/library/app",
    ]);
    assert_eq!(s.pull(&root(), "mirror/library/app:v1").unwrap(), v2);

    // The upstream goes away: the cache still serves what it has, and says what it lacks.
    upstream.0.kill().unwrap();
    upstream.0.wait().unwrap();
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(s.pull(&root(), "mirror/library/app:v1").unwrap(), v2);
    assert_eq!(
        s.pull(&reader, &format!("mirror/library/app@{v1}"))
            .unwrap(),
        v1
    );
    let err = s.pull(&root(), "mirror/library/other:v1").unwrap_err();
    assert!(err.contains("could not be reached"), "{err}");
    let invalid = s.root_ok(&[
        "ecr",
        "validate-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "mirror",
    ]);
    assert_eq!(invalid["isValid"], false, "{invalid}");
    assert!(
        invalid["failure"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{invalid}"
    );

    let deleted = s.root_ok(&[
        "ecr",
        "delete-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "mirror",
    ]);
    assert_eq!(deleted["upstreamRegistryUrl"], url.as_str());
    let err = s.root_err(&[
        "ecr",
        "delete-pull-through-cache-rule",
        "--ecr-repository-prefix",
        "mirror",
    ]);
    assert!(
        err.contains("PullThroughCacheRuleNotFoundException"),
        "{err}"
    );
}
