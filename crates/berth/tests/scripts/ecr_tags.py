"""ECR resource tags with boto3 against a running Berth (started by ecr_tags.rs):
CreateRepository with tags, TagResource (overwrite, limits), UntagResource,
ListTagsForResource, and botocore's error codes.

Environment: BERTH_ENDPOINT, BERTH_ACCOUNT, AWS root credentials, AWS_DEFAULT_REGION."""
import os

import boto3
import botocore.exceptions

ENDPOINT = os.environ["BERTH_ENDPOINT"]
ACCOUNT = os.environ["BERTH_ACCOUNT"]
REGION = os.environ["AWS_DEFAULT_REGION"]
ecr = boto3.client("ecr", endpoint_url=ENDPOINT)


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} unexpectedly succeeded")


def tags_of(arn):
    return {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]}


repo = ecr.create_repository(
    repositoryName="tags/app", tags=[{"Key": "team", "Value": "platform"}]
)["repository"]
arn = repo["repositoryArn"]
assert arn == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/tags/app", arn
assert tags_of(arn) == {"team": "platform"}

# TagResource adds and overwrites; UntagResource removes (absent keys are fine).
assert ecr.tag_resource(resourceArn=arn, tags=[
    {"Key": "team", "Value": "registry"}, {"Key": "env", "Value": ""}])["ResponseMetadata"]["HTTPStatusCode"] == 200
assert tags_of(arn) == {"team": "registry", "env": ""}
ecr.untag_resource(resourceArn=arn, tagKeys=["env", "never-set"])
assert tags_of(arn) == {"team": "registry"}

# Limits: 50 tags, key 1..128 characters, value up to 256, no aws: prefix.
assert error_code(ecr.tag_resource, resourceArn=arn,
                  tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)]) == "TooManyTagsException"
assert tags_of(arn) == {"team": "registry"}, "a refused TagResource changed nothing"
ecr.tag_resource(resourceArn=arn, tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
assert len(tags_of(arn)) == 50
assert error_code(ecr.tag_resource, resourceArn=arn,
                  tags=[{"Key": "one-more", "Value": "v"}]) == "TooManyTagsException"
for bad in [{"Key": "k" * 129, "Value": "v"}, {"Key": "k", "Value": "v" * 257},
            {"Key": "aws:owner", "Value": "v"}]:
    assert error_code(ecr.tag_resource, resourceArn=arn, tags=[bad]) == "InvalidTagParameterException", bad
assert error_code(ecr.create_repository, repositoryName="tags/bad",
                  tags=[{"Key": "aws:x", "Value": "v"}]) == "InvalidTagParameterException"
assert error_code(ecr.describe_repositories, repositoryNames=["tags/bad"]) == "RepositoryNotFoundException", \
    "a refused CreateRepository with bad tags created nothing"

# Resource ARNs: another account, region or resource type is invalid; a missing
# repository is not found.
for bad_arn in [f"arn:aws:ecr:{REGION}:999999999999:repository/tags/app",
                f"arn:aws:ecr:eu-west-3:{ACCOUNT}:repository/tags/app",
                f"arn:aws:iam::{ACCOUNT}:role/x", "not-an-arn"]:
    assert error_code(ecr.list_tags_for_resource, resourceArn=bad_arn) == "InvalidParameterException", bad_arn
missing = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/tags/missing"
assert error_code(ecr.list_tags_for_resource, resourceArn=missing) == "RepositoryNotFoundException"
assert error_code(ecr.tag_resource, resourceArn=missing,
                  tags=[{"Key": "a", "Value": "b"}]) == "RepositoryNotFoundException"
assert error_code(ecr.untag_resource, resourceArn=missing, tagKeys=["a"]) == "RepositoryNotFoundException"

# Tags go with the repository.
ecr.delete_repository(repositoryName="tags/app", force=True)
ecr.create_repository(repositoryName="tags/app")
assert tags_of(arn) == {}
print("tags ok")
