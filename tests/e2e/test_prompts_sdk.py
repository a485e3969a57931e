"""Stored prompts as an application developer meets them, through the official OpenAI SDK
against an embedded gateway and the fake OpenAI upstream: rendered on /v1/responses
(`prompt=`) and on chat completions (the `x-gateway-prompt` header), every way of naming
one wrongly a 400 BadRequestError naming the field; the admin API's prompt routes with
their audit rows; the rendered text scanned for PII like any other."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.responses import ResponsePromptParam

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.gateway import RunningGateway

TRIAGE: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "instructions": "You triage support tickets for {{product}}.",
    "input": "Ticket: {{ticket}}",
    "params": {"temperature": 0.2},
    "variables": {"urgency": {"type": "integer", "default": 2}},
}


def client(gw: RunningGateway, key: str) -> OpenAI:
    return OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30)


def create_prompt(gw: RunningGateway, prompt_id: str, content: dict[str, Any], *, tenant: str | None = None,
                  shared: bool = False) -> dict[str, Any]:
    body = {"id": prompt_id, "content": content, **({"tenant": tenant} if tenant else {"shared": shared})}
    created = gw.admin("POST", "/admin/prompts", json=body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def owner_of(gw: RunningGateway) -> tuple[str, str]:
    tenant = gw.create_tenant()
    return tenant, gw.create_key(tenant)


def test_responses_prompt_is_rendered_before_the_request_input(gateway: RunningGateway,
                                                               upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    tenant, key = owner_of(gateway)
    create_prompt(gateway, "triage", TRIAGE, tenant=tenant)
    response = client(gateway, key).responses.create(
        prompt={"id": "triage", "variables": {"product": "Acme Cloud", "ticket": "login fails"}},
        input="Answer in French.")
    seen = upstreams[0].requests[-1].body
    assert seen["messages"] == [{"role": "system", "content": "You triage support tickets for Acme Cloud."},
                                {"role": "user", "content": "Ticket: login fails"},
                                {"role": "user", "content": "Answer in French."}]
    assert seen["model"] == "gpt-4o-mini" and seen["temperature"] == 0.2
    assert response.model == "gpt-4o-mini"
    assert response.prompt is not None and (response.prompt.id, response.prompt.version) == ("triage", "1")
    assert response.output_text == "echo: Answer in French."
    # A version number works as well as a label or nothing (the newest).
    client(gateway, key).responses.create(
        prompt={"id": "triage", "version": "1", "variables": {"product": "P", "ticket": "T"}})
    assert upstreams[0].requests[-1].body["messages"][-1] == {"role": "user", "content": "Ticket: T"}


def test_chat_completions_name_a_prompt_in_a_header(gateway: RunningGateway,
                                                    upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    tenant, key = owner_of(gateway)
    create_prompt(gateway, "triage", TRIAGE, tenant=tenant)
    assert gateway.admin("PUT", f"/admin/prompts/triage/labels/production?tenant={tenant}",
                         json={"version": 1}).status_code == 200
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "thanks"}],
        extra_headers={"x-gateway-prompt": "triage@production"},
        extra_body={"prompt_variables": {"product": "Acme", "ticket": "slow"}})
    completion = raw.parse()
    assert raw.headers["x-gateway-prompt-version"] == "triage@1"
    seen = upstreams[0].requests[-1].body
    assert [m["content"] for m in seen["messages"]] == ["You triage support tickets for Acme.", "Ticket: slow",
                                                        "thanks"]
    assert "prompt_variables" not in seen                      # taken out before any upstream sees it
    assert completion.choices[0].message.content == "echo: thanks"


def test_shared_prompts_are_named_with_their_prefix(gateway: RunningGateway,
                                                   upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    _, key = owner_of(gateway)
    create_prompt(gateway, "greeter", {"model": "gpt-4o-mini", "input": "Say hello to {{name}}."}, shared=True)
    client(gateway, key).responses.create(prompt={"id": "shared/greeter", "variables": {"name": "Ana"}})
    assert upstreams[0].requests[-1].body["messages"] == [{"role": "user", "content": "Say hello to Ana."}]
    with pytest.raises(openai.BadRequestError) as caught:     # without the prefix: the tenant's own, none
        client(gateway, key).responses.create(prompt={"id": "greeter", "variables": {"name": "Ana"}})
    assert caught.value.code == "prompt_not_found"


def bad_request(call: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    assert caught.value.status_code == 400
    body: dict[str, Any] = caught.value.body   # type: ignore[assignment]
    return body


def test_every_wrong_reference_is_a_400_naming_the_field(gateway: RunningGateway) -> None:
    tenant, key = owner_of(gateway)
    other, _ = owner_of(gateway)
    create_prompt(gateway, "triage", TRIAGE, tenant=tenant)
    create_prompt(gateway, "secret", {"model": "gpt-4o-mini", "input": "private"}, tenant=other)
    sdk = client(gateway, key)

    def responses(prompt: dict[str, Any]) -> dict[str, Any]:
        return bad_request(lambda: sdk.responses.create(prompt=prompt))   # type: ignore[call-overload]

    missing = responses({"id": "triage", "variables": {"product": "A"}})
    assert missing["param"] == "prompt.variables.ticket" and missing["code"] == "missing_prompt_variable"
    wrong = responses({"id": "triage", "variables": {"product": "A", "ticket": "t", "urgency": "high"}})
    assert wrong["param"] == "prompt.variables.urgency" and wrong["code"] == "invalid_prompt_variable"
    unknown = responses({"id": "nope", "variables": {}})
    assert unknown["param"] == "prompt.id" and unknown["code"] == "prompt_not_found"
    label = responses({"id": "triage", "version": "staging", "variables": {}})
    assert label["param"] == "prompt.version" and label["code"] == "prompt_version_not_found"
    assert "label `staging`" in label["message"]
    version = responses({"id": "triage", "version": "9", "variables": {}})
    assert version["code"] == "prompt_version_not_found" and "version `9`" in version["message"]
    # Another tenant's private prompt: the very answer an unknown one gets.
    foreign = responses({"id": "secret"})
    assert foreign == {**unknown, "message": "Prompt `secret` not found."}

    header = bad_request(lambda: sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[], extra_headers={"x-gateway-prompt": "nope@production"}))
    assert header["param"] == "x-gateway-prompt" and header["code"] == "prompt_not_found"
    variables = bad_request(lambda: sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[], extra_headers={"x-gateway-prompt": "triage"},
        extra_body={"prompt_variables": {"product": "A"}}))
    assert variables["param"] == "prompt_variables.ticket"
    not_here = bad_request(lambda: sdk.embeddings.create(model="gpt-4o-mini", input="x",
                                                         extra_headers={"x-gateway-prompt": "triage"}))
    assert not_here["param"] == "x-gateway-prompt"
    anthropic = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": key, "x-gateway-prompt": "triage"},
                           json={"model": "gpt-4o-mini", "max_tokens": 5,
                                 "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    assert anthropic.status_code == 400 and anthropic.json()["type"] == "error"     # in Anthropic's shape
    # Without a prompt, model and input are still required.
    assert bad_request(lambda: sdk.responses.create(input="hi"))["param"] == "model"   # type: ignore[call-overload]


def test_a_prompt_without_a_model_needs_one_from_the_request(gateway: RunningGateway) -> None:
    tenant, key = owner_of(gateway)
    create_prompt(gateway, "modelless", {"input": "hello {{who}}"}, tenant=tenant)
    body = bad_request(lambda: client(gateway, key).responses.create(
        prompt={"id": "modelless", "variables": {"who": "you"}}))
    assert body["param"] == "model"
    named = client(gateway, key).responses.create(model="gpt-4o-mini", prompt={"id": "modelless",
                                                                             "variables": {"who": "you"}})
    assert named.output_text == "echo: hello you"


def test_the_rendered_text_is_scanned_for_pii(gateway: RunningGateway,
                                              upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    tenant, key = owner_of(gateway)            # the catalog redacts PII
    create_prompt(gateway, "contact", {"model": "gpt-4o-mini", "input": "Write to {{email}} today."}, tenant=tenant)
    client(gateway, key).responses.create(prompt={"id": "contact", "variables": {"email": "ana@example.com"}})
    sent = upstreams[0].requests[-1].body["messages"][0]["content"]
    assert "ana@example.com" not in sent and sent.startswith("Write to ")


def test_admin_api_create_version_label_list_show_diff_with_audit_rows(gateway: RunningGateway) -> None:
    tenant, _ = owner_of(gateway)
    created = create_prompt(gateway, "triage", TRIAGE, tenant=tenant)
    assert created["latest_version"] == 1 and created["labels"] == {} and created["owner"] == tenant
    q = f"?tenant={tenant}"
    v2 = gateway.admin("POST", f"/admin/prompts/triage/versions{q}",
                       json={"content": {**TRIAGE, "input": "Ticket #{{id}}: {{ticket}}"}})
    assert v2.status_code == 201 and v2.json()["version"] == 2, v2.text
    moved = gateway.admin("PUT", f"/admin/prompts/triage/labels/production{q}", json={"version": 2})
    assert moved.json() == {"prompt": "triage", "label": "production", "version": 2, "previous": None}
    assert gateway.admin("PUT", f"/admin/prompts/triage/labels/production{q}",
                         json={"version": 1}).json()["previous"] == 2
    listing = gateway.admin("GET", f"/admin/prompts{q}").json()["data"]
    assert [(p["id"], p["latest_version"], p["labels"]) for p in listing] == [("triage", 2, {"production": 1})]
    shown = gateway.admin("GET", f"/admin/prompts/triage{q}").json()
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    version = gateway.admin("GET", f"/admin/prompts/triage/versions/production{q}").json()
    assert version["version"] == 1 and version["content"]["messages"][1]["content"] == "Ticket: {{ticket}}"
    diff = gateway.admin("GET", f"/admin/prompts/triage/diff{q}&from=production&to=2").json()["diff"]
    assert "-  content: 'Ticket: {{ticket}}'" in diff and "+  content: 'Ticket #{{id}}: {{ticket}}'" in diff

    # Wrong input: 400/404 in the OpenAI error shape, never a 500.
    assert gateway.admin("GET", "/admin/prompts").status_code == 400            # no owner named
    bad = gateway.admin("POST", f"/admin/prompts/triage/versions{q}", json={"content": {"input": "{{ x-y }}"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages[0].content"
    assert gateway.admin("PUT", f"/admin/prompts/triage/labels/latest{q}", json={"version": 1}).status_code == 400
    assert gateway.admin("PUT", f"/admin/prompts/triage/labels/prod{q}", json={"version": 7}).status_code == 400
    assert gateway.admin("GET", f"/admin/prompts/nope{q}").status_code == 404
    assert gateway.admin("GET", "/admin/prompts?tenant=no-such-tenant").status_code == 404
    assert gateway.admin("POST", "/admin/prompts", json={"id": "triage", "tenant": tenant,
                                                         "content": TRIAGE}).status_code == 400   # exists

    audit = gateway.admin("GET", f"/admin/audit?target=prompt:{tenant}/triage").json()["data"]
    assert [(row["action"], row["actor"]) for row in reversed(audit)] == [
        ("prompt.create", "admin-api"), ("prompt.version", "admin-api"), ("prompt.label", "admin-api"),
        ("prompt.label", "admin-api")]
    assert audit[0]["before"] == {"label": "production", "version": 2}
    assert audit[0]["after"] == {"label": "production", "version": 1}


def test_streams_render_the_prompt_too(gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    tenant, key = owner_of(gateway)
    create_prompt(gateway, "triage", TRIAGE, tenant=tenant)
    variables = {"product": "Acme", "ticket": "streamed"}
    sdk = client(gateway, key)
    prompt: ResponsePromptParam = {"id": "triage", "variables": {"product": "Acme", "ticket": "streamed"}}
    events = list(sdk.responses.create(prompt=prompt, stream=True))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "echo: Ticket: streamed"
    final = next(e.response for e in events if e.type == "response.completed")
    assert final.output_text == "echo: Ticket: streamed" and final.model == "gpt-4o-mini"
    assert upstreams[0].requests[-1].body["stream"] is True
    chunks = list(sdk.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True,
                                              extra_headers={"x-gateway-prompt": "triage@1"},
                                              extra_body={"prompt_variables": variables}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Ticket: streamed"
    assert upstreams[0].requests[-1].body["messages"][0]["content"] == "You triage support tickets for Acme."
