"""Runs AssumeRoleWithWebIdentity attempts with boto3 against a Berth endpoint.

argv: ENDPOINT ATTEMPTS.json. Each attempt: {"name", "role_arn", "token", optional
"duration", "policy"}. Prints one JSON object: name -> {"code": AWS error code or "OK",
"message", and for successes the response fields plus GetCallerIdentity of the session}.
"""
import json
import sys

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, path = sys.argv[1], sys.argv[2]
config = Config(retries={"max_attempts": 1, "mode": "standard"})
sts = boto3.client(
    "sts",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=config.merge(Config(signature_version=UNSIGNED)),
)
results = {}
for attempt in json.load(open(path)):
    kwargs = {
        "RoleArn": attempt["role_arn"],
        "RoleSessionName": "e2e",
        "WebIdentityToken": attempt["token"],
    }
    if "duration" in attempt:
        kwargs["DurationSeconds"] = attempt["duration"]
    if "policy" in attempt:
        kwargs["Policy"] = attempt["policy"]
    try:
        r = sts.assume_role_with_web_identity(**kwargs)
    except ClientError as e:
        results[attempt["name"]] = {
            "code": e.response["Error"]["Code"],
            "message": e.response["Error"].get("Message", ""),
        }
        continue
    c = r["Credentials"]
    session = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=config,
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )
    ident = session.get_caller_identity()
    results[attempt["name"]] = {
        "code": "OK",
        "subject": r["SubjectFromWebIdentityToken"],
        "provider": r["Provider"],
        "audience": r["Audience"],
        "arn": r["AssumedRoleUser"]["Arn"],
        "packed_policy_size": r.get("PackedPolicySize"),
        "caller_arn": ident["Arn"],
        "caller_account": ident["Account"],
        "expiration_in": (c["Expiration"].timestamp()),
    }
print(json.dumps(results))
