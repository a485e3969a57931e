"""A Bedrock Runtime look-alike on 127.0.0.1 for tests: real HTTP, real SigV4, real event stream.

It checks what AWS checks before answering: the SigV4 `Authorization` header (recomputed with
botocore from the bytes received, for the region and the `bedrock` signing name, against the
credentials it knows), the request body against botocore's own `bedrock-runtime` model
(ParamValidator, as the real service would reject it), and that the model id reached it as
one percent-encoded path segment. It answers Converse in JSON, ConverseStream in
`application/vnd.amazon.eventstream` frames, and InvokeModel like Titan text embeddings v2.

Tests steer it: `replies` (scripted answers), `fail()` (AWS errors with `x-amzn-errortype`),
`stream_fault` (exception event, cut or stall mid-stream), `first_byte_delay`, and
`write_size` (split frames into small writes to exercise an incremental decoder).
It also serves STS AssumeRoleWithWebIdentity at `/sts` for IRSA tests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import math
import re
import struct
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import botocore.session
import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.model import Shape
from botocore.validate import ParamValidator

from tests.support.threads import LoopThread

ACCESS_KEY = "AKIDFAKEBEDROCKTEST1"
SECRET_KEY = "fake-secret-key-for-tests-only/0123456789"

# What boto3's credential chain reads besides these keys; tests clear all of it.
_AWS_CHAIN = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
              "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
              "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS")


def isolate_aws(monkeypatch: Any, tmp_path: Path) -> None:
    """An AWS environment with nothing from this machine in it: no keys, no profile, empty
    config and credentials files, no instance metadata."""
    for name in _AWS_CHAIN:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def use_fake_credentials(monkeypatch: Any, tmp_path: Path) -> None:
    """The fake server's keys, and nothing else, in the environment boto3 reads."""
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
SERVICE_MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
ERROR_STATUS = {shape.name: shape.metadata["error"]["httpStatusCode"]
                for op in ("Converse", "InvokeModel")
                for shape in SERVICE_MODEL.operation_model(op).error_shapes}
ERROR_STATUS |= {"UnrecognizedClientException": 403, "InvalidSignatureException": 403,
                 "IncompleteSignatureException": 403, "MissingAuthenticationTokenException": 403,
                 "ExpiredTokenException": 403, "UnknownOperationException": 404}
PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke)$")
AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                  r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
INVALID_TOKEN = "The security token included in the request is invalid."
OPERATIONS = {"converse": "Converse", "converse-stream": "ConverseStream", "invoke": "InvokeModel"}


@dataclass
class Reply:
    """One scripted answer. `tool_uses` are (toolUseId, name, input) triples."""

    text: str = ""
    tool_uses: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    stop_reason: str | None = None
    usage: dict[str, int] | None = None


@dataclass
class StreamFault:
    """What goes wrong in a stream after `after` events: `exception` (an exception event named
    `exception`), `cut` (the connection closes, mid-frame if `mid_frame`) or `stall`."""

    kind: str
    after: int = 2
    exception: str = "modelStreamErrorException"
    mid_frame: bool = False


@dataclass
class Received:
    operation: str
    model_id: str
    raw_path: str
    headers: dict[str, str]
    body: dict[str, Any]
    access_key: str


