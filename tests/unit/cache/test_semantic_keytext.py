"""What a request is compared on (the last user turn) and what must match exactly (the rest)."""

from __future__ import annotations

from typing import Any

from gateway.cache.semantic.keytext import key_text


def body(*turns: tuple[str, Any], **params: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": r, "content": c} for r, c in turns], **params}


def key(b: dict[str, Any], scope: str = "t1", model: str = "m", max_messages: int = 6, max_chars: int = 2000) -> Any:
    return key_text(scope, model, b, max_messages=max_messages, max_chars=max_chars)


def test_the_key_text_is_the_last_user_turn_and_the_partition_is_the_rest() -> None:
    a = key(body(("system", "Be terse."), ("user", "What   is the\tcapital of France?")))
    b = key(body(("system", "Be terse."), ("user", "Which city is France's capital?")))
    assert a.text == "What is the capital of France?"
    assert a.partition == b.partition
    assert key(body(("system", "Be verbose."), ("user", "x"))).partition != a.partition
    assert key(body(("user", "x")), scope="t2").partition != key(body(("user", "x"))).partition
    assert key(body(("user", "x")), model="other").partition != key(body(("user", "x"))).partition
    for params in ({"temperature": 0.5}, {"seed": 1}, {"tools": [{"type": "function"}]},
                   {"response_format": {"type": "json_object"}}):
        assert key(body(("user", "x"), **params)).partition != key(body(("user", "x"))).partition
    assert key(body(("user", "x"), stream=True)).partition == key(body(("user", "x"))).partition


def test_earlier_turns_must_match_exactly() -> None:
    one = key(body(("user", "Tell me about Paris"), ("assistant", "Paris is..."), ("user", "How big is it?")))
    two = key(body(("user", "Tell me about Rome"), ("assistant", "Rome is..."), ("user", "How big is it?")))
    assert one.text == two.text and one.partition != two.partition


def test_what_is_not_compared_semantically() -> None:
    assert key(body(("user", "a"), ("assistant", "b"), ("user", "c")), max_messages=2) is None
    assert key(body(("system", "s"), ("user", "a"), ("assistant", "b"), ("user", "c")), max_messages=3) is not None
    assert key(body(("user", "x" * 50)), max_chars=49) is None
    assert key(body(("user", "hi"), ("assistant", "hello"))) is None
    assert key(body(("user", "   "))) is None
    assert key(body(("user", [{"type": "text", "text": "what is this?"},
                              {"type": "image_url", "image_url": {"url": "data:..."}}]))) is None
    assert key(body(("user", [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]))).text \
        == "part one part two"
    assert key({"model": "m"}) is None
