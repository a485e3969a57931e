variable "environment" {
  description = "Environment name."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "VPC CIDR."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones."
  type        = bool
}

variable "kubernetes_version" {
  description = "EKS version."
  type        = string
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint (empty: private only)."
  type        = list(string)
}

variable "db_instance_class" {
  description = "Aurora PostgreSQL instance class."
  type        = string
}

variable "db_instance_count" {
  description = "Aurora instances (writer plus readers)."
  type        = number
}

variable "deletion_protection" {
  description = "Protect the database from deletion."
  type        = bool
}

variable "cache_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "cache_shards" {
  description = "Valkey shards."
  type        = number
}

variable "bedrock_regions" {
  description = "Regions the gateway calls Bedrock in."
  type        = list(string)
}

variable "bedrock_foundation_model_ids" {
  description = "Foundation models the gateway may invoke."
  type        = list(string)
}

variable "bedrock_inference_profile_ids" {
  description = "Inference profiles the gateway may invoke."
  type        = list(string)
}

variable "dns_zone_name" {
  description = "Public Route 53 zone of the environment."
  type        = string
}

variable "create_dns_zone" {
  description = "Create the zone instead of using an existing one."
  type        = bool
}

variable "admin_allowed_cidrs" {
  description = "IPv4 ranges allowed to reach the admin hostname."
  type        = list(string)
}
