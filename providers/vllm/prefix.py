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
        """Replica -> how many of the prompt's leading blocks it was last sent."""
        found: dict[str, int] = {}
        owners = self._owners
        for depth, block in enumerate(hashes):
            holders = owners.get(block)
            if not holders:
                break
            advanced = False
            for replica in holders:
                if found.get(replica, 0) == depth:
                    found[replica] = depth + 1
                    advanced = True
            if not advanced:
                break
        return found

    def record(self, hashes: Sequence[int], replica: str) -> None:
        owners = self._owners
        for block in hashes:
            holders = owners.pop(block, None)
            if holders is None:
                holders = [replica]
            elif replica not in holders:
                holders.append(replica)
            owners[block] = holders            # re-inserted: now the most recent
        excess = len(owners) - self.capacity
        if excess > 0:
            for block in list(_first(owners, excess)):
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
