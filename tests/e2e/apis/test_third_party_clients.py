"""Clients built on the two APIs complete a tool-calling exchange through the gateway:
LangChain with `use_responses_api=True`, LiteLLM's `responses()`, the OpenAI Agents SDK's
default (Responses) model, and the Anthropic SDK (the tool-use test in test_messages_sdk.py).
The upstream is the OpenAI fake, reached by translation: its first answer to a request
offering tools is two get_weather calls, and after the tool results it reports them."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from tests.e2e.apis.conftest import MODEL, Upstream
from tests.support.gateway import RunningGateway

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")   # LiteLLM must not fetch its price list


@pytest.fixture
def upstream_kind() -> str:
    return "openai"


def get_weather(city: str) -> str:
    """The weather in a city now."""
    return f"sunny in {city}"


def sent_tool_results(upstream: Upstream) -> list[dict[str, Any]]:
    last = upstream.bodies()[-1]["messages"]
    return [m for m in last if m["role"] == "tool"]


def test_langchain_with_the_responses_api(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    weather = tool(get_weather)
    llm = ChatOpenAI(model=MODEL, base_url=gateway.url + "/v1", api_key=key,  # type: ignore[arg-type]
                     use_responses_api=True, max_retries=0, timeout=30).bind_tools([weather])
    question = HumanMessage("weather in Paris and Oslo?")
    asked = llm.invoke([question])
    assert [call["args"] for call in asked.tool_calls] == [{"city": "Paris"}, {"city": "Oslo"}]  # type: ignore[attr-defined]
    results = [ToolMessage(weather.invoke(call["args"]), tool_call_id=call["id"])
               for call in asked.tool_calls]  # type: ignore[attr-defined]
    answer = llm.invoke([question, asked, *results])
    assert "tool results:" in answer.text and "sunny in Paris" in answer.text and "sunny in Oslo" in answer.text
    assert [m["content"] for m in sent_tool_results(upstream)] == ["sunny in Paris", "sunny in Oslo"]


def test_litellm_responses(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    import litellm
    from litellm.types.llms.openai import ResponsesAPIResponse

    tools: Any = [{"type": "function", "name": "get_weather", "description": "The weather in a city now.",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    common: Any = {"model": f"openai/{MODEL}", "api_base": gateway.url + "/v1", "api_key": key, "tools": tools,
                   "num_retries": 0, "timeout": 30}
    question: Any = {"role": "user", "content": "weather in Paris and Oslo?"}
    first = litellm.responses(input=[question], **common)
    assert isinstance(first, ResponsesAPIResponse)
    calls: list[Any] = [item for item in first.output if getattr(item, "type", None) == "function_call"]
    assert [c.arguments for c in calls] == ['{"city": "Paris"}', '{"city": "Oslo"}']
    items: Any = [question,
                  *[{"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments}
                    for c in calls],
                  *[{"type": "function_call_output", "call_id": c.call_id, "output": f"sunny #{i}"}
                    for i, c in enumerate(calls)]]
    second = litellm.responses(input=items, **common)
    assert isinstance(second, ResponsesAPIResponse)
    messages: list[Any] = [item for item in second.output if getattr(item, "type", None) == "message"]
    text = "".join(part.text for item in messages for part in item.content)
    assert text == f"tool results: {calls[0].call_id}=sunny #0; {calls[1].call_id}=sunny #1"


def test_openai_agents_default_model(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    from agents import (
        Agent,
        Runner,
        function_tool,
        set_default_openai_api,
        set_default_openai_client,
        set_tracing_disabled,
    )
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    set_default_openai_api("responses")   # (the default; said so that a change of default shows here)
    set_default_openai_client(AsyncOpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30),
                              use_for_tracing=False)
    agent = Agent(name="weather", instructions="Answer with the tools.", model=MODEL,
                  tools=[function_tool(get_weather)])

    result = asyncio.run(Runner.run(agent, "weather in Paris and Oslo?", max_turns=3))
    assert "tool results:" in result.final_output
    assert [m["content"] for m in sent_tool_results(upstream)] == ["sunny in Paris", "sunny in Oslo"]
    assert upstream.bodies()[0]["messages"][0] == {"role": "system", "content": "Answer with the tools."}
