# Valkey (cluster mode unless cache_cluster_mode = false) for rate limits, the response cache and the usage outbox:
# TLS in transit (required), encryption at rest with the data key, an auth token
# that Terraform generates and stores in Secrets Manager (secrets.tf).
resource "aws_security_group" "cache" {
  name        = "${local.name}-cache"
  description = "Valkey, reachable from the EKS nodes only"
  vpc_id      = module.vpc.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "cache_from_nodes" {
  security_group_id            = aws_security_group.cache.id
  description                  = "Valkey from EKS nodes"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = module.eks.node_security_group_id
}

resource "aws_cloudwatch_log_group" "cache_slow_log" {
  name              = "/aws/elasticache/${local.name}/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
  tags              = local.tags
}

resource "aws_elasticache_replication_group" "cache" {
  replication_group_id = local.name
  description          = "LLM gateway: rate limits, response cache, usage outbox"

  engine               = "valkey"
  engine_version       = var.valkey_version
  node_type            = var.cache_node_type
  port                 = 6379
  parameter_group_name = "default.valkey${split(".", var.valkey_version)[0]}${var.cache_cluster_mode ? ".cluster.on" : ""}"

  cluster_mode               = var.cache_cluster_mode ? "enabled" : "disabled"
  num_node_groups            = var.cache_cluster_mode ? var.cache_shards : 1
  replicas_per_node_group    = var.cache_replicas_per_shard
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = module.vpc.elasticache_subnet_group_name
  security_group_ids = [aws_security_group.cache.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.data.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = random_password.cache_auth_token.result
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = 7
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.cache_slow_log.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = local.tags
}
