//! The audit trail: every IAM, STS and ECR call and every registry push and pull becomes
//! one event shaped as a CloudTrail record, so the tools that read CloudTrail read Berth's.
//!
//! The api describes each call ([`ApiCall`]: who, which operation, the request's parameters
//! and the outcome); [`AuditTrail::record`] hands it to a background writer, off the
//! request's path. The writer completes the record (time, ids, region, the scrubbing of
//! secrets), serialises it and appends batches to the metadata store: a batch is written
//! [`FLUSH_INTERVAL`] after its first event (at most [`MAX_BATCH`] events at once), so a
//! process killed without warning loses at most the events of that last interval and of
//! the write under way.
//! Lookups (CloudTrail's `LookupEvents`) are [`CloudTrail::lookup_events`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_store::{
    AuditEventRecord, AuditFilter, AuditQuery, AuditResource, MetadataStore, StoreResult,
};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{mpsc, oneshot};

use crate::actions::CLOUDTRAIL_LOOKUP_EVENTS;
use crate::authorizer::RequestFacts;
use crate::caller::{Caller, KeySession};
use crate::error::CloudTrailError;
use crate::{CloudTrail, Services};

/// CloudTrail's record format version that Berth's records follow.
pub const EVENT_VERSION: &str = "1.08";
/// A batch is written this long after its first event arrived (with the events that
/// came meanwhile).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);
/// Events written in one transaction (one segment) at most.
pub const MAX_BATCH: usize = 2_500;
/// Events waiting for the writer at most; a request that finds the queue full waits for
/// room, up to [`QUEUE_WAIT`].
pub const QUEUE_CAPACITY: usize = 10_000;
/// How long a request waits for room in a full queue (the store is down or slower than
/// the traffic) before its event is dropped, counted and logged.
const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Strings longer than this in recorded parameters are cut, saying how much was cut.
const MAX_RECORDED_STRING: usize = 8 * 1024;
/// A record larger than this loses its parameters and response elements, as CloudTrail
/// drops oversized ones.
const MAX_RECORD_BYTES: usize = 256 * 1024;
/// Member names whose values are never recorded (compared case-insensitively): tokens,
/// secrets, passwords, and layer bytes.
const NEVER_RECORDED: &[&str] = &[
    "webidentitytoken",
    "secretaccesskey",
    "sessiontoken",
    "authorizationtoken",
    "password",
    "samlassertion",
    "tokencode",
    "layerpartblob",
    "providedcontexts",
];

/// Which AWS service an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    Iam,
    Sts,
    Ecr,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iam => "iam.amazonaws.com",
            Self::Sts => "sts.amazonaws.com",
            Self::Ecr => "ecr.amazonaws.com",
        }
    }
}

/// Whether CloudTrail marks an operation read-only: it changes nothing. Assuming a role
/// and getting a registry password count as reads, as in CloudTrail.
pub fn is_read_only(event_name: &str) -> bool {
    [
        "Get",
        "List",
        "Describe",
        "BatchGet",
        "BatchCheck",
        "Simulate",
        "Assume",
        "Lookup",
    ]
    .iter()
    .any(|prefix| event_name.starts_with(prefix))
}

/// CloudTrail's `userIdentity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub identity_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    /// The role of a role session; none for GetSessionToken's sessions, as in CloudTrail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_issuer: Option<SessionIssuer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_id_federation_data: Option<WebIdFederationData>,
    pub attributes: SessionAttributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

impl SessionContext {
    /// A GetSessionToken session's context: when it began, and no MFA (Berth has none).
    fn of_key_session(session: &KeySession) -> Self {
        Self {
            attributes: SessionAttributes {
                creation_date: timestamp(session.issued_at),
                mfa_authenticated: "false".into(),
            },
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(rename = "type")]
    pub issuer_type: String,
    pub principal_id: String,
    pub arn: String,
    pub account_id: String,
    pub user_name: String,
}

/// The web identity a session was assumed with. CloudTrail leaves `attributes` empty for
/// OIDC; Berth fills it with the token's claims that say which workflow run it was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebIdFederationData {
    pub federated_provider: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    pub creation_date: String,
    pub mfa_authenticated: String,
}

