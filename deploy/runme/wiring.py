"""From Terraform outputs to chart values, the root Argo CD Application and URLs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import quote

from runme.layout import GATEWAY_NAMESPACE, ROOT_APPLICATION, Layout


@dataclass(frozen=True)
class PlatformOutputs:
    """The Terraform outputs RUNME.py wires (deploy/terraform/modules/platform/outputs.tf)."""

    region: str
    cluster_name: str
    cluster_endpoint_public_access_cidrs: list[str]
    gateway_role_arn: str
    external_secrets_role_arn: str
    database_host: str
    database_port: int
    database_name: str
    database_secret_arn: str
    redis_host: str
    redis_port: int
    redis_secret_name: str
    admin_secret_name: str
    openai_secret_name: str
    oidc_secret_name: str
    ecr_repository_url: str
    karpenter_queue_name: str
    karpenter_node_role_name: str
    vpc_id: str
    vpc_cidr: str
    load_balancer_controller_role_arn: str
    public_hostname: str
    admin_hostname: str
    certificate_arn: str
    waf_web_acl_arn: str
    dns_zone_name: str
    external_dns_role_arn: str

    @classmethod
    def from_terraform_json(cls, text: str) -> PlatformOutputs:
        """Parse `terraform output -json`; name every output that is missing."""
        try:
            raw = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"terraform output -json did not print JSON: {exc}") from exc
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in raw]
        if missing:
            raise ValueError(
                "Terraform outputs missing (has `infra` run for this environment?): " + ", ".join(missing)
            )
        values: dict[str, Any] = {name: raw[name]["value"] for name in names}
        values["database_port"] = int(values["database_port"])
        values["redis_port"] = int(values["redis_port"])
        return cls(**values)

    @classmethod
    def placeholders(cls) -> PlatformOutputs:
        """Stand-ins for --dry-run, where Terraform is not asked."""
        values: dict[str, Any] = {f.name: f"<terraform output {f.name}>" for f in fields(cls)}
        values["database_port"] = 5432
        values["redis_port"] = 6379
        values["cluster_endpoint_public_access_cidrs"] = ["<terraform output cluster_endpoint_public_access_cidrs>"]
        return cls(**values)


def compose_database_url(host: str, port: int | str, user: str, password: str, name: str) -> str:
    """postgresql+asyncpg URL with user and password percent-quoted.

    Mirrors gateway.settings.compose_database_url (RUNME.py cannot import the gateway:
    it runs before anything is installed). A password may hold # ? @ ( / and the like.
    """
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    return f"postgresql+asyncpg://{credentials}@{host}:{port}/{quote(name, safe='')}"


def compose_redis_url(host: str, port: int | str, *, password: str = "", tls: bool = False, db: int = 0) -> str:
    """redis:// or rediss:// URL with the password percent-quoted."""
    scheme = "rediss" if tls else "redis"
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"{scheme}://{auth}{host}:{port}/{db}"


def image_tag(app_version: str, git_sha: str) -> str:
    """The gateway image's tag: the chart's appVersion and the commit it was built from."""
    return f"{app_version}-{git_sha[:12]}"


def gateway_values(outputs: PlatformOutputs, tag: str) -> dict[str, Any]:
    """Chart values that depend on the environment's infrastructure and the built image."""
    return {
        "image": {"repository": outputs.ecr_repository_url, "tag": tag},
        "database": {
            "host": outputs.database_host,
            "port": outputs.database_port,
            "name": outputs.database_name,
            "sslMode": "require",
        },
        "redis": {"host": outputs.redis_host, "port": outputs.redis_port, "tls": True},
        "serviceAccount": {"roleArn": outputs.gateway_role_arn},
        "networkPolicy": {"adminFromCIDRs": [outputs.vpc_cidr]},
        "externalSecret": {
            "enabled": True,
            "database": {"key": outputs.database_secret_arn},
            "redis": {"key": outputs.redis_secret_name},
            "adminKey": {"key": outputs.admin_secret_name},
            "providerKeys": {"OPENAI_API_KEY": {"key": outputs.openai_secret_name, "property": "api_key"}},
        },
        # Both environments get their ALB (Terraform made the zone, certificate and WAF).
        "gatewayApi": {
            "enabled": True,
            "publicHostname": outputs.public_hostname,
            "adminHostname": outputs.admin_hostname,
            "certificateArn": outputs.certificate_arn,
            "webAclArn": outputs.waf_web_acl_arn,
        },
        "admin": {"oidc": {"key": outputs.oidc_secret_name}},
    }


def root_application(
    layout: Layout, outputs: PlatformOutputs, *, revision: str, repo_url: str, tag: str
) -> dict[str, Any]:
    """The app-of-apps root: renders deploy/argocd/platform with this environment's values."""
    value_files = ["values.yaml"] + (["values-prod.yaml"] if layout.env == "prod" else [])
    values: dict[str, Any] = {
        "repoURL": repo_url,
        "targetRevision": revision,
        "environment": layout.env,
        "clusterName": outputs.cluster_name,
        "region": outputs.region,
        "gateway": {
            "namespace": GATEWAY_NAMESPACE,
            "valueFiles": value_files,
            "values": gateway_values(outputs, tag),
        },
        "externalSecrets": {"roleArn": outputs.external_secrets_role_arn},
        "karpenter": {
            "interruptionQueue": outputs.karpenter_queue_name,
            "nodeRoleName": outputs.karpenter_node_role_name,
        },
        "loadBalancerController": {
            "roleArn": outputs.load_balancer_controller_role_arn,
            "vpcId": outputs.vpc_id,
        },
        "externalDns": {"roleArn": outputs.external_dns_role_arn, "domain": outputs.dns_zone_name},
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": ROOT_APPLICATION,
            "namespace": "argocd",
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            "labels": {"app.kubernetes.io/part-of": "llm-gateway-platform"},
        },
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
            "source": {
                "repoURL": values["repoURL"],
                "targetRevision": revision,
                "path": "deploy/argocd/platform",
                "helm": {"valuesObject": values},
            },
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["ServerSideApply=true"],
            },
        },
    }


def to_json(document: Mapping[str, Any]) -> str:
    """Stable JSON (sorted keys), so an unchanged input writes an unchanged file."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
