"""Runs a sequence of AWS calls with boto3 against a Berth endpoint.

argv: ENDPOINT CALLS.json. Each call: {"name", "service", "op" (boto3 method name),
"args" (its keyword arguments), "creds" (the name of an earlier AssumeRole* call whose
credentials sign this one, "root" for the root keys in ROOT_KEY/ROOT_SECRET, or absent for
an unsigned call)}. Prints one JSON object: name -> the response (datetimes as ISO text,
ResponseMetadata dropped) or {"code": AWS error code, "message": ...}.
"""
import json
import os
import sys

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, path = sys.argv[1], sys.argv[2]
config = Config(retries={"max_attempts": 1, "mode": "standard"})
results = {}
credentials = {
    "root": {
        "aws_access_key_id": os.environ["ROOT_KEY"],
        "aws_secret_access_key": os.environ["ROOT_SECRET"],
    }
}
for call in json.load(open(path)):
    signer = call.get("creds")
    if signer is None:
        keys = {}
        client_config = config.merge(Config(signature_version=UNSIGNED))
    else:
        keys = credentials[signer]
        client_config = config
    client = boto3.client(
        call["service"],
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=client_config,
        **keys,
    )
    try:
        response = getattr(client, call["op"])(**call.get("args", {}))
    except ClientError as e:
        results[call["name"]] = {
            "code": e.response["Error"]["Code"],
            "message": e.response["Error"].get("Message", ""),
        }
        continue
    response.pop("ResponseMetadata", None)
    c = response.get("Credentials")
    if c:
        credentials[call["name"]] = {
            "aws_access_key_id": c["AccessKeyId"],
            "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"],
        }
    results[call["name"]] = response
print(json.dumps(results, default=lambda v: v.isoformat()))
