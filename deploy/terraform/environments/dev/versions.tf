terraform {
  required_version = ">= 1.10"

  # Remote state in S3 with native locking. The settings live in backend.hcl
  # (copy backend.hcl.example); RUNME.py passes it to `terraform init -backend-config`.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.95, < 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "llm-gateway"
      Environment = var.environment
    }
  }
}
