#!/usr/bin/env bash
# The document ("GitHub Actions OIDC with AWS ECR"), end to end, against a running
# `berth serve --dev`: what the README's quick start shows, as one script CI runs.
#
#   examples/quickstart.sh [ENDPOINT]      (default http://127.0.0.1:5000)
#
# Needs the server's root credentials in BERTH_ROOT_ACCESS_KEY_ID and
# BERTH_ROOT_SECRET_ACCESS_KEY, the aws CLI (2.13 or later: AWS_ENDPOINT_URL), skopeo,
# and berth (on PATH, or BERTH=path/to/berth). Safe to run again: what exists is kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
endpoint="${1:-http://127.0.0.1:5000}"
registry="${endpoint#http://}"
berth="${BERTH:-berth}"
aws="${AWS:-aws}"
skopeo="${SKOPEO:-skopeo}"
: "${BERTH_ROOT_ACCESS_KEY_ID:?set BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY to the root credentials of the server (see berth-data/root-credentials.json)}"
: "${BERTH_ROOT_SECRET_ACCESS_KEY:?set BERTH_ROOT_SECRET_ACCESS_KEY too}"
account=123456789012
role=GitHubActionsECRRole
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }

# --- The document's manual steps, as the account's root user ---------------------------
export AWS_ENDPOINT_URL="$endpoint" AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
export AWS_ACCESS_KEY_ID="$BERTH_ROOT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$BERTH_ROOT_SECRET_ACCESS_KEY"
unset AWS_SESSION_TOKEN

step "OIDC provider, role, policy, attachment, repository"
provider="arn:aws:iam::$account:oidc-provider/token.actions.githubusercontent.com"
"$aws" iam get-open-id-connect-provider --open-id-connect-provider-arn "$provider" >/dev/null 2>&1 ||
    "$aws" iam create-open-id-connect-provider \
        --url https://token.actions.githubusercontent.com --client-id-list sts.amazonaws.com
"$aws" iam get-role --role-name "$role" >/dev/null 2>&1 ||
    "$aws" iam create-role --role-name "$role" --assume-role-policy-document "file://$here/trust.json"
policy="arn:aws:iam::$account:policy/GitHubActionsECRPolicy"
"$aws" iam get-policy --policy-arn "$policy" >/dev/null 2>&1 ||
    "$aws" iam create-policy --policy-name GitHubActionsECRPolicy --policy-document "file://$here/policy.json"
"$aws" iam attach-role-policy --role-name "$role" --policy-arn "$policy"
"$aws" ecr describe-repositories --repository-names octo-repo >/dev/null 2>&1 ||
    "$aws" ecr create-repository --repository-name octo-repo

# --- What the workflow does: token, assume, log in, push ---------------------------------
step "a token for octo-org/octo-repo on main, and the role's session"
token="$("$berth" token --endpoint-url "$endpoint" --repository octo-org/octo-repo)"
eval "$("$aws" sts assume-role-with-web-identity --role-arn "arn:aws:iam::$account:role/$role" \
    --role-session-name GitHubActions --web-identity-token "$token" --output json | "$berth" env)"
"$aws" sts get-caller-identity

step "a small image, pushed with skopeo"
image="$work/image"
"$here/make-image.sh" "$image"
"$aws" ecr get-login-password | "$skopeo" login --tls-verify=false --username AWS --password-stdin "$registry"
"$skopeo" copy --dest-tls-verify=false "oci:$image:v1" "docker://$registry/octo-repo:v1"

# Back to the root user: the role may push, not list (the document's policy).
export AWS_ACCESS_KEY_ID="$BERTH_ROOT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$BERTH_ROOT_SECRET_ACCESS_KEY"
unset AWS_SESSION_TOKEN
"$aws" ecr list-images --repository-name octo-repo

# --- The trust policy at work: another branch is refused ---------------------------------
step "a token for a feature branch is refused"
feature="$("$berth" token --endpoint-url "$endpoint" --repository octo-org/octo-repo --ref refs/heads/feature)"
if refusal="$("$aws" sts assume-role-with-web-identity --role-arn "arn:aws:iam::$account:role/$role" \
    --role-session-name GitHubActions --web-identity-token "$feature" 2>&1)"; then
    echo "unexpected: the feature branch assumed the role" >&2
    exit 1
fi
echo "$refusal"
case "$refusal" in
*AccessDenied*) ;;
*) echo "unexpected: the refusal is not AccessDenied" >&2; exit 1 ;;
esac

step "done: the image is in octo-repo, and only main may push"
