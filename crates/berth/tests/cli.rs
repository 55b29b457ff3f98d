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

/// The subcommands a `--help` lists under "Commands:" (without `help`).
fn subcommands(path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = String::from_utf8(berth(&args).stdout).unwrap();
    let Some((_, list)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    // A command's line starts two spaces in; its wrapped description lines, further.
    list.lines()
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command and nested subcommand, read from the help itself (so a new command is
/// checked without editing this test).
fn every_command() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut pending: Vec<Vec<String>> = subcommands(&[]).into_iter().map(|c| vec![c]).collect();
    while let Some(path) = pending.pop() {
        for sub in subcommands(&path) {
            let mut nested = path.clone();
            nested.push(sub);
            pending.push(nested);
        }
        out.push(path);
    }
    out
}

#[test]
fn every_command_has_examples_in_its_help() {
    let commands = every_command();
    assert!(commands.len() >= 12, "{commands:?}");
    for path in commands {
        let command = path.join(" ");
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = berth(&args);
        assert!(out.status.success(), "{command}");
        let help = String::from_utf8(out.stdout).unwrap();
        let examples = help
            .split_once("Examples:\n")
            .unwrap_or_else(|| panic!("{command} --help has no examples:\n{help}"))
            .1;
        assert!(
            examples.contains(&format!("berth {command}")) || examples.contains("| berth"),
            "{command}: {examples}"
        );
        // Example commands fit an 80-column terminal: help wraps to the terminal, and a
        // wrapped command line cannot be pasted.
        for line in examples.lines().take_while(|l| !l.trim().is_empty()) {
            assert!(
                line.chars().count() < 80,
                "{command}: too wide to paste: {line}"
            );
        }
        assert!(
            !help.contains('\u{1b}'),
            "{command}: colour codes in a pipe"
        );
    }
    // The top level has examples too.
    let top = String::from_utf8(berth(&["--help"]).stdout).unwrap();
    assert!(top.contains("Examples:\n"), "{top}");
}

#[test]
fn completions_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = berth(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for path in every_command() {
            let command = path.last().unwrap();
            assert!(script.contains(command.as_str()), "{shell}: {command}");
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
