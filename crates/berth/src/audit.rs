//! `berth audit`: the audit trail in the terminal, as a client of CloudTrail's
//! `LookupEvents` signed with the caller's AWS credentials, so it works against any
//! replica (or AWS itself) and is authorised like the API.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

const TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
/// Error codes that mean the caller was refused, in each protocol's words.
const REFUSALS: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "DENIED",
    "UNAUTHORIZED",
];

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Explain one event: who, with which token's claims, and why it was refused.
    #[command(after_help = "Examples:
  berth audit --denied
  berth audit why 3beedb06-f358-4988-afb8-8a64a123573b")]
    Why {
        /// The event's id (the first column of `berth audit --output json`).
        event_id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Write the trail as CloudTrail log files (gzip JSON, one file per hour, under
    /// AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/), to a directory or an S3 bucket.
    #[command(after_help = "Examples:
  berth audit export --to ./trail --since 7d
  BERTH_S3_ACCESS_KEY_ID=... BERTH_S3_SECRET_ACCESS_KEY=... \\
      berth audit export --to s3://audit-bucket/berth")]
    Export(ExportArgs),
}

#[derive(Args, Debug, Clone)]
struct ClientArgs {
    /// A Berth server instead of AWS, e.g. http://127.0.0.1:5000.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// The AWS region (default: from the profile or AWS_REGION).
    #[arg(long)]
    region: Option<String>,
    /// The AWS profile to use.
    #[arg(long)]
    profile: Option<String>,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only refused calls (AccessDenied, a registry's DENIED).
    #[arg(long)]
    denied: bool,
    /// Only events about this repository.
    #[arg(long, value_name = "NAME")]
    repository: Option<String>,
    /// Only events that name this role: its assumes, allowed and refused, and changes to it.
    #[arg(long, value_name = "NAME")]
    role: Option<String>,
    /// Only events of this operation (PutImage, AssumeRoleWithWebIdentity, ...).
    #[arg(long, value_name = "NAME")]
    event_name: Option<String>,
    /// Only events of the last DURATION (30m, 12h, 7d).
    #[arg(long, value_name = "DURATION", value_parser = crate::gc::parse_duration)]
    since: Option<Duration>,
    /// The most recent events shown (before --follow).
    #[arg(long, default_value_t = 50)]
    max: usize,
    /// Keep printing new events as they come.
    #[arg(long)]
    follow: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// One line per event, a second with the reason for a refusal.
    Text,
    /// One CloudTrail record per line.
    Json,
}

#[derive(Args, Debug)]
struct ExportArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// A directory, or s3://bucket/prefix (with BERTH_S3_ACCESS_KEY_ID and
    /// BERTH_S3_SECRET_ACCESS_KEY, and --s3-endpoint for a bucket outside AWS).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    to: String,
    /// Export the events of the last DURATION.
    #[arg(long, default_value = "90d", value_parser = crate::gc::parse_duration)]
    since: Duration,
    /// An S3-compatible endpoint for --to s3://... (default: AWS S3).
    #[arg(long, env = "BERTH_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The bucket's region.
    #[arg(long, default_value = "us-east-1", env = "BERTH_S3_REGION")]
    s3_region: String,
}

pub async fn run(args: AuditArgs) -> anyhow::Result<u8> {
    match args.command {
        Some(AuditCommand::Why { event_id, client }) => why(&client, &event_id).await,
        Some(AuditCommand::Export(export_args)) => export(export_args).await,
        None => list(args.list).await,
    }
}

/// A LookupEvents client: the AWS credential chain, signed with Berth's SigV4.
struct Client {
    http: reqwest::Client,
    url: String,
    host: String,
    region: String,
    credentials: Credentials,
}

impl Client {
    async fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &args.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(|r| r.to_string()) else {
            bail!("no AWS region: pass --region or set AWS_REGION");
        };
        let Some(provider) = config.credentials_provider() else {
            bail!(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile"
            );
        };
        let credentials = provider.provide_credentials().await.context(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile",
        )?;
        let url = args
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("https://cloudtrail.{region}.amazonaws.com"));
        let url = url.trim_end_matches('/').to_owned() + "/";
        let parsed: http::Uri = url
            .parse()
            .with_context(|| format!("--endpoint-url `{url}` is not a URL"))?;
        let Some(host) = parsed.authority().map(|a| a.as_str().to_owned()) else {
            bail!("--endpoint-url `{url}` has no host");
        };
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            url,
            host,
            region,
            credentials,
        })
    }

    /// One LookupEvents call.
    async fn lookup(&self, request: &Value) -> anyhow::Result<Value> {
        let body = request.to_string();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, self.host.parse()?);
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        headers.insert("x-amz-target", http::HeaderValue::from_static(TARGET));
        if let Some(token) = self.credentials.session_token() {
            headers.insert("x-amz-security-token", token.parse()?);
        }
        let payload_hash = berth_sigv4::sha256_hex(body.as_bytes());
        let signed = berth_sigv4::sign(
            &berth_sigv4::RequestParts {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                payload_sha256_hex: &payload_hash,
            },
            self.credentials.access_key_id(),
            self.credentials.secret_access_key(),
            &self.region,
            "cloudtrail",
            berth_core::now_unix(),
        );
        headers.insert(http::header::AUTHORIZATION, signed.authorization.parse()?);
        headers.insert("x-amz-date", signed.amz_date.parse()?);
        headers.remove(http::header::HOST);
        let response = self
            .http
            .post(&self.url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let code = value["__type"].as_str().unwrap_or("error");
            let code = code.rsplit('#').next().unwrap_or(code);
            let message = value["message"]
                .as_str()
                .or(value["Message"].as_str())
                .unwrap_or(text.as_str());
            bail!("LookupEvents: {code}: {message}");
        }
        Ok(value)
    }

    /// Every page of a lookup, newest first, until `enough` events or the last page.
    async fn events(
        &self,
        mut request: Value,
        keep: impl Fn(&Value) -> bool,
        enough: usize,
    ) -> anyhow::Result<Vec<Value>> {
        let mut found = Vec::new();
        loop {
            let page = self.lookup(&request).await?;
            for event in page["Events"].as_array().into_iter().flatten() {
                let record: Value = event["CloudTrailEvent"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or(Value::Null);
                if keep(&record) {
                    found.push(record);
                    if found.len() >= enough {
                        return Ok(found);
                    }
                }
            }
            match page["NextToken"].as_str() {
                Some(token) => request["NextToken"] = token.into(),
                None => return Ok(found),
            }
        }
    }
}

