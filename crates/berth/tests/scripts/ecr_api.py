"""ECR API operations driven by boto3 against a running Berth (started by ecr_boto3.rs).

Environment: BERTH_ENDPOINT, AWS root credentials, BERTH_WEB_IDENTITY_TOKEN (a dev-issuer
token for octo-org/octo-repo), BERTH_ACCOUNT. Exits non-zero with a traceback on failure.
"""
import base64
import hashlib
import json
import os
import urllib.error
import urllib.request

import boto3
import botocore.exceptions

ENDPOINT = os.environ["BERTH_ENDPOINT"]
ACCOUNT = os.environ["BERTH_ACCOUNT"]
ecr = boto3.client("ecr", endpoint_url=ENDPOINT)
iam = boto3.client("iam", endpoint_url=ENDPOINT)
sts = boto3.client("sts", endpoint_url=ENDPOINT)


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} unexpectedly succeeded")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(repo, data):
    check = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[sha256(data)])
    if check["layers"] and check["layers"][0]["layerAvailability"] == "AVAILABLE":
        return sha256(data)
    upload = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(repositoryName=repo, uploadId=upload, partFirstByte=0,
                          partLastByte=len(data) - 1, layerPartBlob=data)
    ecr.complete_layer_upload(repositoryName=repo, uploadId=upload, layerDigests=[sha256(data)])
    return sha256(data)


def image_manifest(repo, layer):
    config = b'{"architecture":"amd64","os":"linux"}'
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": push_blob(repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": push_blob(repo, layer), "size": len(layer)}],
    })


# --- DescribeRepositories pagination --------------------------------------------------
names = [f"paged/r{i}" for i in range(5)]
for n in names:
    ecr.create_repository(repositoryName=n)
pages = list(ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2}))
assert len(pages) == 3, pages
assert [r["repositoryName"] for p in pages for r in p["repositories"]] == names
assert error_code(ecr.describe_repositories, repositoryNames=["paged/none"]) == "RepositoryNotFoundException"

# --- PutImageTagMutability and IMMUTABLE tags -------------------------------------------
repo = "api/app"
ecr.create_repository(repositoryName=repo)
out = ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="IMMUTABLE")
assert out["imageTagMutability"] == "IMMUTABLE" and out["registryId"] == ACCOUNT, out
assert ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]["imageTagMutability"] == "IMMUTABLE"
assert error_code(ecr.put_image_tag_mutability, repositoryName=repo,
                  imageTagMutability="SOMETIMES") == "InvalidParameterException"
first = image_manifest(repo, b"first layer")
second = image_manifest(repo, b"second layer")
ecr.put_image(repositoryName=repo, imageManifest=first, imageTag="v1")
assert error_code(ecr.put_image, repositoryName=repo, imageManifest=second,
                  imageTag="v1") == "ImageTagAlreadyExistsException"
ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="MUTABLE")
ecr.put_image(repositoryName=repo, imageManifest=second, imageTag="v2")
ecr.put_image(repositoryName=repo, imageManifest=second, imageTag="latest")

# --- ListImages / DescribeImages pages ---------------------------------------------------
# Five images, one with three tags, one untagged: every page within its size, every image
# id once, whatever the page size (a page may stop inside an image's tags).
paged = "api/paged"
ecr.create_repository(repositoryName=paged)
made = {}
for i in range(5):
    m = image_manifest(paged, f"paged layer {i}".encode())
    tags = {0: ["a", "b", "c"], 1: [], 2: ["d"], 3: ["e"], 4: ["f"]}[i]
    if tags:
        for t in tags:
            ecr.put_image(repositoryName=paged, imageManifest=m, imageTag=t)
    else:
        ecr.put_image(repositoryName=paged, imageManifest=m)
    made[sha256(m.encode())] = tags
want = sorted((d, t) for d, tags in made.items() for t in (tags or [None]))
for size in (1, 2, 3, 7, 100):
    pages = list(ecr.get_paginator("list_images").paginate(
        repositoryName=paged, PaginationConfig={"PageSize": size}))
    assert all(len(p["imageIds"]) <= size for p in pages), (size, pages)
    got = sorted((i["imageDigest"], i.get("imageTag")) for p in pages for i in p["imageIds"])
    assert got == want, (size, got, want)
    pages = list(ecr.get_paginator("describe_images").paginate(
        repositoryName=paged, PaginationConfig={"PageSize": size}))
    details = [d for p in pages for d in p["imageDetails"]]
    assert all(len(p["imageDetails"]) <= size for p in pages), (size, pages)
    assert sorted(d["imageDigest"] for d in details) == sorted(made), (size, details)
    assert all(sorted(d.get("imageTags", [])) == made[d["imageDigest"]] for d in details), details
    # Newest push first.
    pushed = [d["imagePushedAt"] for d in details]
    assert pushed == sorted(pushed, reverse=True), pushed
