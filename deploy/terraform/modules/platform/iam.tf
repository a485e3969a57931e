# IRSA roles: the gateway (Bedrock on the configured models only) and the External
# Secrets controller (read the gateway's secrets only).

locals {
  oidc_subject_key = "${module.eks.oidc_provider}:sub"
  oidc_audience    = "${module.eks.oidc_provider}:aud"

  bedrock_model_arns = concat(
    [for pair in setproduct(var.bedrock_regions, var.bedrock_foundation_model_ids) :
    "arn:${local.partition}:bedrock:${pair[0]}::foundation-model/${pair[1]}"],
    [for pair in setproduct(var.bedrock_regions, var.bedrock_inference_profile_ids) :
    "arn:${local.partition}:bedrock:${pair[0]}:${local.account_id}:inference-profile/${pair[1]}"],
  )

  external_secret_arns = [
    aws_secretsmanager_secret.cache.arn,
    aws_secretsmanager_secret.admin.arn,
    aws_secretsmanager_secret.openai.arn,
    aws_secretsmanager_secret.oidc.arn,
    module.database.cluster_master_user_secret[0].secret_arn,
  ]
}

data "aws_iam_policy_document" "gateway_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [module.eks.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = local.oidc_subject_key
      values   = ["system:serviceaccount:${var.gateway_namespace}:${var.gateway_service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = local.oidc_audience
      values   = ["sts.amazonaws.com"]
    }
  }
}

# Converse is authorised by bedrock:InvokeModel and ConverseStream by
# bedrock:InvokeModelWithResponseStream: Bedrock has no separate IAM actions for them.
data "aws_iam_policy_document" "gateway_bedrock" {
  statement {
    sid = "InvokeConfiguredModels"
    actions = [
      "bedrock:InvokeModel",
      "bedrock:InvokeModelWithResponseStream",
    ]
    resources = local.bedrock_model_arns
  }
}

resource "aws_iam_role" "gateway" {
  name               = "${local.name}-gateway"
  description        = "LLM gateway pods (IRSA): Bedrock Converse and ConverseStream on the configured models"
  assume_role_policy = data.aws_iam_policy_document.gateway_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "gateway_bedrock" {
  name   = "bedrock-invoke"
  role   = aws_iam_role.gateway.id
  policy = data.aws_iam_policy_document.gateway_bedrock.json
}

data "aws_iam_policy_document" "external_secrets_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [module.eks.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = local.oidc_subject_key
      values   = ["system:serviceaccount:external-secrets:external-secrets"]
    }
    condition {
      test     = "StringEquals"
      variable = local.oidc_audience
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "external_secrets_read" {
  statement {
    sid       = "ReadGatewaySecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = local.external_secret_arns
  }
  statement {
    sid       = "DecryptGatewaySecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]
  }
}

resource "aws_iam_role" "external_secrets" {
  name               = "${local.name}-external-secrets"
  description        = "External Secrets controller (IRSA): read the LLM gateway's secrets"
  assume_role_policy = data.aws_iam_policy_document.external_secrets_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "external_secrets_read" {
  name   = "read-gateway-secrets"
  role   = aws_iam_role.external_secrets.id
  policy = data.aws_iam_policy_document.external_secrets_read.json
}
