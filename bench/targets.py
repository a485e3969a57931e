"""The servers a benchmark run drives, each a `Target`: the fake upstream (`direct`), the
bare pass-through on a given ASGI server, the gateway in production mode in any variant
(log level, usage drain, workers, server), and LiteLLM's proxy on the same upstream.

CPU and RSS are read from /proc for the target's whole process tree: the gateway's usage
drain and worker processes count, as the gateway's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
REDIS = "redis://127.0.0.1:6379/0"
BIN = Path(sys.executable).parent

CATALOG = """
providers:
  upstream: {{type: openai, base_url: "http://127.0.0.1:{port}/v1", api_key: sk-bench-upstream}}
models:
  bench-model:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: upstream, upstream: bench-model}}]
tiers:
  bench: {{rpm: 100000000, tpm: 100000000000, daily_tokens: 100000000000}}
"""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited; its log:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up; its log:\n{log.read_text()[-3000:]}")


def wait_url(url: str, timeout: float = 60) -> None:
    """Until `url` answers 200 (for servers whose process and log the caller does not hold)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def start(stack: ExitStack, args: list[str], log: Path, env: dict[str, str] | None = None
          ) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        out.close()
    stack.callback(stop)
    return process


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Target:
    name: str
    kind: str                      # direct | passthrough | gateway | litellm
    url: str                       # its chat completions URL
    process: subprocess.Popen[bytes]
    calibration: str | None = None  # the pass-through its throughput is compared with
    redis_pid: int | None = None    # a redis-server of its own (`Bench.start_redis`), whose CPU is read too
    served: int = 0                 # requests answered during the measured phases
    cpu_start: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)

    def cpu(self) -> float:
        """CPU seconds of the whole tree, and of the processes that have exited and been reaped."""
        return sum(cpu_seconds(pid) for pid in process_tree(self.process.pid))

    def serving_cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def redis_cpu(self) -> float:
        """CPU seconds of its own redis-server (0 when it shares the machine's)."""
        return cpu_seconds(self.redis_pid) if self.redis_pid is not None else 0.0

    def rss(self) -> float:
        """The largest process of the tree: the serving process (or, under a supervisor, a worker)."""
        return max(rss_mb(pid) for pid in process_tree(self.process.pid))

    def rss_tree(self) -> float:
        return sum(rss_mb(pid) for pid in process_tree(self.process.pid))


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([str(BIN / "llm-gateway"), *args], env=env, check=True, capture_output=True,
                          text=True, cwd=ROOT).stdout


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c", sql], check=True,
                   capture_output=True)