fn unix_now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn list(args: ListArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.client).await?;
    // One attribute goes to the server (LookupEvents takes one); the rest filter here.
    let attribute = if let Some(repository) = &args.repository {
        Some(("ResourceName", repository.clone()))
    } else if let Some(role) = &args.role {
        Some(("ResourceName", role.clone()))
    } else {
        args.event_name.clone().map(|name| ("EventName", name))
    };
    let mut request = json!({"MaxResults": 50});
    if let Some((key, value)) = &attribute {
        request["LookupAttributes"] = json!([{"AttributeKey": key, "AttributeValue": value}]);
    }
    if let Some(since) = args.since {
        request["StartTime"] = json!(unix_now_f64() - since.as_secs_f64());
    }
    let keep = |record: &Value| matches(&args, record);
    let mut events = client.events(request.clone(), keep, args.max).await?;
    events.reverse();
    let mut stdout = std::io::stdout().lock();
    for event in &events {
        print_event(&mut stdout, event, args.output)?;
    }
    drop(stdout);
    if !args.follow {
        return Ok(0);
    }
    // New events: those at or after the newest shown, not shown before.
    let mut shown: HashSet<String> = events
        .iter()
        .filter_map(|e| e["eventID"].as_str().map(str::to_owned))
        .collect();
    let mut from = events
        .last()
        .and_then(|e| e["eventTime"].as_str())
        .and_then(parse_time)
        .unwrap_or_else(unix_now_f64);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut request = request.clone();
        request["StartTime"] = json!(from.floor());
        let mut new = client
            .events(request, |record| matches(&args, record), usize::MAX)
            .await?;
        new.reverse();
        let mut stdout = std::io::stdout().lock();
        for event in new {
            let Some(id) = event["eventID"].as_str().map(str::to_owned) else {
                continue;
            };
            if shown.insert(id) {
                print_event(&mut stdout, &event, args.output)?;
                if let Some(time) = event["eventTime"].as_str().and_then(parse_time) {
                    from = from.max(time);
                }
            }
        }
        stdout.flush()?;
    }
}

fn matches(args: &ListArgs, record: &Value) -> bool {
    if args.denied
        && !record["errorCode"]
            .as_str()
            .is_some_and(|code| REFUSALS.contains(&code))
    {
        return false;
    }
    let names = |resource_type: &str, name: &str| {
        record["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| {
                r["type"] == resource_type
                    && r["ARN"]
                        .as_str()
                        .is_some_and(|arn| arn.ends_with(&format!("/{name}")))
            })
    };
    if let Some(repository) = &args.repository
        && !names("AWS::ECR::Repository", repository)
    {
        return false;
    }
    if let Some(role) = &args.role
        && !names("AWS::IAM::Role", role)
    {
        return false;
    }
    if let Some(name) = &args.event_name
        && record["eventName"] != name.as_str()
    {
        return false;
    }
    true
}

fn parse_time(text: &str) -> Option<f64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp() as f64)
}

