"""Load benchmark: the real server under concurrent ``POST /v1/ask`` or ``POST /v1/search``,
batching on and off.

For each batching mode it starts ``packdesk serve`` on a free loopback port over a prepared data
directory (``./var`` as ``packdesk prepare`` leaves it), measures start-to-ready (``/readyz``
200), then drives the endpoint with a fixed list of realistic questions (``/v1/ask``: finance,
medical, legal, customer support, greetings, out of scope; ``/v1/search``: queries for the
packs' content, searched over all of the account's active packs) from N concurrent clients for
a fixed time per level, and samples the server's CPU and memory. Prints a table, writes
``bench/load.json``, stops the server and removes what it made.

    .venv/bin/python bench/load.py [--endpoint ask|search] [--seconds 20] [--levels 1,8,32]
                                   [--modes on,off] [--backend B]
    .venv/bin/python bench/load.py --markdown      # the BENCHMARKS.md table from load.json

The load generator shares the machine with the server, so it must stay cheap: it sends requests
with aiohttp when installed (about a third of httpx's CPU per request), else httpx, and reports
its own CPU per request (``client_cpu_ms_per_request``) so a starved server can be told from a
slow one.

Scale out (issue 15): ``--workers 1,2`` runs ``packdesk serve --workers N`` for each N, on a
fresh PostgreSQL database made on ``--postgres`` (a server URL) and Redis at ``--redis-url``,
and reports the memory of each worker process (CPU and RSS are summed over the process tree):

    .venv/bin/python bench/load.py --modes on --levels 32 --workers 1,2 \
        --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        --redis-url redis://127.0.0.1:6379/0 --out bench/load_workers.json

The account: a fresh customer created with the core ledger services in a temporary database
(``PACKDESK_DATABASE_URL``; ``./var``'s own database is never touched), which then buys every
paid built-in pack through the local test-mode checkout (the real fulfilment path) and activates
it over HTTP. The per-key rate limit is lifted for the benchmark server only
(``PACKDESK_RATE_LIMIT_PER_MINUTE``), since one key sends thousands of requests a minute.
Exit status: 0 done, 2 no prepared data directory, 1 the server failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.machine import describe as describe_machine  # noqa: E402

console = Console()

# Mixed on purpose: answerable from each built-in pack, generic support questions with reply
# templates, platform intents, and questions no pack covers. Fixed, so runs are comparable.
QUESTIONS = [
    "Can a debt collector contact me at work?",
    "How long does a late payment stay on my credit report?",
    "My card payment was declined, why?",
    "How do I dispute a charge on my credit card?",
    "What is an escrow account on a mortgage?",
    "I was charged a fee for a cash withdrawal, is that normal?",
    "What are the symptoms of type 2 diabetes?",
    "How is high blood pressure treated?",
    "What causes migraines and how can I prevent them?",
    "Is asthma hereditary?",
    "What are the side effects of chemotherapy?",
    "What does habeas corpus mean?",
    "What is the difference between a misdemeanor and a felony?",
    "What is a power of attorney?",
    "Define tort in civil law",
    "How do I cancel my order?",
    "I want a refund for my last purchase",
    "How can I change my shipping address?",
    "I forgot my password and cannot log in",
    "Hello there!",
    "I want to talk to a human agent",
    "This is the worst service I have ever had, I am very angry",
    "What's the weather like on Mars tomorrow?",
    "Write me a poem about cats",
    "Who won the football world cup in 1998?",
    "Recommend a good pizza recipe",
]
# /v1/search: what a customer's search box receives, one per pack topic; fixed, like QUESTIONS.
SEARCH_QUERIES = [
    "debt collector contacting me at work",
    "late payment credit report",
    "card payment declined",
    "dispute a credit card charge",
    "escrow account mortgage",
    "cash withdrawal fee",
    "symptoms of type 2 diabetes",
    "high blood pressure treatment",
    "migraine causes and prevention",
    "is asthma hereditary",
    "chemotherapy side effects",
    "habeas corpus",
    "misdemeanor versus felony",
    "power of attorney",
    "tort in civil law",
    "cancel my order",
    "refund for a purchase",
    "change shipping address",
    "forgot password cannot log in",
    "talk to a human agent",
]
WARMUP_REQUESTS = 24
ENDPOINTS = ("ask", "search")


def request_body(endpoint: str, turn: int) -> dict[str, Any]:
    """The ``turn``-th request of a run: the same sequence on every run."""
    if endpoint == "search":
        return {"query": SEARCH_QUERIES[turn % len(SEARCH_QUERIES)], "top_k": 5}
    return {"question": QUESTIONS[turn % len(QUESTIONS)]}


@dataclass
class Level:
    batching: bool
    concurrency: int
    workers: int
    seconds: float
    endpoint: str = "ask"
    requests: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    throughput_rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu_pct: float = 0.0  # % of one core; 200 = both cores of a 2-core machine
    server_rss_mb: float = 0.0  # largest RSS sampled during the level
    # CPU the load generator itself spent per request (its process): what it took from the server.
    client_cpu_ms_per_request: float = 0.0
    # ask: answer / offer / out_of_scope; search: hits / no_hits
    answers: dict[str, int] = field(default_factory=dict)


@dataclass
class ServerRun:
    batching: bool
    start_to_ready_s: float
    rss_at_ready_mb: float
    workers: int = 1
    rss_per_worker_mb: list[float] = field(default_factory=list)  # each worker, at ready
    peak_rss_mb: float = 0.0  # VmHWM: the true peak over the whole run
    levels: list[Level] = field(default_factory=list)


# --- the server process ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ProcessProbe:
    """CPU time and memory of one process: psutil when installed, else /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            import psutil

            self._proc: Any = psutil.Process(pid)
        except ImportError:
            self._proc = None

    def cpu_seconds(self) -> float:
        if self._proc is not None:
            times = self._proc.cpu_times()
            return float(times.user + times.system)
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        if self._proc is not None:
            return float(self._proc.memory_info().rss) / 2**20
        return self._status_kb("VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        """The kernel's high-water mark of resident memory (Linux); else 0."""
        try:
            return self._status_kb("VmHWM") / 1024
        except (OSError, ValueError):
            return 0.0

    def _status_kb(self, key: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
        raise ValueError(f"{key} not in /proc/{self.pid}/status")


class TreeProbe:
    """A process and its descendants (the workers of ``serve --workers N``): CPU and RSS summed,
    RSS per worker."""

    def __init__(self, pid: int) -> None:
        self.root = ProcessProbe(pid)

    def _all(self) -> list[ProcessProbe]:
        probes, pending = [], [self.root.pid]
        while pending:
            pid = pending.pop()
            probes.append(ProcessProbe(pid))
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                pending.extend(int(child) for child in children)
        return probes

    def cpu_seconds(self) -> float:
        total = 0.0
        for probe in self._all():
            with contextlib.suppress(OSError, ValueError):
                total += probe.cpu_seconds()
        return total

    def rss_mb(self) -> float:
        total = 0.0
        for probe in self._all():
            with contextlib.suppress(OSError, ValueError):
                total += probe.rss_mb()
        return total

    def peak_rss_mb(self) -> float:
        return sum(probe.peak_rss_mb() for probe in self._all())

    def worker_rss_mb(self) -> list[float]:
        """RSS of each process that loaded the models (over 200 MiB: the supervisor and
        multiprocessing's resource tracker are small)."""
        sizes = []
        for probe in self._all():
            with contextlib.suppress(OSError, ValueError):
                sizes.append(probe.rss_mb())
        return sorted(round(size, 1) for size in sizes if size > 200)


class Sampler:
    """Samples a process's RSS in a thread while a level runs; CPU from cpu-time deltas."""

    def __init__(self, probe: ProcessProbe | TreeProbe, interval: float = 0.2) -> None:
        self.probe = probe
        self.interval = interval
        self.max_rss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._cpu0, self._t0 = self.probe.cpu_seconds(), time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_pct = (
            100 * (self.probe.cpu_seconds() - self._cpu0) / (time.perf_counter() - self._t0)
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):
                self.max_rss_mb = max(self.max_rss_mb, self.probe.rss_mb())


class Server:
    """``packdesk serve`` as a subprocess on loopback; stopped (and killed if need be) on exit."""

    def __init__(self, data_dir: Path, database_url: str, log_path: Path, *, batching: bool,
                 extra_env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ,
            "PACKDESK_DATA_DIR": str(data_dir),
            "PACKDESK_DATABASE_URL": database_url,
            "PACKDESK_BATCHING_ENABLED": "true" if batching else "false",
            "PACKDESK_RATE_LIMIT_PER_MINUTE": "100000000",
            "PACKDESK_PUBLIC_BASE_URL": self.base_url,
            # The benchmark buys its packs through the local TEST MODE checkout.
            "PACKDESK_BILLING_PROVIDER": "local",
            "PACKDESK_HOST": "127.0.0.1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            **extra_env,
        }
        packdesk = Path(sys.executable).parent / "packdesk"
        command = [str(packdesk)] if packdesk.exists() else [sys.executable, "-m", "api.cli"]
        self._log = log_path.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,  # our own process group: stopped as one
        )
        self.probe = TreeProbe(self.proc.pid)

    def wait_ready(self, timeout: float) -> float:
        """Seconds from spawn to the first ``/readyz`` 200."""
        deadline = self.started + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode}; "
                                       f"see its log:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.base_url + "/readyz").status_code == 200:
                        return time.perf_counter() - self.started
                time.sleep(0.05)
        raise RuntimeError(f"the server was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


# --- the account ---------------------------------------------------------------------------------
async def create_customer(data_dir: Path, database_url: str) -> str:
    """A new customer account in the benchmark's own database; returns its API key."""
    from core.ledger.accounts import AccountService
    from core.ledger.db import create_database
    from core.migrations import migrate
    from core.settings import Settings

    settings = Settings(_env_prefix="PACKDESK_BENCH_UNUSED_", data_dir=data_dir,
                        database_url=database_url)
    db = create_database(settings)
    try:
        await migrate(db)
        _, api_key = await AccountService(db).create_account("load benchmark", "customer")
    finally:
        await db.dispose()
    return api_key


def buy_and_activate_all(base_url: str, api_key: str) -> list[str]:
    """Buy every paid catalog pack through the local test-mode checkout, activate all packs."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        entitlements = client.get("/v1/entitlements").raise_for_status().json()
        owned = {e["pack_id"] for e in entitlements if e["readable"]}
        packs = [p["id"] for p in client.get("/v1/packs").raise_for_status().json()]
        for pack_id in packs:
            if pack_id not in owned:
                session = client.post("/v1/checkout", json={"pack_id": pack_id})
                session.raise_for_status()
                confirm = client.post(
                    f"/v1/billing/local/checkout/{session.json()['session_id']}"
                )
                if confirm.status_code not in (200, 303):
                    confirm.raise_for_status()
            client.post(f"/v1/packs/{pack_id}/activate").raise_for_status()
        active = [e["pack_id"] for e in client.get("/v1/entitlements").json() if e["active"]]
    return sorted(active)


# --- the load ------------------------------------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def kind_of(endpoint: str, body: Any) -> str:
    if endpoint == "search":
        return "hits" if body else "no_hits"
    if body.get("offer"):
        return "offer"
    if body.get("out_of_scope"):
        return "out_of_scope"
    return "answer"


class LoadClient:
    """Keep-alive JSON POSTs to one server: aiohttp when installed (lean), else httpx.

    ``post`` returns ``(status, parsed body or None)``; transport failures raise
    :class:`TransportError` naming the underlying exception's type.
    """

    # "auto": aiohttp when installed, else httpx (--client picks one to compare them).
    choice = "auto"

    def __init__(self, base_url: str, api_key: str, connections: int, timeout: float) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.connections = connections
        self.timeout = timeout
        self._session: Any = None
        self._httpx: httpx.AsyncClient | None = None
        self.library = "httpx"
        if self.choice != "httpx":
            try:
                import aiohttp
            except ImportError:
                if self.choice == "aiohttp":
                    raise
            else:
                self.library = "aiohttp"
                self._aiohttp = aiohttp

    async def __aenter__(self) -> LoadClient:
        if self.library == "aiohttp":
            aiohttp = self._aiohttp
            self._session = aiohttp.ClientSession(
                base_url=self.base_url,
                headers=self.headers,
                connector=aiohttp.TCPConnector(limit=self.connections),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        else:
            limits = httpx.Limits(max_connections=self.connections,
                                  max_keepalive_connections=self.connections)
            self._httpx = httpx.AsyncClient(base_url=self.base_url, headers=self.headers,
                                            limits=limits, timeout=self.timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._httpx is not None:
            await self._httpx.aclose()

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if self._session is not None:
            try:
                async with self._session.post(path, json=body) as response:
                    raw = await response.read()
                    return response.status, json.loads(raw) if response.status == 200 else None
            except (self._aiohttp.ClientError, TimeoutError) as exc:
                raise TransportError(type(exc).__name__) from exc
        assert self._httpx is not None
        try:
            response = await self._httpx.post(path, json=body)
        except httpx.HTTPError as exc:
            raise TransportError(type(exc).__name__) from exc
        return response.status_code, response.json() if response.status_code == 200 else None


class TransportError(Exception):
    """No HTTP response (connection refused or reset, timeout)."""


async def drive(base_url: str, api_key: str, concurrency: int, seconds: float,
                level: Level) -> None:
    """``concurrency`` clients, each sending one request after another, for ``seconds``."""
    latencies: list[float] = []
    path = f"/v1/{level.endpoint}"
    async with LoadClient(base_url, api_key, concurrency, timeout=30.0) as client:
        deadline = time.perf_counter() + seconds

        async def client_loop(worker: int) -> None:
            turn = worker
            while time.perf_counter() < deadline:
                body = request_body(level.endpoint, turn * 7)
                turn += concurrency
                start = time.perf_counter()
                try:
                    status, answer = await client.post(path, body)
                except TransportError as exc:
                    kind = str(exc)
                    level.errors += 1
                    level.error_kinds[kind] = level.error_kinds.get(kind, 0) + 1
                    continue
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    level.errors += 1
                    kind = str(status)
                    level.error_kinds[kind] = level.error_kinds.get(kind, 0) + 1
                    continue
                answer_kind = kind_of(level.endpoint, answer)
                level.answers[answer_kind] = level.answers.get(answer_kind, 0) + 1

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client_loop(w) for w in range(concurrency)))
        elapsed, client_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    ordered = sorted(latencies)
    transport_errors = sum(v for k, v in level.error_kinds.items() if not k.isdigit())
    level.requests = len(latencies) + transport_errors
    # Throughput counts answered requests only (HTTP 200); latencies cover every response.
    level.throughput_rps = (level.requests - level.errors) / elapsed
    level.p50_ms = 1000 * percentile(ordered, 50)
    level.p95_ms = 1000 * percentile(ordered, 95)
    level.p99_ms = 1000 * percentile(ordered, 99)
    level.mean_ms = 1000 * statistics.fmean(ordered) if ordered else 0.0
    level.max_ms = 1000 * ordered[-1] if ordered else 0.0
    level.client_cpu_ms_per_request = 1000 * client_cpu / max(1, level.requests)


async def warm(base_url: str, api_key: str, endpoint: str) -> None:
    """Each request once, so connection set-up and first-use costs stay out of the numbers."""
    async with LoadClient(base_url, api_key, 1, timeout=60.0) as client:
        for turn in range(WARMUP_REQUESTS):
            status, _ = await client.post(f"/v1/{endpoint}", request_body(endpoint, turn))
            if status != 200:
                raise RuntimeError(f"warm-up request {turn} to /v1/{endpoint} answered {status}")


def run_server(args: argparse.Namespace, work: Path, database_url: str, api_key: str,
               batching: bool, workers: int = 1) -> ServerRun:
    label = "on" if batching else "off"
    console.print(f"[bold]batching {label}, {workers} worker(s)[/bold]: starting the server ...")
    extra_env = {"PACKDESK_INFERENCE_BACKEND": args.backend}
    if args.redis_url:
        extra_env["PACKDESK_REDIS_URL"] = args.redis_url
    server = Server(args.data_dir, database_url, work / f"server-{label}-{workers}.log",
                    batching=batching, extra_env=extra_env, workers=workers)
    try:
        ready_s = server.wait_ready(args.ready_timeout)
        if workers > 1:  # /readyz answers once one worker is up: wait for all of them
            deadline = time.perf_counter() + args.ready_timeout
            while len(server.probe.worker_rss_mb()) < workers and time.perf_counter() < deadline:
                time.sleep(0.5)
            asyncio.run(wait_all_workers(server.base_url, workers, args.ready_timeout))
            ready_s = time.perf_counter() - server.started
        run = ServerRun(batching=batching, start_to_ready_s=round(ready_s, 2),
                        rss_at_ready_mb=round(server.probe.rss_mb(), 1), workers=workers,
                        rss_per_worker_mb=server.probe.worker_rss_mb())
        console.print(f"  ready in {ready_s:.2f} s (RSS {run.rss_at_ready_mb:.0f} MiB, per "
                      f"worker {run.rss_per_worker_mb})")
        active = buy_and_activate_all(server.base_url, api_key)
        console.print(f"  account's active packs: {', '.join(active)}")
        asyncio.run(warm(server.base_url, api_key, args.endpoint))
        for concurrency in args.levels:
            level = Level(batching=batching, concurrency=concurrency, workers=workers,
                          seconds=args.seconds, endpoint=args.endpoint)
            with Sampler(server.probe) as sampler:
                asyncio.run(drive(server.base_url, api_key, concurrency, args.seconds, level))
            level.server_cpu_pct = round(sampler.cpu_pct, 1)
            level.server_rss_mb = round(sampler.max_rss_mb, 1)
            for name in ("throughput_rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms",
                         "client_cpu_ms_per_request"):
                setattr(level, name, round(getattr(level, name), 1))
            console.print(
                f"  N={concurrency:>2}: {level.throughput_rps:6.1f} req/s, p50 {level.p50_ms:.0f} "
                f"ms, p99 {level.p99_ms:.0f} ms, errors {level.errors} {level.error_kinds or ''}"
                f" (client CPU {level.client_cpu_ms_per_request:.1f} ms/request)"
            )
            run.levels.append(level)
            if server.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {server.proc.returncode} under load; "
                                   f"its log:\n{server.log_tail()}")
        run.peak_rss_mb = round(max(server.probe.peak_rss_mb(),
                                    *(lv.server_rss_mb for lv in run.levels)), 1)
        return run
    finally:
        server.stop()


async def wait_all_workers(base_url: str, workers: int, timeout: float) -> None:
    """Until ``workers`` distinct worker processes have answered ``/readyz`` 200."""
    seen: set[int] = set()
    deadline = time.perf_counter() + timeout
    while len(seen) < workers and time.perf_counter() < deadline:
        # A new connection per probe, so the kernel spreads them over the workers.
        async with httpx.AsyncClient(timeout=5.0) as client:
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(base_url + "/readyz")
                if response.status_code == 200:
                    seen.add(response.json().get("pid", 0))
        await asyncio.sleep(0.05)


async def create_postgres_database(server_url: str) -> tuple[str, str]:
    """A fresh database on the PostgreSQL server of ``server_url``: (its URL, its name)."""
    import uuid

    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"packdesk_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username,
                                  password=url.password, database=url.database)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False), name


async def drop_postgres_database(server_url: str, name: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username,
                                  password=url.password, database=url.database)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# --- report --------------------------------------------------------------------------------------
def targets(runs: list[ServerRun], endpoint: str = "ask") -> dict[str, Any]:
    """The issue's targets (issue 16) for ``endpoint``, each with the measured value and
    whether it is met."""
    by = {(r.batching, lv.concurrency): lv for r in runs if r.workers == 1 for lv in r.levels}
    result: dict[str, Any] = {}
    if endpoint == "ask" and (True, 1) in by:
        value = by[(True, 1)].p50_ms
        result["c1_p50_at_most_20ms"] = {"value": value, "met": value <= 20}
    if (True, 32) in by:
        top = by[(True, 32)]
        floor = 300 if endpoint == "search" else 150
        result[f"c32_at_least_{floor}_rps"] = {"value": top.throughput_rps,
                                               "met": top.throughput_rps >= floor}
        result["c32_zero_errors"] = {"value": top.errors, "met": top.errors == 0}
        if endpoint == "ask":
            result["c32_p99_under_500ms"] = {"value": top.p99_ms, "met": top.p99_ms < 500}
        if (False, 32) in by and by[(False, 32)].throughput_rps:
            ratio = top.throughput_rps / by[(False, 32)].throughput_rps
            result["c32_batching_2x"] = {"value": round(ratio, 2), "met": ratio >= 2}
    for run in runs:
        label = "on" if run.batching else "off"
        result[f"ready_at_most_5s_batching_{label}"] = {
            "value": run.start_to_ready_s, "met": run.start_to_ready_s <= 5
        }
        result[f"peak_rss_under_1.5GB_batching_{label}"] = {
            "value": run.peak_rss_mb, "met": run.peak_rss_mb < 1536
        }
    return result


def print_table(report: dict[str, Any]) -> None:
    endpoint = report.get("endpoint", "ask")
    table = Table(title=f"POST /v1/{endpoint} under load ({report['seconds_per_level']:.0f} s per "
                        f"level, {report.get('inference_backend', 'torch')} inference, "
                        f"{report.get('client', 'httpx')} client)")
    for column in ("endpoint", "batching", "workers", "N", "req/s", "p50 ms", "p95 ms", "p99 ms",
                   "errors", "server CPU %", "server RSS MiB", "client CPU ms/req"):
        table.add_column(column, justify="right")
    for run in report["runs"]:
        for lv in run["levels"]:
            table.add_row(lv.get("endpoint", "ask"), "on" if lv["batching"] else "off",
                          str(lv.get("workers", 1)), str(lv["concurrency"]),
                          f"{lv['throughput_rps']:.1f}", f"{lv['p50_ms']:.0f}",
                          f"{lv['p95_ms']:.0f}", f"{lv['p99_ms']:.0f}", str(lv["errors"]),
                          f"{lv['server_cpu_pct']:.0f}", f"{lv['server_rss_mb']:.0f}",
                          f"{lv.get('client_cpu_ms_per_request', 0):.1f}")
    console.print(table)
    for run in report["runs"]:
        console.print(f"batching {'on' if run['batching'] else 'off'}, "
                      f"{run.get('workers', 1)} worker(s): ready in "
                      f"{run['start_to_ready_s']:.2f} s, peak RSS {run['peak_rss_mb']:.0f} MiB, "
                      f"per worker at ready {run.get('rss_per_worker_mb', [])} MiB")
    for name, target in report["targets"].items():
        mark = "[green]met[/green]" if target["met"] else "[red]missed[/red]"
        console.print(f"  {name}: {target['value']} {mark}")


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| endpoint | batching | workers | N | req/s | p50 ms | p95 ms | p99 ms | errors | "
        "server CPU % | server RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in report["runs"]:
        for lv in run["levels"]:
            lines.append(
                f"| /v1/{lv.get('endpoint', 'ask')} | {'on' if lv['batching'] else 'off'} | "
                f"{lv.get('workers', 1)} | "
                f"{lv['concurrency']} | "
                f"{lv['throughput_rps']:.1f} | {lv['p50_ms']:.0f} | {lv['p95_ms']:.0f} | "
                f"{lv['p99_ms']:.0f} | {lv['errors']} | {lv['server_cpu_pct']:.0f} | "
                f"{lv['server_rss_mb']:.0f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "var",
                        help="a data directory prepared by `packdesk prepare` (default ./var)")
    parser.add_argument("--endpoint", default="ask", choices=ENDPOINTS,
                        help="the route to load: POST /v1/ask (default) or POST /v1/search")
    parser.add_argument("--client", default="auto", choices=["auto", "aiohttp", "httpx"],
                        help="the load generator's HTTP client (auto: aiohttp when installed)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per concurrency level")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--modes", default="on,off", help="batching modes to run: on, off or both")
    parser.add_argument("--backend", default="onnx-int8", choices=["torch", "onnx", "onnx-int8"],
                        help="PACKDESK_INFERENCE_BACKEND of the server (ONNX exports are made "
                             "on its first start and cached in the data directory)")
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument("--workers", default="1",
                        help="server worker counts to run, comma-separated (serve --workers N)")
    parser.add_argument("--postgres", default=None,
                        help="a PostgreSQL server URL: the benchmark makes (and drops) a fresh "
                             "database there instead of a temporary SQLite file")
    parser.add_argument("--redis-url", default=None, help="PACKDESK_REDIS_URL of the server")
    parser.add_argument("--out", type=Path, default=HERE / "load.json")
    parser.add_argument("--markdown", action="store_true",
                        help="print the BENCHMARKS.md table of --out and exit")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())))
        return 0
    args.levels = [int(n) for n in args.levels.split(",")]
    LoadClient.choice = args.client
    worker_counts = [int(n) for n in args.workers.split(",")]
    if any(n > 1 for n in worker_counts) and not args.postgres:
        parser.error("--workers above 1 needs --postgres (several processes share one database)")
    modes = [m.strip() for m in args.modes.split(",")]
    if not set(modes) <= {"on", "off"}:
        parser.error(f"--modes takes on and/or off, got {args.modes!r}")
    args.data_dir = args.data_dir.resolve()
    packs_dir = args.data_dir / "packs"
    if not packs_dir.is_dir() or not any(packs_dir.iterdir()):
        console.print(f"[red]no prepared packs in {packs_dir}[/red]: run `packdesk prepare` "
                      "(or `make run`) first, or pass --data-dir")
        return 2
    if not (args.data_dir / "models" / "intents" / "current").exists():
        console.print("[yellow]no default intent model in the data directory: the server "
                      "routes by retrieval only (one model forward per request)[/yellow]")

    work = Path(tempfile.mkdtemp(prefix="packdesk-load-"))
    database_url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    pg_name = None
    if args.postgres:
        database_url, pg_name = asyncio.run(create_postgres_database(args.postgres))
    runs: list[ServerRun] = []
    try:
        api_key = asyncio.run(create_customer(args.data_dir, database_url))
        for mode in modes:
            for workers in worker_counts:
                runs.append(run_server(args, work, database_url, api_key,
                                       batching=mode == "on", workers=workers))
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if pg_name is not None:
            asyncio.run(drop_postgres_database(args.postgres, pg_name))
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": describe_machine(),
        "command": "python bench/load.py " + " ".join(sys.argv[1:]),
        "seconds_per_level": args.seconds,
        "inference_backend": args.backend,
        "endpoint": args.endpoint,
        "client": LoadClient("", "", 1, 1.0).library,
        "database": "postgresql" if args.postgres else "sqlite",
        "redis": bool(args.redis_url),
        "questions": len(SEARCH_QUERIES if args.endpoint == "search" else QUESTIONS),
        "runs": [asdict(run) for run in runs],
    }
    report["targets"] = targets(runs, args.endpoint)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
