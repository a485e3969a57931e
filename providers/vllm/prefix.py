"""Prefix affinity: which replica last served each leading block of a prompt.

A prompt's text is cut into blocks of `chars_per_block` characters (a KV block of tokens at
~4 characters a token); each block's hash is chained with the one before, so a block's hash
names the whole prefix up to it. The index remembers, per block hash, the replicas that were
sent a prompt with that prefix, most recent last, and forgets the oldest blocks past its
capacity (a replica's KV cache evicts the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def prompt_text(body: dict[str, Any]) -> str:
    """The part of a chat request that a replica's prefix cache sees, in order."""
    parts: list[str] = []
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        parts.append(str(message.get("role", "")))
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def block_hashes(text: str, chars_per_block: int, max_blocks: int) -> list[int]:
    """Chained hashes of the text's full leading blocks (a partial last block is not cached)."""
    count = min(len(text) // chars_per_block, max_blocks)
    hashes: list[int] = []
    previous = 0
    for start in range(0, count * chars_per_block, chars_per_block):
        previous = hash((previous, text[start:start + chars_per_block]))
        hashes.append(previous)
    return hashes


class PrefixIndex:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._owners: dict[int, list[str]] = {}     # insertion order = least recently used first

    def __len__(self) -> int:
        return len(self._owners)

    def matches(self, hashes: Sequence[int]) -> dict[str, int]:
        """Replica -> how many of the prompt's leading blocks it was last sent. A block's hash
        names its whole prefix, so a replica holding block d held the blocks before it: the
        depth is found by binary search, a few lookups whatever the prompt's length."""
        owners = self._owners
        if not hashes:
            return {}
        first = owners.get(hashes[0])
        if not first:
            return {}
        n = len(hashes)
        last = owners.get(hashes[-1]) or ()
        found: dict[str, int] = {}
        for replica in first:
            if replica in last:
                found[replica] = n
                continue
            low, high = 1, n - 1            # blocks matched: at least `low`, at most `high`
            while low < high:
                middle = (low + high + 1) // 2
                holders = owners.get(hashes[middle - 1])
                if holders is not None and replica in holders:
                    low = middle
                else:
                    high = middle - 1
            found[replica] = low
        return found

    def record(self, hashes: Sequence[int], replica: str, matched: int = 0) -> None:
        """The prompt went to `replica`, which already had its first `matched` blocks: the
        new blocks are added, and the prefix's blocks at depths 1, 2, 4, 8, ... are made
        the most recent, so a prefix in use keeps its head (a few dict operations per
        request rather than one per block)."""
        owners = self._owners
        for block in hashes[matched:]:
            holders = owners.get(block)
            if holders is None:
                owners[block] = [replica]
            elif replica not in holders:
                holders.append(replica)
        depth = 1
        while depth <= matched:
            block = hashes[depth - 1]
            holders = owners.pop(block, None)
            if holders is not None:
                owners[block] = holders
            depth *= 2
        excess = len(owners) - self.capacity
        if excess > 0:
            for block in _first(owners, excess):
                del owners[block]

    def forget(self, replica: str) -> None:
        """A replica left the pool: its blocks no longer attract requests."""
        for block in list(self._owners):
            holders = self._owners[block]
            if replica in holders:
                holders.remove(replica)
                if not holders:
                    del self._owners[block]


def _first(owners: dict[int, list[str]], n: int) -> list[int]:
    out: list[int] = []
    for block in owners:
        if len(out) == n:
            break
        out.append(block)
    return out
