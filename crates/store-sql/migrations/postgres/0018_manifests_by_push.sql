-- Image listings (ListImages, DescribeImages) page newest push first from a cursor:
-- this index lets each page read only its own rows.
CREATE INDEX manifests_by_push ON manifests (repository, pushed_at, digest);
