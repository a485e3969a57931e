# Aurora PostgreSQL in the isolated database subnets: its own KMS key, backups,
# deletion protection (prod), log exports to CloudWatch. The master password is
# generated and rotated by RDS in Secrets Manager (never in Terraform state); that
# RDS-owned secret stays the source of truth and External Secrets reads it.
resource "aws_kms_key" "database" {
  description             = "${local.name}: Aurora PostgreSQL storage, snapshots and Performance Insights"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "database" {
  name          = "alias/${local.name}-database"
  target_key_id = aws_kms_key.database.key_id
}

resource "aws_security_group" "database" {
  #checkov:skip=CKV2_AWS_5:Attached to the Aurora cluster inside module.database (vpc_security_group_ids), which the scan does not expand.
  name        = "${local.name}-database"
  description = "Aurora PostgreSQL, reachable from the EKS nodes only"
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
  source  = "terraform-aws-modules/rds-aurora/aws"
  version = "~> 9.9"

  name           = local.name
  engine         = "aurora-postgresql"
  engine_version = var.aurora_postgres_version
  instance_class = var.db_instance_class
  # One writer, plus readers in other zones (failover targets) when db_instance_count > 1.
  instances = { for i in range(var.db_instance_count) : tostring(i + 1) => {} }

  database_name               = "llm_gateway"
  master_username             = "llm_gateway"
  port                        = 5432
  manage_master_user_password = true
  # The RDS-owned secret is encrypted with the secrets key External Secrets may use.
  master_user_secret_kms_key_id       = aws_kms_key.secrets.key_id
  iam_database_authentication_enabled = true

  vpc_id                 = module.vpc.vpc_id
  db_subnet_group_name   = module.vpc.database_subnet_group_name
  create_security_group  = false
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false

  storage_encrypted = true
  kms_key_id        = aws_kms_key.database.arn

  create_db_cluster_parameter_group      = true
  db_cluster_parameter_group_name        = "${local.name}-aurora-pg"
  db_cluster_parameter_group_family      = "aurora-postgresql${split(".", var.aurora_postgres_version)[0]}"
  db_cluster_parameter_group_description = "${local.name}: TLS only, slow statements logged"
  db_cluster_parameter_group_parameters = [
    { name = "rds.force_ssl", value = "1", apply_method = "pending-reboot" },
    { name = "log_min_duration_statement", value = "1000", apply_method = "immediate" },
  ]

  backup_retention_period      = var.db_backup_retention_days
  preferred_backup_window      = "03:00-04:00"
  preferred_maintenance_window = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot        = true
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = !var.deletion_protection
  final_snapshot_identifier    = "${local.name}-final"
  auto_minor_version_upgrade   = true

  enabled_cloudwatch_logs_exports        = ["postgresql"]
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_retention_in_days = var.log_retention_days
  cloudwatch_log_group_kms_key_id        = aws_kms_key.data.arn

  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.database.arn
  monitoring_interval             = 60
  create_monitoring_role          = true
  # The module's default role name is fixed; one per environment avoids EntityAlreadyExists.
  iam_role_name            = "${local.name}-rds-monitoring"
  iam_role_use_name_prefix = false

  tags = local.tags
}
