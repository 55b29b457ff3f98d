//! IAM groups: a group's inline and attached policies apply to every user in it, as in
//! IAM. Groups are not principals: no policy names one, and nobody signs in as one.

use berth_policy::PolicyKind;
use berth_store::{AttachedPolicy, GroupRecord, StoreError, UserRecord};

use super::{
    Iam, IamError, Page, check_policy, document_length, non_whitespace_len, paginate_by_name, path,
    policy_arn, policy_name, policy_not_found, validation,
};
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::ids;

/// IAM's quota on the inline policies of one group together (whitespace not counted).
pub const INLINE_POLICIES_PER_GROUP_MAX: usize = 5120;

/// IAM's group name rule: 1 to 128 of `[\w+=,.@-]`.
fn group_name(name: &str) -> Result<&str, IamError> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(validation(
            name,
            "groupName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 128",
        ))
    }
}

fn group_not_found(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The group with name {name} cannot be found."))
}

impl Iam<'_> {
    /// Looks a group up and authorizes `action` on it; the caller learns whether the
    /// group exists only once authorized.
    async fn authorized_group(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        name: &str,
    ) -> Result<GroupRecord, IamError> {
        let name = group_name(name)?;
        let group = self.metadata.get_group(name).await?;
        let arn = group.as_ref().map_or_else(
            || self.iam_arn(&format!("group/{name}")),
            |g| g.arn.to_string(),
        );
        self.iam_authorize(caller, facts, action, &arn).await?;
        group.ok_or_else(|| group_not_found(name))
    }

    pub async fn create_group(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        group_path: Option<&str>,
    ) -> Result<GroupRecord, IamError> {
        let name = group_name(name)?;
        let group_path = path(group_path)?;
        let arn = self.iam_arn(&format!("group{group_path}{name}"));
        self.iam_authorize(caller, facts, "iam:CreateGroup", &arn)
            .await?;
        let record = GroupRecord {
            name: name.to_owned(),
            group_id: ids::unique_id("AGPA"),
            path: group_path,
            arn: self.new_entity_arn(&arn)?,
            created_at: crate::now_unix(),
        };
        match self.metadata.create_group(&record).await {
            Err(StoreError::AlreadyExists) => Err(IamError::EntityAlreadyExists(format!(
                "Group with name {name} already exists."
            ))),
            other => {
                other?;
                Ok(record)
            }
        }
    }

    /// GetGroup: the group and its members.
    pub async fn get_group(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(GroupRecord, Vec<UserRecord>), IamError> {
        let group = self
            .authorized_group(caller, facts, "iam:GetGroup", name)
            .await?;
        match self.metadata.list_group_users(&group.name).await {
            Err(StoreError::NotFound) => Err(group_not_found(&group.name)),
            other => Ok((group, other?)),
        }
    }

    pub async fn list_groups(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<GroupRecord>, IamError> {
        let prefix = super::check_path_prefix(path_prefix)?;
        self.iam_authorize(caller, facts, "iam:ListGroups", &self.iam_arn("group/"))
            .await?;
        let groups = self
            .metadata
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| g.path.starts_with(prefix))
            .collect();
        paginate_by_name(groups, |g| g.name.as_str(), marker, max_items)
    }

    /// UpdateGroup: a new name and/or path, keeping its members and policies. Renaming
    /// needs the action on the new name too, as in IAM.
    pub async fn update_group(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), IamError> {
        if let Some(n) = new_name {
            group_name(n)?;
        }
        let new_path = new_path.map(|p| path(Some(p))).transpose()?;
        let group = self
            .authorized_group(caller, facts, "iam:UpdateGroup", name)
            .await?;
        let new_name = new_name.unwrap_or(&group.name);
        let new_path = new_path.unwrap_or_else(|| group.path.clone());
        let new_arn = self.iam_arn(&format!("group{new_path}{new_name}"));
        if new_arn != group.arn.as_str() {
            self.iam_authorize(caller, facts, "iam:UpdateGroup", &new_arn)
                .await?;
        }
        match self
            .metadata
            .update_group(&group.name, new_name, &new_path, &new_arn)
            .await
        {
            Err(StoreError::NotFound) => Err(group_not_found(&group.name)),
            Err(StoreError::AlreadyExists) => Err(IamError::EntityAlreadyExists(format!(
                "Group with name {new_name} already exists."
            ))),
            other => Ok(other?),
        }
    }

    /// DeleteGroup: refused while the group has members or policies, as in IAM.
    pub async fn delete_group(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(), IamError> {
        let group = self
            .authorized_group(caller, facts, "iam:DeleteGroup", name)
            .await?;
        match self.metadata.delete_group(&group.name).await {
            Err(StoreError::NotFound) => Err(group_not_found(&group.name)),
            other => Ok(other?),
        }
    }

    /// Add/RemoveUserFromGroup: authorized on the group, as in IAM.
    pub async fn change_group_membership(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        group: &str,
        user: &str,
        add: bool,
    ) -> Result<(), IamError> {
        let action = if add {
            "iam:AddUserToGroup"
        } else {
            "iam:RemoveUserFromGroup"
        };
        let group = self.authorized_group(caller, facts, action, group).await?;
        let changed = if add {
            self.metadata.add_user_to_group(&group.name, user).await
        } else {
            self.metadata
                .remove_user_from_group(&group.name, user)
                .await
        };
        match changed {
            Err(StoreError::NotFound) => Err(IamError::NoSuchEntity(format!(
                "The user with name {user} cannot be found{}.",
                if add { "" } else { " in the group" }
            ))),
            other => Ok(other?),
        }
    }

    pub async fn list_groups_for_user(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        user: &str,
    ) -> Result<Vec<GroupRecord>, IamError> {
        let arn = match self.metadata.get_user(user).await? {
            Some(u) => u.arn.to_string(),
            None => self.iam_arn(&format!("user/{user}")),
        };
        self.iam_authorize(caller, facts, "iam:ListGroupsForUser", &arn)
            .await?;
        match self.metadata.list_groups_for_user(user).await {
            Err(StoreError::NotFound) => Err(IamError::NoSuchEntity(format!(
                "The user with name {user} cannot be found."
            ))),
            other => Ok(other?),
        }
    }

    pub async fn put_group_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        group: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        let name = policy_name(name)?;
        document_length(document, "policyDocument")?;
        let group = self
            .authorized_group(caller, facts, "iam:PutGroupPolicy", group)
            .await?;
        check_policy(document, PolicyKind::Identity)?;
        let mut total = non_whitespace_len(document);
        for other in self.metadata.list_group_policies(&group.name).await? {
            if other != name.as_str()
                && let Some(text) = self.metadata.get_group_policy(&group.name, &other).await?
            {
                total += non_whitespace_len(&text);
            }
        }
        if total > INLINE_POLICIES_PER_GROUP_MAX {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {INLINE_POLICIES_PER_GROUP_MAX} bytes exceeded for group {}",
                group.name
            )));
        }
        match self
            .metadata
            .put_group_policy(&group.name, name.as_str(), document)
            .await
        {
            Err(StoreError::NotFound) => Err(group_not_found(&group.name)),
            other => Ok(other?),
        }
    }

    /// GetGroupPolicy: the group's name as stored, and the document.
    pub async fn get_group_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        group: &str,
        name: &str,
    ) -> Result<(String, String), IamError> {
        let group = self
            .authorized_group(caller, facts, "iam:GetGroupPolicy", group)
            .await?;
        let document = self
            .metadata
            .get_group_policy(&group.name, name)
            .await?
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!(
                    "The group policy with name {name} cannot be found."
                ))
            })?;
        Ok((group.name, document))
    }

    pub async fn delete_group_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        group: &str,
        name: &str,
    ) -> Result<(), IamError> {
        let group = self
            .authorized_group(caller, facts, "iam:DeleteGroupPolicy", group)
            .await?;
        match self.metadata.delete_group_policy(&group.name, name).await {
            Err(StoreError::NotFound) => Err(IamError::NoSuchEntity(format!(
                "The group policy with name {name} cannot be found."
            ))),
            other => Ok(other?),
        }
    }

    pub async fn list_group_policies(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        group: &str,
    ) -> Result<Vec<String>, IamError> {
        let group = self
            .authorized_group(caller, facts, "iam:ListGroupPolicies", group)
            .await?;
        Ok(self.metadata.list_group_policies(&group.name).await?)
    }

    /// Attach/DetachGroupPolicy.
    pub async fn change_group_attachment(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        group: &str,
        arn: &str,
        attach: bool,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        let action = if attach {
            "iam:AttachGroupPolicy"
        } else {
            "iam:DetachGroupPolicy"
        };
        let group = self.authorized_group(caller, facts, action, group).await?;
        if attach {
            match self.metadata.attach_group_policy(&group.name, arn).await {
                Err(StoreError::NotFound) => Err(policy_not_found(arn)),
                other => Ok(other?),
            }
        } else {
            match self.metadata.detach_group_policy(&group.name, arn).await {
                Err(StoreError::NotFound) => Err(IamError::NoSuchEntity(format!(
                    "Policy {arn} was not found."
                ))),
                other => Ok(other?),
            }
        }
    }

    pub async fn list_attached_group_policies(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        group: &str,
    ) -> Result<Vec<AttachedPolicy>, IamError> {
        let group = self
            .authorized_group(caller, facts, "iam:ListAttachedGroupPolicies", group)
            .await?;
        Ok(self
            .metadata
            .list_attached_group_policies(&group.name)
            .await?)
    }
}
