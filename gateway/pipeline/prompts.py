"""Stage 1b: a stored prompt the request names (`prompt` on /v1/responses, the
`x-gateway-prompt` header on chat completions) rendered into the request.

It runs after auth, since prompts belong to tenants, and before everything that reads the
messages: quota estimates the rendered tokens, the allowlist checks the model the prompt may
supply, PII guardrails scan the rendered text like any other, and the cache keys on it. The
prompt's messages come first, then the request's own; the request's model and parameters
win over the prompt's defaults (a named model is never swapped); the prompt's response
schema becomes `response_format` (json_schema) unless the request has one, and its
validation policy goes into ctx.validation_policy. A request without a prompt costs one
attribute test here.
"""

from __future__ import annotations

from gateway.errors import InvalidRequest
from gateway.prompts.render import Params, apply, render
from gateway.prompts.resolver import PromptResolver
from gateway.request import RequestContext
from providers.base import ChatRequest


class RenderPrompt:
    def __init__(self, resolver: PromptResolver) -> None:
        self.resolver = resolver

    async def __call__(self, ctx: RequestContext) -> None:
        ref = ctx.prompt_ref
        if ref is None:
            return
        assert ctx.principal is not None
        resolved = await self.resolver.resolve(ctx.principal.tenant.id, ref.name, ref.version, ref.param)
        rendered = render(resolved.content, ref.variables, Params(variables=ref.variables_param))
        body = apply(ctx.request.body, rendered, resolved.recorded_id)
        if not body.get("model"):
            raise InvalidRequest(f"`model` is required: the request names none and prompt `{ref.name}` version "
                                 f"{resolved.version} has no default model.", param="model")
        ctx.request = ChatRequest(body)
        ctx.prompt_id, ctx.prompt_version = resolved.recorded_id, resolved.version
        if rendered.validation is not None:
            ctx.validation_policy = rendered.validation
