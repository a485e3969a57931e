# PostgreSQL in the isolated database subnets. The master password is generated and
# rotated by RDS in Secrets Manager (never in Terraform state); External Secrets
# reads it from there.
resource "aws_security_group" "database" {
  #checkov:skip=CKV2_AWS_5:Attached to the RDS instance inside module.database (vpc_security_group_ids), which the scan does not expand.
  name        = "${local.name}-database"
  description = "PostgreSQL, reachable from the EKS nodes only"
  vpc_id      = module.vpc.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "database_from_nodes" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from EKS nodes"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = module.eks.node_security_group_id
}

module "database" {
  #checkov:skip=CKV_TF_1:Terraform Registry module pinned by version constraint; commit hashes apply to git sources only.
  source  = "terraform-aws-modules/rds/aws"
  version = "~> 6.12"

  identifier = local.name

  engine               = "postgres"
  engine_version       = var.postgres_major_version
  family               = "postgres${var.postgres_major_version}"
  major_engine_version = var.postgres_major_version
  instance_class       = var.db_instance_class

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.data.arn

  db_name  = "llm_gateway"
  username = "llm_gateway"
  port     = 5432

  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.secrets.key_id

  iam_database_authentication_enabled = true

  multi_az               = var.db_multi_az
  db_subnet_group_name   = module.vpc.database_subnet_group_name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false

  parameters = [
    { name = "rds.force_ssl", value = "1" },
    { name = "log_min_duration_statement", value = "1000" },
  ]

  backup_retention_period          = 14
  copy_tags_to_snapshot            = true
  deletion_protection              = var.deletion_protection
  skip_final_snapshot              = !var.deletion_protection
  final_snapshot_identifier_prefix = "${local.name}-final"
  auto_minor_version_upgrade       = true

  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.data.arn
  monitoring_interval             = 60
  create_monitoring_role          = true
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]

  tags = local.tags
}
