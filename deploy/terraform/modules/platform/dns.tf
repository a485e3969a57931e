# Public DNS and TLS: the Route 53 zone of the environment (created here, or an existing
# one looked up by name), a wildcard ACM certificate validated through it, and the two
# hostnames the gateway answers on - the public API and the admin console. ExternalDNS
# (Argo CD) writes their alias records once the ALB exists.
locals {
  zone_id         = var.create_dns_zone ? aws_route53_zone.this[0].zone_id : data.aws_route53_zone.existing[0].zone_id
  zone_arn        = var.create_dns_zone ? aws_route53_zone.this[0].arn : data.aws_route53_zone.existing[0].arn
  public_hostname = "${var.public_host_label}.${var.dns_zone_name}"
  admin_hostname  = "${var.admin_host_label}.${var.dns_zone_name}"
}

resource "aws_route53_zone" "this" {
  #checkov:skip=CKV2_AWS_38:DNSSEC signing needs a KMS key in us-east-1 and a DS record at the parent; the parent zone is owned outside this stack.
  #checkov:skip=CKV2_AWS_39:Query logging needs a log group in us-east-1 whatever the region; left to the account's central logging.
  count = var.create_dns_zone ? 1 : 0

  name    = var.dns_zone_name
  comment = "LLM gateway (${var.environment}); delegate it from the parent zone (see the output dns_zone_name_servers)"
  tags    = local.tags
}

data "aws_route53_zone" "existing" {
  count = var.create_dns_zone ? 0 : 1

  name         = var.dns_zone_name
  private_zone = false
}

resource "aws_acm_certificate" "wildcard" {
  #checkov:skip=CKV2_AWS_71:A wildcard is what the platform asks for: one certificate for the API, the admin console and later hosts of the zone.
  domain_name               = "*.${var.dns_zone_name}"
  subject_alternative_names = [var.dns_zone_name]
  validation_method         = "DNS"
  key_algorithm             = "EC_prime256v1"

  lifecycle {
    create_before_destroy = true
  }

  tags = local.tags
}

# The wildcard and the apex share one validation record: one resource per distinct record.
resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for option in aws_acm_certificate.wildcard.domain_validation_options : option.resource_record_name => option...
  }

  zone_id         = local.zone_id
  name            = each.value[0].resource_record_name
  type            = each.value[0].resource_record_type
  records         = [each.value[0].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

# Waits until ACM has issued the certificate: the ALB listener needs an issued one.
# A new zone must be delegated from its parent first, or this times out.
resource "aws_acm_certificate_validation" "wildcard" {
  certificate_arn         = aws_acm_certificate.wildcard.arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]

  timeouts {
    create = "45m"
  }
}

# ExternalDNS (installed by Argo CD) may change records in this zone only.
module "external_dns_irsa" {
  #checkov:skip=CKV_TF_1:Terraform Registry module pinned by version constraint; commit hashes apply to git sources only.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.55"

  role_name                     = "${local.name}-external-dns"
  attach_external_dns_policy    = true
  external_dns_hosted_zone_arns = [local.zone_arn]

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:external-dns"]
    }
  }

  tags = local.tags
}
