# The platform of one environment: network, EKS with Karpenter, PostgreSQL,
# Valkey, the gateway's IAM role and the secrets External Secrets syncs.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name       = "llm-gateway-${var.environment}"
  azs        = var.availability_zones
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  tags = merge(var.tags, {
    Project     = "llm-gateway"
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}
