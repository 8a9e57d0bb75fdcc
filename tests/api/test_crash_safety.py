"""Crash safety: ``kill -9`` the real server in the middle of its work, restart it, lose nothing.

The test starts ``packdesk serve`` as a subprocess on a free loopback port over a data directory
it builds itself (the session's small signed packs as this installation's built-ins, a SQLite
database, the local TEST MODE billing provider, no intent model: the server routes by
retrieval). It then kills the server with SIGKILL three times, each in the middle of work:

1. a load of asks: concurrent customers asking, each in its own conversation;
2. a burst of grants: local checkouts confirmed over HTTP (the local provider takes no
   webhooks; a confirmation runs the same fulfilment as a Stripe webhook);
3. a pack approval: killed as soon as the store starts installing the uploaded pack.

After each kill, before the restart, the SQLite database must pass ``PRAGMA integrity_check``
and ``PRAGMA foreign_key_check``; after each restart, every turn and grant whose HTTP response
was received must still be there (read back through the API), and nothing half-installed may be
loaded: ``/readyz`` lists exactly the built-in packs plus the approved ones, each a complete
installed version, never a ``.tmp-`` work directory. Checks accumulate: the last restart
re-checks what the first kill committed. The interrupted work must then be completable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.api.conftest import (
    DOCS_PER_PACK,
    BuiltPacks,
    PetPack,
    bearer,
    install_built_packs,
    key_registration,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 180.0  # a cold start on a busy 2-core machine: torch, the embedder, 3 packs
ASK_WORKERS = 4
ASKS_BEFORE_KILL = 10
GRANT_CUSTOMERS = 10
GRANT_WORKERS = 4
GRANTS_BEFORE_KILL = 6
QUESTIONS = [
    "How long does a late payment stay on my credit report?",
    "Can a debt collector contact me at work?",
    "What is a power of attorney?",
    "How do I cancel my order?",
    "I forgot my password and cannot log in",
    "Hello there!",
    "What does habeas corpus mean?",
    "Write me a poem about cats",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``packdesk serve`` over ``data_dir``; each start gets a fresh port and its own log."""

    def __init__(self, data_dir: Path, logs: Path) -> None:
        self.data_dir = data_dir
        self.logs = logs
        self.starts = 0
        self.kills = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def start(self) -> float:
        """Start and wait for ``/readyz`` 200; returns the seconds it took."""
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        # Only what the test sets: no PACKDESK_ variable of the caller's shell leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PACKDESK_")}
        env.update(
            PACKDESK_DATA_DIR=str(self.data_dir),
            PACKDESK_PUBLIC_BASE_URL=self.base_url,
            PACKDESK_BILLING_PROVIDER="local",
            PACKDESK_RATE_LIMIT_PER_MINUTE="100000000",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )
        # `python -m api.cli` from the repository root: the server runs this checkout's code
        # (the `packdesk` script would import whatever tree the venv was installed from).
        command = [sys.executable, "-m", "api.cli"]
        self.starts += 1
        self.log = self.logs / f"server-{self.starts}.log"
        started = time.perf_counter()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,  # its own process group, killed as one
            )
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() - started < READY_TIMEOUT_S:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"the server exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.base_url + "/readyz").status_code == 200:
                        return time.perf_counter() - started
                time.sleep(0.1)
        raise AssertionError(f"not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no drain, no flush."""
        assert self.proc is not None and self.proc.poll() is None, "the server is not running"
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def client(self, api_key: str | None = None) -> httpx.Client:
        headers = bearer(api_key) if api_key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60.0)


@dataclass
class Committed:
    """What the server answered before it was killed: it must survive every restart."""

    turns: dict[str, dict[str, set[int]]] = field(default_factory=dict)  # key -> conv -> turns
    grants: dict[str, set[str]] = field(default_factory=dict)  # customer key -> pack ids
    approved: set[str] = field(default_factory=set)  # third-party pack ids approved


