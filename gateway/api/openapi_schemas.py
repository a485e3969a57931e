"""The JSON Schemas of the gateway's OpenAPI document (gateway/api/openapi.py): the request
and response bodies of the OpenAI-compatible routes, the Anthropic Messages route and the
admin API, written by hand to match what the routes accept (gateway/api/body.py and the
translators) and answer. Extra fields are allowed where the routes pass them through."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: JSON, required: list[str] | None = None, *, extra: bool = True) -> JSON:
    schema: JSON = {"type": "object", "properties": properties, "additionalProperties": extra}
    if required:
        schema["required"] = required
    return schema


def array(items: JSON, *, min_items: int = 0) -> JSON:
    schema: JSON = {"type": "array", "items": items}
    if min_items:
        schema["minItems"] = min_items
    return schema


STRING: JSON = {"type": "string"}
NONEMPTY: JSON = {"type": "string", "minLength": 1}
INTEGER: JSON = {"type": "integer"}
POSITIVE: JSON = {"type": "integer", "minimum": 1}
NUMBER: JSON = {"type": "number"}
BOOLEAN: JSON = {"type": "boolean"}
ANY_OBJECT: JSON = {"type": "object", "additionalProperties": True}
NULLABLE_STRING: JSON = {"type": "string", "nullable": True}
ROLES = ["system", "developer", "user", "assistant", "tool", "function"]
LIMITS: JSON = {"type": "object", "description": "rpm, rpd, tpm, tpd, daily_tokens, monthly_budget_usd, "
                "concurrency, ...; null means unlimited", "additionalProperties": {"type": "number", "nullable": True}}

_CONTENT_PART = obj({"type": STRING, "text": STRING, "image_url": ANY_OBJECT})
_TOOL_CALL = obj({"id": STRING, "type": STRING,
                  "function": obj({"name": STRING, "arguments": STRING})})
_CHAT_MESSAGE = obj({
    "role": {"type": "string", "enum": ROLES},
    "content": {"oneOf": [STRING, array(_CONTENT_PART)], "nullable": True},
    "name": STRING,
    "tool_calls": array(_TOOL_CALL),
    "tool_call_id": STRING,
}, ["role"])
_SAMPLING: JSON = {
    "temperature": NUMBER, "top_p": NUMBER, "presence_penalty": NUMBER, "frequency_penalty": NUMBER,
    "seed": INTEGER, "user": STRING, "metadata": ANY_OBJECT,
    "stop": {"oneOf": [STRING, array(STRING)]},
}

OPENAI_ERROR = obj({"error": obj({
    "message": STRING, "type": STRING, "param": NULLABLE_STRING, "code": NULLABLE_STRING,
}, ["message", "type", "param", "code"])}, ["error"])
ANTHROPIC_ERROR = obj({"type": {"type": "string", "enum": ["error"]},
                       "error": obj({"type": STRING, "message": STRING}, ["type", "message"])}, ["type", "error"])
USAGE = obj({"prompt_tokens": INTEGER, "completion_tokens": INTEGER, "total_tokens": INTEGER})

CHAT_REQUEST = obj({
    "model": NONEMPTY,
    "messages": array(_CHAT_MESSAGE, min_items=1),
    "stream": BOOLEAN,
    "stream_options": obj({"include_usage": BOOLEAN}),
    "max_tokens": POSITIVE, "max_completion_tokens": POSITIVE, "n": POSITIVE,
    "tools": array(ANY_OBJECT), "tool_choice": {"oneOf": [STRING, ANY_OBJECT]},
    "response_format": ANY_OBJECT,
    **_SAMPLING,
}, ["model", "messages"])
CHAT_COMPLETION = obj({
    "id": STRING, "object": {"type": "string", "enum": ["chat.completion"]}, "created": INTEGER,
    "model": STRING, "usage": USAGE,
    "choices": array(obj({"index": INTEGER, "finish_reason": NULLABLE_STRING,
                          "message": obj({"role": STRING, "content": NULLABLE_STRING,
                                          "refusal": NULLABLE_STRING, "tool_calls": array(_TOOL_CALL)})})),
}, ["id", "object", "choices", "model"])

EMBEDDINGS_REQUEST = obj({
    "model": NONEMPTY,
    "input": {"oneOf": [NONEMPTY, array(NONEMPTY, min_items=1), array(INTEGER, min_items=1),
                        array(array(INTEGER, min_items=1), min_items=1)]},
    "dimensions": INTEGER, "encoding_format": STRING, "user": STRING,
}, ["model", "input"])
EMBEDDINGS = obj({"object": STRING, "model": STRING, "usage": USAGE,
                  "data": array(obj({"object": STRING, "index": INTEGER,
                                     "embedding": {"oneOf": [array(NUMBER), STRING]}}))}, ["data"])

MODEL = obj({"id": STRING, "object": {"type": "string", "enum": ["model"]}, "created": INTEGER,
             "owned_by": STRING}, ["id", "object"])
MODEL_LIST = obj({"object": {"type": "string", "enum": ["list"]}, "data": array(ref("Model"))}, ["object", "data"])

RESPONSES_REQUEST = obj({
    "model": NONEMPTY,
    "input": {"oneOf": [STRING, array(ANY_OBJECT)]},
    "instructions": STRING, "stream": BOOLEAN, "store": BOOLEAN, "previous_response_id": STRING,
    "max_output_tokens": POSITIVE, "tools": array(ANY_OBJECT), "text": ANY_OBJECT,
    "temperature": NUMBER, "top_p": NUMBER, "user": STRING, "metadata": ANY_OBJECT,
    "prompt": {**obj({"id": NONEMPTY, "version": STRING, "variables": ANY_OBJECT}, ["id"]),
               "description": "a stored prompt (version: a number or a label); with it, model and input "
                              "may be left out"},
})
# Model and input, unless a stored prompt supplies them.
RESPONSES_REQUEST["anyOf"] = [{"required": ["model", "input"]}, {"required": ["prompt"]}]
RESPONSE = obj({"id": STRING, "object": {"type": "string", "enum": ["response"]}, "status": STRING,
                "model": STRING, "output": array(ANY_OBJECT), "usage": ANY_OBJECT}, ["id", "object"])
RESPONSE_DELETED = obj({"id": STRING, "object": STRING, "deleted": BOOLEAN}, ["id", "deleted"])

_ANTHROPIC_BLOCK = obj({"type": STRING, "text": STRING}, ["type"])
MESSAGES_REQUEST = obj({
    "model": NONEMPTY,
    "max_tokens": POSITIVE,
    "messages": array(obj({"role": {"type": "string", "enum": ["user", "assistant"]},
                           "content": {"oneOf": [STRING, array(_ANTHROPIC_BLOCK)]}}, ["role", "content"]),
                      min_items=1),
    "system": {"oneOf": [STRING, array(_ANTHROPIC_BLOCK)]},
    "stream": BOOLEAN, "stop_sequences": array(STRING), "temperature": NUMBER, "top_p": NUMBER,
    "top_k": INTEGER, "tools": array(ANY_OBJECT), "tool_choice": ANY_OBJECT, "metadata": ANY_OBJECT,
}, ["model", "max_tokens", "messages"])
COUNT_TOKENS_REQUEST = {**MESSAGES_REQUEST, "required": ["model", "messages"]}
MESSAGE = obj({"id": STRING, "type": {"type": "string", "enum": ["message"]}, "role": STRING,
               "model": STRING, "content": array(ANY_OBJECT), "stop_reason": NULLABLE_STRING,
               "usage": obj({"input_tokens": INTEGER, "output_tokens": INTEGER})}, ["id", "type", "content"])
TOKEN_COUNT = obj({"input_tokens": INTEGER}, ["input_tokens"])

COMPLETIONS_REQUEST = obj({
    "model": NONEMPTY,
    "prompt": {"oneOf": [STRING, array(STRING, min_items=1)]},
    "max_tokens": POSITIVE, "n": POSITIVE, "stream": BOOLEAN, "stream_options": obj({"include_usage": BOOLEAN}),
    "echo": BOOLEAN, "suffix": STRING, "best_of": POSITIVE, "logprobs": INTEGER,
    **_SAMPLING,
}, ["model", "prompt"])
COMPLETION = obj({"id": STRING, "object": {"type": "string", "enum": ["text_completion"]}, "model": STRING,
                  "choices": array(obj({"index": INTEGER, "text": STRING, "finish_reason": NULLABLE_STRING})),
                  "usage": USAGE}, ["id", "object", "choices"])

TENANT_CREATE = obj({"name": NONEMPTY, "tier": STRING, "models": array(STRING), "limits": LIMITS,
                     "pii_mode": NULLABLE_STRING, "cache_mode": NULLABLE_STRING,
                     "validation_mode": NULLABLE_STRING}, ["name"], extra=False)
TENANT_UPDATE = obj({"tier": NULLABLE_STRING, "models": {**array(STRING), "nullable": True},
                     "limits": {**LIMITS, "nullable": True}, "clear_limits": array(STRING),
                     "pii_mode": NULLABLE_STRING, "cache_mode": NULLABLE_STRING,
                     "validation_mode": NULLABLE_STRING,
                     "disabled": {"type": "boolean", "nullable": True}}, extra=False)
_DURATION: JSON = {"oneOf": [STRING, INTEGER], "description": "90s, 15m, 1h, 30d (a unit is required)"}
KEY_CREATE = obj({"label": NULLABLE_STRING, "expires_in": {**_DURATION, "nullable": True},
                  "limits": {**LIMITS, "nullable": True}}, extra=False)
KEY_ROTATE = obj({"grace": _DURATION, "expires_in": {**_DURATION, "nullable": True}}, extra=False)
TENANT = obj({"name": STRING, "tier": STRING, "models": array(STRING), "disabled": BOOLEAN}, ["name"])
KEY = obj({"id": STRING, "prefix": STRING, "tenant": STRING, "label": NULLABLE_STRING}, ["id"])
ISSUED_KEY = obj({"id": STRING, "key": STRING, "prefix": STRING, "tenant": STRING,
                  "expires_at": NULLABLE_STRING, "replaces": ANY_OBJECT}, ["id", "key", "tenant"])
PROMPT_CREATE = obj({"id": NONEMPTY, "tenant": NULLABLE_STRING, "shared": BOOLEAN,
                     "description": NULLABLE_STRING, "content": ANY_OBJECT}, ["id", "content"], extra=False)
PROMPT_VERSION_CREATE = obj({"content": ANY_OBJECT}, ["content"], extra=False)
PROMPT_LABEL_SET = obj({"version": POSITIVE}, ["version"], extra=False)
PROMPT = obj({"id": STRING, "owner": STRING, "latest_version": {"type": "integer", "nullable": True},
              "labels": ANY_OBJECT, "versions": array(ANY_OBJECT)}, ["id"])
PROMPT_VERSION = obj({"id": STRING, "owner": STRING, "version": INTEGER, "content": ANY_OBJECT}, ["id", "version"])
PROMPT_LABEL = obj({"prompt": STRING, "label": STRING, "version": INTEGER,
                    "previous": {"type": "integer", "nullable": True}}, ["prompt", "label", "version"])
PROMPT_DIFF = obj({"id": STRING, "from": INTEGER, "to": INTEGER, "diff": STRING}, ["diff"])
DEPLOYMENT = obj({"model": STRING, "provider": STRING, "upstream": STRING, "state": STRING,
                  "retry_after_seconds": NUMBER, "window_seconds": NUMBER, "requests": INTEGER,
                  "failures": INTEGER, "error_rate": NUMBER,
                  "latency_ewma_ms": {"type": "number", "nullable": True}})


def listing(item: JSON) -> JSON:
    return obj({"data": array(item)}, ["data"])


SCHEMAS: JSON = {
    "OpenAIError": OPENAI_ERROR, "AnthropicError": ANTHROPIC_ERROR,
    "ChatCompletionRequest": CHAT_REQUEST, "ChatCompletion": CHAT_COMPLETION,
    "EmbeddingsRequest": EMBEDDINGS_REQUEST, "Embeddings": EMBEDDINGS,
    "Model": MODEL, "ModelList": MODEL_LIST,
    "ResponsesRequest": RESPONSES_REQUEST, "Response": RESPONSE, "ResponseDeleted": RESPONSE_DELETED,
    "MessagesRequest": MESSAGES_REQUEST, "CountTokensRequest": COUNT_TOKENS_REQUEST, "Message": MESSAGE,
    "TokenCount": TOKEN_COUNT,
    "CompletionsRequest": COMPLETIONS_REQUEST, "Completion": COMPLETION,
    "TenantCreate": TENANT_CREATE, "TenantUpdate": TENANT_UPDATE, "KeyCreate": KEY_CREATE,
    "KeyRotate": KEY_ROTATE, "Tenant": TENANT, "TenantList": listing(ref("Tenant")), "Key": KEY,
    "KeyList": listing(ref("Key")), "IssuedKey": ISSUED_KEY, "AuditList": listing(ANY_OBJECT),
    "ProviderList": listing(DEPLOYMENT),
    "PromptCreate": PROMPT_CREATE, "PromptVersionCreate": PROMPT_VERSION_CREATE, "PromptLabelSet": PROMPT_LABEL_SET,
    "Prompt": PROMPT, "PromptList": listing(ref("Prompt")), "PromptVersion": PROMPT_VERSION,
    "PromptLabel": PROMPT_LABEL, "PromptDiff": PROMPT_DIFF,
    "CacheClear": {"type": "object", "additionalProperties": False, "required": ["tenant"],
                   "properties": {"tenant": STRING, "model": {"type": "string", "nullable": True}}},
}
