//! IAM instance profiles: a named container for one role. Berth runs no instances, but
//! role modules of infrastructure-as-code tools create, list and delete a profile beside
//! each role by default, and DeleteRole is refused while a profile holds the role, as in
//! IAM.

use berth_store::StoreError;

use super::{
    Iam, IamError, Page, check_path_prefix, check_tags, paginate_by_name, path, role_not_found,
    validation,
};
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::ids;
use crate::model::{IamTag, InstanceProfileRecord};

/// CreateInstanceProfile's members.
#[derive(Debug, Clone, Copy)]
pub struct CreateInstanceProfileInput<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub tags: &'a [IamTag],
}

/// IAM's rule for an instance profile's name: `[\w+=,.@-]+`, 1 to 128 characters.
fn profile_name(name: &str) -> Result<&str, IamError> {
    let ok = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(name)
    } else {
        Err(validation(
            name,
            "instanceProfileName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 128",
        ))
    }
}

fn profile_not_found(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("Instance Profile {name} cannot be found."))
}

impl Iam<'_> {
    /// The ARN an instance profile has or would have.
    fn profile_arn(&self, profile_path: &str, name: &str) -> String {
        self.iam_arn(&format!("instance-profile{profile_path}{name}"))
    }

    /// The profile named `name` once `caller` may do `action` to it (its ARN is the
    /// resource; a profile that does not exist is authorised at the root path).
    async fn authorized_profile(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        name: &str,
    ) -> Result<InstanceProfileRecord, IamError> {
        let name = profile_name(name)?;
        let profile = self.metadata.get_instance_profile(name).await?;
        let arn = match &profile {
            Some(p) => p.arn.to_string(),
            None => self.profile_arn("/", name),
        };
        self.iam_authorize(caller, facts, action, &arn).await?;
        profile.ok_or_else(|| profile_not_found(name))
    }

    /// What a profile change's `NotFound` meant: the role is gone, or else `otherwise`.
    async fn role_or(&self, role: &str, otherwise: IamError) -> Result<IamError, IamError> {
        Ok(match self.metadata.get_role(role).await? {
            None => role_not_found(role),
            Some(_) => otherwise,
        })
    }

    /// CreateInstanceProfile; with `Tags` it also needs `iam:TagInstanceProfile`.
    pub async fn create_instance_profile(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: &CreateInstanceProfileInput<'_>,
    ) -> Result<(InstanceProfileRecord, Vec<IamTag>), IamError> {
        let name = profile_name(input.name)?;
        let profile_path = path(input.path)?;
        check_tags(input.tags)?;
        let arn = self.profile_arn(&profile_path, name);
        self.iam_authorize(caller, facts, "iam:CreateInstanceProfile", &arn)
            .await?;
        if !input.tags.is_empty() {
            self.iam_authorize(caller, facts, "iam:TagInstanceProfile", &arn)
                .await?;
        }
        let record = InstanceProfileRecord {
            name: name.to_owned(),
            profile_id: ids::unique_id("AIPA"),
            path: profile_path,
            arn: self.new_entity_arn(&arn)?,
            created_at: crate::now_unix(),
            roles: Vec::new(),
        };
        match self.metadata.create_instance_profile(&record).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Instance Profile {name} already exists."
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.apply_tags(&arn, input.tags).await?;
        Ok((record, input.tags.to_vec()))
    }

    pub async fn get_instance_profile(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(InstanceProfileRecord, Vec<IamTag>), IamError> {
        let profile = self
            .authorized_profile(caller, facts, "iam:GetInstanceProfile", name)
            .await?;
        let tags = self.iam_entity_tags(&profile.arn).await?;
        Ok((profile, tags))
    }

    pub async fn delete_instance_profile(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(), IamError> {
        let profile = self
            .authorized_profile(caller, facts, "iam:DeleteInstanceProfile", name)
            .await?;
        match self.metadata.delete_instance_profile(&profile.name).await {
            Err(StoreError::NotFound) => Err(profile_not_found(&profile.name)),
            other => Ok(other?),
        }
    }

    /// AddRoleToInstanceProfile: authorised on the profile, and, as IAM requires,
    /// `iam:PassRole` on the role (whoever holds the profile acts as the role).
    pub async fn add_role_to_instance_profile(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        profile: &str,
        role: &str,
    ) -> Result<(), IamError> {
        super::role_name(role)?;
        let profile = self
            .authorized_profile(caller, facts, "iam:AddRoleToInstanceProfile", profile)
            .await?;
        let role = self
            .authorized_role(caller, facts, "iam:PassRole", role)
            .await?;
        match self
            .metadata
            .add_role_to_instance_profile(&profile.name, role.name.as_str())
            .await
        {
            Err(StoreError::NotFound) => Err(self
                .role_or(role.name.as_str(), profile_not_found(&profile.name))
                .await?),
            other => Ok(other?),
        }
    }

    pub async fn remove_role_from_instance_profile(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        profile: &str,
        role: &str,
    ) -> Result<(), IamError> {
        let role = super::role_name(role)?;
        let profile = self
            .authorized_profile(caller, facts, "iam:RemoveRoleFromInstanceProfile", profile)
            .await?;
        match self
            .metadata
            .remove_role_from_instance_profile(&profile.name, role.as_str())
            .await
        {
            Err(StoreError::NotFound) => {
                let not_in_it = IamError::NoSuchEntity(format!(
                    "The role {role} is not in instance profile {}.",
                    profile.name
                ));
                Err(self.role_or(role.as_str(), not_in_it).await?)
            }
            other => Ok(other?),
        }
    }

    /// ListInstanceProfiles, by name regardless of case, paged as IAM pages.
    pub async fn list_instance_profiles(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<InstanceProfileRecord>, IamError> {
        let prefix = check_path_prefix(path_prefix)?;
        self.iam_authorize(caller, facts, "iam:ListInstanceProfiles", "*")
            .await?;
        let profiles = self
            .metadata
            .list_instance_profiles(None)
            .await?
            .into_iter()
            .filter(|p| p.path.starts_with(prefix))
            .collect();
        paginate_by_name(profiles, |p| p.name.as_str(), marker, max_items)
    }

    /// ListInstanceProfilesForRole: authorised on the role.
    pub async fn list_instance_profiles_for_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<InstanceProfileRecord>, IamError> {
        let role = self
            .authorized_role(caller, facts, "iam:ListInstanceProfilesForRole", role)
            .await?;
        let profiles = match self
            .metadata
            .list_instance_profiles(Some(role.name.as_str()))
            .await
        {
            Err(StoreError::NotFound) => return Err(role_not_found(role.name.as_str())),
            other => other?,
        };
        paginate_by_name(profiles, |p| p.name.as_str(), marker, max_items)
    }
}
