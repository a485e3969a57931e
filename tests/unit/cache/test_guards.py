"""The guards: what a one-word change flips is caught, by the guard named for it; typos,
politeness and word order are not."""

from __future__ import annotations

import pytest

from gateway.cache.semantic.guards import GUARDS, agree, disagreements


@pytest.mark.parametrize(("a", "b", "guard"), [
    ("What is 15 percent of 80?", "What is 20 percent of 80?", "numbers"),
    ("Who was the first president of the United States?", "Who was the third president of the United States?",
     "numbers"),
    ("How many seconds are in a day?", "How many minutes are in a day?", "units"),
    ("Which Python types are hashable?", "Which Python types are not hashable?", "negation"),
    ("Why can I log in on my phone?", "Why can't I log in on my phone?", "negation"),
    ("Give me a pasta recipe with garlic", "Give me a pasta recipe without garlic", "negation"),
    ("How do I reverse a list in Python?", "How do I reverse a list in Java?", "language"),
    ("Translate good morning into French", "Translate good morning into Spanish", "language"),
    ("Return the list of users as JSON", "Return the list of users as CSV", "format"),
    ("Convert 10 kilometers to miles", "Convert 10 miles to kilometers", "direction"),
    ("What happened before the French Revolution?", "What happened after the French Revolution?", "direction"),
    ("How do I log in to my account?", "How do I log out of my account?", "particles"),
    ("How do I turn on dark mode?", "How do I turn off dark mode?", "particles"),
    ("Does he owe her money?", "Does she owe him money?", "pronouns"),
    ("Did Brazil beat Germany in the 2014 World Cup?", "Did Germany beat Brazil in the 2014 World Cup?", "order"),
    ("What is the capital of France?", "What is the capital of Germany?", "words"),
    ("What foods increase cholesterol?", "What foods decrease cholesterol?", "words"),
    ("Is Rust faster than Go?", "Is Rust safer than Go?", "words"),
])
def test_a_one_word_change_is_caught_by_its_guard(a: str, b: str, guard: str) -> None:
    assert guard in disagreements(a, b)
    assert guard in disagreements(b, a)
    assert not agree(a, b)


@pytest.mark.parametrize(("a", "b"), [
    ("What is the capital of France?", "whats the captial of france"),
    ("What is the capital of France?", "Could you please tell me the capital of France?"),
    ("How do I reverse a list in Python?", "In Python, how do I reverse a list?"),
    ("How do I read a file line by line in Python?", "how do I read a file line by line in pyhton"),
    ("Who was the first president of the United States?", "who was the frist president of the united states"),
    ("Convert 100 degrees Fahrenheit to Celsius", "convert 100 degrees farenheit to celsius"),
    ("What is the difference between a process and a thread?",
     "What is the difference between a thread and a process?"),
    ("How do I log in to my account?", "Hi, can you tell me how to log in to my account?"),
    ("How does photosynthesis work?", "Please explain how photosynthesis works."),
])
def test_typos_politeness_and_word_order_pass(a: str, b: str) -> None:
    assert disagreements(a, b) == []


def test_a_skipped_guard_is_not_checked() -> None:
    a, b = "Convert 10 kilometers to miles", "Convert 10 miles to kilometers"
    assert disagreements(a, b, skip=GUARDS) == []
    assert disagreements(a, b, skip=["direction"]) == []      # the direction guard alone catches this one


def test_typo_tolerance_does_not_merge_distinct_short_words() -> None:
    assert not agree("How do I bake a cake?", "How do I make a cake?")
    assert not agree("How do I reset my password?", "How do I reset my username?")