@dataclass
class Bench:
    """The shared pieces: the upstream, the database, the tenant key every target accepts."""
    stack: ExitStack
    logs: Path
    database: str = field(default_factory=lambda: f"gw_bench_{uuid.uuid4().hex[:8]}")
    upstream_port: int = 0
    key: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def start_upstream(self) -> Target:
        self.upstream_port = free_port()
        process = start(self.stack, [sys.executable, "-m", "bench.fake_upstream", "--port", str(self.upstream_port)],
                        self.logs / "upstream.log")
        base = f"http://127.0.0.1:{self.upstream_port}"
        wait_http(base + "/v1/models", process, self.logs / "upstream.log")
        return Target("direct", "direct", base + "/v1/chat/completions", process)

    def start_passthrough(self, server: str = "uvicorn") -> Target:
        port = free_port()
        name = "passthrough" if server == "uvicorn" else f"passthrough-{server}"
        log = self.logs / f"{name}.log"
        process = start(self.stack, [sys.executable, "-m", "bench.passthrough", "--port", str(port), "--upstream",
                                     f"http://127.0.0.1:{self.upstream_port}", "--server", server], log)
        wait_http(f"http://127.0.0.1:{port}/v1/models", process, log)
        return Target(name, "passthrough", f"http://127.0.0.1:{port}/v1/chat/completions", process)

    def prepare_gateway(self) -> None:
        """The database, migrated, with a tenant and its key."""
        psql(f'CREATE DATABASE "{self.database}"')
        self.stack.callback(lambda: psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        config = self.logs / "gateway.yaml"
        config.write_text(CATALOG.format(port=self.upstream_port))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(GATEWAY_DATABASE_URL=PG.format(db=self.database), GATEWAY_REDIS_URL=REDIS,
                   GATEWAY_CONFIG=str(config), GATEWAY_ADMIN_KEY="sk-admin-bench-" + uuid.uuid4().hex,
                   GATEWAY_USAGE_STREAM_KEY=f"gw:usage:bench:{self.database}")
        self.env = env
        cli(env, "migrate")
        cli(env, "tenants", "create", "bench", "--tier", "bench", "--models", "*")
        found = re.search(r"(sk-bench-\S+)", cli(env, "keys", "create", "--tenant", "bench"))
        assert found is not None
        self.key = found.group(1)

    def start_redis(self, name: str) -> tuple[str, int]:
        """A redis-server of one target's own (no persistence), so that its CPU per request and
        its commandstats are that target's alone: the machine's Redis is shared."""
        port = free_port()
        log = self.logs / f"{name}-redis.log"
        process = start(self.stack, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no"], log)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"redis-server on {port} did not come up; its log:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        return f"redis://127.0.0.1:{port}/0", process.pid

    def start_gateway(self, name: str, *, log_level: str = "info", drain: str = "process", workers: int = 1,
                      server: str = "uvicorn", source: Path | None = None, own_redis: bool = False) -> Target:
        """`serve` as a user runs it (uvicorn), or the same app on another ASGI server with a
        usage-drain process beside it. `source`: another checkout's gateway/ and providers/
        (put first on PYTHONPATH), for A/B runs of two versions against the same servers.
        `own_redis`: on a redis-server of its own, whose CPU `Target.redis_cpu` reads."""
        port = free_port()
        env = {**self.env, "GATEWAY_LOG_LEVEL": log_level, "GATEWAY_USAGE_DRAIN": drain}
        redis_pid = None
        if own_redis:
            env["GATEWAY_REDIS_URL"], redis_pid = self.start_redis(name)
        if source is not None:
            env["PYTHONPATH"] = str(source)
        log = self.logs / f"{name}.log"
        if server == "uvicorn":
            command = [str(BIN / "llm-gateway"), "serve", "--port", str(port), "--workers", str(workers)]
        elif server == "granian":
            command = [str(BIN / "granian"), "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port",
                       str(port), "--workers", str(workers), "--loop", "uvloop", "--no-log",
                       "gateway.cli.serve:worker_app"]
            if drain == "process":   # granian knows nothing of the drain: it runs beside, as in a pod
                start(self.stack, [str(BIN / "llm-gateway"), "usage-drain"], self.logs / f"{name}-drain.log",
                      env=env)
                env["GATEWAY_USAGE_DRAIN"] = "off"
        else:
            raise ValueError(f"unknown server {server!r}")
        process = start(self.stack, command, log, env=env)
        wait_http(f"http://127.0.0.1:{port}/healthz", process, log)
        calibration = "passthrough" if server == "uvicorn" else f"passthrough-{server}"
        notes = {"redis_port": env["GATEWAY_REDIS_URL"].rsplit(":", 1)[1].split("/")[0]} if own_redis else {}
        return Target(name, "gateway", f"http://127.0.0.1:{port}/v1/chat/completions", process,
                      calibration=calibration, redis_pid=redis_pid, notes=notes)

    def start_litellm(self) -> Target:
        from bench import litellm_proxy

        port = free_port()
        config = self.logs / "litellm.yaml"
        config.write_text(litellm_proxy.config(self.upstream_port))
        log = self.logs / "litellm.log"
        process = start(self.stack, litellm_proxy.command(config, port), log,
                        env=litellm_proxy.env(self.key))
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", process, log, timeout=180)
        return Target("litellm", "litellm", f"http://127.0.0.1:{port}/v1/chat/completions", process,
                      calibration="passthrough", notes={"version": litellm_proxy.version()})
