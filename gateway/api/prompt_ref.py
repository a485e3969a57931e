"""How a request names a stored prompt (rendered by the pipeline's prompts stage, after auth).

    /v1/responses          `prompt: {id, version?, variables?}` -- OpenAI's shape. `version`
                           is a version number ("3") or a label ("production"); left out, the
                           newest version. `shared/<id>` names a shared prompt.
    /v1/chat/completions   the header `x-gateway-prompt: <id>[@<version|label>]`, variables in
                           the body field `prompt_variables` (an object; the OpenAI SDK sends it
                           with `extra_body`). It is taken out of the body before any upstream
                           sees it.
Other APIs refuse the header (400) rather than ignore it.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers

from gateway.api.body import check_chat_body
from gateway.errors import InvalidRequest
from gateway.request import ClientApi, PromptRef
from providers.base import ChatRequest

HEADER = "x-gateway-prompt"
VARIABLES_FIELD = "prompt_variables"
_MAX_NAME = 107          # `shared/` and a 100-character id


def _name(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_NAME or "\x00" in value:
        raise InvalidRequest("The prompt id must be a non-empty string (e.g. `support-triage`, or "
                             "`shared/support-triage` for a shared prompt).", param=param)
    return value


def _variables(value: Any, param: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("Prompt variables must be an object of name: value.", param=param)
    return value


def from_responses(body: dict[str, Any]) -> PromptRef | None:
    value = body.get("prompt")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequest("`prompt` must be an object: {id, version, variables}.", param="prompt")
    version = value.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if version is not None and (not isinstance(version, str) or not version):
        raise InvalidRequest("`prompt.version` must be a version number or a label, as a string.",
                             param="prompt.version")
    return PromptRef(name=_name(value.get("id"), "prompt.id"), version=version,
                     variables=_variables(value.get("variables"), "prompt.variables"))


def from_headers(headers: Headers, body: dict[str, Any], api: ClientApi) -> PromptRef | None:
    """The chat completions header's prompt (None without the header); pops `prompt_variables`."""
    header = headers.get(HEADER)
    if header is None:
        return None
    if api is not ClientApi.CHAT:
        where = "the `prompt` field" if api is ClientApi.RESPONSES else "/v1/chat/completions or /v1/responses"
        raise InvalidRequest(f"`{HEADER}` is not supported on this API; name a stored prompt with {where}.",
                             param=HEADER)
    name, at, version = header.strip().partition("@")
    if at and not version:
        raise InvalidRequest(f"`{HEADER}` is <id>[@<version or label>]; nothing follows the '@'.", param=HEADER)
    variables = _variables(body.pop(VARIABLES_FIELD, None), VARIABLES_FIELD)
    return PromptRef(name=_name(name, HEADER), version=version or None, variables=variables, param=HEADER,
                     variables_param=VARIABLES_FIELD)


def prompted_chat(body: dict[str, Any]) -> ChatRequest:
    """A chat body naming a prompt: `model` and `messages` may be left to the prompt."""
    check_chat_body(body, prompted=True)
    return ChatRequest(body)