@pytest.fixture
def data_dir(tmp_path: Path, built_packs: BuiltPacks) -> Path:
    settings = Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=tmp_path / "data")
    install_built_packs(settings, built_packs, list(DOCS_PER_PACK))
    return settings.data_dir


@pytest.fixture
def server(data_dir: Path, tmp_path: Path) -> Iterator[Server]:
    running = Server(data_dir, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def create_admin(data_dir: Path) -> str:
    """The first admin, through the core ledger (as ``packdesk accounts create`` does)."""
    from core.ledger.accounts import AccountService
    from core.ledger.db import create_database
    from core.migrations import migrate

    async def create() -> str:
        db = create_database(Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=data_dir))
        try:
            await migrate(db)
            _, api_key = await AccountService(db).create_account("crash admin", "admin")
            return api_key
        finally:
            await db.dispose()

    return asyncio.run(create())


def create_accounts(server: Server, admin_key: str, scope: str, count: int) -> list[str]:
    with server.client(admin_key) as client:
        keys = []
        for n in range(count):
            created = client.post(
                "/v1/admin/accounts", json={"name": f"{scope} {n}", "scope": scope}
            )
            assert created.status_code == 201, created.text
            keys.append(created.json()["api_key"])
    return keys


# --- after a kill --------------------------------------------------------------------------------
def check_database(data_dir: Path) -> None:
    """The SQLite file after SIGKILL, opened as the next start will (WAL recovered)."""
    with contextlib.closing(sqlite3.connect(data_dir / "packdesk.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def check_committed(server: Server, committed: Committed) -> None:
    """Every turn and grant the server answered for is still there, read through the API."""
    for api_key, conversations in committed.turns.items():
        with server.client(api_key) as client:
            for conversation_id, turn_ids in conversations.items():
                history = client.get(f"/v1/conversations/{conversation_id}")
                assert history.status_code == 200, (conversation_id, history.text)
                stored = {turn["turn_id"] for turn in history.json()["turns"]}
                assert turn_ids <= stored, f"lost turns {sorted(turn_ids - stored)}"
    for api_key, pack_ids in committed.grants.items():
        with server.client(api_key) as client:
            entitlements = client.get("/v1/entitlements").json()
            owned = [row["pack_id"] for row in entitlements if row["readable"]]
            assert pack_ids <= set(owned), f"lost grants {sorted(pack_ids - set(owned))}"
            assert len(owned) == len(set(owned)), f"a grant applied twice: {owned}"


def check_loaded_packs(server: Server, committed: Committed) -> list[str]:
    """``/readyz`` lists exactly the complete packs; returns leftover ``.tmp-`` directories."""
    from core.packs.store import PackStore

    settings = Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=server.data_dir)
    with server.client() as client:
        ready = client.get("/readyz").json()
        catalog = {pack["id"] for pack in client.get("/v1/packs").json()}
    loaded = set(ready["packs"])
    assert loaded == set(DOCS_PER_PACK) | committed.approved, ready
    assert catalog == loaded
    complete = {pack.pack_id: pack.root for pack in PackStore(settings).installed()}
    for pack_id in loaded:
        root = complete[pack_id]  # installed and verified, file by file, against its signature
        assert not any(part.startswith(".") for part in root.relative_to(settings.packs_dir).parts)
    return sorted(p.name for p in settings.packs_dir.iterdir() if p.name.startswith(".tmp-"))


# --- the work that gets killed -------------------------------------------------------------------
async def ask_until_killed(server: Server, keys: list[str], committed: Committed) -> int:
    """Customers ask one question after another until the server is killed (after
    ``ASKS_BEFORE_KILL`` answers); returns how many asks were in flight at the kill."""
    answered = 0
    in_flight = 0
    flights: list[int] = []  # asks in flight at the kill
    killed = asyncio.Event()

    async def customer(api_key: str, worker: int) -> None:
        nonlocal answered, in_flight
        conversation_id: str | None = None
        turns = committed.turns.setdefault(api_key, {})
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=bearer(api_key), timeout=60.0
        ) as client:
            for n in range(1000):
                body: dict[str, Any] = {"question": QUESTIONS[(worker + n) % len(QUESTIONS)]}
                if conversation_id:
                    body["conversation_id"] = conversation_id
                in_flight += 1
                try:
                    response = await client.post("/v1/ask", json=body)
                except httpx.TransportError:
                    assert killed.is_set(), "the connection failed before the kill"
                    return
                finally:
                    in_flight -= 1
                assert response.status_code == 200, response.text
                answer = response.json()
                conversation_id = answer["conversation_id"]
                turns.setdefault(conversation_id, set()).add(answer["turn_id"])
                answered += 1
                if answered >= ASKS_BEFORE_KILL and not killed.is_set():
                    killed.set()
                    flights.append(in_flight)
                    server.kill()

    await asyncio.gather(*(customer(key, n) for n, key in enumerate(keys)))
    assert killed.is_set()
    return flights[0]


