module "platform" {
  source = "../../modules/platform"

  environment                          = var.environment
  region                               = var.region
  availability_zones                   = var.availability_zones
  vpc_cidr                             = var.vpc_cidr
  single_nat_gateway                   = var.single_nat_gateway
  kubernetes_version                   = var.kubernetes_version
  cluster_endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs
  db_instance_class                    = var.db_instance_class
  db_instance_count                    = var.db_instance_count
  deletion_protection                  = var.deletion_protection
  cache_node_type                      = var.cache_node_type
  cache_shards                         = var.cache_shards
  dns_zone_name                        = var.dns_zone_name
  create_dns_zone                      = var.create_dns_zone
  admin_allowed_cidrs                  = var.admin_allowed_cidrs
  bedrock_regions                      = var.bedrock_regions
  bedrock_foundation_model_ids         = var.bedrock_foundation_model_ids
  bedrock_inference_profile_ids        = var.bedrock_inference_profile_ids
}
