//! A real infrastructure-as-code tool against Berth: Ansible (the full `ansible` package
//! from PyPI, with the amazon.aws and community.aws collections it bundles) applies the
//! document's set-up (`examples/ansible.yml`) twice, the second time changing
//! nothing; the role it made is assumed with a workflow token; the info modules read it
//! all back; and the delete play removes it, leaving nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const PLAYBOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/ansible.yml");

/// What one `ansible-playbook` run reported in its recap.
struct Recap {
    changed: u32,
    failed: u32,
    output: String,
}

fn recap_count(line: &str, key: &str) -> u32 {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in the recap line {line:?}"))
}

fn tool_dir(variable: &str) -> Option<PathBuf> {
    let tool = std::env::var(variable).ok()?;
    Path::new(&tool).parent().map(Path::to_path_buf)
}

/// Runs the playbook's plays tagged `tag` against `endpoint`.
fn play(endpoint: &str, home: &Path, tag: &str) -> Recap {
    // The test virtualenv's tools (ansible-playbook, aws, the Python with boto3) come
    // first on PATH, as scripts/test.sh installs them there.
    let python = std::env::var("BERTH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut path: Vec<PathBuf> = ["BERTH_TEST_PYTHON", "BERTH_TEST_AWS"]
        .into_iter()
        .filter_map(tool_dir)
        .collect();
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let playbook =
        std::env::var("BERTH_TEST_ANSIBLE_PLAYBOOK").unwrap_or_else(|_| "ansible-playbook".into());
    let out = Command::new(&playbook)
        .args(["-i", "localhost,", "-c", "local", "--tags", tag])
        .arg("-e")
        .arg(format!("ansible_python_interpreter={python}"))
        .arg("-e")
        .arg(format!("berth_endpoint={endpoint}"))
        .arg(PLAYBOOK)
        .env_clear()
        .env("PATH", std::env::join_paths(path).unwrap())
        .env("HOME", home)
        .env("ANSIBLE_HOME", home.join(".ansible"))
        .env("ANSIBLE_LOCAL_TEMP", home.join(".ansible/tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "false")
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false")
        .env("AWS_ACCESS_KEY_ID", ROOT_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {playbook} (scripts/test.sh installs ansible into .venv): {e}")
        });
    let output = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let recap = output
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.starts_with("localhost"))
        .unwrap_or_else(|| panic!("no recap for localhost in:\n{output}"))
        .to_owned();
    let recap = Recap {
        changed: recap_count(&recap, "changed"),
        failed: recap_count(&recap, "failed"),
        output,
    };
    assert!(
        out.status.success() && recap.failed == 0,
        "ansible-playbook --tags {tag} failed:\n{}",
        recap.output
    );
    recap
}

#[test]
fn ansible_applies_the_document_twice_reads_it_back_and_deletes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start_with(&tmp.path().join("data"), "127.0.0.1:0", &["--dev"]);
    let c = Clients {
        endpoint: server.endpoint(),
        home: home.clone(),
    };

    let first = play(&c.endpoint, &home, "setup");
    // The provider, the policy, the role (with its attachment) and the repository.
    assert!(first.changed >= 4, "{}", first.output);
    let second = play(&c.endpoint, &home, "setup");
    assert_eq!(
        second.changed, 0,
        "the second run changed something:\n{}",
        second.output
    );

    // What Ansible made works: a workflow of octo-org/octo-repo on main assumes the role.
    let token = c.dev_token("octo-org/octo-repo");
    let assumed = c.aws_ok(
        None,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            "arn:aws:iam::123456789012:role/GitHubActionsECRRole",
            "--role-session-name",
            "ansible",
            "--web-identity-token",
            &token,
        ],
    );
    assert!(
        assumed["Credentials"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .starts_with("ASIA")
    );

    // The read play asserts what the info modules return.
    let read = play(&c.endpoint, &home, "read");
    assert_eq!(read.changed, 0, "{}", read.output);

    let deleted = play(&c.endpoint, &home, "delete");
    assert!(deleted.changed >= 4, "{}", deleted.output);
    let r = Some(root());
    let r = r.as_ref();
    for (args, code) in [
        (
            &["iam", "get-role", "--role-name", "GitHubActionsECRRole"][..],
            "NoSuchEntity",
        ),
        (
            &[
                "iam",
                "get-policy",
                "--policy-arn",
                "arn:aws:iam::123456789012:policy/GitHubActionsECRPolicy",
            ][..],
            "NoSuchEntity",
        ),
        (
            &[
                "iam",
                "get-instance-profile",
                "--instance-profile-name",
                "GitHubActionsECRRole",
            ][..],
            "NoSuchEntity",
        ),
        (
            &[
                "ecr",
                "describe-repositories",
                "--repository-names",
                "octo-repo",
            ][..],
            "RepositoryNotFoundException",
        ),
    ] {
        let err = c.aws_err(r, args);
        assert!(err.contains(code), "{args:?}: {err}");
    }
    let providers = c.aws_ok(r, &["iam", "list-open-id-connect-providers"]);
    assert_eq!(
        providers["OpenIDConnectProviderList"],
        serde_json::json!([])
    );
    let again = play(&c.endpoint, &home, "delete");
    assert_eq!(again.changed, 0, "{}", again.output);
}
