//! The command line as people meet it: help with examples, shell completions, no colour
//! codes when the output is not a terminal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .unwrap()
}

const COMMANDS: [&str; 8] = [
    "serve",
    "token",
    "policy",
    "setup",
    "teardown",
    "workflow",
    "login",
    "completions",
];

#[test]
fn every_command_has_examples_in_its_help() {
    for command in COMMANDS {
        let out = berth(&[command, "--help"]);
        assert!(out.status.success(), "{command}");
        let help = String::from_utf8(out.stdout).unwrap();
        let examples = help
            .split_once("Examples:\n")
            .unwrap_or_else(|| panic!("{command} --help has no examples:\n{help}"))
            .1;
        assert!(
            examples.contains(&format!("berth {command}")),
            "{command}: {examples}"
        );
        assert!(
            !help.contains('\u{1b}'),
            "{command}: colour codes in a pipe"
        );
    }
}

#[test]
fn completions_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = berth(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in COMMANDS {
            assert!(script.contains(command), "{shell}: {command}");
        }
    }
    // bash itself accepts the script.
    let out = berth(&["completions", "bash"]);
    let script = std::env::temp_dir().join(format!("berth-completion-{}.bash", std::process::id()));
    std::fs::write(&script, &out.stdout).unwrap();
    let checked = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    std::fs::remove_file(&script).unwrap();
    assert!(checked.success());
    let out = berth(&["completions", "powershell-ish"]);
    assert!(!out.status.success());
}
