variable "environment" {
  description = "Environment name (dev, prod); part of every resource name."
  type        = string
}

variable "region" {
  description = "AWS region of the cluster, database and cache."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; subnets are carved from it per availability zone."
  type        = string
  default     = "10.0.0.0/16"
}

variable "availability_zones" {
  description = "Availability zones to spread subnets, nodes, database and cache over (explicit, so the set never changes under a plan)."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, dev) instead of one per zone."
  type        = bool
  default     = false
}

variable "kubernetes_version" {
  description = "EKS control plane version."
  type        = string
  default     = "1.32"
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint (empty: private endpoint only)."
  type        = list(string)
  default     = []
}

variable "system_node_instance_types" {
  description = "Instance types of the managed node group that runs Karpenter, Argo CD and other system pods."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "gateway_namespace" {
  description = "Kubernetes namespace of the gateway release."
  type        = string
  default     = "llm-gateway"
}

variable "gateway_service_account" {
  description = "Kubernetes service account of the gateway (the IRSA subject)."
  type        = string
  default     = "llm-gateway"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial RDS storage in GiB (autoscaled up to db_max_allocated_storage)."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Upper bound of RDS storage autoscaling in GiB."
  type        = number
  default     = 500
}

variable "db_multi_az" {
  description = "Run a synchronous standby in a second zone."
  type        = bool
  default     = true
}

variable "postgres_major_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "deletion_protection" {
  description = "Protect the database from deletion and keep a final snapshot."
  type        = bool
  default     = true
}

variable "cache_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.medium"
}

variable "cache_cluster_mode" {
  description = "Valkey cluster mode (shards behind a configuration endpoint). The gateway's Redis client must speak the cluster protocol for every store (limits, cache, outbox, pub/sub) when this is on."
  type        = bool
  default     = true
}

variable "cache_shards" {
  description = "Node groups (shards) of the cluster-mode Valkey replication group."
  type        = number
  default     = 2
}

variable "cache_replicas_per_shard" {
  description = "Replicas per shard (at least 1 for automatic failover)."
  type        = number
  default     = 1
}

variable "valkey_version" {
  description = "Valkey engine version."
  type        = string
  default     = "8.0"
}

variable "bedrock_regions" {
  description = "Regions the gateway calls Bedrock in (and that its inference profiles route to)."
  type        = list(string)
  default     = ["us-east-1", "us-east-2", "us-west-2"]
}

variable "bedrock_foundation_model_ids" {
  description = "Foundation models the gateway may invoke, e.g. anthropic.claude-sonnet-4-20250514-v1:0."
  type        = list(string)
  default     = ["anthropic.claude-sonnet-4-20250514-v1:0"]
}

variable "bedrock_inference_profile_ids" {
  description = "Cross-region inference profiles the gateway may invoke, e.g. us.anthropic.claude-sonnet-4-20250514-v1:0."
  type        = list(string)
  default     = ["us.anthropic.claude-sonnet-4-20250514-v1:0"]
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups this module creates."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
