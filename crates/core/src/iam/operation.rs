//! The IAM API's operations: the router's table. The api reads the Query `Action` into an
//! [`IamOperation`] and dispatches on it with an exhaustive match, so an operation added
//! here needs a handler to compile; the walk-every-route test sends each operation's
//! [`IamOperation::sample`] parameters as a caller without IAM permissions and expects
//! `AccessDenied` from every one.

operation_table! {
    /// One IAM API operation Berth answers.
    IamOperation, "iam", "Minimal valid parameters (form-encoded, without `Action` and `Version`) in account `{account}`, naming entities that need not exist.":
    CreateOpenIDConnectProvider => "Url=https%3A%2F%2Fwalk.example&ClientIDList.member.1=sts.amazonaws.com",
    GetOpenIDConnectProvider => "OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A{account}%3Aoidc-provider%2Fwalk.example",
    ListOpenIDConnectProviders => "",
    DeleteOpenIDConnectProvider => "OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A{account}%3Aoidc-provider%2Fwalk.example",
    TagOpenIDConnectProvider => "OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A{account}%3Aoidc-provider%2Fwalk.example&Tags.member.1.Key=team&Tags.member.1.Value=a",
    UntagOpenIDConnectProvider => "OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A{account}%3Aoidc-provider%2Fwalk.example&TagKeys.member.1=team",
    ListOpenIDConnectProviderTags => "OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A{account}%3Aoidc-provider%2Fwalk.example",
    AddClientIDToOpenIDConnectProvider => "OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A{account}%3Aoidc-provider%2Fwalk.example&ClientID=other",
    RemoveClientIDFromOpenIDConnectProvider => "OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A{account}%3Aoidc-provider%2Fwalk.example&ClientID=other",
    UpdateOpenIDConnectProviderThumbprint => "OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A{account}%3Aoidc-provider%2Fwalk.example&ThumbprintList.member.1=0000000000000000000000000000000000000000",
    CreateRole => "RoleName=walk&AssumeRolePolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ec2.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D",
    GetRole => "RoleName=walk",
    DeleteRole => "RoleName=walk",
    ListRoles => "",
    UpdateRole => "RoleName=walk&MaxSessionDuration=7200",
    UpdateRoleDescription => "RoleName=walk&Description=walk",
    ListRolePolicies => "RoleName=walk",
    PutRolePermissionsBoundary => "RoleName=walk&PermissionsBoundary=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    DeleteRolePermissionsBoundary => "RoleName=walk",
    CreateAccountAlias => "AccountAlias=walk-alias",
    DeleteAccountAlias => "AccountAlias=walk-alias",
    ListAccountAliases => "",
    GetAccountSummary => "",
    CreateUser => "UserName=walk",
    GetUser => "UserName=walk",
    ListUsers => "",
    UpdateUser => "UserName=walk&NewPath=%2Fci%2F",
    DeleteUser => "UserName=walk",
    PutUserPermissionsBoundary => "UserName=walk&PermissionsBoundary=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    DeleteUserPermissionsBoundary => "UserName=walk",
    TagUser => "UserName=walk&Tags.member.1.Key=team&Tags.member.1.Value=a",
    UntagUser => "UserName=walk&TagKeys.member.1=team",
    ListUserTags => "UserName=walk",
    PutUserPolicy => "UserName=walk&PolicyName=p&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22ecr%3AListImages%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
    GetUserPolicy => "UserName=walk&PolicyName=p",
    DeleteUserPolicy => "UserName=walk&PolicyName=p",
    ListUserPolicies => "UserName=walk",
    AttachUserPolicy => "UserName=walk&PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    DetachUserPolicy => "UserName=walk&PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    ListAttachedUserPolicies => "UserName=walk",
    CreateAccessKey => "UserName=walk",
    ListAccessKeys => "UserName=walk",
    UpdateAccessKey => "UserName=walk&AccessKeyId=AKIAIOSFODNN7EXAMPLE&Status=Inactive",
    DeleteAccessKey => "UserName=walk&AccessKeyId=AKIAIOSFODNN7EXAMPLE",
    GetAccessKeyLastUsed => "AccessKeyId=AKIAIOSFODNN7EXAMPLE",
    CreateGroup => "GroupName=walk",
    GetGroup => "GroupName=walk",
    ListGroups => "",
    UpdateGroup => "GroupName=walk&NewPath=%2Fci%2F",
    DeleteGroup => "GroupName=walk",
    AddUserToGroup => "GroupName=walk&UserName=walk",
    RemoveUserFromGroup => "GroupName=walk&UserName=walk",
    ListGroupsForUser => "UserName=walk",
    PutGroupPolicy => "GroupName=walk&PolicyName=p&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22ecr%3AListImages%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
    GetGroupPolicy => "GroupName=walk&PolicyName=p",
    DeleteGroupPolicy => "GroupName=walk&PolicyName=p",
    ListGroupPolicies => "GroupName=walk",
    AttachGroupPolicy => "GroupName=walk&PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    DetachGroupPolicy => "GroupName=walk&PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    ListAttachedGroupPolicies => "GroupName=walk",
    GetAccountAuthorizationDetails => "",
    CreateInstanceProfile => "InstanceProfileName=walk",
    GetInstanceProfile => "InstanceProfileName=walk",
    DeleteInstanceProfile => "InstanceProfileName=walk",
    AddRoleToInstanceProfile => "InstanceProfileName=walk&RoleName=walk",
    RemoveRoleFromInstanceProfile => "InstanceProfileName=walk&RoleName=walk",
    ListInstanceProfiles => "",
    ListInstanceProfilesForRole => "RoleName=walk",
    UpdateAssumeRolePolicy => "RoleName=walk&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ec2.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D",
    TagRole => "RoleName=walk&Tags.member.1.Key=team&Tags.member.1.Value=a",
    UntagRole => "RoleName=walk&TagKeys.member.1=team",
    ListRoleTags => "RoleName=walk",
    PutRolePolicy => "RoleName=walk&PolicyName=p&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22ecr%3AListImages%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
    GetRolePolicy => "RoleName=walk&PolicyName=p",
    DeleteRolePolicy => "RoleName=walk&PolicyName=p",
    AttachRolePolicy => "RoleName=walk&PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    DetachRolePolicy => "RoleName=walk&PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    ListAttachedRolePolicies => "RoleName=walk",
    CreatePolicy => "PolicyName=walk&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22ecr%3AListImages%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
    GetPolicy => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    DeletePolicy => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    ListPolicies => "",
    CreatePolicyVersion => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22ecr%3AListImages%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
    GetPolicyVersion => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk&VersionId=v1",
    ListEntitiesForPolicy => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    ListPolicyVersions => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    DeletePolicyVersion => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk&VersionId=v2",
    SetDefaultPolicyVersion => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk&VersionId=v1",
    TagPolicy => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk&Tags.member.1.Key=team&Tags.member.1.Value=a",
    UntagPolicy => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk&TagKeys.member.1=team",
    ListPolicyTags => "PolicyArn=arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fwalk",
    SimulatePrincipalPolicy => "PolicySourceArn=arn%3Aaws%3Aiam%3A%3A{account}%3Arole%2Fwalk&ActionNames.member.1=ecr%3AListImages",
    SimulateCustomPolicy => "PolicyInputList.member.1=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D&ActionNames.member.1=ecr%3AListImages",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_parses_back() {
        for &operation in IamOperation::ALL {
            assert_eq!(IamOperation::from_name(operation.name()), Some(operation));
        }
        assert_eq!(IamOperation::ALL.len(), 93);
        assert_eq!(IamOperation::from_name("CreateLoginProfile"), None);
    }
}
