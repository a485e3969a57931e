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
  description = "EKS control plane version (the platform standard)."
  type        = string
  default     = "1.34"
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
  description = "Aurora PostgreSQL instance class."
  type        = string
  default     = "db.r7g.large"
}

variable "db_instance_count" {
  description = "Aurora instances: one writer plus readers in other zones that take over on failure (2+ for Multi-AZ)."
  type        = number
  default     = 2

  validation {
    condition     = var.db_instance_count >= 1
    error_message = "db_instance_count must be at least 1."
  }
}

variable "aurora_postgres_version" {
  description = "Aurora PostgreSQL engine version (major.minor)."
  type        = string
  default     = "16.6"
}

variable "db_backup_retention_days" {
  description = "Days of automated Aurora backups (point-in-time recovery window)."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Protect the Aurora cluster from deletion and keep a final snapshot."
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

variable "dns_zone_name" {
  description = "Public Route 53 zone of the environment, e.g. dev.llm.example.com; the API and the admin console get hostnames in it."
  type        = string
}

variable "create_dns_zone" {
  description = "Create the zone (then delegate it from its parent: output dns_zone_name_servers) instead of using an existing one of that name."
  type        = bool
  default     = false
}

variable "public_host_label" {
  description = "Hostname label of the public API in the zone."
  type        = string
  default     = "api"
}

variable "admin_host_label" {
  description = "Hostname label of the admin console in the zone."
  type        = string
  default     = "admin"
}

variable "admin_allowed_cidrs" {
  description = "IPv4 ranges allowed to reach the admin hostname (WAF allowlist); empty blocks it from everywhere."
  type        = list(string)
  default     = []
}

variable "waf_rate_limit_per_5_minutes" {
  description = "Requests per client address per 5 minutes above which WAF blocks the address."
  type        = number
  default     = 20000
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
