-- Roles are looked up by `lower(name) = lower($1)`, the one SQL both engines run (IAM role
-- names are unique regardless of case, and ASCII). PostgreSQL has had this index since
-- its 0001; here it lets that lookup use an index instead of scanning.
CREATE INDEX roles_by_folded_name ON roles (lower(name));
