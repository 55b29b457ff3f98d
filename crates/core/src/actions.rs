//! IAM action names Berth authorizes, in one place.

pub const CLOUDTRAIL_LOOKUP_EVENTS: &str = "cloudtrail:LookupEvents";

pub const STS_ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";
pub const STS_ASSUME_ROLE: &str = "sts:AssumeRole";
pub const STS_TAG_SESSION: &str = "sts:TagSession";
pub const STS_SET_SOURCE_IDENTITY: &str = "sts:SetSourceIdentity";
pub const STS_GET_ACCESS_KEY_INFO: &str = "sts:GetAccessKeyInfo";

pub const ECR_GET_AUTHORIZATION_TOKEN: &str = "ecr:GetAuthorizationToken";
pub const ECR_BATCH_CHECK_LAYER_AVAILABILITY: &str = "ecr:BatchCheckLayerAvailability";
pub const ECR_BATCH_GET_IMAGE: &str = "ecr:BatchGetImage";
pub const ECR_BATCH_DELETE_IMAGE: &str = "ecr:BatchDeleteImage";
pub const ECR_COMPLETE_LAYER_UPLOAD: &str = "ecr:CompleteLayerUpload";
pub const ECR_CREATE_REPOSITORY: &str = "ecr:CreateRepository";
pub const ECR_DELETE_REPOSITORY: &str = "ecr:DeleteRepository";
pub const ECR_DESCRIBE_IMAGES: &str = "ecr:DescribeImages";
pub const ECR_DESCRIBE_REPOSITORIES: &str = "ecr:DescribeRepositories";
pub const ECR_GET_DOWNLOAD_URL_FOR_LAYER: &str = "ecr:GetDownloadUrlForLayer";
pub const ECR_INITIATE_LAYER_UPLOAD: &str = "ecr:InitiateLayerUpload";
pub const ECR_LIST_IMAGES: &str = "ecr:ListImages";
pub const ECR_PUT_IMAGE: &str = "ecr:PutImage";
pub const ECR_UPLOAD_LAYER_PART: &str = "ecr:UploadLayerPart";
pub const ECR_SET_REPOSITORY_POLICY: &str = "ecr:SetRepositoryPolicy";
pub const ECR_GET_REPOSITORY_POLICY: &str = "ecr:GetRepositoryPolicy";
pub const ECR_DELETE_REPOSITORY_POLICY: &str = "ecr:DeleteRepositoryPolicy";
pub const ECR_PUT_IMAGE_TAG_MUTABILITY: &str = "ecr:PutImageTagMutability";
pub const ECR_TAG_RESOURCE: &str = "ecr:TagResource";
pub const ECR_UNTAG_RESOURCE: &str = "ecr:UntagResource";
pub const ECR_LIST_TAGS_FOR_RESOURCE: &str = "ecr:ListTagsForResource";
pub const ECR_PUT_IMAGE_SCANNING_CONFIGURATION: &str = "ecr:PutImageScanningConfiguration";
pub const ECR_BATCH_GET_REPOSITORY_SCANNING_CONFIGURATION: &str =
    "ecr:BatchGetRepositoryScanningConfiguration";
pub const ECR_PUT_REGISTRY_SCANNING_CONFIGURATION: &str = "ecr:PutRegistryScanningConfiguration";
pub const ECR_GET_REGISTRY_SCANNING_CONFIGURATION: &str = "ecr:GetRegistryScanningConfiguration";
pub const ECR_START_IMAGE_SCAN: &str = "ecr:StartImageScan";
pub const ECR_DESCRIBE_IMAGE_SCAN_FINDINGS: &str = "ecr:DescribeImageScanFindings";
pub const ECR_PUT_REGISTRY_POLICY: &str = "ecr:PutRegistryPolicy";
pub const ECR_GET_REGISTRY_POLICY: &str = "ecr:GetRegistryPolicy";
pub const ECR_DELETE_REGISTRY_POLICY: &str = "ecr:DeleteRegistryPolicy";
pub const ECR_DESCRIBE_REGISTRY: &str = "ecr:DescribeRegistry";
pub const ECR_GET_ACCOUNT_SETTING: &str = "ecr:GetAccountSetting";
pub const ECR_PUT_ACCOUNT_SETTING: &str = "ecr:PutAccountSetting";
pub const ECR_LIST_IMAGE_REFERRERS: &str = "ecr:ListImageReferrers";
pub const ECR_CREATE_REPOSITORY_CREATION_TEMPLATE: &str = "ecr:CreateRepositoryCreationTemplate";
pub const ECR_DESCRIBE_REPOSITORY_CREATION_TEMPLATES: &str =
    "ecr:DescribeRepositoryCreationTemplates";
pub const ECR_UPDATE_REPOSITORY_CREATION_TEMPLATE: &str = "ecr:UpdateRepositoryCreationTemplate";
pub const ECR_DELETE_REPOSITORY_CREATION_TEMPLATE: &str = "ecr:DeleteRepositoryCreationTemplate";
pub const ECR_CREATE_PULL_THROUGH_CACHE_RULE: &str = "ecr:CreatePullThroughCacheRule";
pub const ECR_DESCRIBE_PULL_THROUGH_CACHE_RULES: &str = "ecr:DescribePullThroughCacheRules";
pub const ECR_UPDATE_PULL_THROUGH_CACHE_RULE: &str = "ecr:UpdatePullThroughCacheRule";
pub const ECR_DELETE_PULL_THROUGH_CACHE_RULE: &str = "ecr:DeletePullThroughCacheRule";
pub const ECR_VALIDATE_PULL_THROUGH_CACHE_RULE: &str = "ecr:ValidatePullThroughCacheRule";
/// Filling a pull-through cache repository from its upstream (first pull, refresh).
pub const ECR_BATCH_IMPORT_UPSTREAM_IMAGE: &str = "ecr:BatchImportUpstreamImage";