impl UserIdentity {
    /// The identity of a signed-in caller.
    pub fn of(caller: &Caller) -> Self {
        match caller {
            Caller::Root { account, session } => Self {
                identity_type: "Root".into(),
                principal_id: Some(account.clone()),
                arn: Some(caller.arn()),
                account_id: Some(account.clone()),
                access_key_id: Some(caller.access_key_id().to_owned()),
                session_context: session.as_ref().map(SessionContext::of_key_session),
                ..Self::default()
            },
            Caller::User(user) => Self {
                identity_type: "IAMUser".into(),
                principal_id: Some(user.user_id.clone()),
                arn: Some(user.user_arn.clone()),
                account_id: Some(user.account.clone()),
                access_key_id: Some(caller.access_key_id().to_owned()),
                user_name: Some(user.user_name.clone()),
                session_context: user.session.as_ref().map(SessionContext::of_key_session),
                ..Self::default()
            },
            Caller::AssumedRole(session) => Self {
                identity_type: "AssumedRole".into(),
                principal_id: Some(caller.user_id()),
                arn: Some(caller.arn()),
                account_id: Some(session.account.clone()),
                access_key_id: Some(caller.access_key_id().to_owned()),
                session_context: Some(SessionContext {
                    session_issuer: Some(SessionIssuer {
                        issuer_type: "Role".into(),
                        principal_id: session.role_id.clone(),
                        arn: session.role_arn.clone(),
                        account_id: session.account.clone(),
                        user_name: session.role_name.clone(),
                    }),
                    web_id_federation_data: session.web_identity.as_ref().map(|origin| {
                        WebIdFederationData {
                            federated_provider: origin.provider_arn.clone(),
                            attributes: origin.claims.clone(),
                        }
                    }),
                    attributes: SessionAttributes {
                        creation_date: if session.issued_at > 0 {
                            timestamp(session.issued_at)
                        } else {
                            String::new()
                        },
                        mfa_authenticated: "false".into(),
                    },
                    source_identity: session.source_identity.clone(),
                }),
                ..Self::default()
            },
        }
    }

    /// The identity of an AssumeRoleWithWebIdentity caller, as far as its token showed it:
    /// the provider (when one matched the token's issuer) and the subject.
    pub fn web_identity(provider_arn: Option<&str>, subject: Option<&str>) -> Self {
        Self {
            identity_type: "WebIdentityUser".into(),
            principal_id: provider_arn.map(|p| match subject {
                Some(subject) => format!("{p}:{subject}"),
                None => p.to_owned(),
            }),
            user_name: subject.map(str::to_owned),
            identity_provider: provider_arn.map(str::to_owned),
            ..Self::default()
        }
    }

    /// The name `LookupEvents` calls `Username`: `root`, a session's name, a web
    /// identity's subject.
    fn lookup_name(&self) -> Option<String> {
        match self.identity_type.as_str() {
            "Root" => Some("root".into()),
            "AssumedRole" => self
                .arn
                .as_deref()
                .and_then(|arn| arn.rsplit('/').next())
                .map(str::to_owned),
            _ => self.user_name.clone(),
        }
    }
}

/// A resource an event names (CloudTrail's `resources` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailResource {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub account_id: String,
    #[serde(rename = "type")]
    pub resource_type: &'static str,
    /// The short name `LookupEvents` also finds it by (a repository's or role's name).
    #[serde(skip)]
    pub name: String,
}

impl TrailResource {
    pub fn repository(account: &str, region: &str, name: &str) -> Self {
        Self {
            arn: format!("arn:aws:ecr:{region}:{account}:repository/{name}"),
            account_id: account.to_owned(),
            resource_type: "AWS::ECR::Repository",
            name: name.to_owned(),
        }
    }

    /// A role by its ARN (the name is the ARN's last segment, after any path).
    pub fn role(account: &str, arn: &str) -> Self {
        Self {
            arn: arn.to_owned(),
            account_id: account.to_owned(),
            resource_type: "AWS::IAM::Role",
            name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
        }
    }

