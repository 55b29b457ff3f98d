//! `berth login` and `docker-credential-berth`: registry credentials for docker, podman and
//! skopeo from ECR's GetAuthorizationToken with the standard AWS credentials, without
//! piping a password through `docker login`.
//!
//! The auth file is the containers-auth.json / ~/.docker/config.json format:
//! `{"auths": {"HOST": {"auth": base64("AWS:" + password)}}}`. The credential helper speaks
//! docker's protocol (docker-credential-helpers): `get` reads a server URL on stdin and
//! prints `{"ServerURL", "Username", "Secret"}`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use aws_sdk_ecr::error::DisplayErrorContext;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// A Berth server instead of AWS, e.g. http://127.0.0.1:5000.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The registry host the credentials are for (default: ECR's proxyEndpoint).
    #[arg(long)]
    pub registry: Option<String>,
    /// The auth file to write (default: $REGISTRY_AUTH_FILE, else ~/.docker/config.json,
    /// which docker, podman and skopeo all read).
    #[arg(long)]
    pub authfile: Option<PathBuf>,
    /// The AWS region (default: from the profile or AWS_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// The AWS profile to use.
    #[arg(long)]
    pub profile: Option<String>,
}

/// A registry login: the host and the password that goes with the user name `AWS`.
struct Login {
    host: String,
    password: String,
}

async fn authorization(
    endpoint_url: Option<&str>,
    region: Option<&str>,
    profile: Option<&str>,
) -> anyhow::Result<Login> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        bail!("no AWS region: pass --region or set AWS_REGION");
    }
    let out = aws_sdk_ecr::Client::new(&config)
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ecr:GetAuthorizationToken failed: {}",
                DisplayErrorContext(e)
            )
        })?;
    let data = out
        .authorization_data()
        .first()
        .context("ecr:GetAuthorizationToken returned no authorization data")?;
    let token = data
        .authorization_token()
        .context("ecr:GetAuthorizationToken returned no token")?;
    let decoded = STANDARD
        .decode(token)
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .context("the authorization token is not base64 of USER:PASSWORD")?;
    let Some(("AWS", password)) = decoded.split_once(':') else {
        bail!("the authorization token is not for the user AWS");
    };
    let host = registry_host(data.proxy_endpoint().unwrap_or_default());
    Ok(Login {
        host,
        password: password.to_owned(),
    })
}

/// `https://123456789012.dkr.ecr.us-east-1.amazonaws.com/` -> the host (and port).
fn registry_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or_default().to_owned()
}

/// The region of an ECR registry host, so the helper asks the right region for it.
fn ecr_region(host: &str) -> Option<&str> {
    let mut parts = host.split('.');
    let (_account, dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (dkr == "dkr" && ecr == "ecr").then_some(region)
}

fn default_authfile() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: pass --authfile")?;
    Ok(Path::new(&home).join(".docker/config.json"))
}

/// Adds (or replaces) the entry for `host`, keeping everything else in the file, and writes
/// it readable by the owner only: it holds a password.
fn write_authfile(path: &Path, host: &str, password: &str) -> anyhow::Result<()> {
    let mut doc: Value = match std::fs::read(path) {
        Ok(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not JSON; fix or remove it", path.display()))?
        }
        Ok(_) => json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let Some(root) = doc.as_object_mut() else {
        bail!("{} is not a JSON object; fix or remove it", path.display());
    };
    let auths = root.entry("auths").or_insert_with(|| json!({}));
    let Some(auths) = auths.as_object_mut() else {
        bail!("`auths` in {} is not an object", path.display());
    };
    auths.insert(
        host.to_owned(),
        json!({"auth": STANDARD.encode(format!("AWS:{password}"))}),
    );
    let text = serde_json::to_string_pretty(&doc)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Write beside the file and rename over it: a reader never sees half a file, and the
    // password is never in a file others can read.
    let tmp = path.with_extension("berth-tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub async fn run(args: LoginArgs) -> anyhow::Result<()> {
    let login = authorization(
        args.endpoint_url.as_deref(),
        args.region.as_deref(),
        args.profile.as_deref(),
    )
    .await?;
    let host = args.registry.map_or(login.host, |r| registry_host(&r));
    if host.is_empty() {
        bail!("ECR returned no proxyEndpoint: pass --registry HOST");
    }
    let path = match args.authfile {
        Some(p) => p,
        None => default_authfile()?,
    };
    write_authfile(&path, &host, &login.password)?;
    eprintln!("logged in to {host} (credentials in {})", path.display());
    Ok(())
}

/// `docker-credential-berth ACTION`: docker's credential helper protocol. Credentials are
/// derived from the AWS ones on every `get`, so `store` and `erase` have nothing to keep.
pub async fn credential_helper(action: Option<&str>) -> anyhow::Result<()> {
    let mut stdin = String::new();
    match action {
        Some("get") => {
            std::io::stdin().read_to_string(&mut stdin)?;
            let server_url = stdin.trim();
            let host = registry_host(server_url);
            let login = authorization(None, ecr_region(&host), None).await?;
            // Configured as docker's credsStore, the helper is asked for every registry:
            // the ECR password goes only to the registry it is for.
            if login.host != host {
                println!("credentials not found in native keychain");
                bail!(
                    "no credentials for {host}: these AWS credentials are for the registry {}",
                    login.host
                );
            }
            println!(
                "{}",
                json!({"ServerURL": server_url, "Username": "AWS", "Secret": login.password})
            );
        }
        Some("list") => {
            let list = match authorization(None, None, None).await {
                Ok(login) => json!({ login.host: "AWS" }),
                Err(_) => json!({}),
            };
            println!("{list}");
        }
        Some("store" | "erase") => {
            std::io::stdin().read_to_string(&mut stdin)?;
        }
        Some("version") => println!("docker-credential-berth {}", env!("CARGO_PKG_VERSION")),
        _ => bail!(
            "usage: docker-credential-berth get|store|erase|list (docker's credential helper protocol)"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_regions() {
        assert_eq!(
            registry_host("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/"),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some("eu-west-1")
        );
        assert_eq!(ecr_region("127.0.0.1:5000"), None);
    }

    #[test]
    fn the_authfile_keeps_other_entries_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(
            &path,
            r#"{"auths":{"ghcr.io":{"auth":"eDp5"}},"credHelpers":{"x":"y"}}"#,
        )
        .unwrap();
        write_authfile(&path, "127.0.0.1:5000", "pw").unwrap();
        write_authfile(&path, "127.0.0.1:5000", "pw2").unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["auths"]["ghcr.io"]["auth"], "eDp5");
        assert_eq!(doc["credHelpers"]["x"], "y");
        assert_eq!(
            doc["auths"]["127.0.0.1:5000"]["auth"],
            STANDARD.encode("AWS:pw2")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "[1]").unwrap();
        assert!(write_authfile(&path, "h", "p").is_err());
    }
}
