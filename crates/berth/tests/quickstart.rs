//! The README's quick start, as the reader runs it: `examples/quickstart.sh` against a
//! fresh `berth serve --dev`, with the real aws CLI and skopeo. The README shows the same
//! steps, so it cannot drift from what works without this test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_quick_start_script_runs_the_document_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/quickstart.sh");
    let aws = std::env::var("BERTH_TEST_AWS").unwrap_or_else(|_| "aws".into());
    let run = || {
        Command::new("bash")
            .arg(script)
            .arg(server.endpoint())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("TMPDIR", tmp.path())
            .env("BERTH", env!("CARGO_BIN_EXE_berth"))
            .env("AWS", &aws)
            .env("BERTH_ROOT_ACCESS_KEY_ID", ROOT_KEY)
            .env("BERTH_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("AWS_CONFIG_FILE", home.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1")
            .output()
            .expect("run examples/quickstart.sh")
    };
    // Twice: the README says it is safe to run again.
    for round in 1..=2 {
        let out = run();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "round {round}: quickstart.sh failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        assert!(
            stdout.contains("assumed-role/GitHubActionsECRRole/GitHubActions"),
            "{stdout}"
        );
        assert!(stdout.contains("\"imageTag\": \"v1\""), "{stdout}");
        assert!(stdout.contains("AccessDenied"), "{stdout}");
        assert!(stdout.contains("== done"), "{stdout}");
    }
}
