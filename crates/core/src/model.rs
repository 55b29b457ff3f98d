//! The records the services return: the domain model the api renders. They are defined
//! with the storage traits (`berth-store`), which keep them; the api reads them from here
//! and depends on the services alone, never on the storage layer.

pub use berth_store::{
    AttachedPolicy, AuditEventRecord, AuditFilter, AuditResource, GroupRecord, IamTag,
    InstanceProfileRecord, ManagedPolicyRecord, ManifestRecord, OidcProviderRecord,
    RepositoryRecord, RoleRecord, UploadRecord, UserRecord,
};
