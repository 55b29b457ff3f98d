"""Prepares the STS/ECR benchmark against a running `berth serve --dev`.

argv: ENDPOINT TOKEN OUT_DIR. Creates (with the root credentials in ROOT_KEY/ROOT_SECRET)
GitHub's OIDC provider, a role trusting it for repo:octo/app, an ECR repository; then
writes two wrk scripts that replay pre-built requests:
  assume.lua    AssumeRoleWithWebIdentity with TOKEN (valid for the token's lifetime)
  describe.lua  ECR DescribeRepositories signed with SigV4 by a session of the role
                (valid for SigV4's 15-minute skew window)
wrk reports answers other than 2xx ("Non-2xx or 3xx responses"); sts.sh fails on them, so
a benchmark of errors cannot pass for one of successes.
"""
import json
import os
import sys
import urllib.parse

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

endpoint, token, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
region = "us-east-1"
config = Config(retries={"max_attempts": 1, "mode": "standard"})
root = dict(
    aws_access_key_id=os.environ["ROOT_KEY"],
    aws_secret_access_key=os.environ["ROOT_SECRET"],
)
iam = boto3.client("iam", endpoint_url=endpoint, region_name=region, config=config, **root)
ecr = boto3.client("ecr", endpoint_url=endpoint, region_name=region, config=config, **root)
provider = iam.create_open_id_connect_provider(
    Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"]
)["OpenIDConnectProviderArn"]
trust = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo/app:*"},
            },
        }
    ],
}
role_arn = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
iam.put_role_policy(
    RoleName="bench",
    PolicyName="ecr",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    ),
)
ecr.create_repository(repositoryName="octo/app")

assume_body = urllib.parse.urlencode(
    {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": role_arn,
        "RoleSessionName": "bench",
        "WebIdentityToken": token,
    }
)
sts = boto3.client("sts", endpoint_url=endpoint, region_name=region, config=config, **root)
c = sts.assume_role_with_web_identity(
    RoleArn=role_arn, RoleSessionName="bench", WebIdentityToken=token
)["Credentials"]
describe_body = "{}"
request = AWSRequest(
    method="POST",
    url=endpoint + "/",
    data=describe_body,
    headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
    },
)
SigV4Auth(Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), "ecr", region).add_auth(request)
# Check both requests once before replaying them.
ecr_session = boto3.client(
    "ecr",
    endpoint_url=endpoint,
    region_name=region,
    config=config,
    aws_access_key_id=c["AccessKeyId"],
    aws_secret_access_key=c["SecretAccessKey"],
    aws_session_token=c["SessionToken"],
)
assert ecr_session.describe_repositories()["repositories"][0]["repositoryName"] == "octo/app"


def lua_string(s):
    return json.dumps(s)  # JSON string escapes are valid Lua string escapes for this text



with open(os.path.join(out_dir, "assume.lua"), "w") as f:
    f.write("wrk.method = \"POST\"\n")
    f.write("wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded; charset=utf-8\"\n")
    f.write(f"wrk.body = {lua_string(assume_body)}\n")
with open(os.path.join(out_dir, "describe.lua"), "w") as f:
    f.write("wrk.method = \"POST\"\n")
    for name, value in request.headers.items():
        f.write(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}\n")
    f.write(f"wrk.body = {lua_string(describe_body)}\n")