    pub fn access_key(account: &str, key_id: &str) -> Self {
        Self {
            arn: format!("arn:aws:iam::{account}:accessKey/{key_id}"),
            account_id: account.to_owned(),
            resource_type: "AWS::IAM::AccessKey",
            name: key_id.to_owned(),
        }
    }
}

/// How a call failed, in the caller's protocol's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: String,
    pub message: String,
}

/// Work on a call's record that can wait for the writer (reading the request's parameters
/// out of its body, say): it runs off the request's path.
pub type Completion = Box<dyn FnOnce(&mut ApiCall) + Send>;

/// One call as the api saw it. The trail adds the time, the ids, the region and the
/// request's source.
pub struct ApiCall {
    pub source: EventSource,
    pub name: &'static str,
    pub identity: UserIdentity,
    /// The signed-in caller, whose `identity` the trail makes (once per caller).
    pub caller: Option<Caller>,
    /// The caller's identity as stored, found when the call is recorded.
    stored_identity: Option<Arc<StoredIdentity>>,
    pub request_id: String,
    /// The request's parameters; secrets are removed before anything is stored.
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    pub error: Option<CallError>,
    pub resources: Vec<TrailResource>,
    /// Berth's additions: a web identity's claims, a denial's explanation.
    pub additional: AdditionalEventData,
    /// Run by the writer before the record is made.
    pub completion: Option<Completion>,
}

impl ApiCall {
    pub fn new(source: EventSource, name: &'static str, identity: UserIdentity) -> Self {
        Self {
            source,
            name,
            identity,
            caller: None,
            stored_identity: None,
            request_id: String::new(),
            request_parameters: None,
            response_elements: None,
            error: None,
            resources: Vec::new(),
            additional: AdditionalEventData::default(),
            completion: None,
        }
    }

    /// A call by a signed-in caller.
    pub fn by(source: EventSource, name: &'static str, caller: Caller) -> Self {
        Self {
            caller: Some(caller),
            ..Self::new(source, name, UserIdentity::default())
        }
    }

    /// The caller's ARN, or the web identity's principal.
    pub fn principal(&self) -> Option<String> {
        match &self.caller {
            Some(caller) => Some(caller.arn()),
            None => self
                .identity
                .arn
                .clone()
                .or(self.identity.principal_id.clone()),
        }
    }
}

/// CloudTrail's `additionalEventData` as Berth fills it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalEventData {
    /// AssumeRoleWithWebIdentity's: the token's identifying claims (see
    /// [`crate::sts::identifying_claims`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_claims: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_signature_verified: Option<bool>,
    /// As CloudTrail records it for web identity federation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider_connection_verification_method: Option<&'static str>,
    /// Why a call was refused: the failing statement and condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denial_explanation: Option<String>,
    /// What a record too large to keep whole left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
}

impl AdditionalEventData {
    fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// CloudTrail's record but its `userIdentity`, which one caller's events share (see
/// [`AuditEventRecord::cloudtrail_json`]).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloudTrailRecord<'a> {
    event_version: &'static str,
    event_time: String,
    event_source: &'static str,
    event_name: &'static str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: &'a Option<Value>,
    response_elements: &'a Option<Value>,
    #[serde(skip_serializing_if = "AdditionalEventData::is_empty")]
    additional_event_data: &'a AdditionalEventData,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    resources: &'a [TrailResource],
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
}

/// An event on its way to the writer.
struct PendingEvent {
    call: ApiCall,
    time_ms: i64,
    source_ip: Option<String>,
    user_agent: Option<String>,
}

enum Message {
    Event(Box<PendingEvent>),
    Flush(oneshot::Sender<()>),
}

/// The recorder: a bounded queue in front of the writer that stores events in batches.
pub struct AuditTrail {
    sender: Option<mpsc::Sender<Message>>,
    receiver: Mutex<Option<mpsc::Receiver<Message>>>,
    identities: IdentityCache,
}

