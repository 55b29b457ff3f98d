//! Combining the policies that apply to one request into a decision (spec §3.5).

use crate::context::Context;
use crate::policy::{ActionName, Effect, Policy, PrincipalScope, Statement};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// An IAM user, role session, or account root.
    Aws,
    /// A web identity or SAML federated caller; `arn` is the identity provider.
    Federated,
    /// An AWS service; `arn` is the service principal name (`ecs-tasks.amazonaws.com`).
    Service,
    /// An unauthenticated caller.
    Anonymous,
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal<'a> {
    pub kind: PrincipalKind,
    /// E.g. `arn:aws:sts::123456789012:assumed-role/R/S`, the OIDC provider ARN for
    /// `Federated`, or `arn:aws:iam::123456789012:root`.
    pub arn: &'a str,
    /// For an assumed-role session: the role ARN (with path), so that a policy naming the
    /// role matches its sessions.
    pub role_arn: Option<&'a str>,
    /// For an assumed-role session: the role's unique id (`AROA...`), which a policy names
    /// once the role it named by ARN was deleted.
    pub role_id: Option<&'a str>,
    /// The principal's account (12 digits) when known.
    pub account: Option<&'a str>,
}

impl<'a> Principal<'a> {
    /// `account`, or else the account field of `arn`.
    pub fn account_id(&self) -> Option<&'a str> {
        self.account.or_else(|| {
            self.arn
                .split(':')
                .nth(4)
                .filter(|a| !a.is_empty() && self.arn.starts_with("arn:"))
        })
    }
}

/// One authorization question: may `principal` perform `action` on `resource`?
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub principal: Principal<'a>,
    /// `service:Action`, any case.
    pub action: &'a str,
    /// The resource ARN, or `*` for actions without a resource.
    pub resource: &'a str,
    pub context: &'a Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// The policies that bear on one request. Labels name the policy in
/// [`MatchedStatement::label`] (e.g. `arn:aws:iam::1:policy/P` or `inline:Name`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicySet<'a> {
    /// The principal's identity policies.
    pub identity: &'a [(&'a str, &'a Policy)],
    /// The resource-based policy: a role trust policy or a repository policy.
    pub resource: Option<(&'a str, &'a Policy)>,
    /// Session policies; empty when none were passed.
    pub session: &'a [(&'a str, &'a Policy)],
    /// The permissions boundary, if one is set.
    pub boundary: Option<(&'a str, &'a Policy)>,
    /// The account owning the resource; `None` means the principal's account.
    pub resource_account: Option<&'a str>,
    /// The resource policy must let the caller in whatever the identity side says: a
    /// role's trust policy, which AWS requires for every assumption of the role.
    pub resource_required: bool,
}

/// A statement that applied to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    pub label: String,
    /// Index of the statement in its policy's `Statement` list.
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    /// An Allow that names the caller only through its account: it delegates to the
    /// account's identity policies and grants nothing by itself.
    pub delegates: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// Every statement that applied, Allow and Deny, from identity, resource, boundary and
    /// session policies in that order.
    pub matched: Vec<MatchedStatement>,
}

/// What the statements of one group of policies said.
#[derive(Default, Clone, Copy)]
struct Verdict {
    /// An Allow that grants.
    allow: bool,
    /// An Allow that only delegates to the caller's account ([`PrincipalScope::Account`]).
    delegated: bool,
    deny: bool,
}

impl Verdict {
    fn or(self, other: Verdict) -> Verdict {
        Verdict {
            allow: self.allow || other.allow,
            delegated: self.delegated || other.delegated,
            deny: self.deny || other.deny,
        }
    }
}

/// Where the statements that applied are reported: nowhere when only the decision is
/// wanted (no allocation), or into a list.
trait Sink {
    fn matched(&mut self, label: &str, index: usize, statement: &Statement, delegates: bool);
}

impl Sink for () {
    fn matched(&mut self, _: &str, _: usize, _: &Statement, _: bool) {}
}

impl Sink for Vec<MatchedStatement> {
    fn matched(&mut self, label: &str, index: usize, statement: &Statement, delegates: bool) {
        self.push(MatchedStatement {
            label: label.to_owned(),
            index,
            sid: statement.sid.clone(),
            effect: statement.effect,
            delegates,
        });
    }
}

