"""The serving image: what its Dockerfile copies, and its build by CodeBuild into the stack's ECR."""
