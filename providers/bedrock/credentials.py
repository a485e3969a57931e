"""AWS credentials from boto3's provider chain, served to the event loop without blocking.

boto3 resolves credentials (environment, shared profile, IRSA web identity, container, instance
metadata) and refreshes temporary ones, but it does so with blocking network calls inside
property access. So the chain is resolved in a worker thread, the request path only reads a
frozen snapshot, and a refresh is started in a thread as soon as botocore reports the advisory
window (15 minutes before expiry). Requests keep signing with the still-valid snapshot while it
runs; only a snapshot that is about to expire makes a request wait for the refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.credentials import ReadOnlyCredentials

from providers.base import ErrorKind, ProviderError

log = logging.getLogger(__name__)


class CredentialSource:
    """Frozen credentials for one provider entry (one optional profile)."""

    # Below this much remaining validity a request waits for the refresh instead of racing it.
    MUST_REFRESH_SECONDS = 60.0
    # After a failed attempt, background attempts pause this long (no thread storm on an outage).
    RETRY_SECONDS = 30.0

    def __init__(self, *, provider: str, profile: str | None = None, region: str | None = None) -> None:
        self.provider = provider
        self.profile = profile
        self.region = region
        self._credentials: Any = None  # botocore Credentials or RefreshableCredentials
        self._frozen: ReadOnlyCredentials | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry_at = 0.0  # time.monotonic() before which no new background attempt starts
        self._last_error = ""

    @property
    def frozen(self) -> ReadOnlyCredentials | None:
        return self._frozen

    @property
    def problem(self) -> str:
        """Why there are no credentials ("" when there are)."""
        return "" if self._frozen is not None else self._last_error or "not resolved yet"

    async def start(self) -> None:
        """Resolves the chain once; a failure is kept and reported on use, not raised here,
        so one provider without credentials does not stop the gateway."""
        await asyncio.shield(self._start(self._resolve))

    async def get(self) -> ReadOnlyCredentials:
        """The credentials to sign one request with. Non-blocking unless none are usable."""
        if self._frozen is None:
            if self._due():
                await asyncio.shield(self._start(self._resolve))
            if self._frozen is None:
                raise ProviderError(ErrorKind.AUTH,
                                    f"no AWS credentials for Bedrock provider {self.provider!r}: "
                                    f"{self._last_error}", status=502, provider=self.provider)
            return self._frozen
        refresh_needed = getattr(self._credentials, "refresh_needed", None)
        if refresh_needed is None or not refresh_needed():
            return self._frozen
        if refresh_needed(self.MUST_REFRESH_SECONDS):
            await asyncio.shield(self._start(self._refresh))
        elif self._due():
            self._start(self._refresh)
        if refresh_needed(0):
            raise ProviderError(ErrorKind.AUTH, f"AWS credentials of Bedrock provider {self.provider!r} "
                                f"expired and could not be refreshed: {self._last_error}",
                                status=502, provider=self.provider)
        return self._frozen

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _due(self) -> bool:
        return time.monotonic() >= self._retry_at

    def _start(self, work: Callable[[], None]) -> asyncio.Task[None]:
        """One thread at a time: concurrent callers share the running attempt."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(asyncio.to_thread(work))
        return self._task

    def _failed(self, what: str, exc: BaseException | str) -> None:
        self._last_error = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.RETRY_SECONDS
        log.warning("bedrock provider %s: AWS credentials %s (%s)", self.provider, what,
                    exc if isinstance(exc, str) else type(exc).__name__)

    # The two functions below run in a worker thread. They catch everything: an exception in a
    # background task would otherwise go unobserved, and the next request must see the reason.

    def _resolve(self) -> None:
        try:
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
            credentials = session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials is not None else None
        except Exception as exc:
            self._failed("not resolved", exc)
            return
        if frozen is None:
            self._failed("not found", "the boto3 chain (env, profile, web identity, container, instance) "
                         "found none")
            return
        self._credentials, self._frozen, self._last_error = credentials, frozen, ""
        log.info("bedrock provider %s: AWS credentials from %s", self.provider,
                 getattr(credentials, "method", "unknown"))

    def _refresh(self) -> None:
        before = self._frozen
        try:
            # botocore refreshes inside this call once its advisory window has been reached.
            frozen = self._credentials.get_frozen_credentials()
        except Exception as exc:
            self._failed("refresh failed", exc)
            return
        if frozen == before:
            # botocore swallows a failed advisory refresh and hands back the old credentials.
            self._failed("refresh failed", "the old credentials were kept")
            return
        self._frozen, self._last_error = frozen, ""
