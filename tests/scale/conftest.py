"""A small cluster for the scale-out tests: real ``packdesk serve`` nodes on one PostgreSQL
database and one Redis, each node with its own data directory.

Redis is a ``redis-server`` this module starts on a free port (so a test can stop and restart
it without touching the machine's own); PostgreSQL is a fresh database on the machine's server
(tests/api/conftest.py ``postgres_url``), which one node reaches through a TCP proxy a test can
cut (:mod:`tests.scale.proxy`). Without either, the tests skip and say which.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# The session's small signed packs and the shared embedder, built once (tests/api).
from tests.api.conftest import PetPack, built_packs  # noqa: F401
from tests.scale.proxy import TcpProxy

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 240.0  # a cold start on a busy 2-core machine: torch, the embedder, packs
# Long on purpose: a change seen by another node within a second cannot be the TTL's doing.
ACCESS_CACHE_SECONDS = 30
RATE_LIMIT_PER_MINUTE = 200


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port (no persistence)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.2
            ):
                return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


class Node:
    """``packdesk serve`` (``--workers N``) over its own data directory, on the shared
    PostgreSQL database and Redis."""

    def __init__(self, name: str, data_dir: Path, database_url: str, redis_url: str,
                 logs: Path, workers: int = 1) -> None:
        self.name = name
        self.data_dir = data_dir
        self.database_url = database_url
        self.redis_url = redis_url
        self.logs = logs
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PACKDESK_")}
        env.update(
            PACKDESK_DATA_DIR=str(self.data_dir),
            PACKDESK_DATABASE_URL=self.database_url,
            PACKDESK_REDIS_URL=self.redis_url,
            PACKDESK_PUBLIC_BASE_URL=self.base_url,
            PACKDESK_BILLING_PROVIDER="local",
            PACKDESK_RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT_PER_MINUTE),
            PACKDESK_ACCESS_CACHE_SECONDS=str(ACCESS_CACHE_SECONDS),
            PACKDESK_REPLICATION_INTERVAL_SECONDS="600",  # notifications only, no fallback tick
            # The vectors the cluster's intent head was trained on (and no ONNX export per node).
            PACKDESK_INFERENCE_BACKEND="torch",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            OMP_NUM_THREADS="1",
        )
        return env

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{self.name}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        started = time.monotonic()
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() - started < timeout_s:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"node {self.name} exited:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.base_url + "/readyz").status_code == 200:
                        return time.monotonic() - started
                time.sleep(0.2)
        raise AssertionError(f"node {self.name} not ready:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The worker processes under the supervisor (``--workers`` > 1)."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        pids = [int(pid) for pid in children.split()]
        # The supervisor's own helper (multiprocessing's resource tracker) runs no server.
        return [pid for pid in pids if b"resource_tracker" not in _cmdline(pid)]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        path = self.logs / f"{self.name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def logged_statuses(self) -> Counter[int]:
        """The statuses of the node's request log lines (``packdesk.requests``), by count."""
        statuses: Counter[int] = Counter()
        for line in (self.logs / f"{self.name}.log").read_text(errors="replace").splitlines():
            start = line.find('{"event": "request"')
            if start >= 0:
                statuses[int(json.loads(line[start:])["status"])] += 1
        return statuses

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: the scale-out tests need Redis")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_postgres() -> Iterator[str]:
    """A fresh PostgreSQL database for the module's cluster (dropped afterwards)."""
    from tests.core.ledger.conftest import throwaway_postgres_database

    reason = ": the scale-out tests need it"
    with throwaway_postgres_database("packdesk_scale", skip_reason=reason) as url:
        yield url


@pytest.fixture(scope="module")
def postgres_proxy(shared_postgres: str) -> Iterator[TcpProxy]:
    """A proxy in front of the module's PostgreSQL server (:func:`proxied_url` goes through it)."""
    from sqlalchemy.engine import make_url

    url = make_url(shared_postgres)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432, free_port())
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def proxied_url(database_url: str, proxy: TcpProxy) -> str:
    """``database_url`` with the proxy's address for the server's."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


PET_INTENT_EXAMPLES = [
    "which vaccines does my puppy need",
    "when should my kitten get its shots",
    "is the rabies vaccine required for my dog",
    "how often does a cat need booster vaccinations",
    "what does the parvovirus vaccine protect against",
    "my puppy missed a vaccination, what now",
]


@pytest.fixture(scope="module")
def pet_pack(
    tmp_path_factory: pytest.TempPathFactory,
    shared_embedder: Any,
) -> PetPack:
    """The publisher journey's pet-care pack (tests/api), with an intent of its own: approved
    after the cluster's intent model was trained, so no registered version knows its label."""
    from core.packs.builder import build_pack
    from core.packs.signing import generate_keypair
    from core.retrieval.pack_index import PackIndexer
    from plugins.faiss_index import FaissBackend
    from tests.api.test_publisher_journey import write_pet_pack

    root = tmp_path_factory.mktemp("scale-pet-pack")
    private_key, public_key, key_id = generate_keypair(root / "keys", name="pets")
    source = write_pet_pack(root / "source")
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["intents"] = [{"name": "vaccinations", "examples": PET_INTENT_EXAMPLES}]
    (source / "manifest.json").write_text(json.dumps(manifest))
    archive = root / "pet-care.kpack"
    build_pack(
        source,
        private_key_path=private_key,
        out_path=archive,
        index_builder=PackIndexer(shared_embedder, FaissBackend()),
    )
    return PetPack(archive=archive, public_key=public_key, private_key=private_key, key_id=key_id)
