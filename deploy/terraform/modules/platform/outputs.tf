# RUNME.py reads these (terraform output -json) to wire the chart and Argo CD.

output "region" {
  description = "AWS region."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_endpoint_public_access_cidrs" {
  description = "Ranges that may reach the EKS API from outside the VPC (empty: private endpoint only)."
  value       = var.cluster_endpoint_public_access_cidrs
}

output "gateway_role_arn" {
  description = "IRSA role of the gateway service account."
  value       = aws_iam_role.gateway.arn
}

output "external_secrets_role_arn" {
  description = "IRSA role of the External Secrets controller."
  value       = aws_iam_role.external_secrets.arn
}

output "database_host" {
  description = "Aurora PostgreSQL writer endpoint."
  value       = module.database.cluster_endpoint
}

output "database_port" {
  description = "PostgreSQL port."
  value       = module.database.cluster_port
}

output "database_name" {
  description = "PostgreSQL database of the gateway."
  value       = module.database.cluster_database_name
}

output "database_username" {
  description = "PostgreSQL master user."
  value       = module.database.cluster_master_username
  sensitive   = true
}

output "database_secret_arn" {
  description = "RDS-managed secret holding the database username and password (the source of truth)."
  value       = module.database.cluster_master_user_secret[0].secret_arn
}

output "redis_host" {
  description = "Valkey endpoint: the configuration endpoint in cluster mode, else the primary."
  value = (var.cache_cluster_mode
    ? aws_elasticache_replication_group.cache.configuration_endpoint_address
  : aws_elasticache_replication_group.cache.primary_endpoint_address)
}

output "redis_port" {
  description = "Valkey port."
  value       = aws_elasticache_replication_group.cache.port
}

output "redis_secret_name" {
  description = "Secrets Manager entry with the Valkey auth token (property auth_token)."
  value       = aws_secretsmanager_secret.cache.name
}

output "admin_secret_name" {
  description = "Secrets Manager entry with the gateway admin key (property admin_key)."
  value       = aws_secretsmanager_secret.admin.name
}

output "openai_secret_name" {
  description = "Secrets Manager entry for the OpenAI API key (property api_key)."
  value       = aws_secretsmanager_secret.openai.name
}

output "oidc_secret_name" {
  description = "Secrets Manager entry for the admin console's OIDC client (issuer, client_id, client_secret, roles_claim)."
  value       = aws_secretsmanager_secret.oidc.name
}

output "karpenter_queue_name" {
  description = "SQS queue of Karpenter's interruption handling."
  value       = module.karpenter.queue_name
}

output "karpenter_node_role_name" {
  description = "IAM role of Karpenter-launched nodes."
  value       = module.karpenter.node_iam_role_name
}

output "ecr_repository_url" {
  description = "ECR repository of the gateway image."
  value       = aws_ecr_repository.gateway.repository_url
}

output "vpc_id" {
  description = "VPC of the cluster (the load balancer controller needs it)."
  value       = module.vpc.vpc_id
}

output "vpc_cidr" {
  description = "CIDR of the VPC (internal load balancers reach the admin port from it)."
  value       = module.vpc.vpc_cidr_block
}

output "load_balancer_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller."
  value       = module.load_balancer_controller_irsa.iam_role_arn
}

output "public_hostname" {
  description = "Hostname of the public API (HTTPS on the gateway's ALB)."
  value       = local.public_hostname
}

output "admin_hostname" {
  description = "Hostname of the admin console (HTTPS on the same ALB; WAF allowlist)."
  value       = local.admin_hostname
}

output "certificate_arn" {
  description = "Issued wildcard ACM certificate of the zone (the ALB's HTTPS listener)."
  value       = aws_acm_certificate_validation.wildcard.certificate_arn
}

output "waf_web_acl_arn" {
  description = "WAF web ACL the gateway's ALB is associated with."
  value       = aws_wafv2_web_acl.gateway.arn
}

output "dns_zone_name" {
  description = "Route 53 zone of the environment (ExternalDNS domain filter)."
  value       = var.dns_zone_name
}

output "dns_zone_id" {
  description = "Route 53 zone ExternalDNS writes the hostnames into."
  value       = local.zone_id
}

output "dns_zone_name_servers" {
  description = "Name servers to delegate a created zone to (empty for an existing zone)."
  value       = var.create_dns_zone ? aws_route53_zone.this[0].name_servers : []
}

output "external_dns_role_arn" {
  description = "IRSA role of ExternalDNS (records in the zone only)."
  value       = module.external_dns_irsa.iam_role_arn
}