class AwsError(Exception):
    def __init__(self, error_type: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message
        self.status = status or ERROR_STATUS.get(error_type, 400)


class FakeBedrock:
    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.url = ""
        self.credentials: dict[str, tuple[str, str | None]] = {ACCESS_KEY: (SECRET_KEY, None)}
        self.expired_keys: set[str] = set()
        self.replies: deque[Reply] = deque()
        self.failures: deque[AwsError] = deque()
        self.retry_after: str | None = None
        self.stream_fault: StreamFault | None = None
        self.first_byte_delay = 0.0
        self.write_size = 0  # 0: one write per frame
        self.received: list[Received] = []
        self.sts_calls = 0
        self.sts_lifetime = timedelta(hours=1)
        self._closing = asyncio.Event()
        self._validator = ParamValidator()

    # --- steering -------------------------------------------------------------------------------

    def fail(self, error_type: str, message: str = "", *, times: int = 1, status: int | None = None) -> None:
        for _ in range(times):
            self.failures.append(AwsError(error_type, message or f"fake {error_type}", status))

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, region: str = "us-east-1") -> AsyncIterator[FakeBedrock]:
        fake = cls(region)
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/sts", fake._sts)
        app.router.add_post("/sts/", fake._sts)
        app.router.add_post("/{tail:.*}", fake._handle)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        fake.url = f"http://{host}:{port}"
        try:
            yield fake
        finally:
            fake._closing.set()
            await runner.cleanup()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, region: str = "us-east-1") -> Iterator[FakeBedrock]:
        """`running()` on an event loop of its own, for synchronous tests (the OpenAI SDK's)."""
        thread = LoopThread("fake-bedrock")
        manager = cls.running(region)
        try:
            fake: FakeBedrock = thread.call(manager.__aenter__)
            try:
                yield fake
            finally:
                thread.call(lambda: manager.__aexit__(None, None, None), timeout=10)
        finally:
            thread.stop()

    async def _pause(self, seconds: float) -> None:
        """A sleep that ends when the server shuts down, so a stalled handler never lingers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # --- request handling -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            received = await self._check(request)
            if self.failures:
                raise self.failures.popleft()
            if self.first_byte_delay:
                await self._pause(self.first_byte_delay)
            if received.operation == "InvokeModel":
                return web.json_response(titan_embedding(received.body))
            reply = self.replies.popleft() if self.replies else default_reply(received.body)
            if received.operation == "Converse":
                return web.json_response(converse_response(reply))
            return await self._stream(request, reply)
        except AwsError as error:
            headers = {"x-amzn-errortype": f"{error.error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                       "x-amzn-requestid": "fake-request-id"}
            if self.retry_after is not None:
                headers["Retry-After"] = self.retry_after
            return web.json_response({"message": error.message}, status=error.status, headers=headers)

    async def _check(self, request: web.Request) -> Received:
        body = await request.read()
        access_key = self._verify_signature(request, body)
        match = PATH.match(request.raw_path)
        if match is None:
            raise AwsError("UnknownOperationException", f"no operation at {request.raw_path}")
        model_id, operation = unquote(match.group(1)), OPERATIONS[match.group(2)]
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise AwsError("SerializationException", "body is not JSON", 400) from exc
        if operation != "InvokeModel":
            shape = SERVICE_MODEL.operation_model(operation).input_shape
            params = {"modelId": model_id, **decode_blobs(shape, payload)}
            report = self._validator.validate(params, shape)
            if report.has_errors():
                raise AwsError("ValidationException", report.generate_report())
        received = Received(operation, model_id, request.raw_path, dict(request.headers), payload, access_key)
        self.received.append(received)
        return received

    def _verify_signature(self, request: web.Request, body: bytes) -> str:
        header = request.headers.get("Authorization")
        if not header:
            raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token")
        match = AUTH.match(header)
        if match is None:
            raise AwsError("IncompleteSignatureException", "Authorization header is malformed")
        access_key, date, region, service, signed, signature = match.groups()
        amz_date = request.headers.get("X-Amz-Date", "")
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or not amz_date.startswith(date):
            raise AwsError("IncompleteSignatureException",
                           "host and x-amz-date must be signed, and the dates must agree")
        if region != self.region or service != "bedrock":
            raise AwsError("InvalidSignatureException", "Credential should be scoped to a valid region "
                           f"and service 'bedrock'; got {region}/{service}")
        if access_key not in self.credentials:
            raise AwsError("UnrecognizedClientException", INVALID_TOKEN)
        if access_key in self.expired_keys:
            raise AwsError("ExpiredTokenException", "The security token included in the request is expired")
        secret, token = self.credentials[access_key]
        if token is not None and request.headers.get("X-Amz-Security-Token") != token:
            raise AwsError("UnrecognizedClientException", INVALID_TOKEN)
        headers = {name: request.headers.get(name, "") for name in names}
        signable = AWSRequest(method=request.method, url=f"http://{request.host}{request.raw_path}",
                              headers=headers, data=body)
        signable.context["timestamp"] = amz_date
        signer = SigV4Auth(ReadOnlyCredentials(access_key, secret, token), "bedrock", region)
        string_to_sign = signer.string_to_sign(signable, signer.canonical_request(signable))
        expected = signer.signature(string_to_sign, signable)
        if not hmac.compare_digest(expected, signature):
            raise AwsError("InvalidSignatureException", "The request signature we calculated does not match "
                           "the signature you provided.")
        return access_key

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream",
                                               "x-amzn-requestid": "fake-request-id"})
        await response.prepare(request)
        fault = self.stream_fault
        for count, frame in enumerate(stream_frames(reply)):
            if fault is not None and count == fault.after:
                if fault.kind == "exception":
                    await self._write(response, exception_frame(fault.exception, f"fake {fault.exception}"))
                    break
                if fault.kind == "cut":
                    if fault.mid_frame:
                        await self._write(response, frame[: len(frame) // 2])
                    assert request.transport is not None
                    request.transport.close()
                    return response
                if fault.kind == "stall":
                    await self._pause(30.0)
                    return response
            await self._write(response, frame)
        await response.write_eof()
        return response

    async def _write(self, response: web.StreamResponse, data: bytes) -> None:
        size = self.write_size or len(data)
        for start in range(0, len(data), size):
            await response.write(data[start:start + size])
            if self.write_size:
                await asyncio.sleep(0)  # let each piece leave as its own TCP write

    async def _sts(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("Action") != "AssumeRoleWithWebIdentity" or not form.get("WebIdentityToken"):
            return web.Response(status=400, text="unsupported STS call")
        self.sts_calls += 1
        access_key, secret, token = f"ASIAFAKESTS{self.sts_calls:05d}", f"sts-secret-{self.sts_calls}", \
            f"sts-token-{self.sts_calls}"
        self.credentials[access_key] = (secret, token)
        expiration = (datetime.now(UTC) + self.sts_lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        role = str(form.get("RoleArn", ""))
        xml = (f'<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
               f"<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{access_key}</AccessKeyId>"
               f"<SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken>"
               f"<Expiration>{expiration}</Expiration></Credentials>"
               f"<AssumedRoleUser><Arn>{role}/fake</Arn><AssumedRoleId>AROAFAKE:fake</AssumedRoleId>"
               f"</AssumedRoleUser></AssumeRoleWithWebIdentityResult>"
               f"<ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>"
               f"</AssumeRoleWithWebIdentityResponse>")
        return web.Response(text=xml, content_type="text/xml")


# --- answers ----------------------------------------------------------------------------------


def default_reply(body: dict[str, Any]) -> Reply:
    """Without a script: report tool results if the last turn carries some, else echo the last
    user text, so tests can see what reached the model."""
    last = body["messages"][-1]["content"]
    results = [block["toolResult"] for block in last if "toolResult" in block]
    if results:
        parts = [f"{r['toolUseId']}={''.join(c.get('text', '') for c in r['content'])}" for r in results]
        return Reply(text="tool results: " + "; ".join(parts))
    texts = [block["text"] for block in last if "text" in block]
    return Reply(text="echo: " + (texts[-1] if texts else ""))


def _usage(reply: Reply) -> dict[str, int]:
    if reply.usage is not None:
        return reply.usage
    output = len(reply.text.split()) + 5 * len(reply.tool_uses)
    return {"inputTokens": 11, "outputTokens": output, "totalTokens": 11 + output}


def _stop_reason(reply: Reply) -> str:
    return reply.stop_reason or ("tool_use" if reply.tool_uses else "end_turn")


def converse_response(reply: Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
    content += [{"toolUse": {"toolUseId": i, "name": n, "input": a}} for i, n, a in reply.tool_uses]
    return {"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": _stop_reason(reply), "usage": _usage(reply), "metrics": {"latencyMs": 7}}


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    # Real Bedrock pads events with a "p" field so lengths leak nothing; so does the fake.
    payload = {**payload, "p": "abcdefghijklmnop"[: len(event_type)]}
    return encode_frame({":event-type": event_type, ":content-type": "application/json",
                         ":message-type": "event"}, orjson.dumps(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    return encode_frame({":exception-type": exception_type, ":content-type": "application/json",
                         ":message-type": "exception"}, orjson.dumps({"message": message}))


def stream_frames(reply: Reply) -> list[bytes]:
    frames = [event_frame("messageStart", {"role": "assistant"})]
    index = 0
    if reply.text:
        for piece in re.findall(r"\S+\s*|\s+", reply.text):
            delta = {"contentBlockIndex": 0, "delta": {"text": piece}}
            frames.append(event_frame("contentBlockDelta", delta))
        frames.append(event_frame("contentBlockStop", {"contentBlockIndex": 0}))
        index = 1
    for tool_id, name, arguments in reply.tool_uses:
        start = {"toolUse": {"toolUseId": tool_id, "name": name}}
        frames.append(event_frame("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        encoded = orjson.dumps(arguments).decode()
        for piece in (encoded[: len(encoded) // 2], encoded[len(encoded) // 2:]):
            frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": index,
                                                            "delta": {"toolUse": {"input": piece}}}))
        frames.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    frames.append(event_frame("messageStop", {"stopReason": _stop_reason(reply)}))
    frames.append(event_frame("metadata", {"usage": _usage(reply), "metrics": {"latencyMs": 7}}))
    return frames


def titan_embedding(body: dict[str, Any]) -> dict[str, Any]:
    """Titan v2's answer: a deterministic unit vector derived from the text."""
    text = body.get("inputText")
    unknown = set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}
    if not isinstance(text, str) or not text or unknown:
        raise AwsError("ValidationException", f"Malformed input request: {sorted(unknown) or 'inputText'}")
    dimensions = body.get("dimensions", 1024)
    if dimensions not in (256, 512, 1024):
        raise AwsError("ValidationException", "dimensions must be one of 256, 512, 1024")
    seed = hashlib.sha256(text.encode()).digest()
    raw = [seed[i % len(seed)] - 127.5 + i % 7 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw))
    return {"embedding": [v / norm for v in raw], "inputTextTokenCount": len(text.split())}


# --- wire helpers -----------------------------------------------------------------------------


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers (value type 7), CRCs included."""
    encoded = b"".join(
        struct.pack(">B", len(name.encode())) + name.encode() + struct.pack(">BH", 7, len(value.encode()))
        + value.encode() for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def decode_blobs(shape: Shape, value: Any) -> Any:
    """A rest-json body as botocore *parameters*: blob members are base64 text on the wire and
    bytes in parameters; everything else is the same. Walks the operation's input shape."""
    if shape.type_name == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise AwsError("ValidationException", f"invalid base64 for {shape.name}") from exc
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {k: decode_blobs(members[k], v) if k in members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [decode_blobs(shape.member, v) for v in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: decode_blobs(shape.value, v) for k, v in value.items()}  # type: ignore[attr-defined]
    return value
