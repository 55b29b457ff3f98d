//! `berth workflow`: the GitHub Actions workflow `berth setup` writes.

use clap::Args;

#[derive(Args, Debug)]
pub struct WorkflowArgs {
    /// The branches that push (the workflow's `on.push.branches`).
    #[arg(long = "branch", default_values_t = vec!["main".to_owned()])]
    pub branches: Vec<String>,
    /// The ECR repository images are pushed to.
    #[arg(long, default_value = "app")]
    pub ecr_repository: String,
}

/// The workflow: OIDC token -> role from the repository secrets -> ECR login -> build and
/// push tagged with the commit SHA.
pub fn render(branches: &[String], ecr_repository: &str) -> String {
    let branches: String = branches
        .iter()
        .map(|b| format!("      - {}\n", yaml_string(b)))
        .collect();
    let repository = yaml_string(ecr_repository);
    format!(
        r#"# Written by `berth setup`: pushes an image to ECR without long-lived AWS keys.
name: Build and push to ECR

on:
  push:
    branches:
{branches}
permissions:
  id-token: write # lets the job request GitHub's OIDC token
  contents: read

jobs:
  push:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4

      - name: Assume the role with the job's OIDC token
        uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: arn:aws:iam::${{{{ secrets.AWS_ACCOUNT_ID }}}}:role/${{{{ secrets.AWS_ROLE_NAME }}}}
          aws-region: ${{{{ secrets.AWS_REGION }}}}

      - name: Log in to ECR
        id: ecr
        uses: aws-actions/amazon-ecr-login@v2

      - name: Build and push
        env:
          REGISTRY: ${{{{ steps.ecr.outputs.registry }}}}
          REPOSITORY: {repository}
          IMAGE_TAG: ${{{{ github.sha }}}}
        run: |
          docker build -t "$REGISTRY/$REPOSITORY:$IMAGE_TAG" .
          docker push "$REGISTRY/$REPOSITORY:$IMAGE_TAG"
"#
    )
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

pub fn run(args: WorkflowArgs) -> anyhow::Result<()> {
    print!("{}", render(&args.branches, &args.ecr_repository));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_actions_permissions_and_secrets() {
        let w = render(&["main".into(), "release/*".into()], "octo-repo");
        for needle in [
            "id-token: write",
            "contents: read",
            "aws-actions/configure-aws-credentials@v4",
            "aws-actions/amazon-ecr-login@v2",
            "${{ secrets.AWS_ACCOUNT_ID }}",
            "${{ secrets.AWS_ROLE_NAME }}",
            "${{ secrets.AWS_REGION }}",
            "${{ github.sha }}",
            "- \"release/*\"",
            "REPOSITORY: \"octo-repo\"",
        ] {
            assert!(w.contains(needle), "missing {needle}:\n{w}");
        }
    }
}
