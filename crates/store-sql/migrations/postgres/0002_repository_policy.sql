-- ECR repository policies (SetRepositoryPolicy): the document exactly as submitted.
ALTER TABLE repositories ADD COLUMN policy TEXT;