fn check(
    label: &str,
    policy: &Policy,
    request: &Request<'_>,
    action: &ActionName<'_>,
    sink: &mut impl Sink,
) -> Verdict {
    let mut verdict = Verdict::default();
    for (index, statement) in policy.inner.statements.iter().enumerate() {
        let Some(scope) = statement.applies(request, action) else {
            continue;
        };
        let delegates = match (statement.effect, scope) {
            (Effect::Allow, PrincipalScope::Named) => {
                verdict.allow = true;
                false
            }
            (Effect::Allow, PrincipalScope::Account) => {
                verdict.delegated = true;
                true
            }
            (Effect::Deny, _) => {
                verdict.deny = true;
                false
            }
        };
        sink.matched(label, index, statement, delegates);
    }
    verdict
}

fn check_all(
    policies: &[(&str, &Policy)],
    request: &Request<'_>,
    action: &ActionName<'_>,
    sink: &mut impl Sink,
) -> Verdict {
    policies
        .iter()
        .fold(Verdict::default(), |acc, (label, policy)| {
            acc.or(check(label, policy, request, action, sink))
        })
}

/// Decides `request` against `set`: an explicit Deny anywhere wins; otherwise, within one
/// account, (identity Allow or resource-policy Allow) and the boundary's Allow (if set) and
/// a session policy's Allow (if any were passed); across accounts, the identity side and
/// the resource policy must both allow. A resource-policy Allow that names the caller only
/// through its account delegates: it counts where the resource policy must let the caller
/// in (across accounts, a role's trust policy), never as a grant of its own.
///
/// Not modelled: a resource policy naming the session ARN itself bypassing the session
/// policies and boundary (AWS's own documentation is vague here); SCPs and RCPs.
pub fn evaluate(set: &PolicySet<'_>, request: &Request<'_>) -> Evaluation {
    let mut matched = Vec::new();
    let decision = run(set, request, &mut matched);
    Evaluation { decision, matched }
}

/// The decision of [`evaluate`] without the list of matched statements. Allocates nothing
/// for ASCII action names (every real one): the path every request takes.
pub fn decide(set: &PolicySet<'_>, request: &Request<'_>) -> Decision {
    run(set, request, &mut ())
}

