"""Runs a sequence of AWS calls with boto3 against a Berth endpoint.

argv: ENDPOINT CALLS.json. Each call: {"name", "service", "op" (boto3 method name),
"args" (its keyword arguments), "creds" (the name of an earlier AssumeRole* call whose
credentials sign this one, "root" for the root keys in ROOT_KEY/ROOT_SECRET, or absent for
an unsigned call)}; or a registry request ("service": "http", see http_status). An
argument {"$from": [NAME, KEY, ...]} is the value at those keys of call NAME's response.
Prints one JSON object: name -> the response (datetimes as ISO text, ResponseMetadata
dropped) or {"code": AWS error code, "message": ...}.
"""
import json
import os
import sys
import urllib.error
import urllib.request

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
def resolve(value):
    if isinstance(value, dict) and "$from" in value:
        name, *keys = value["$from"]
        value = results[name]
        for key in keys:
            value = value[key]
        return value
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def http_status(call):
    """A registry request: {"path", "auth": the name of an earlier GetAuthorizationToken
    call whose token is the Basic credential} or {"url": the name of an earlier
    GetDownloadUrlForLayer call, fetched without credentials}."""
    args = call["args"]
    headers = {}
    if "url" in args:
        url = results[args["url"]]["downloadUrl"]
    else:
        url = endpoint + args["path"]
        token = results[args["auth"]]["authorizationData"][0]["authorizationToken"]
        headers["Authorization"] = "Basic " + token
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return {"status": r.status}
    except urllib.error.HTTPError as e:
        return {"status": e.code}


for call in json.load(open(path)):
    if call["service"] == "http":
        results[call["name"]] = http_status(call)
        continue
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
        response = getattr(client, call["op"])(**resolve(call.get("args", {})))
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