/// Who made the call, briefly: `root`, `Role/session`, or a web identity's subject.
fn who(record: &Value) -> String {
    let identity = &record["userIdentity"];
    match identity["type"].as_str() {
        Some("Root") => "root".into(),
        Some("AssumedRole") => identity["arn"]
            .as_str()
            .and_then(|arn| arn.split_once(":assumed-role/"))
            .map_or_else(|| "assumed role".into(), |(_, rest)| rest.to_owned()),
        _ => identity["userName"]
            .as_str()
            .unwrap_or("(no identity)")
            .to_owned(),
    }
}

/// The workflow run behind a web identity (a session's, or a token's): `repo@ref
/// workflow run N by actor`.
fn workflow_run(record: &Value) -> Option<String> {
    let claims = record["userIdentity"]["sessionContext"]["webIdFederationData"]["attributes"]
        .as_object()
        .or(record["additionalEventData"]["tokenClaims"].as_object())?;
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let mut text = format!("{}@{}", claim("repository")?, claim("ref").unwrap_or("?"));
    if let Some(workflow) = claim("workflow") {
        text.push_str(&format!(" {workflow}"));
    }
    if let Some(run) = claim("run_id") {
        text.push_str(&format!(" run {run}"));
    }
    if let Some(actor) = claim("actor") {
        text.push_str(&format!(" by {actor}"));
    }
    Some(text)
}

/// What the call was about: a repository (with the tag or digest), or a role.
fn subject(record: &Value) -> String {
    let parameters = &record["requestParameters"];
    if let Some(repository) = parameters["repositoryName"].as_str() {
        let reference = parameters["imageTag"]
            .as_str()
            .map(|t| format!(":{t}"))
            .or_else(|| {
                parameters["imageIds"][0]["imageTag"]
                    .as_str()
                    .map(|t| format!(":{t}"))
            })
            .unwrap_or_default();
        return format!("{repository}{reference}");
    }
    if let Some(role) = parameters["roleArn"]
        .as_str()
        .or(parameters["roleName"].as_str())
    {
        return role.rsplit('/').next().unwrap_or(role).to_owned();
    }
    String::new()
}

fn print_event(
    out: &mut impl std::io::Write,
    record: &Value,
    output: Output,
) -> anyhow::Result<()> {
    if output == Output::Json {
        writeln!(out, "{record}")?;
        return Ok(());
    }
    let outcome = match record["errorCode"].as_str() {
        None => "ok".to_owned(),
        Some(code) if REFUSALS.contains(&code) => "DENIED".to_owned(),
        Some(code) => code.to_owned(),
    };
    let mut line = format!(
        "{}  {:<8} {:<28} {:<24} {}",
        record["eventTime"].as_str().unwrap_or("?"),
        outcome,
        record["eventName"].as_str().unwrap_or("?"),
        subject(record),
        who(record),
    );
    if let Some(run) = workflow_run(record) {
        line.push_str(&format!("  ({run})"));
    }
    writeln!(out, "{}", line.trim_end())?;
    if let Some(why) = record["additionalEventData"]["denialExplanation"].as_str() {
        writeln!(out, "    why: {why}")?;
    } else if outcome != "ok"
        && let Some(message) = record["errorMessage"].as_str()
    {
        writeln!(out, "    {message}")?;
    }
    Ok(())
}

async fn why(client_args: &ClientArgs, event_id: &str) -> anyhow::Result<u8> {
    let client = Client::new(client_args).await?;
    let request = json!({
        "LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": event_id}],
    });
    let Some(record) = client.events(request, |_| true, 1).await?.pop() else {
        bail!("no event {event_id}: is the id right, and within the trail's retention?");
    };
    let mut out = String::new();
    let field = |out: &mut String, name: &str, value: &str| {
        out.push_str(&format!("{name:<12} {value}\n"));
    };
    field(
        &mut out,
        "event",
        &format!(
            "{} {} ({})",
            record["eventName"].as_str().unwrap_or("?"),
            record["eventID"].as_str().unwrap_or("?"),
            record["eventSource"].as_str().unwrap_or("?"),
        ),
    );
    field(
        &mut out,
        "time",
        record["eventTime"].as_str().unwrap_or("?"),
    );
    field(&mut out, "caller", &who(&record));
    if let Some(arn) = record["userIdentity"]["arn"].as_str() {
        field(&mut out, "arn", arn);
    }
    if let Some(key) = record["userIdentity"]["accessKeyId"].as_str() {
        field(&mut out, "access key", key);
    }
    field(
        &mut out,
        "from",
        &format!(
            "{} ({})",
            record["sourceIPAddress"].as_str().unwrap_or("?"),
            record["userAgent"].as_str().unwrap_or("?"),
        ),
    );
    match record["errorCode"].as_str() {
        Some(code) => field(
            &mut out,
            "outcome",
            &format!(
                "{code}: {}",
                record["errorMessage"].as_str().unwrap_or_default()
            ),
        ),
        None => field(&mut out, "outcome", "allowed"),
    }
    if let Some(why) = record["additionalEventData"]["denialExplanation"].as_str() {
        field(&mut out, "why", why);
    }
    let claims = record["additionalEventData"]["tokenClaims"].as_object().or(
        record["userIdentity"]["sessionContext"]["webIdFederationData"]["attributes"].as_object(),
    );
    if let Some(claims) = claims {
        let verified = match record["additionalEventData"]["tokenSignatureVerified"].as_bool() {
            Some(false) => " (signature NOT verified: the token says so, nobody vouches)",
            _ => "",
        };
        out.push_str(&format!("token claims{verified}:\n"));
        let claims: BTreeMap<&String, &Value> = claims.iter().collect();
        for (name, value) in claims {
            out.push_str(&format!(
                "  {name:<18} {}\n",
                value.as_str().unwrap_or_default()
            ));
        }
    }
    if let Some(parameters) = record["requestParameters"].as_object() {
        out.push_str("request:\n");
        for (name, value) in parameters {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("  {name:<18} {text}\n"));
        }
    }
    print!("{out}");
    Ok(0)
}

