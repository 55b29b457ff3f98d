//! The ECR API's operations: the router's table. The api reads `X-Amz-Target` into an
//! [`EcrOperation`] and dispatches on it with an exhaustive match, so an operation added
//! here needs a handler to compile; the walk-every-route test sends each operation's
//! [`EcrOperation::sample`] input as a caller without ECR permissions and expects
//! `AccessDeniedException` from every one.

operation_table! {
    /// One ECR API operation Berth answers.
    EcrOperation, "ecr", "A minimal valid input naming repository `{repo}` (or, for the tag operations, its ARN `{arn}`), with digests and ids that refer to nothing.":
    GetAuthorizationToken => "{}",
    CreateRepository => r#"{"repositoryName":"{repo}"}"#,
    DescribeRepositories => r#"{"repositoryNames":["{repo}"]}"#,
    DeleteRepository => r#"{"repositoryName":"{repo}"}"#,
    TagResource => r#"{"resourceArn":"{arn}","tags":[{"Key":"team","Value":"a"}]}"#,
    UntagResource => r#"{"resourceArn":"{arn}","tagKeys":["team"]}"#,
    ListTagsForResource => r#"{"resourceArn":"{arn}"}"#,
    PutImageTagMutability => r#"{"repositoryName":"{repo}","imageTagMutability":"IMMUTABLE"}"#,
    SetRepositoryPolicy => r#"{"repositoryName":"{repo}","policyText":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"ecr:BatchGetImage\"}]}"}"#,
    GetRepositoryPolicy => r#"{"repositoryName":"{repo}"}"#,
    DeleteRepositoryPolicy => r#"{"repositoryName":"{repo}"}"#,
    PutLifecyclePolicy => r#"{"repositoryName":"{repo}","lifecyclePolicyText":"{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"untagged\",\"countType\":\"sinceImagePushed\",\"countUnit\":\"days\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}"}"#,
    GetLifecyclePolicy => r#"{"repositoryName":"{repo}"}"#,
    DeleteLifecyclePolicy => r#"{"repositoryName":"{repo}"}"#,
    StartLifecyclePolicyPreview => r#"{"repositoryName":"{repo}"}"#,
    GetLifecyclePolicyPreview => r#"{"repositoryName":"{repo}"}"#,
    BatchCheckLayerAvailability => r#"{"repositoryName":"{repo}","layerDigests":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}"#,
    InitiateLayerUpload => r#"{"repositoryName":"{repo}"}"#,
    UploadLayerPart => r#"{"repositoryName":"{repo}","uploadId":"00000000-0000-4000-8000-000000000000","partFirstByte":0,"partLastByte":0,"layerPartBlob":"AA=="}"#,
    CompleteLayerUpload => r#"{"repositoryName":"{repo}","uploadId":"00000000-0000-4000-8000-000000000000","layerDigests":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}"#,
    GetDownloadUrlForLayer => r#"{"repositoryName":"{repo}","layerDigest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}"#,
    PutImage => r#"{"repositoryName":"{repo}","imageManifest":"{}","imageTag":"latest"}"#,
    BatchGetImage => r#"{"repositoryName":"{repo}","imageIds":[{"imageTag":"latest"}]}"#,
    BatchDeleteImage => r#"{"repositoryName":"{repo}","imageIds":[{"imageTag":"latest"}]}"#,
    ListImages => r#"{"repositoryName":"{repo}"}"#,
    DescribeImages => r#"{"repositoryName":"{repo}"}"#,
    PutImageScanningConfiguration => r#"{"repositoryName":"{repo}","imageScanningConfiguration":{"scanOnPush":true}}"#,
    BatchGetRepositoryScanningConfiguration => r#"{"repositoryNames":["{repo}"]}"#,
    PutRegistryScanningConfiguration => r#"{"scanType":"BASIC","rules":[]}"#,
    GetRegistryScanningConfiguration => "{}",
    StartImageScan => r#"{"repositoryName":"{repo}","imageId":{"imageTag":"latest"}}"#,
    DescribeImageScanFindings => r#"{"repositoryName":"{repo}","imageId":{"imageTag":"latest"}}"#,
    PutRegistryPolicy => r#"{"policyText":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::210987654321:root\"},\"Action\":\"ecr:ReplicateImage\",\"Resource\":\"*\"}]}"}"#,
    GetRegistryPolicy => "{}",
    DeleteRegistryPolicy => "{}",
    DescribeRegistry => "{}",
    GetAccountSetting => r#"{"name":"BLOB_MOUNTING"}"#,
    PutAccountSetting => r#"{"name":"BLOB_MOUNTING","value":"DISABLED"}"#,
    CreateRepositoryCreationTemplate => r#"{"prefix":"walk","appliedFor":["CREATE_ON_PUSH"]}"#,
    DescribeRepositoryCreationTemplates => "{}",
    UpdateRepositoryCreationTemplate => r#"{"prefix":"walk","description":"walk"}"#,
    DeleteRepositoryCreationTemplate => r#"{"prefix":"walk"}"#,
    ListImageReferrers => r#"{"repositoryName":"{repo}","subjectId":{"imageDigest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}}"#,
    CreatePullThroughCacheRule => r#"{"ecrRepositoryPrefix":"walk","upstreamRegistryUrl":"public.ecr.aws"}"#,
    DescribePullThroughCacheRules => "{}",
    UpdatePullThroughCacheRule => r#"{"ecrRepositoryPrefix":"walk"}"#,
    DeletePullThroughCacheRule => r#"{"ecrRepositoryPrefix":"walk"}"#,
    ValidatePullThroughCacheRule => r#"{"ecrRepositoryPrefix":"walk"}"#,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_parses_back_and_has_a_json_sample() {
        for &operation in EcrOperation::ALL {
            assert_eq!(EcrOperation::from_name(operation.name()), Some(operation));
            assert!(
                serde_json::from_str::<serde_json::Value>(operation.sample()).is_ok(),
                "{operation:?}"
            );
        }
        assert_eq!(EcrOperation::ALL.len(), 48);
        assert_eq!(EcrOperation::from_name("BatchImportUpstreamImage"), None);
    }
}
