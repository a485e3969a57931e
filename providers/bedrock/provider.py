"""The Bedrock adapter's I/O: sign, send over the pooled aiohttp session, decode, translate.

Translation lives in `translate` / `responses` / `embeddings` (pure); this module only moves
bytes and turns transport failures into ProviderErrors. A stream's failures before its first
chunk keep their retryable kind (the router may try another deployment); after it, every
failure is ErrorKind.STREAM, and every wait is bounded, so a stream never hangs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson
from opentelemetry import propagate
from yarl import URL

from providers.base import (
    JSON,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingsResult,
    ErrorKind,
    Provider,
    ProviderConfig,
    ProviderError,
    Timeouts,
)
from providers.bedrock import errors
from providers.bedrock.credentials import CredentialSource
from providers.bedrock.embeddings import embeddings_response, titan_requests
from providers.bedrock.eventstream import EventMessage, EventStreamDecoder, EventStreamError
from providers.bedrock.responses import StreamTranslator, chat_completion
from providers.bedrock.signing import EVENT_STREAM, default_endpoint, model_path, sign
from providers.bedrock.translate import to_converse
from providers.http import Transport, TransportFactory, UpstreamResponse, new_session, request_timeout

# Titan embeds one text per call; this bounds the calls one embeddings request runs at once.
EMBEDDING_CONCURRENCY = 8


class BedrockProvider(Provider):
    type = "bedrock"
    genai_system = "aws.bedrock"
    options = frozenset({"region", "endpoint_url", "profile", "timeouts"})
    identity_options = ("region", "endpoint_url")

    def __init__(self, name: str, *, region: str, endpoint_url: str | None = None,
                 profile: str | None = None, timeouts: Timeouts | None = None,
                 transport: TransportFactory = new_session) -> None:
        self.name = name
        self.region = region
        self.endpoint = (endpoint_url or default_endpoint(region)).rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.credentials = CredentialSource(provider=name, profile=profile, region=region)
        self._transport = transport
        self._session: Transport | None = None

    @classmethod
    def from_config(cls, config: ProviderConfig) -> BedrockProvider:
        options = {k: v for k, v in config.options.items() if k != "type"}
        unknown = sorted(set(options) - cls.options)
        if unknown:
            raise ValueError(f"provider {config.name!r}: unknown bedrock options: {', '.join(unknown)}")
        region = options.get("region")
        if not isinstance(region, str) or not region:
            raise ValueError(f"provider {config.name!r}: bedrock needs a 'region'")
        return cls(config.name, region=region, endpoint_url=options.get("endpoint_url") or None,
                   profile=options.get("profile") or None,
                   timeouts=Timeouts.from_options(options.get("timeouts")))

    async def start(self) -> None:
        self._session = self._transport(self.timeouts)
        await self.credentials.start()

    async def close(self) -> None:
        await self.credentials.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def chat(self, request: ChatRequest, upstream_model: str) -> ChatResult:
        payload = orjson.dumps(to_converse(request.body))
        answer = await self._call_json(upstream_model, "converse", payload)
        body, usage = chat_completion(answer, upstream_model)
        return ChatResult(body=body, usage=usage)

    async def embeddings(self, body: JSON, upstream_model: str) -> EmbeddingsResult:
        requests = titan_requests(body)
        limit = asyncio.Semaphore(EMBEDDING_CONCURRENCY)

        async def embed(request: JSON) -> JSON:
            async with limit:
                return await self._call_json(upstream_model, "invoke", orjson.dumps(request))

        try:
            # A failed call cancels the others; the client gets the first failure as it was.
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(embed(request)) for request in requests]
        except* Exception as failures:
            raise failures.exceptions[0] from None
        results = [task.result() for task in tasks]
        try:
            answer, usage = embeddings_response(results, upstream_model, body.get("encoding_format"))
        except ValueError as exc:
            raise self._error(ErrorKind.BAD_RESPONSE, f"unreadable Titan answer: {exc}") from exc
        return EmbeddingsResult(body=answer, usage=usage)

    # --- transport ----------------------------------------------------------------------------

    async def _send(self, model: str, action: str, payload: bytes, accept: str) -> UpstreamResponse:
        """POSTs a signed request; returns the response once its 200 headers are in."""
        if self._session is None:
            raise self._error(ErrorKind.CONNECT, "provider not started")
        credentials = await self.credentials.get()
        url = self.endpoint + model_path(model, action)
        headers = sign(credentials, self.region, url, payload,
                       {"Content-Type": "application/json", "Accept": accept})
        propagate.inject(headers)   # W3C traceparent of this attempt's span; unsigned, as SigV4 allows
        try:
            async with asyncio.timeout(self.timeouts.first_byte):
                response = await self._session.post(URL(url, encoded=True), data=payload, headers=headers,
                                                    timeout=request_timeout(self.timeouts))
        except TimeoutError as exc:
            raise self._error(ErrorKind.TIMEOUT, f"no answer from Bedrock within {self.timeouts.first_byte}s",
                              status=504) from exc
        except aiohttp.ClientError as exc:
            raise self._error(ErrorKind.CONNECT, f"cannot reach Bedrock ({type(exc).__name__})") from exc
        if response.status == 200:
            return response
        try:
            async with asyncio.timeout(self.timeouts.idle):
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            body = b""
        finally:
            response.release()
        raise errors.from_response(response.status, response.headers, body, provider=self.name, model=model)

    async def _call_json(self, model: str, action: str, payload: bytes) -> JSON:
        response = await self._send(model, action, payload, "application/json")
        try:
            async with asyncio.timeout(self.timeouts.idle):
                body = await response.read()
        except TimeoutError as exc:
            raise self._error(ErrorKind.TIMEOUT, "Bedrock's answer stalled", status=504) from exc
        except aiohttp.ClientError as exc:
            raise self._error(ErrorKind.SERVER, f"Bedrock's answer was cut ({type(exc).__name__})") from exc
        finally:
            response.release()
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise self._error(ErrorKind.BAD_RESPONSE, "Bedrock's answer is not JSON") from exc
        if not isinstance(answer, dict):
            raise self._error(ErrorKind.BAD_RESPONSE, "Bedrock's answer is not a JSON object")
        return answer

    async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        """Model ids, cross-region inference profile ids and ARNs all go in the same URL slot."""
        model = upstream_model
        payload = orjson.dumps(to_converse(request.body))
        response = await self._send(model, "converse-stream", payload, EVENT_STREAM)
        translator = StreamTranslator(model)
        decoder = EventStreamDecoder()
        started = False  # a chunk has gone to the client: failures are STREAM from here on
        finished = False
        try:
            while True:
                data = await self._read(response, started)
                if not data:
                    finished = True
                    break
                try:
                    messages = decoder.feed(data)
                except EventStreamError as exc:
                    raise self._broken(started, f"Bedrock sent a corrupt event stream ({exc})") from exc
                for message in messages:
                    for chunk in self._translate_event(message, translator, model, started):
                        yield ChatChunk(chunk)
                        started = True
        finally:
            if finished:
                response.release()
            else:
                response.close()  # unread bytes: the connection cannot go back to the pool
        if decoder.pending_bytes or not translator.stopped:
            raise self._broken(started, "Bedrock's stream ended before messageStop")
        yield ChatChunk(translator.finish())

    async def _read(self, response: UpstreamResponse, started: bool) -> bytes:
        wait = self.timeouts.idle if started else self.timeouts.first_byte
        try:
            async with asyncio.timeout(wait):
                return await response.content.readany()
        except TimeoutError as exc:
            if started:
                raise self._stream_error(f"Bedrock's stream stalled for {wait}s") from exc
            raise self._error(ErrorKind.TIMEOUT, f"no event from Bedrock within {wait}s", status=504) from exc
        except aiohttp.ClientError as exc:
            raise self._broken(started, f"Bedrock's stream was cut ({type(exc).__name__})") from exc

    def _translate_event(self, message: EventMessage, translator: StreamTranslator, model: str,
                         started: bool) -> list[JSON]:
        kind = message.message_type
        if kind == "exception":
            raise errors.from_stream_exception(message.exception_type, message.payload,
                                               provider=self.name, model=model, started=started)
        if kind == "error":
            payload = orjson.dumps({"message": message.header(":error-message")})
            raise errors.from_stream_exception(message.header(":error-code") or "InternalServerException",
                                               payload, provider=self.name, model=model, started=started)
        try:
            event: Any = orjson.loads(message.payload) if message.payload else {}
        except orjson.JSONDecodeError as exc:
            raise self._broken(started, "Bedrock sent an event that is not JSON") from exc
        if not isinstance(event, Mapping):
            raise self._broken(started, "Bedrock sent an event that is not a JSON object")
        return translator.on_event(message.event_type, event)

    # --- errors ---------------------------------------------------------------------------------

    def _error(self, kind: ErrorKind, message: str, *, status: int = 502) -> ProviderError:
        return ProviderError(kind, f"{message} (provider {self.name})", status=status, provider=self.name)

    def _stream_error(self, message: str) -> ProviderError:
        return ProviderError(ErrorKind.STREAM, f"{message} (provider {self.name})", status=502,
                             body=errors.openai_error_body(message, type_="server_error"), provider=self.name)

    def _broken(self, started: bool, message: str) -> ProviderError:
        """A transport or framing failure: retryable while nothing has reached the client."""
        return self._stream_error(message) if started else self._error(ErrorKind.SERVER, message)
