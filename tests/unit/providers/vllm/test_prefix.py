"""Prompt blocks with chained hashes, and the index of which replica last got each prefix."""

from __future__ import annotations

from providers.vllm.prefix import PrefixIndex, block_hashes, prompt_text


def test_blocks_are_chained_so_a_block_names_its_whole_prefix() -> None:
    a = block_hashes("x" * 64 + "y" * 64 + "z" * 10, 64, 100)
    b = block_hashes("w" * 64 + "y" * 64, 64, 100)
    assert len(a) == 2                 # the partial last block does not count
    assert a[1] != b[1]                # same text, different prefix
    assert block_hashes("x" * 64 * 10, 64, 3) == block_hashes("x" * 64 * 3, 64, 3)


def test_prompt_text_covers_roles_and_text_parts() -> None:
    body = {"messages": [{"role": "system", "content": "S"},
                         {"role": "user", "content": [{"type": "text", "text": "T"}, {"type": "image_url"}]}]}
    assert prompt_text(body) == "system\nS\nuser\nT\n"


def test_matches_count_leading_blocks_per_replica() -> None:
    index = PrefixIndex(capacity=100)
    shared = block_hashes("s" * 64 * 4, 64, 100)
    longer = block_hashes("s" * 64 * 4 + "t" * 64 * 2, 64, 100)
    index.record(shared, "a:1")
    index.record(longer, "b:1")
    assert index.matches(longer) == {"a:1": 4, "b:1": 6}
    assert index.matches(block_hashes("q" * 64 * 3, 64, 100)) == {}


def test_capacity_forgets_the_least_recently_routed_blocks() -> None:
    index = PrefixIndex(capacity=4)
    first = block_hashes("a" * 64 * 3, 64, 100)
    second = block_hashes("b" * 64 * 3, 64, 100)
    index.record(first, "r:1")
    index.record(second, "r:1")
    assert len(index) == 4
    assert index.matches(first) == {}          # its leading blocks went first
    assert index.matches(second) == {"r:1": 3}


def test_forget_drops_a_replica_that_left() -> None:
    index = PrefixIndex(capacity=100)
    hashes = block_hashes("a" * 64 * 3, 64, 100)
    index.record(hashes, "gone:1")
    index.record(hashes, "kept:1")
    index.forget("gone:1")
    assert index.matches(hashes) == {"kept:1": 3}


def test_a_prefix_in_use_keeps_its_head_while_new_prompts_push_old_ones_out() -> None:
    index = PrefixIndex(capacity=12)
    hot = block_hashes("h" * 64 * 8, 64, 100)
    index.record(hot, "r:1")
    for i in range(3):
        cold = block_hashes(chr(ord("a") + i) * 64 * 4, 64, 100)
        index.record(hot, "r:1", matched=index.matches(hot).get("r:1", 0))
        index.record(cold, "r:2")
    assert index.matches(hot).get("r:1", 0) >= 1      # its leading blocks were refreshed
    assert len(index) == 12