async def buy_until_killed(
    server: Server, keys: list[str], committed: Committed
) -> list[tuple[str, str, str]]:
    """Customers buy both paid packs, confirming each local checkout over HTTP, until the server
    is killed (after ``GRANTS_BEFORE_KILL`` confirmations); returns the confirmations that got
    no answer: (customer key, pack id, checkout URL)."""
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for api_key in keys:
        for pack_id in ("finance", "legal"):
            queue.put_nowait((api_key, pack_id))
    unanswered: list[tuple[str, str, str]] = []
    killed = asyncio.Event()

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0) as client:
            while not queue.empty():
                api_key, pack_id = queue.get_nowait()
                try:
                    session = await client.post(
                        "/v1/checkout", json={"pack_id": pack_id}, headers=bearer(api_key)
                    )
                except httpx.TransportError:
                    assert killed.is_set(), "the connection failed before the kill"
                    return
                assert session.status_code == 201, session.text
                url = session.json()["checkout_url"]
                try:
                    confirmed = await client.post(url)
                except httpx.TransportError:
                    assert killed.is_set(), "the connection failed before the kill"
                    unanswered.append((api_key, pack_id, url))
                    return
                assert confirmed.status_code == 303, confirmed.text
                committed.grants.setdefault(api_key, set()).add(pack_id)
                if (
                    sum(map(len, committed.grants.values())) >= GRANTS_BEFORE_KILL
                    and not killed.is_set()
                ):
                    killed.set()
                    server.kill()

    await asyncio.gather(*(worker() for _ in range(GRANT_WORKERS)))
    assert killed.is_set()
    return unanswered


def approve_until_killed(server: Server, admin_key: str, pet: PetPack) -> str:
    """Approve the pending upload and kill the server as soon as the store starts installing
    it; returns how far the approval got: installing, installed or answered."""
    packs_dir = server.data_dir / "packs"
    before = {p.name for p in packs_dir.iterdir()}
    answered = threading.Event()

    def approve() -> None:
        with contextlib.suppress(httpx.TransportError), server.client(admin_key) as client:
            path = f"/v1/admin/packs/{pet.pack_id}/versions/{pet.version}/approve"
            if client.post(path).status_code == 200:
                answered.set()

    request = threading.Thread(target=approve)
    request.start()
    deadline = time.perf_counter() + 60
    stage = "answered"
    while time.perf_counter() < deadline and request.is_alive():
        new = {p.name for p in packs_dir.iterdir()} - before
        if new:
            stage = "installed" if pet.pack_id in new else "installing"
            break
    server.kill()
    request.join(timeout=60)
    return "answered" if answered.is_set() else stage