async fn export(args: ExportArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.client).await?;
    let destination = Destination::parse(&args)?;
    // One file per hour with events, oldest first; an hour's events are fetched alone.
    let now = unix_now_f64() as i64;
    let first_hour = (now - args.since.as_secs() as i64).div_euclid(3600) * 3600;
    let (mut files, mut total) = (0, 0);
    let mut hour = first_hour;
    while hour <= now {
        let request = json!({
            "MaxResults": 50,
            "StartTime": hour,
            "EndTime": hour as f64 + 3599.999,
        });
        let mut records = client.events(request, |_| true, usize::MAX).await?;
        if !records.is_empty() {
            records.reverse();
            let account = records[0]["recipientAccountId"]
                .as_str()
                .unwrap_or("000000000000")
                .to_owned();
            let region = records[0]["awsRegion"]
                .as_str()
                .unwrap_or("us-east-1")
                .to_owned();
            let path = log_file_path(&account, &region, hour);
            total += records.len();
            let bytes = gzip(&json!({"Records": records}).to_string())?;
            destination.write(&path, bytes).await?;
            files += 1;
        }
        hour += 3600;
    }
    println!("exported {total} events in {files} files to {}", args.to);
    Ok(0)
}

/// CloudTrail's file layout: AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/
/// ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz. The unique part is a hash of
/// the hour, so exporting again replaces a file instead of adding a copy.
fn log_file_path(account: &str, region: &str, hour: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(hour).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let unique = &berth_sigv4::sha256_hex(format!("{account}/{region}/{hour}").as_bytes())[..16];
    format!(
        "AWSLogs/{account}/CloudTrail/{region}/{:04}/{:02}/{:02}/{account}_CloudTrail_{region}_{:04}{:02}{:02}T{:02}00Z_{unique}.json.gz",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
    )
}

fn gzip(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes())?;
    Ok(encoder.finish()?)
}

enum Destination {
    Directory(PathBuf),
    Bucket {
        store: object_store::aws::AmazonS3,
        prefix: String,
    },
}

impl Destination {
    fn parse(args: &ExportArgs) -> anyhow::Result<Self> {
        let Some((bucket, prefix)) = crate::storage::s3_location("--to", &args.to)? else {
            return Ok(Self::Directory(PathBuf::from(&args.to)));
        };
        let (key, secret) = crate::storage::s3_keys("--to")?;
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region(&args.s3_region)
            .with_access_key_id(key)
            .with_secret_access_key(secret);
        if let Some(endpoint) = &args.s3_endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        Ok(Self::Bucket {
            store: builder
                .build()
                .with_context(|| format!("--to {}", args.to))?,
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    async fn write(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Self::Directory(dir) => {
                let file = dir.join(path);
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                // Written whole under a temporary name, then renamed: a reader never sees
                // half a file.
                let partial = file.with_extension("partial");
                std::fs::write(&partial, bytes)
                    .with_context(|| format!("cannot write {}", partial.display()))?;
                std::fs::rename(&partial, &file)
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
            Self::Bucket { store, prefix } => {
                use object_store::ObjectStoreExt as _;
                let key = if prefix.is_empty() {
                    path.to_owned()
                } else {
                    format!("{prefix}/{path}")
                };
                store
                    .put(&object_store::path::Path::from(key.as_str()), bytes.into())
                    .await
                    .with_context(|| format!("cannot write s3 object {key}"))?;
            }
        }
        Ok(())
    }
}