/// Callers' identities as stored, by access key: a session makes hundreds of calls (a
/// push), and its identity, claims and all, is made and serialised once, not per call.
/// A key belongs to one caller, whose identity never changes.
#[derive(Default)]
struct IdentityCache {
    by_key: Mutex<HashMap<String, Arc<StoredIdentity>>>,
}

/// Identities kept at most; past it the cache starts again. An identity is at most about
/// 6 KB (its claims are cut to 256 bytes each), so the cache stays under 6 MB; a miss
/// costs a couple of microseconds.
const CACHED_IDENTITIES: usize = 1_000;

impl IdentityCache {
    fn of(&self, caller: &Caller) -> Arc<StoredIdentity> {
        // Root's key is "root" (one account per server); a session's, its `ASIA…` key.
        let key = match caller {
            // No key to know it by (never a signed request): made each time.
            Caller::AssumedRole(session) if session.access_key_id.is_empty() => {
                return Arc::new(StoredIdentity::of(&UserIdentity::of(caller)));
            }
            // A user's key outlives a rename: its identity is not the key's to cache.
            Caller::User(_) => return Arc::new(StoredIdentity::of(&UserIdentity::of(caller))),
            _ => caller.access_key_id(),
        };
        if let Some(known) = self.by_key.lock().ok().and_then(|m| m.get(key).cloned()) {
            return known;
        }
        let identity = Arc::new(StoredIdentity::of(&UserIdentity::of(caller)));
        if let Ok(mut cache) = self.by_key.lock() {
            if cache.len() >= CACHED_IDENTITIES {
                cache.clear();
            }
            cache.insert(key.to_owned(), identity.clone());
        }
        identity
    }
}

impl AuditTrail {
    /// A trail that records (once its writer runs), or, disabled, one that records nothing.
    pub fn new(enabled: bool) -> Self {
        let (sender, receiver) = if enabled {
            let (s, r) = mpsc::channel(QUEUE_CAPACITY);
            (Some(s), Some(r))
        } else {
            (None, None)
        };
        Self {
            sender,
            receiver: Mutex::new(receiver),
            identities: IdentityCache::default(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues `call` for the writer. The caller is let go of here, on the request's
    /// thread, keeping only its identity as stored.
    pub async fn record(&self, facts: &RequestFacts, mut call: ApiCall) {
        let Some(sender) = &self.sender else { return };
        if let Some(caller) = call.caller.take() {
            call.stored_identity = Some(self.identities.of(&caller));
        }
        let event = Message::Event(Box::new(PendingEvent {
            call,
            time_ms: now_ms(),
            source_ip: facts.source_ip.clone(),
            user_agent: facts.user_agent.clone(),
        }));
        let event = match sender.try_send(event) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(event)) => event,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return self.drop_one("the writer stopped");
            }
        };
        if sender.send_timeout(event, QUEUE_WAIT).await.is_err() {
            self.drop_one("the queue stayed full");
        }
    }

    /// Counted in `berth_audit_events_total{outcome="dropped"}`.
    fn drop_one(&self, why: &str) {
        berth_metrics::metrics().audit_events("dropped", 1);
        tracing::error!(why, "audit event dropped");
    }

    /// Waits until every event queued before this call is stored (or `wait` passes).
    pub async fn flush(&self, wait: Duration) {
        let Some(sender) = &self.sender else { return };
        let (done, stored) = oneshot::channel();
        if sender.send(Message::Flush(done)).await.is_ok()
            && tokio::time::timeout(wait, stored).await.is_err()
        {
            tracing::error!("the audit trail was not stored in time; its last events are lost");
        }
    }

    /// The writer, to be spawned once: it runs until the trail is dropped.
    pub fn writer(
        &self,
        store: Arc<dyn MetadataStore>,
        account: String,
        region: String,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let receiver = self.receiver.lock().ok()?.take()?;
        Some(write_batches(receiver, store, account, region))
    }
}

