output "region" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.region
}

output "cluster_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.cluster_name
}

output "cluster_endpoint" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.cluster_endpoint
}

output "gateway_role_arn" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.gateway_role_arn
}

output "external_secrets_role_arn" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.external_secrets_role_arn
}

output "database_host" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.database_host
}

output "database_port" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.database_port
}

output "database_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.database_name
}

output "database_username" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.database_username
  sensitive   = true
}

output "database_secret_arn" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.database_secret_arn
}

output "redis_host" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.redis_host
}

output "redis_port" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.redis_port
}

output "redis_secret_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.redis_secret_name
}

output "admin_secret_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.admin_secret_name
}

output "openai_secret_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.openai_secret_name
}

output "karpenter_queue_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.karpenter_queue_name
}

output "karpenter_node_role_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.karpenter_node_role_name
}

output "ecr_repository_url" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.ecr_repository_url
}

output "vpc_id" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.vpc_id
}

output "vpc_cidr" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.vpc_cidr
}

output "load_balancer_controller_role_arn" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.load_balancer_controller_role_arn
}

output "cluster_endpoint_public_access_cidrs" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.cluster_endpoint_public_access_cidrs
}

output "public_hostname" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.public_hostname
}

output "admin_hostname" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.admin_hostname
}

output "certificate_arn" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.certificate_arn
}

output "waf_web_acl_arn" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.waf_web_acl_arn
}

output "dns_zone_id" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.dns_zone_id
}

output "dns_zone_name_servers" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.dns_zone_name_servers
}

output "external_dns_role_arn" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.external_dns_role_arn
}

output "oidc_secret_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.oidc_secret_name
}

output "dns_zone_name" {
  description = "See modules/platform/outputs.tf."
  value       = module.platform.dns_zone_name
}
