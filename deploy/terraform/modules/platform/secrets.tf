# Secrets Manager entries the gateway's ExternalSecret reads. The database password
# is RDS-managed (rds.tf); the cache auth token and the admin key are generated here
# (alphanumeric, so they need no quoting in a URL) and live in encrypted remote state.
resource "random_password" "cache_auth_token" {
  length  = 64
  special = false
}

resource "random_password" "admin_key" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "cache" {
  #checkov:skip=CKV2_AWS_57:The Valkey token rotates through ElastiCache's ROTATE procedure (auth_token_update_strategy), not a Lambda.
  name                    = "llm-gateway/${var.environment}/redis"
  description             = "Valkey auth token of the LLM gateway (${var.environment})"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "cache" {
  secret_id     = aws_secretsmanager_secret.cache.id
  secret_string = jsonencode({ auth_token = random_password.cache_auth_token.result })
}

resource "aws_secretsmanager_secret" "admin" {
  #checkov:skip=CKV2_AWS_57:The admin key is rotated by replacing random_password.admin_key (terraform apply -replace), then a rollout.
  name                    = "llm-gateway/${var.environment}/admin"
  description             = "Admin API key of the LLM gateway (${var.environment})"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "admin" {
  secret_id     = aws_secretsmanager_secret.admin.id
  secret_string = jsonencode({ admin_key = "gw-admin-${random_password.admin_key.result}" })
}

# Provider credentials are put in by an operator, never by Terraform:
#   aws secretsmanager put-secret-value --secret-id llm-gateway/<env>/openai \
#     --secret-string '{"api_key":"sk-..."}'
resource "aws_secretsmanager_secret" "openai" {
  #checkov:skip=CKV2_AWS_57:A third-party API key; it is rotated in the provider's console and put here by an operator.
  name                    = "llm-gateway/${var.environment}/openai"
  description             = "OpenAI API key used by the LLM gateway (${var.environment})"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

# Single sign-on of the admin console, put in by an operator (RUNME.py `secrets` checks it):
#   aws secretsmanager put-secret-value --secret-id llm-gateway/<env>/oidc --secret-string \
#     '{"issuer":"https://...","client_id":"...","client_secret":"...","roles_claim":"roles"}'
resource "aws_secretsmanager_secret" "oidc" {
  #checkov:skip=CKV2_AWS_57:An OIDC client secret issued by the identity provider; rotated there and put here by an operator.
  name                    = "llm-gateway/${var.environment}/oidc"
  description             = "OIDC client of the LLM gateway admin console (${var.environment})"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}