tagged = ecr.list_images(repositoryName=paged, filter={"tagStatus": "TAGGED"}, maxResults=100)["imageIds"]
assert len(tagged) == 6 and all("imageTag" in i for i in tagged), tagged
untagged = ecr.describe_images(repositoryName=paged, filter={"tagStatus": "UNTAGGED"})["imageDetails"]
assert [d["imageDigest"] for d in untagged] == [d for d, t in made.items() if not t], untagged
assert error_code(ecr.list_images, repositoryName=paged, nextToken="not-a-token") == "InvalidParameterException"
assert error_code(ecr.describe_images, repositoryName=paged, nextToken="MTp4") == "InvalidParameterException"

# --- BatchDeleteImage ----------------------------------------------------------------
out = ecr.batch_delete_image(repositoryName=repo, imageIds=[
    {"imageTag": "v1"}, {"imageTag": "nope"}, {"imageDigest": "sha256:bad"}, {"imageTag": "v2"}])
assert out["imageIds"] == [
    {"imageDigest": sha256(first.encode()), "imageTag": "v1"},
    {"imageDigest": sha256(second.encode()), "imageTag": "v2"},
], out
assert [(f["imageId"], f["failureCode"]) for f in out["failures"]] == [
    ({"imageTag": "nope"}, "ImageNotFound"), ({"imageDigest": "sha256:bad"}, "InvalidImageDigest")], out
# v1 was the first image's last tag: the image went with it; the second keeps `latest`.
listed = ecr.list_images(repositoryName=repo)["imageIds"]
assert listed == [{"imageDigest": sha256(second.encode()), "imageTag": "latest"}], listed
out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": sha256(second.encode())}])
assert out["imageIds"] == [{"imageDigest": sha256(second.encode())}] and out["failures"] == [], out
assert ecr.list_images(repositoryName=repo)["imageIds"] == []
assert error_code(ecr.batch_delete_image, repositoryName="api/none",
                  imageIds=[{"imageTag": "x"}]) == "RepositoryNotFoundException"

# --- Repository policies, evaluated as the resource policy -----------------------------
assert error_code(ecr.get_repository_policy, repositoryName=repo) == "RepositoryPolicyNotFoundException"
assert error_code(ecr.delete_repository_policy, repositoryName=repo) == "RepositoryPolicyNotFoundException"
assert error_code(ecr.set_repository_policy, repositoryName=repo,
                  policyText="not a policy") == "InvalidParameterException"

iam.create_open_id_connect_provider(Url="https://token.actions.githubusercontent.com",
                                    ClientIDList=["sts.amazonaws.com"])
role_arn = iam.create_role(RoleName="PolicyTest", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                   "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
                   "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/octo-repo:*"}}}],
}))["Role"]["Arn"]
iam.put_role_policy(RoleName="PolicyTest", PolicyName="token-only", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}],
}))
creds = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="policy-test",
                                          WebIdentityToken=os.environ["BERTH_WEB_IDENTITY_TOKEN"])["Credentials"]
role_ecr = boto3.client("ecr", endpoint_url=ENDPOINT, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])
token = role_ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]


def registry_status(path):
    request = urllib.request.Request(ENDPOINT + path, headers={"Authorization": "Basic " + token})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


assert error_code(role_ecr.list_images, repositoryName=repo) == "AccessDeniedException"
assert registry_status(f"/v2/{repo}/tags/list") == 403
policy = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Sid": "ReadForRole", "Effect": "Allow", "Principal": {"AWS": role_arn},
                   "Action": ["ecr:ListImages", "ecr:BatchGetImage"]}],
})
out = ecr.set_repository_policy(repositoryName=repo, policyText=policy)
assert out == {"registryId": ACCOUNT, "repositoryName": repo, "policyText": policy,
               "ResponseMetadata": out["ResponseMetadata"]}, out
assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == policy
assert role_ecr.list_images(repositoryName=repo)["imageIds"] == []
assert registry_status(f"/v2/{repo}/tags/list") == 200
# Only what the policy grants: not other actions, not other repositories.
assert error_code(role_ecr.describe_images, repositoryName=repo) == "AccessDeniedException"
assert error_code(role_ecr.list_images, repositoryName="paged/r0") == "AccessDeniedException"
assert ecr.delete_repository_policy(repositoryName=repo)["policyText"] == policy
assert error_code(role_ecr.list_images, repositoryName=repo) == "AccessDeniedException"
assert registry_status(f"/v2/{repo}/tags/list") == 403

# Naming the account delegates to the account's identity policies; it grants nothing by
# itself (IAM User Guide, "AWS account principals"). The role has no identity allow for
# ListImages here, so it stays out, through the API and the registry.
for account_principal in (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"):
    ecr.set_repository_policy(repositoryName=repo, policyText=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": account_principal},
                       "Action": ["ecr:ListImages", "ecr:BatchGetImage"]}],
    }))
    assert error_code(role_ecr.list_images, repositoryName=repo) == "AccessDeniedException", account_principal
    assert registry_status(f"/v2/{repo}/tags/list") == 403, account_principal