async fn write_batches(
    mut receiver: mpsc::Receiver<Message>,
    store: Arc<dyn MetadataStore>,
    account: String,
    region: String,
) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut behind = false;
    loop {
        if !behind {
            // One wake-up for the first event; then the queue fills for an interval
            // during which senders wake nobody, and the interval is written at once.
            if receiver.recv_many(&mut messages, MAX_BATCH).await == 0 {
                return;
            }
            if !messages.iter().any(|m| matches!(m, Message::Flush(_))) {
                tokio::time::sleep(FLUSH_INTERVAL).await;
            }
        }
        while messages.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(message) => messages.push(message),
                Err(_) => break,
            }
        }
        // A full batch may have left more behind: take it without waiting.
        behind = messages.len() >= MAX_BATCH;
        let mut batch = Vec::with_capacity(messages.len());
        let mut flushes = Vec::new();
        let mut records = Records::new(&account, &region, messages.len());
        for (i, message) in messages.drain(..).enumerate() {
            match message {
                Message::Event(event) => batch.push(records.record(*event)),
                Message::Flush(done) => flushes.push(done),
            }
            // A batch is thousands of records: let the requests waiting on this thread
            // run between runs of them.
            if i % 256 == 255 {
                tokio::task::yield_now().await;
            }
        }
        store_batch(store.as_ref(), &batch).await;
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Appends `batch`, retrying while the store fails (the queue fills meanwhile, and then
/// holds requests back).
async fn store_batch(store: &dyn MetadataStore, batch: &[AuditEventRecord]) {
    if batch.is_empty() {
        return;
    }
    let mut pause = Duration::from_millis(100);
    loop {
        match store.append_audit_events(batch).await {
            Ok(()) => {
                berth_metrics::metrics().audit_events("stored", batch.len() as u64);
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "storing audit events failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A caller's `userIdentity` as stored, with the fields `LookupEvents` finds it by.
#[derive(Clone)]
struct StoredIdentity {
    json: Arc<str>,
    username: Option<String>,
    access_key_id: Option<String>,
}

impl StoredIdentity {
    fn of(identity: &UserIdentity) -> Self {
        Self {
            json: serde_json::to_string(identity).unwrap_or_default().into(),
            username: identity.lookup_name(),
            access_key_id: identity.access_key_id.clone(),
        }
    }
}

/// Makes one batch's records, the event ids' randomness read once for all of them.
struct Records<'a> {
    account: &'a str,
    region: &'a str,
    randomness: Vec<u8>,
}

impl<'a> Records<'a> {
    fn new(account: &'a str, region: &'a str, events: usize) -> Self {
        let mut randomness = vec![0; events * 10];
        crate::ids::fill_random(&mut randomness);
        Self {
            account,
            region,
            randomness,
        }
    }

    fn event_id(&mut self, time_ms: i64) -> String {
        let mut random = [0; 10];
        match self.randomness.len().checked_sub(10) {
            Some(rest) => {
                random.copy_from_slice(&self.randomness[rest..]);
                self.randomness.truncate(rest);
            }
            None => random = crate::ids::random_bytes(),
        }
        berth_store::audit_event_id(time_ms, random)
    }

    fn record(&mut self, event: PendingEvent) -> AuditEventRecord {
        let PendingEvent {
            call: mut owned,
            time_ms,
            source_ip,
            user_agent,
        } = event;
        if let Some(complete) = owned.completion.take() {
            complete(&mut owned);
        }
        for value in [&mut owned.request_parameters, &mut owned.response_elements]
            .into_iter()
            .flatten()
        {
            scrub(value);
        }
        let identity = match (owned.stored_identity.take(), &owned.caller) {
            (Some(stored), _) => Arc::unwrap_or_clone(stored),
            (None, Some(caller)) => StoredIdentity::of(&UserIdentity::of(caller)),
            (None, None) => StoredIdentity::of(&owned.identity),
        };
        let call = &owned;
        let event_id = self.event_id(time_ms);
        let read_only = is_read_only(call.name);
        let additional = &call.additional;
        let mut record = CloudTrailRecord {
            event_version: EVENT_VERSION,
            event_time: timestamp(time_ms / 1000),
            event_source: call.source.as_str(),
            event_name: call.name,
            aws_region: self.region,
            source_ip_address: source_ip.as_deref().unwrap_or_default(),
            user_agent: user_agent.as_deref().unwrap_or_default(),
            error_code: call.error.as_ref().map(|e| e.code.as_str()),
            error_message: call.error.as_ref().map(|e| e.message.as_str()),
            request_parameters: &call.request_parameters,
            response_elements: &call.response_elements,
            additional_event_data: additional,
            request_id: &call.request_id,
            event_id: &event_id,
            read_only,
            resources: &call.resources,
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: self.account,
            event_category: "Management",
        };
        let mut document = serde_json::to_string(&record).unwrap_or_default();
        if document.len() + identity.json.len() > MAX_RECORD_BYTES {
            let none = None;
            let noted = AdditionalEventData {
                omitted: Some(format!(
                    "requestParameters and responseElements: the record was {} bytes",
                    document.len() + identity.json.len()
                )),
                ..additional.clone()
            };
            record.request_parameters = &none;
            record.response_elements = &none;
            record.additional_event_data = &noted;
            document = serde_json::to_string(&record).unwrap_or_default();
        }
        let mut resources = Vec::new();
        for resource in &call.resources {
            for name in [&resource.name, &resource.arn] {
                resources.push(AuditResource {
                    resource_type: resource.resource_type.to_owned(),
                    resource_name: name.clone(),
                });
            }
        }
        AuditEventRecord {
            event_id,
            event_time_ms: time_ms,
            event_source: call.source.as_str().to_owned(),
            event_name: call.name.to_owned(),
            read_only,
            username: identity.username,
            access_key_id: identity.access_key_id,
            resources,
            identity: identity.json,
            document,
        }
    }
}

/// Whether a parameter of this name (any dotted segment of it) is never recorded: a
/// token, a secret, a password, layer bytes.
pub fn never_recorded(name: &str) -> bool {
    name.split('.').any(|segment| {
        NEVER_RECORDED
            .iter()
            .any(|secret| segment.eq_ignore_ascii_case(secret))
    })
}

/// Removes what must never be stored (see [`NEVER_RECORDED`]) and cuts long strings.
fn scrub(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|key, _| {
                !NEVER_RECORDED
                    .iter()
                    .any(|secret| key.eq_ignore_ascii_case(secret))
            });
            members.values_mut().for_each(scrub);
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::String(text) if text.len() > MAX_RECORDED_STRING => {
            let mut cut = MAX_RECORDED_STRING;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let rest = text.len() - cut;
            text.truncate(cut);
            text.push_str(&format!("... ({rest} more bytes not recorded)"));
        }
        _ => {}
    }
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `2026-12-07T16:33:52Z`, CloudTrail's `eventTime`.
pub fn timestamp(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

// --- LookupEvents ------------------------------------------------------------------------

operation_table! {
    /// The CloudTrail operations Berth answers: the router's table.
    CloudTrailOperation, "cloudtrail", "A minimal valid JSON input.":
    LookupEvents => "{}",
}

/// CloudTrail's page size bound.
pub const MAX_LOOKUP_RESULTS: usize = 50;

/// A `LookupEvents` request, its attribute already read.
#[derive(Debug, Clone, Default)]
pub struct LookupEvents {
    pub filter: AuditFilter,
    pub start_ms: Option<i64>,
    /// Inclusive, as CloudTrail's `EndTime`.
    pub end_ms: Option<i64>,
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

/// One page of events, newest first.
#[derive(Debug, Clone)]
pub struct LookupPage {
    pub events: Vec<AuditEventRecord>,
    pub next_token: Option<String>,
}

impl CloudTrail<'_> {
    /// `LookupEvents`: authorised as `cloudtrail:LookupEvents` on every resource.
    pub async fn lookup_events(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: LookupEvents,
    ) -> Result<LookupPage, CloudTrailError> {
        self.authorizer
            .authorize(caller, CLOUDTRAIL_LOOKUP_EVENTS, "*", None, facts)
            .await?;
        let limit = match input.max_results {
            None => MAX_LOOKUP_RESULTS,
            Some(n @ 1..=MAX_LOOKUP_RESULTS) => n,
            Some(_) => {
                return Err(CloudTrailError::InvalidMaxResults(
                    "MaxResults must be between 1 and 50.".into(),
                ));
            }
        };
        if let (Some(start), Some(end)) = (input.start_ms, input.end_ms)
            && start > end
        {
            return Err(CloudTrailError::InvalidTimeRange(
                "Start time must be before end time.".into(),
            ));
        }
        let after = input
            .next_token
            .as_deref()
            .map(|token| {
                decode_cursor(token)
                    .ok_or_else(|| CloudTrailError::InvalidNextToken("Invalid NextToken.".into()))
            })
            .transpose()?;
        let events = self
            .lookup(&AuditQuery {
                filter: input.filter,
                start_ms: input.start_ms,
                end_ms: input.end_ms.map(|end| end.saturating_add(1)),
                oldest_first: false,
                after,
                limit: limit + 1,
            })
            .await?;
        Ok(page(events, limit))
    }

    async fn lookup(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEventRecord>> {
        self.metadata.lookup_audit_events(query).await
    }
}

/// The first `limit` of `events` (fetched one more, to know whether a page follows).
fn page(mut events: Vec<AuditEventRecord>, limit: usize) -> LookupPage {
    let next_token = if events.len() > limit {
        events.truncate(limit);
        events
            .last()
            .map(|e| encode_cursor(e.event_time_ms, &e.event_id))
    } else {
        None
    };
    LookupPage { events, next_token }
}

fn encode_cursor(time_ms: i64, event_id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("1:{time_ms}:{event_id}"))
}

fn decode_cursor(token: &str) -> Option<(i64, String)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("1:")?;
    let (time, id) = rest.split_once(':')?;
    (id.len() <= 64).then_some(())?;
    Some((time.parse().ok()?, id.to_owned()))
}

/// The events of the retention job: removes events older than `keep`, in bounded
/// deletions so a large backlog does not hold the store for long. Returns how many.
pub async fn prune(store: &dyn MetadataStore, keep: Duration) -> StoreResult<u64> {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let before = now_ms().saturating_sub(keep_ms);
    let mut total = 0;
    loop {
        let deleted = store.prune_audit_events(before, 5_000).await?;
        total += deleted;
        if deleted < 5_000 {
            return Ok(total);
        }
    }
}

impl Services {
    /// Records `call` in the audit trail (see [`AuditTrail::record`]).
    pub async fn audit(&self, facts: &RequestFacts, call: ApiCall) {
        self.audit_trail.record(facts, call).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_recorded_and_long_strings_are_cut() {
        let mut value = serde_json::json!({
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "WebIdentityToken": "eyJ...",
            "credentials": {"accessKeyId": "ASIA", "sessionToken": "s", "SecretAccessKey": "k"},
            "list": [{"password": "p", "kept": "x".repeat(MAX_RECORDED_STRING + 10)}],
        });
        scrub(&mut value);
        let text = value.to_string();
        for secret in ["eyJ", "\"s\"", "\"k\"", "\"p\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("ASIA"));
        assert!(text.contains("(10 more bytes not recorded)"));
    }

    #[test]
    fn read_only_operations() {
        for name in [
            "GetRole",
            "ListImages",
            "BatchGetImage",
            "AssumeRoleWithWebIdentity",
        ] {
            assert!(is_read_only(name), "{name}");
        }
        for name in [
            "PutImage",
            "CreateRole",
            "InitiateLayerUpload",
            "BatchDeleteImage",
        ] {
            assert!(!is_read_only(name), "{name}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let token = encode_cursor(1_765_000_000_123, "0f0e-id");
        assert_eq!(
            decode_cursor(&token),
            Some((1_765_000_000_123, "0f0e-id".to_owned()))
        );
        for garbage in ["", "!!", "MTox", "Mjo1OmE"] {
            assert_eq!(decode_cursor(garbage), None, "{garbage}");
        }
    }
}