# --- the test ------------------------------------------------------------------------------------
def test_kill_9_loses_nothing_committed(server: Server, data_dir: Path, pet_pack: PetPack) -> None:
    committed = Committed()
    admin_key = create_admin(data_dir)
    timings = [server.start()]

    # 1. a load of asks
    customers = create_accounts(server, admin_key, "customer", ASK_WORKERS)
    interrupted_asks = asyncio.run(ask_until_killed(server, customers, committed))
    check_database(data_dir)
    timings.append(server.start())
    check_committed(server, committed)
    check_loaded_packs(server, committed)
    with server.client(customers[0]) as client:  # the conversations go on
        conversation_id = next(iter(committed.turns[customers[0]]))
        more = client.post(
            "/v1/ask", json={"question": "Thanks!", "conversation_id": conversation_id}
        )
        assert more.status_code == 200, more.text

    # 2. a burst of grants (local checkouts confirmed over HTTP)
    buyers = create_accounts(server, admin_key, "customer", GRANT_CUSTOMERS)
    unanswered = asyncio.run(buy_until_killed(server, buyers, committed))
    grants = sum(map(len, committed.grants.values()))
    check_database(data_dir)
    timings.append(server.start())
    check_committed(server, committed)
    check_loaded_packs(server, committed)
    with server.client() as client:  # an interrupted confirmation can be retried
        for api_key, pack_id, url in unanswered:  # (on the new port: the path is the capability)
            retried = client.post(httpx.URL(url).path)
            assert retried.status_code == 303, retried.text
            committed.grants.setdefault(api_key, set()).add(pack_id)
    check_committed(server, committed)  # granted once, whether or not the kill had committed

    # 3. a pack approval
    with server.client(admin_key) as client:
        created = client.post(
            "/v1/admin/accounts", json={"name": "publisher", "scope": "publisher"}
        )
        assert created.status_code == 201, created.text
    publisher, publisher_id = created.json()["api_key"], created.json()["account_id"]
    with server.client(publisher) as client:
        registered = client.post(
            "/v1/publisher/keys",
            json=key_registration(pet_pack.public_key, pet_pack.private_key, publisher_id),
        )
        assert registered.status_code == 201, registered.text
        uploaded = client.post(
            "/v1/publisher/packs",
            content=pet_pack.archive.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 201, uploaded.text
        # The pet pack is paid: its publisher completes (TEST MODE) payout onboarding first.
        onboarding = client.post("/v1/publisher/payouts/onboarding")
        assert onboarding.status_code == 201, onboarding.text
        onboarded = client.post(httpx.URL(onboarding.json()["url"]).path)
        assert onboarded.status_code == 303, onboarded.text
    stage = approve_until_killed(server, admin_key, pet_pack)
    check_database(data_dir)
    timings.append(server.start())
    with server.client(publisher) as client:
        status = {row["pack_id"]: row["status"] for row in client.get("/v1/publisher/packs").json()}
    if stage == "answered":
        assert status[pet_pack.pack_id] == "approved"
    if status[pet_pack.pack_id] == "approved":
        committed.approved.add(pet_pack.pack_id)
    leftovers = check_loaded_packs(server, committed)
    check_committed(server, committed)
    with server.client(admin_key) as client:  # the interrupted approval can be completed
        path = f"/v1/admin/packs/{pet_pack.pack_id}/versions/{pet_pack.version}/approve"
        again = client.post(path)
        assert again.status_code == (409 if pet_pack.pack_id in committed.approved else 200), (
            again.text
        )
    committed.approved.add(pet_pack.pack_id)
    check_loaded_packs(server, committed)

    turns = sum(len(t) for convs in committed.turns.values() for t in convs.values())
    print(
        f"\ncrash safety: {server.kills} kills survived; {turns} committed turns "
        f"({interrupted_asks} asks in flight at the kill), {grants} grants "
        f"({len(unanswered)} confirmations unanswered, then retried), approval killed while "
        f"{stage}; leftover work dirs {leftovers}; starts took {[round(t, 1) for t in timings]} s"
    )
    assert server.kills == 3