ecr.delete_repository_policy(repositoryName=repo)

# A Deny in the repository policy beats the role's own Allow.
iam.put_role_policy(RoleName="PolicyTest", PolicyName="read-all", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ecr:ListImages", "Resource": "*"}],
}))
assert role_ecr.list_images(repositoryName=repo)["imageIds"] == []
ecr.set_repository_policy(repositoryName=repo, policyText=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:ListImages"}],
}))
assert error_code(role_ecr.list_images, repositoryName=repo) == "AccessDeniedException"

# An explicit Deny in a repository policy refuses the account's root user as well (root
# needs no identity policy, but resource-policy denies apply to it, on the registry too).
# Managing the policy stays open to root, so a repository that locks out every principal
# can be repaired.
root_token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]


def root_registry_status(path):
    request = urllib.request.Request(ENDPOINT + path, headers={"Authorization": "Basic " + root_token})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


# The Deny above names every principal ("*"), so it refuses root too.
assert error_code(ecr.list_images, repositoryName=repo) == "AccessDeniedException"
assert root_registry_status(f"/v2/{repo}/tags/list") == 403
ecr.delete_repository_policy(repositoryName=repo)
assert ecr.list_images(repositoryName=repo)["imageIds"] == []
assert root_registry_status(f"/v2/{repo}/tags/list") == 200
ecr.set_repository_policy(repositoryName=repo, policyText=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                   "Action": "ecr:ListImages"}],
}))
try:
    ecr.list_images(repositoryName=repo)
    raise AssertionError("root listed images despite the repository's Deny")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDeniedException", e.response
    assert "explicit deny in a resource-based policy" in e.response["Error"]["Message"], e.response
assert root_registry_status(f"/v2/{repo}/tags/list") == 403
# Not denied: still allowed without any identity policy.
assert ecr.describe_images(repositoryName=repo)["imageDetails"] == []
lockout = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:*"}],
})
ecr.set_repository_policy(repositoryName=repo, policyText=lockout)
assert error_code(ecr.describe_images, repositoryName=repo) == "AccessDeniedException"
assert error_code(ecr.list_images, repositoryName=repo) == "AccessDeniedException"
assert error_code(role_ecr.list_images, repositoryName=repo) == "AccessDeniedException"
assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == lockout
assert ecr.delete_repository_policy(repositoryName=repo)["policyText"] == lockout
assert ecr.list_images(repositoryName=repo)["imageIds"] == []

# --- IAM caps a policy document at 131,072 characters, whitespace included -------------
padded = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:ListImages", "Resource": "*"}]}) + " " * (1 << 20)
try:
    iam.create_policy(PolicyName="Padded", PolicyDocument=padded)
    raise AssertionError("a policy padded with 1 MiB of whitespace was stored")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationError", e.response
    message = e.response["Error"]["Message"]
    assert "Member must have length less than or equal to 131072" in message, message
    assert len(message) < 1000, len(message)

# --- SigV4: the credential scope's service, and every x-amz-* header signed -------------
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

credentials = boto3.Session().get_credentials()


def raw_ecr(target, body, service="ecr", sign_target=True, headers=None):
    """A hand-signed ECR call: (status, JSON body)."""
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        **({"X-Amz-Target": target} if sign_target else {}),
    })
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    sent = dict(request.headers)
    if not sign_target:
        sent["X-Amz-Target"] = target
    sent.update(headers or {})
    http = urllib.request.Request(ENDPOINT + "/", data=body.encode(), headers=sent, method="POST")
    try:
        with urllib.request.urlopen(http) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


describe = "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"
create = "AmazonEC2ContainerRegistry_V20150921.CreateRepository"
assert raw_ecr(describe, "{}")[0] == 200
status, body = raw_ecr(describe, "{}", service="s3")
assert status == 400 and body["__type"] == "InvalidSignatureException", (status, body)
assert "Credential should be scoped to correct service: 'ecr'" in body["message"], body
# A request whose X-Amz-Target was not signed cannot be retargeted: refused whatever it says.
body = json.dumps({"repositoryName": "retargeted"})
status, answer = raw_ecr(create, body, sign_target=False)
assert status == 400 and answer["__type"] == "IncompleteSignatureException", (status, answer)
assert "'x-amz-target' must be a 'SignedHeader'" in answer["message"], answer
assert error_code(ecr.describe_repositories, repositoryNames=["retargeted"]) == "RepositoryNotFoundException"
# Any other unsigned x-amz-* header is refused too.
status, answer = raw_ecr(describe, "{}", headers={"X-Amz-Anything": "1"})
assert status == 400 and answer["__type"] == "IncompleteSignatureException", (status, answer)

print("ok")
