"""What a replica appended to the usage stream, kept in process until the consumer group has
confirmed it (acknowledged: written to the database), so that a Redis that restarts empty
(no persistence) or loses its data to a failover does not take those records with it.

An entry is confirmed once the group has delivered past it and it is no longer pending:
its id is below the group's last-delivered id and below the oldest pending one. When Redis
comes back as another server (its `run_id` changed), the unconfirmed records are appended
again; a record written twice is harmless, inserts are idempotent on the request id."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

log = logging.getLogger("gateway.usage")

MAX_KEPT = 100_000          # records; past it the oldest are no longer covered (a warning says so)
StreamId = tuple[int, int]


def parse_id(value: bytes | str) -> StreamId:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Unconfirmed:
    def __init__(self, limit: int = MAX_KEPT) -> None:
        self._entries: deque[tuple[StreamId, bytes]] = deque()
        self._limit = limit
        self._server: str | None = None
        self._warned = False

    def __len__(self) -> int:
        return len(self._entries)

    def added(self, entry_id: bytes | str, raw: bytes) -> None:
        self._entries.append((parse_id(entry_id), raw))
        if len(self._entries) > self._limit:
            self._entries.popleft()
            if not self._warned:
                self._warned = True
                log.warning("more unconfirmed usage records than kept in process; the oldest would be lost "
                            "if Redis restarted empty now", extra={"count": self._limit})

    def confirmed_below(self, safe: StreamId) -> None:
        """Drops what the group has written: every entry with an id below `safe`."""
        while self._entries and self._entries[0][0] < safe:
            self._entries.popleft()
        if len(self._entries) < self._limit // 2:
            self._warned = False

    def server_changed(self, server: str) -> bool:
        """True when Redis is another server than last seen (restarted: what it held is gone);
        `seen(server)` once the records are appended again."""
        if self._server is None:
            self._server = server
        return self._server != server

    def seen(self, server: str) -> None:
        self._server = server

    def raws(self) -> list[bytes]:
        return [raw for _, raw in self._entries]

    def replace(self, ids: list[bytes | str], raws: list[bytes]) -> None:
        """The records appended again, under their new ids."""
        self._entries = deque((parse_id(entry_id), raw) for entry_id, raw in zip(ids, raws, strict=True))


def server_identity(info: Any) -> str:
    """The run_id of `INFO server` (every node's, in a cluster): it changes when Redis restarts."""
    if isinstance(info, dict) and "run_id" in info:
        return str(info["run_id"])
    if isinstance(info, dict):
        return ",".join(sorted(str(node.get("run_id")) for node in info.values() if isinstance(node, dict)))
    return ""


def safe_point(groups: list[dict[Any, Any]], group: str, oldest_pending: bytes | str | None) -> StreamId | None:
    """The id below which every entry is confirmed for `group`, or None if the group is not there."""
    for info in groups:
        name = info.get("name")
        name = name.decode() if isinstance(name, bytes) else name
        if name != group:
            continue
        delivered = parse_id(info.get("last-delivered-id") or "0-0")
        after_delivered = (delivered[0], delivered[1] + 1)
        if oldest_pending is None:
            return after_delivered
        return min(after_delivered, parse_id(oldest_pending))
    return None
