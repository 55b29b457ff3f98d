//! `--config FILE` (or `BERTH_CONFIG`): every long flag of `berth serve` and `berth
//! migrate` can also be set in a TOML file, by its name (`listen = "0.0.0.0:5000"`,
//! `s3_endpoint = "..."`; `-` or `_` alike). Precedence: command line, then the flag's
//! `BERTH_*` variable, then the file, then the default.
//!
//! `berth migrate` and `berth gc` read the same file as the server they belong to, so
//! there a setting only `serve` has (`listen`, `dev`, ...) is skipped, not refused.
//!
//! The file is applied before clap parses: each setting that neither the command line nor
//! the environment gives becomes a flag, so clap validates file values exactly as it
//! validates flags.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, bail};

const SUBCOMMANDS: &[&str] = &["serve", "migrate", "gc"];

/// `argv` with the config file's settings added as flags after the subcommand.
pub fn expand(command: &clap::Command, argv: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Some(sub_name) = argv.get(1).and_then(|a| a.to_str()) else {
        return Ok(argv);
    };
    if !SUBCOMMANDS.contains(&sub_name) {
        return Ok(argv);
    }
    let Some(sub) = command.find_subcommand(sub_name) else {
        return Ok(argv);
    };
    let given: Vec<String> = argv
        .iter()
        .skip(2)
        .filter_map(|a| a.to_str().map(str::to_owned))
        .collect();
    let Some(path) = config_path(&given) else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;

    let mut extra: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let flag = key.replace('_', "-");
        let Some(arg) = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()) && flag != "config")
        else {
            let serve_has_it = command.find_subcommand("serve").is_some_and(|serve| {
                serve
                    .get_arguments()
                    .any(|a| a.get_long() == Some(flag.as_str()))
            });
            if sub_name != "serve" && serve_has_it {
                continue;
            }
            bail!(
                "{}: unknown setting `{key}` (settings are the long flags of `berth {sub_name}`, \
                 such as `listen` or `metadata`)",
                path.display()
            );
        };
        let on_command_line = given
            .iter()
            .any(|a| a == &format!("--{flag}") || a.starts_with(&format!("--{flag}=")));
        let in_environment = arg
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some());
        if on_command_line || in_environment {
            continue;
        }
        let takes_value = arg.get_action().takes_values();
        match value {
            toml::Value::Boolean(set) if !takes_value => {
                if *set {
                    extra.push(format!("--{flag}").into());
                }
            }
            toml::Value::String(s) if takes_value => {
                extra.push(format!("--{flag}").into());
                extra.push(s.into());
            }
            toml::Value::Integer(n) if takes_value => {
                extra.push(format!("--{flag}").into());
                extra.push(n.to_string().into());
            }
            _ => bail!(
                "{}: `{key}` must be {}",
                path.display(),
                if takes_value {
                    "a string"
                } else {
                    "true or false"
                }
            ),
        }
    }
    let mut out = Vec::with_capacity(argv.len() + extra.len());
    let mut rest = argv.into_iter();
    out.extend(rest.by_ref().take(2));
    out.extend(extra);
    out.extend(rest);
    Ok(out)
}

fn config_path(given: &[String]) -> Option<PathBuf> {
    let mut args = given.iter();
    while let Some(a) = args.next() {
        if a == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("BERTH_CONFIG").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> clap::Command {
        clap::Command::new("berth")
            .subcommand(
                clap::Command::new("gc")
                    .arg(Arg::new("metadata").long("metadata"))
                    .arg(Arg::new("config").long("config")),
            )
            .subcommand(
                clap::Command::new("serve")
                    .arg(Arg::new("listen").long("listen"))
                    .arg(Arg::new("s3-region").long("s3-region"))
                    .arg(Arg::new("dev").long("dev").action(ArgAction::SetTrue))
                    .arg(
                        Arg::new("metadata")
                            .long("metadata")
                            .env("BERTH_TEST_CONFIG_FILE_UNSET_VARIABLE"),
                    )
                    .arg(Arg::new("config").long("config")),
            )
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn file_settings_become_flags_unless_given_on_the_command_line() {
        let f = file("listen = \"0.0.0.0:1\"\ns3_region = \"eu-west-1\"\ndev = true\n");
        let path = f.path().to_str().unwrap();
        let out = expand(
            &command(),
            argv(&["berth", "serve", "--config", path, "--listen=127.0.0.1:2"]),
        )
        .unwrap();
        assert_eq!(
            out,
            argv(&[
                "berth",
                "serve",
                "--dev",
                "--s3-region",
                "eu-west-1",
                "--config",
                path,
                "--listen=127.0.0.1:2"
            ])
        );
    }

    #[test]
    fn bad_files_say_what_to_fix() {
        for (text, want) in [
            ("nope = 1", "unknown setting `nope`"),
            ("dev = \"yes\"", "`dev` must be true or false"),
            ("listen = [1]", "`listen` must be a string"),
            ("listen = ", "not valid TOML"),
        ] {
            let f = file(text);
            let err = expand(
                &command(),
                argv(&["berth", "serve", "--config", f.path().to_str().unwrap()]),
            )
            .unwrap_err();
            assert!(format!("{err:#}").contains(want), "{text}: {err:#}");
        }
        let missing = expand(
            &command(),
            argv(&["berth", "serve", "--config=/no/such/berth.toml"]),
        )
        .unwrap_err();
        assert!(format!("{missing:#}").contains("cannot read the config file"));
    }

    #[test]
    fn tools_sharing_the_servers_file_skip_its_serve_only_settings() {
        let f = file("listen = \"0.0.0.0:1\"\nmetadata = \"postgres://db/berth\"\n");
        let path = f.path().to_str().unwrap();
        let out = expand(&command(), argv(&["berth", "gc", "--config", path])).unwrap();
        assert_eq!(
            out,
            argv(&[
                "berth",
                "gc",
                "--metadata",
                "postgres://db/berth",
                "--config",
                path
            ])
        );
        let f = file("nope = 1");
        let err = expand(
            &command(),
            argv(&["berth", "gc", "--config", f.path().to_str().unwrap()]),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown setting `nope`"),
            "{err:#}"
        );
    }

    #[test]
    fn other_commands_and_no_file_are_left_alone() {
        let plain = argv(&["berth", "serve", "--listen", "x"]);
        assert_eq!(expand(&command(), plain.clone()).unwrap(), plain);
        let other = argv(&["berth", "policy", "--config", "/no/such/file"]);
        assert_eq!(expand(&command(), other.clone()).unwrap(), other);
    }
}
