"""The prompt registry in the admin API -- the same operations as `llm-gateway prompts`.

    GET  /admin/prompts?tenant=acme                       list (`?shared=true`: the shared ones)
    POST /admin/prompts                                   create: {id, tenant | shared: true,
                                                          description?, content} -> version 1
    GET  /admin/prompts/{id}?tenant=acme                  the prompt, its versions and labels
    POST /admin/prompts/{id}/versions?tenant=acme         add a version: {content}
    GET  /admin/prompts/{id}/versions/{v}?tenant=acme     one version's content (a number, a
                                                          label or `latest`)
    PUT  /admin/prompts/{id}/labels/{label}?tenant=acme   point a label at {version}
    GET  /admin/prompts/{id}/diff?tenant=acme&from=1&to=2 a unified diff of two versions

Every route names the owner: `tenant=<name>`, or `shared=true` for the shared prompts.
Reads need the viewer role, writes the operator role; every write records an audit row
naming its actor (`prompt.create`, `prompt.version`, `prompt.label`, target
`prompt:<tenant>/<id>`) and reaches every replica at once (label moves included).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from gateway.api.admin import Operator, ViewerRuntime, _Body, actor_of
from gateway.api.deps import RuntimeDep
from gateway.api.errors import request_id_of
from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.prompts.service import PromptService
from gateway.runtime import Runtime

router = APIRouter(prefix="/admin/prompts")


class PromptCreate(_Body):
    id: str
    tenant: str | None = None
    shared: bool = False
    description: str | None = None
    content: dict[str, Any]


class VersionCreate(_Body):
    content: dict[str, Any]


class LabelSet(_Body):
    version: int


def _service(runtime: Runtime) -> PromptService:
    if runtime.prompts is None:
        raise ServiceUnavailable("The prompt registry is not available on this process.")
    return runtime.prompts


def _owner(tenant: str | None, shared: bool) -> str | None:
    """The tenant's name, or None for the shared prompts; exactly one must be asked for."""
    if (tenant is None) == (not shared):
        raise InvalidRequest("Name the prompt's owner: `tenant=<name>`, or `shared=true` for a shared prompt.",
                             param="tenant")
    return tenant


@router.get("")
async def list_prompts(runtime: ViewerRuntime, tenant: str | None = None, shared: bool = False) -> dict[str, Any]:
    return {"data": await _service(runtime).list_prompts(tenant=_owner(tenant, shared))}


@router.post("", status_code=201)
async def create_prompt(spec: PromptCreate, request: Request, runtime: RuntimeDep,
                        caller: Operator) -> dict[str, Any]:
    return await _service(runtime).create(spec.id, spec.content, tenant=_owner(spec.tenant, spec.shared),
                                          description=spec.description, actor=actor_of(caller),
                                          request_id=request_id_of(request))


@router.get("/{prompt_id}")
async def show_prompt(prompt_id: str, runtime: ViewerRuntime, tenant: str | None = None,
                      shared: bool = False) -> dict[str, Any]:
    return await _service(runtime).show(prompt_id, tenant=_owner(tenant, shared))


@router.post("/{prompt_id}/versions", status_code=201)
async def add_version(prompt_id: str, spec: VersionCreate, request: Request, runtime: RuntimeDep,
                      caller: Operator, tenant: str | None = None, shared: bool = False) -> dict[str, Any]:
    return await _service(runtime).add_version(prompt_id, spec.content, tenant=_owner(tenant, shared),
                                               actor=actor_of(caller), request_id=request_id_of(request))


@router.get("/{prompt_id}/versions/{selector}")
async def show_version(prompt_id: str, selector: str, runtime: ViewerRuntime, tenant: str | None = None,
                       shared: bool = False) -> dict[str, Any]:
    return await _service(runtime).get_version(prompt_id, selector, tenant=_owner(tenant, shared))


@router.put("/{prompt_id}/labels/{label}")
async def set_label(prompt_id: str, label: str, spec: LabelSet, request: Request, runtime: RuntimeDep,
                    caller: Operator, tenant: str | None = None, shared: bool = False) -> dict[str, Any]:
    return await _service(runtime).set_label(prompt_id, label, spec.version, tenant=_owner(tenant, shared),
                                             actor=actor_of(caller), request_id=request_id_of(request))


@router.get("/{prompt_id}/diff")
async def diff(prompt_id: str, runtime: ViewerRuntime, tenant: str | None = None, shared: bool = False,
               old: str = Query(alias="from"), new: str = Query(alias="to")) -> dict[str, Any]:
    return await _service(runtime).diff(prompt_id, old, new, tenant=_owner(tenant, shared))
