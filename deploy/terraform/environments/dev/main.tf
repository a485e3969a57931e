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
  db_multi_az                          = var.db_multi_az
  deletion_protection                  = var.deletion_protection
  cache_node_type                      = var.cache_node_type
  cache_shards                         = var.cache_shards
  bedrock_regions                      = var.bedrock_regions
  bedrock_foundation_model_ids         = var.bedrock_foundation_model_ids
  bedrock_inference_profile_ids        = var.bedrock_inference_profile_ids
}