fn run(set: &PolicySet<'_>, request: &Request<'_>, sink: &mut impl Sink) -> Decision {
    let action = ActionName::new(request.action);
    let identity = check_all(set.identity, request, &action, sink);
    let resource = set
        .resource
        .map(|(label, policy)| check(label, policy, request, &action, sink))
        .unwrap_or_default();
    let boundary = set
        .boundary
        .map(|(label, policy)| check(label, policy, request, &action, sink));
    let session = (!set.session.is_empty()).then(|| check_all(set.session, request, &action, sink));

    let denied = identity.deny
        || resource.deny
        || boundary.is_some_and(|b| b.deny)
        || session.is_some_and(|s| s.deny);
    // Cross-account only when both accounts are known and differ: an anonymous or service
    // caller has no account and no identity policies, so the resource policy alone decides.
    let same_account = match (set.resource_account, request.principal.account_id()) {
        (Some(owner), Some(caller)) => owner == caller,
        _ => true,
    };
    let resource_admits = resource.allow || resource.delegated;
    let granted = if same_account {
        identity.allow || resource.allow
    } else {
        identity.allow && resource_admits
    } && (!set.resource_required || resource_admits);
    let allowed = granted && boundary.is_none_or(|b| b.allow) && session.is_none_or(|s| s.allow);
    if denied {
        Decision::ExplicitDeny
    } else if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PolicyKind;

    const ACCOUNT: &str = "123456789012";
    const ROLE: &str = "arn:aws:iam::123456789012:role/GitHubActionsECRRole";
    const ROLE_ID: &str = "AROAEXAMPLEROLEID0001";
    const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/gha";
    const PROVIDER: &str =
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
    const REPO: &str = "arn:aws:ecr:ap-northeast-2:123456789012:repository/octo/app";

    /// The trust policy of the seed document, placeholders filled in.
    const SEED_TRUST: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
                },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
                    },
                    "StringLike": {
                        "token.actions.githubusercontent.com:sub": "repo:octo/app:ref:refs/heads/main"
                    }
                }
            }
        ]
    }"#;

    /// The permission policy of the seed document, placeholders filled in.
    const SEED_PERMISSIONS: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "ECRAuth", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*" },
            {
                "Sid": "ECRPushPull",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:CompleteLayerUpload",
                    "ecr:DescribeRepositories",
                    "ecr:InitiateLayerUpload",
                    "ecr:PutImage",
                    "ecr:UploadLayerPart"
                ],
                "Resource": "arn:aws:ecr:ap-northeast-2:123456789012:repository/octo/app"
            }
        ]
    }"#;

    fn policy(json: &str, kind: PolicyKind) -> Policy {
        Policy::parse(json, kind).unwrap()
    }

    fn identity(statements: &str) -> Policy {
        policy(
            &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
            PolicyKind::Identity,
        )
    }

    fn resource_policy(statements: &str) -> Policy {
        policy(
            &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
            PolicyKind::Resource,
        )
    }

    fn session_principal() -> Principal<'static> {
        Principal {
            kind: PrincipalKind::Aws,
            arn: SESSION,
            role_arn: Some(ROLE),
            role_id: Some(ROLE_ID),
            account: Some(ACCOUNT),
        }
    }

    fn web_identity(sub: &str, aud: &str) -> Decision {
        let trust = policy(SEED_TRUST, PolicyKind::Trust);
        let mut context = Context::new();
        context.insert("token.actions.githubusercontent.com:sub", sub);
        context.insert("token.actions.githubusercontent.com:aud", aud);
        let set = PolicySet {
            resource: Some(("trust", &trust)),
            resource_account: Some(ACCOUNT),
            ..PolicySet::default()
        };
        let request = Request {
            principal: Principal {
                kind: PrincipalKind::Federated,
                arn: PROVIDER,
                role_arn: None,
                role_id: None,
                account: Some(ACCOUNT),
            },
            action: "sts:AssumeRoleWithWebIdentity",
            resource: ROLE,
            context: &context,
        };
        evaluate(&set, &request).decision
    }

    #[test]
    fn seed_trust_policy() {
        assert_eq!(
            web_identity("repo:octo/app:ref:refs/heads/main", "sts.amazonaws.com"),
            Decision::Allow
        );
        assert_eq!(
            web_identity("repo:octo/app:ref:refs/heads/dev", "sts.amazonaws.com"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            web_identity("repo:octo/other:ref:refs/heads/main", "sts.amazonaws.com"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            web_identity("repo:octo/app:pull_request", "sts.amazonaws.com"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            web_identity("repo:octo/app:ref:refs/heads/main", "sigstore"),
            Decision::ImplicitDeny
        );

        // Another provider, or an AWS principal, is not the federated principal named.
        let trust = policy(SEED_TRUST, PolicyKind::Trust);
        let mut context = Context::new();
        context.insert(
            "token.actions.githubusercontent.com:sub",
            "repo:octo/app:ref:refs/heads/main",
        );
        context.insert(
            "token.actions.githubusercontent.com:aud",
            "sts.amazonaws.com",
        );
        let set = PolicySet {
            resource: Some(("trust", &trust)),
            ..PolicySet::default()
        };
        for principal in [
            Principal {
                kind: PrincipalKind::Federated,
                arn: "arn:aws:iam::123456789012:oidc-provider/evil.example",
                role_arn: None,
                role_id: None,
                account: Some(ACCOUNT),
            },
            Principal {
                kind: PrincipalKind::Aws,
                arn: PROVIDER,
                role_arn: None,
                role_id: None,
                account: Some(ACCOUNT),
            },
        ] {
            let request = Request {
                principal,
                action: "sts:AssumeRoleWithWebIdentity",
                resource: ROLE,
                context: &context,
            };
            assert_eq!(evaluate(&set, &request).decision, Decision::ImplicitDeny);
        }
        // Other STS actions are not granted.
        let request = Request {
            principal: Principal {
                kind: PrincipalKind::Federated,
                arn: PROVIDER,
                role_arn: None,
                role_id: None,
                account: Some(ACCOUNT),
            },
            action: "sts:AssumeRole",
            resource: ROLE,
            context: &context,
        };
        assert_eq!(evaluate(&set, &request).decision, Decision::ImplicitDeny);
    }

    fn seed_permissions(action: &str, resource: &str) -> Evaluation {
        let permissions = policy(SEED_PERMISSIONS, PolicyKind::Identity);
        let identity = [(
            "arn:aws:iam::123456789012:policy/GitHubActionsECRPolicy",
            &permissions,
        )];
        let set = PolicySet {
            identity: &identity,
            ..PolicySet::default()
        };
        let context = Context::new();
        let request = Request {
            principal: session_principal(),
            action,
            resource,
            context: &context,
        };
        evaluate(&set, &request)
    }

    #[test]
    fn seed_permission_policy() {
        let e = seed_permissions("ecr:PutImage", REPO);
        assert_eq!(e.decision, Decision::Allow);
        assert_eq!(
            e.matched,
            vec![MatchedStatement {
                label: "arn:aws:iam::123456789012:policy/GitHubActionsECRPolicy".into(),
                index: 1,
                sid: Some("ECRPushPull".into()),
                effect: Effect::Allow,
                delegates: false,
            }]
        );
        // Action names are case-insensitive, resources are not.
        assert_eq!(
            seed_permissions("ECR:putimage", REPO).decision,
            Decision::Allow
        );
        assert_eq!(
            seed_permissions("ecr:PutImage", &REPO.to_uppercase()).decision,
            Decision::ImplicitDeny
        );
        assert_eq!(
            seed_permissions(
                "ecr:PutImage",
                "arn:aws:ecr:ap-northeast-2:123456789012:repository/octo/other"
            )
            .decision,
            Decision::ImplicitDeny
        );
        assert_eq!(
            seed_permissions("ecr:PutImage", &format!("{REPO}-fork")).decision,
            Decision::ImplicitDeny
        );
        assert_eq!(
            seed_permissions("ecr:DeleteRepository", REPO).decision,
            Decision::ImplicitDeny
        );
        assert_eq!(
            seed_permissions("iam:CreateRole", "*").decision,
            Decision::ImplicitDeny
        );
        assert_eq!(
            seed_permissions("iam:CreateRole", "arn:aws:iam::123456789012:role/x").decision,
            Decision::ImplicitDeny
        );
        let token = seed_permissions("ecr:GetAuthorizationToken", "*");
        assert_eq!(token.decision, Decision::Allow);
        assert_eq!(token.matched[0].sid.as_deref(), Some("ECRAuth"));
        assert!(seed_permissions("iam:CreateRole", "*").matched.is_empty());
    }

    fn decide(
        set: &PolicySet<'_>,
        principal: Principal<'_>,
        action: &str,
        resource: &str,
    ) -> Decision {
        let context = Context::new();
        evaluate(
            set,
            &Request {
                principal,
                action,
                resource,
                context: &context,
            },
        )
        .decision
    }

    #[test]
    fn decision_combination() {
        let allow = identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"*"}"#);
        let deny = identity(r#"{"Effect":"Deny","Action":"ecr:PutImage","Resource":"*"}"#);
        let boundary_pull =
            identity(r#"{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*"}"#);
        let repo_allow = resource_policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/GitHubActionsECRRole"},"Action":"ecr:*"}"#,
        );
        let repo_deny =
            resource_policy(r#"{"Effect":"Deny","Principal":"*","Action":"ecr:PutImage"}"#);
        let p = session_principal();

        // Nothing applies: implicit deny.
        assert_eq!(
            decide(&PolicySet::default(), p, "ecr:PutImage", REPO),
            Decision::ImplicitDeny
        );
        // Explicit deny wins over allow, from any source.
        let both = [("a", &allow), ("d", &deny)];
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &both,
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &both,
                    ..PolicySet::default()
                },
                p,
                "ecr:BatchGetImage",
                REPO
            ),
            Decision::Allow
        );
        let only_allow = [("a", &allow)];
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &only_allow,
                    resource: Some(("r", &repo_deny)),
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &only_allow,
                    boundary: Some(("b", &deny)),
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::ExplicitDeny
        );
        let deny_session = [("s", &deny)];
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &only_allow,
                    session: &deny_session,
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::ExplicitDeny
        );
        // Same account: the resource policy alone suffices.
        assert_eq!(
            decide(
                &PolicySet {
                    resource: Some(("r", &repo_allow)),
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::Allow
        );
        // The boundary limits: identity allows PutImage, boundary only BatchGetImage.
        let bounded = PolicySet {
            identity: &only_allow,
            boundary: Some(("b", &boundary_pull)),
            ..PolicySet::default()
        };
        assert_eq!(
            decide(&bounded, p, "ecr:PutImage", REPO),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&bounded, p, "ecr:BatchGetImage", REPO),
            Decision::Allow
        );
        // ... and also limits grants of a resource policy.
        let bounded_repo = PolicySet {
            resource: Some(("r", &repo_allow)),
            boundary: Some(("b", &boundary_pull)),
            ..PolicySet::default()
        };
        assert_eq!(
            decide(&bounded_repo, p, "ecr:PutImage", REPO),
            Decision::ImplicitDeny
        );
        // Session policies limit likewise; none passed means no limit.
        let pull_session = [("s", &boundary_pull)];
        let sessioned = PolicySet {
            identity: &only_allow,
            session: &pull_session,
            ..PolicySet::default()
        };
        assert_eq!(
            decide(&sessioned, p, "ecr:PutImage", REPO),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&sessioned, p, "ecr:BatchGetImage", REPO),
            Decision::Allow
        );
        // Several session policies: any one allowing suffices.
        let two_sessions = [("s1", &boundary_pull), ("s2", &allow)];
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &only_allow,
                    session: &two_sessions,
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::Allow
        );
        // A session policy alone grants nothing.
        let allow_session = [("s", &allow)];
        assert_eq!(
            decide(
                &PolicySet {
                    session: &allow_session,
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::ImplicitDeny
        );
    }

    /// IAM User Guide, "AWS account principals": an account named in a resource policy
    /// lets the account's identities in "if they have the appropriate IAM permissions
    /// attached to explicitly allow access". Naming the role, the session or `*` grants.
    #[test]
    fn an_account_principal_delegates_and_does_not_grant() {
        let allow = identity(r#"{"Effect":"Allow","Action":"ecr:PutImage","Resource":"*"}"#);
        let ids = [("a", &allow)];
        let p = session_principal();
        for account in [r#""123456789012""#, r#""arn:aws:iam::123456789012:root""#] {
            let repo = resource_policy(&format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":{account}}},"Action":"ecr:*"}}"#
            ));
            let alone = PolicySet {
                resource: Some(("r", &repo)),
                resource_account: Some(ACCOUNT),
                ..PolicySet::default()
            };
            assert_eq!(
                decide(&alone, p, "ecr:PutImage", REPO),
                Decision::ImplicitDeny,
                "{account}"
            );
            let with_identity = PolicySet {
                identity: &ids,
                ..alone
            };
            assert_eq!(
                decide(&with_identity, p, "ecr:PutImage", REPO),
                Decision::Allow
            );
            assert_eq!(
                decide(&with_identity, p, "ecr:BatchGetImage", REPO),
                Decision::ImplicitDeny
            );
            let context = Context::new();
            let request = Request {
                principal: p,
                action: "ecr:PutImage",
                resource: REPO,
                context: &context,
            };
            let matched = evaluate(&alone, &request).matched;
            assert!(matched.len() == 1 && matched[0].delegates, "{matched:?}");
            // The same account and the role by name: the name grants.
            let both = resource_policy(&format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":[{account},"{ROLE}"]}},"Action":"ecr:*"}}"#
            ));
            let set = PolicySet {
                resource: Some(("r", &both)),
                ..alone
            };
            assert_eq!(decide(&set, p, "ecr:PutImage", REPO), Decision::Allow);
            // An account Deny still denies.
            let deny = resource_policy(&format!(
                r#"{{"Effect":"Deny","Principal":{{"AWS":{account}}},"Action":"ecr:PutImage"}}"#
            ));
            let set = PolicySet {
                resource: Some(("r", &deny)),
                ..with_identity
            };
            assert_eq!(
                decide(&set, p, "ecr:PutImage", REPO),
                Decision::ExplicitDeny
            );
        }
        for granting in [
            r#""*""#.to_owned(),
            r#"{"AWS":"*"}"#.to_owned(),
            format!(r#"{{"AWS":"{ROLE}"}}"#),
            format!(r#"{{"AWS":"{SESSION}"}}"#),
        ] {
            let repo = resource_policy(&format!(
                r#"{{"Effect":"Allow","Principal":{granting},"Action":"ecr:*"}}"#
            ));
            let set = PolicySet {
                resource: Some(("r", &repo)),
                resource_account: Some(ACCOUNT),
                ..PolicySet::default()
            };
            assert_eq!(
                decide(&set, p, "ecr:PutImage", REPO),
                Decision::Allow,
                "{granting}"
            );
        }
    }

    /// A role's trust policy must let the caller in; naming only the caller's account
    /// delegates to the caller's identity policies, also within one account.
    #[test]
    fn a_trust_policy_is_required_and_an_account_in_it_delegates() {
        let assume = identity(r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#);
        let ids = [("a", &assume)];
        let p = session_principal();
        let target = "arn:aws:iam::123456789012:role/Target";
        let trust = |principal: &str| {
            policy(
                &format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"}}]}}"#
                ),
                PolicyKind::Trust,
            )
        };
        let by_account = trust(r#"{"AWS":"123456789012"}"#);
        let by_role = trust(&format!(r#"{{"AWS":"{ROLE}"}}"#));
        let other = trust(r#"{"AWS":"arn:aws:iam::123456789012:role/Other"}"#);
        let set = |trust, identity| PolicySet {
            identity,
            resource: Some(("trust", trust)),
            resource_account: Some(ACCOUNT),
            resource_required: true,
            ..PolicySet::default()
        };
        let d = |s: &PolicySet<'_>| decide(s, p, "sts:AssumeRole", target);
        assert_eq!(d(&set(&by_account, &[])), Decision::ImplicitDeny);
        assert_eq!(d(&set(&by_account, &ids)), Decision::Allow);
        assert_eq!(d(&set(&by_role, &[])), Decision::Allow);
        // An identity policy alone does not get the caller past a trust policy that
        // names someone else.
        assert_eq!(d(&set(&other, &ids)), Decision::ImplicitDeny);
    }

    #[test]
    fn cross_account_needs_both_sides() {
        let allow = identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"*"}"#);
        let repo_allow = resource_policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}"#,
        );
        let ids = [("a", &allow)];
        let p = session_principal();
        let other = Some("210987654321");
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &ids,
                    resource_account: other,
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                &PolicySet {
                    resource: Some(("r", &repo_allow)),
                    resource_account: other,
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &ids,
                    resource: Some(("r", &repo_allow)),
                    resource_account: other,
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::Allow
        );
        // Same account given explicitly.
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &ids,
                    resource_account: Some(ACCOUNT),
                    ..PolicySet::default()
                },
                p,
                "ecr:PutImage",
                REPO
            ),
            Decision::Allow
        );
        // Anonymous callers have no account: a resource policy alone can grant them access.
        let public =
            resource_policy(r#"{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}"#);
        let anonymous = Principal {
            kind: PrincipalKind::Anonymous,
            arn: "",
            role_arn: None,
            role_id: None,
            account: None,
        };
        let public_set = PolicySet {
            resource: Some(("r", &public)),
            resource_account: other,
            ..PolicySet::default()
        };
        assert_eq!(
            decide(&public_set, anonymous, "ecr:BatchGetImage", REPO),
            Decision::Allow
        );
        assert_eq!(
            decide(&public_set, anonymous, "ecr:PutImage", REPO),
            Decision::ImplicitDeny
        );
        // The account can come from the ARN when not given.
        let no_account = Principal { account: None, ..p };
        assert_eq!(no_account.account_id(), Some(ACCOUNT));
        assert_eq!(
            decide(
                &PolicySet {
                    identity: &ids,
                    resource_account: Some(ACCOUNT),
                    ..PolicySet::default()
                },
                no_account,
                "ecr:PutImage",
                REPO
            ),
            Decision::Allow
        );
    }

    #[test]
    fn principal_matching() {
        // Whether the statement applies to `p` (an account principal applies, but only
        // delegates: see `an_account_principal_delegates_and_does_not_grant`).
        let check = |principal_json: &str, p: Principal<'_>| {
            let rp = resource_policy(&format!(
                r#"{{"Effect":"Allow","Principal":{principal_json},"Action":"ecr:*"}}"#
            ));
            let context = Context::new();
            !evaluate(
                &PolicySet {
                    resource: Some(("r", &rp)),
                    ..PolicySet::default()
                },
                &Request {
                    principal: p,
                    action: "ecr:PutImage",
                    resource: REPO,
                    context: &context,
                },
            )
            .matched
            .is_empty()
        };
        let session = session_principal();
        let user = Principal {
            kind: PrincipalKind::Aws,
            arn: "arn:aws:iam::123456789012:user/u",
            role_arn: None,
            role_id: None,
            account: Some(ACCOUNT),
        };
        let anonymous = Principal {
            kind: PrincipalKind::Anonymous,
            arn: "",
            role_arn: None,
            role_id: None,
            account: None,
        };
        let federated = Principal {
            kind: PrincipalKind::Federated,
            arn: PROVIDER,
            role_arn: None,
            role_id: None,
            account: Some(ACCOUNT),
        };
        let service = Principal {
            kind: PrincipalKind::Service,
            arn: "ecs-tasks.amazonaws.com",
            role_arn: None,
            role_id: None,
            account: None,
        };

        for p in [session, user, anonymous, federated, service] {
            assert!(check(r#""*""#, p));
        }
        assert!(check(r#"{"AWS":"*"}"#, anonymous));
        assert!(!check(r#"{"AWS":"*"}"#, federated));
        assert!(check(r#"{"AWS":"123456789012"}"#, session));
        assert!(check(r#"{"AWS":"arn:aws:iam::123456789012:root"}"#, user));
        assert!(!check(r#"{"AWS":"210987654321"}"#, user));
        assert!(!check(r#"{"AWS":"123456789012"}"#, anonymous));
        assert!(check(&format!(r#"{{"AWS":"{ROLE}"}}"#), session));
        assert!(check(&format!(r#"{{"AWS":"{SESSION}"}}"#), session));
        assert!(!check(
            r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/other"}"#,
            session
        ));
        assert!(!check(&format!(r#"{{"AWS":"{ROLE}"}}"#), user));
        // A role's unique id (what a policy names once the role is deleted) matches the
        // sessions of that role only.
        assert!(check(&format!(r#"{{"AWS":"{ROLE_ID}"}}"#), session));
        assert!(!check(r#"{"AWS":"AROAEXAMPLEROLEID0002"}"#, session));
        assert!(!check(&format!(r#"{{"AWS":"{ROLE_ID}"}}"#), user));
        assert!(check(
            r#"{"AWS":["arn:aws:iam::123456789012:user/x","arn:aws:iam::123456789012:user/u"]}"#,
            user
        ));
        assert!(check(
            &format!(r#"{{"Federated":"{PROVIDER}"}}"#),
            federated
        ));
        assert!(!check(&format!(r#"{{"Federated":"{PROVIDER}"}}"#), user));
        assert!(check(r#"{"Service":"ecs-tasks.amazonaws.com"}"#, service));
        assert!(!check(r#"{"Service":"ecs-tasks.amazonaws.com"}"#, user));
        assert!(!check(r#"{"CanonicalUser":"abc"}"#, user));

        // NotPrincipal with Deny: everyone except the named principal is denied.
        let rp = resource_policy(&format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"ecr:*"}},{{"Effect":"Deny","NotPrincipal":{{"AWS":"{ROLE}"}},"Action":"ecr:PutImage"}}"#
        ));
        let set = PolicySet {
            resource: Some(("r", &rp)),
            ..PolicySet::default()
        };
        assert_eq!(decide(&set, session, "ecr:PutImage", REPO), Decision::Allow);
        assert_eq!(
            decide(&set, user, "ecr:PutImage", REPO),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&set, user, "ecr:BatchGetImage", REPO),
            Decision::Allow
        );
    }

    #[test]
    fn not_action_and_not_resource() {
        let p = identity(
            r#"{"Effect":"Allow","NotAction":["iam:*","sts:*"],"Resource":"*"},{"Effect":"Deny","Action":"ecr:*","NotResource":"arn:aws:ecr:*:123456789012:repository/octo/*"}"#,
        );
        let ids = [("p", &p)];
        let set = PolicySet {
            identity: &ids,
            ..PolicySet::default()
        };
        let s = session_principal();
        assert_eq!(decide(&set, s, "ecr:PutImage", REPO), Decision::Allow);
        assert_eq!(
            decide(
                &set,
                s,
                "ecr:PutImage",
                "arn:aws:ecr:ap-northeast-2:123456789012:repository/other"
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&set, s, "IAM:CreateRole", "*"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&set, s, "s3:GetObject", "arn:aws:s3:::b/k"),
            Decision::Allow
        );
        // Resource globs: `?` is one character, `*` may cross `/` and `:`.
        let g = identity(
            r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:123456789012:repository/app-?"}"#,
        );
        let gs = [("g", &g)];
        let set = PolicySet {
            identity: &gs,
            ..PolicySet::default()
        };
        assert_eq!(
            decide(
                &set,
                s,
                "ecr:PutImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/app-1"
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &set,
                s,
                "ecr:PutImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/app-12"
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn resource_variables_depend_on_version() {
        let doc = |version: &str| {
            policy(
                &format!(
                    r#"{{"Version":"{version}","Statement":{{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${{aws:PrincipalTag/team, 'shared'}}/*"}}}}"#
                ),
                PolicyKind::Session,
            )
        };
        let current = doc("2012-10-17");
        let legacy = doc("2008-10-17");
        let mut tagged = Context::new();
        tagged.insert("aws:PrincipalTag/team", "octo");
        let untagged = Context::new();
        let run = |p: &Policy, ctx: &Context, resource: &str| {
            let ids = [("p", p)];
            let set = PolicySet {
                identity: &ids,
                ..PolicySet::default()
            };
            evaluate(
                &set,
                &Request {
                    principal: session_principal(),
                    action: "ecr:PutImage",
                    resource,
                    context: ctx,
                },
            )
            .decision
        };
        let octo = "arn:aws:ecr:us-east-1:1:repository/octo/app";
        let shared = "arn:aws:ecr:us-east-1:1:repository/shared/app";
        assert_eq!(run(&current, &tagged, octo), Decision::Allow);
        assert_eq!(run(&current, &tagged, shared), Decision::ImplicitDeny);
        assert_eq!(run(&current, &untagged, shared), Decision::Allow);
        assert_eq!(run(&legacy, &tagged, octo), Decision::ImplicitDeny);
        assert_eq!(
            run(
                &legacy,
                &tagged,
                "arn:aws:ecr:us-east-1:1:repository/${aws:PrincipalTag/team, 'shared'}/app"
            ),
            Decision::Allow
        );
    }

    #[test]
    fn conditions_in_statements() {
        let p = identity(
            r#"{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24"]}}},
               {"Effect":"Deny","Action":"ecr:*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}"#,
        );
        let ids = [("p", &p)];
        let set = PolicySet {
            identity: &ids,
            ..PolicySet::default()
        };
        let run = |pairs: &[(&str, &str)]| {
            let mut ctx = Context::new();
            for (k, v) in pairs {
                ctx.insert(k, *v);
            }
            evaluate(
                &set,
                &Request {
                    principal: session_principal(),
                    action: "ecr:PutImage",
                    resource: REPO,
                    context: &ctx,
                },
            )
            .decision
        };
        let now = ("aws:CurrentTime", "2026-06-01T00:00:00Z");
        let mfa = ("aws:MultiFactorAuthPresent", "true");
        assert_eq!(
            run(&[now, ("aws:SourceIp", "10.1.2.3"), mfa]),
            Decision::Allow
        );
        assert_eq!(
            run(&[now, ("aws:SourceIp", "192.0.2.7"), mfa]),
            Decision::Allow
        );
        assert_eq!(
            run(&[now, ("aws:SourceIp", "172.16.0.1"), mfa]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            run(&[
                ("aws:CurrentTime", "2027-06-01T00:00:00Z"),
                ("aws:SourceIp", "10.1.2.3"),
                mfa
            ]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            run(&[("aws:SourceIp", "10.1.2.3"), mfa]),
            Decision::ImplicitDeny
        );
        // BoolIfExists in a Deny: an absent key makes the Deny apply.
        assert_eq!(
            run(&[now, ("aws:SourceIp", "10.1.2.3")]),
            Decision::ExplicitDeny
        );
        assert_eq!(
            run(&[
                now,
                ("aws:SourceIp", "10.1.2.3"),
                ("aws:MultiFactorAuthPresent", "false")
            ]),
            Decision::ExplicitDeny
        );
    }
}
