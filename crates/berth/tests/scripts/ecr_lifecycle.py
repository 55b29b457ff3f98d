"""ECR lifecycle policies driven by boto3 against a running Berth (started by
ecr_lifecycle.rs with a one-second lifecycle interval): Put/Get/DeleteLifecyclePolicy,
validation errors, Start/GetLifecyclePolicyPreview, and the server applying the policy.

Environment: BERTH_ENDPOINT, AWS root credentials. Exits non-zero with a traceback on failure.
"""
import hashlib
import json
import os
import time

import boto3
import botocore.exceptions

ENDPOINT = os.environ["BERTH_ENDPOINT"]
ecr = boto3.client("ecr", endpoint_url=ENDPOINT)


def error(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError(f"{call.__name__} unexpectedly succeeded")


def push_blob(repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    check = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[digest])
    if check["layers"] and check["layers"][0].get("layerAvailability") == "AVAILABLE":
        return digest
    upload = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(repositoryName=repo, uploadId=upload, partFirstByte=0,
                          partLastByte=len(data) - 1, layerPartBlob=data)
    ecr.complete_layer_upload(repositoryName=repo, uploadId=upload, layerDigests=[digest])
    return digest


def push_image(repo, layer, tag=None):
    config = b'{"architecture":"amd64","os":"linux"}'
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": push_blob(repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": push_blob(repo, layer), "size": len(layer)}],
    })
    kwargs = {"imageTag": tag} if tag else {}
    out = ecr.put_image(repositoryName=repo, imageManifest=manifest, **kwargs)
    return out["image"]["imageId"]["imageDigest"]


def rule(priority, selection):
    return {"rulePriority": priority, "description": f"rule {priority}",
            "selection": selection, "action": {"type": "expire"}}


REPO = "lifecycle/app"
ecr.create_repository(repositoryName=REPO)

# --- Nothing yet ----------------------------------------------------------------------
assert error(ecr.get_lifecycle_policy, repositoryName=REPO)[0] == "LifecyclePolicyNotFoundException"
assert error(ecr.delete_lifecycle_policy, repositoryName=REPO)[0] == "LifecyclePolicyNotFoundException"
assert error(ecr.start_lifecycle_policy_preview, repositoryName=REPO)[0] == "LifecyclePolicyNotFoundException"
assert error(ecr.get_lifecycle_policy_preview, repositoryName=REPO)[0] == "LifecyclePolicyPreviewNotFoundException"

# --- Validation -----------------------------------------------------------------------
tagged_without_list = json.dumps({"rules": [rule(1, {
    "tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1})]})
code, message = error(ecr.put_lifecycle_policy, repositoryName=REPO,
                      lifecyclePolicyText=tagged_without_list)
assert code == "InvalidParameterException", code
assert "Lifecycle policy validation failure: " in message, message
assert "tagPrefixList or tagPatternList" in message, message
any_not_last = json.dumps({"rules": [
    rule(1, {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}),
    rule(2, {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
             "countNumber": 1})]})
code, message = error(ecr.put_lifecycle_policy, repositoryName=REPO,
                      lifecyclePolicyText=any_not_last)
assert code == "InvalidParameterException" and "highest rulePriority" in message, message
code, _ = error(ecr.put_lifecycle_policy, repositoryName="lifecycle/missing",
                lifecyclePolicyText=any_not_last)
assert code == "RepositoryNotFoundException", code

# --- Images, oldest first (one second apart, so push times order them) ----------------
digests = {}
for tag in ["prod-1", "dev-1", "prod-2", None]:
    digests[tag] = push_image(REPO, f"layer of {tag}".encode(), tag)
    time.sleep(1.1)

# Keep the newest prod image; of everything, keep the newest two.
policy = json.dumps({"rules": [
    rule(2, {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 2}),
    rule(1, {"tagStatus": "tagged", "tagPrefixList": ["prod"],
             "countType": "imageCountMoreThan", "countNumber": 1}),
]})
expected = {digests["prod-1"]: 1, digests["dev-1"]: 2}

# --- Preview: computed at once, nothing deleted ----------------------------------------
started = ecr.start_lifecycle_policy_preview(repositoryName=REPO, lifecyclePolicyText=policy)
assert started["status"] == "COMPLETE" and started["lifecyclePolicyText"] == policy, started
preview = ecr.get_lifecycle_policy_preview(repositoryName=REPO)
assert preview["status"] == "COMPLETE", preview
assert preview["summary"]["expiringImageTotalCount"] == 2, preview
got = {p["imageDigest"]: p["appliedRulePriority"] for p in preview["previewResults"]}
assert got == expected, (got, expected)
assert all(p["action"]["type"] == "EXPIRE" for p in preview["previewResults"]), preview
assert [p["imageTags"] for p in preview["previewResults"]] == [["prod-1"], ["dev-1"]], preview
untagged_only = ecr.get_lifecycle_policy_preview(repositoryName=REPO,
                                                 filter={"tagStatus": "UNTAGGED"})
assert untagged_only["previewResults"] == [], untagged_only
paged = ecr.get_lifecycle_policy_preview(repositoryName=REPO, maxResults=1)
assert len(paged["previewResults"]) == 1 and "nextToken" in paged, paged
assert len(ecr.describe_images(repositoryName=REPO)["imageDetails"]) == 4

# --- The policy, applied by the server ------------------------------------------------
put = ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=policy)
assert put["lifecyclePolicyText"] == policy and put["repositoryName"] == REPO, put
got = ecr.get_lifecycle_policy(repositoryName=REPO)
assert got["lifecyclePolicyText"] == policy, got
deadline = time.monotonic() + 60
while True:
    images = ecr.describe_images(repositoryName=REPO)["imageDetails"]
    if len(images) == 2 or time.monotonic() > deadline:
        break
    time.sleep(0.2)
left = sorted(i["imageDigest"] for i in images)
assert left == sorted([digests["prod-2"], digests[None]]), images
while "lastEvaluatedAt" not in ecr.get_lifecycle_policy(repositoryName=REPO):
    assert time.monotonic() < deadline, "lastEvaluatedAt never set"
    time.sleep(0.2)

deleted = ecr.delete_lifecycle_policy(repositoryName=REPO)
assert deleted["lifecyclePolicyText"] == policy, deleted
assert error(ecr.get_lifecycle_policy, repositoryName=REPO)[0] == "LifecyclePolicyNotFoundException"
# Starting a preview without text previews the stored policy, which is gone now.
assert error(ecr.start_lifecycle_policy_preview, repositoryName=REPO)[0] == "LifecyclePolicyNotFoundException"

print("ok")
