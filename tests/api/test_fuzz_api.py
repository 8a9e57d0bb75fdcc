"""Property-based fuzzing of every route in the app's own OpenAPI document (schemathesis).

The document is read from the running app (``GET /schema/openapi.json``) and every operation in
it is fuzzed in-process through Litestar's test client, once per caller: a customer, a
publisher and an admin key (accounts made through the app's own ledger), and no key. For each
operation and caller, schemathesis' hypothesis strategies draw positive cases (valid by the
document) and negative ones (violating it); the route's own scope also gets positive cases
whose ids are real (packs, versions, a conversation, a checkout session, a pending upload), so
the handlers get past their lookups; positive cases whose strings carry hostile characters
(NUL, CRLF, quotes, path traversal, ...); and schemathesis' coverage cases (boundary lengths and
values, wrong types, missing fields and bodies, wrong content types, methods a route lacks).
Budgets are fixed and generation is derandomized: every run sends the same cases, and CI time
stays flat. The default budgets (``BUDGETS``) keep the eight fuzzing cases at about a minute in
all on a 2-core machine; for a deeper run, multiply every budget with ``PACKDESK_FUZZ_SCALE``
(``PACKDESK_FUZZ_SCALE=3 pytest tests/api/test_fuzz_api.py`` sends at least what the suite sent
before the budgets were cut; a larger factor, more). The coverage cases are not a budget: all
of them are sent in every run. Generation does not depend on the caller, so each operation's
cases are drawn once per session and sent by every caller (``DRAWN``), except the known-id
cases, whose ids are each test's own.

Every response must:

- never be a 5xx (nor an exception out of the app);
- for every error status, be RFC 9457 problem JSON (``application/problem+json`` with ``type``,
  ``title``, ``status`` and ``detail``; ``api/errors.py``);
- conform to the document: a success status the operation documents, and for a documented
  status its content type, headers and body schema; a streamed answer
  (``"stream": true``) is checked event by event against the event models instead;
- reject negative data with a 4xx.

Every route documents its error responses as problem JSON (api/openapi_errors.py); that the
document says so is tested on its own below (``test_error_responses_are_documented``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from litestar.testing import TestClient
from pydantic import BaseModel
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from api.schemas import AnswerPiece, AskStreamSummary, IntentOut
from tests.api.conftest import Accounts, bearer, register_publisher_key

BASE_URL = "http://testserver.local"
SCOPES = ("customer", "publisher", "admin")
CALLERS = (*SCOPES, "anonymous")


@dataclass(frozen=True)
class Budget:
    """Cases per operation and caller. The route's own caller (any caller of a public route)
    gets ``own`` per generation mode, the hostile-text and known-id passes and the coverage
    cases; a caller the guard turns away gets ``other`` per mode."""

    own: int
    other: int
    hostile: int
    known_ids: int
    coverage: bool

    def scaled(self, factor: float) -> Budget:
        """Every count times ``factor`` (rounded up, at least one case)."""

        def times(count: int) -> int:
            return max(1, math.ceil(count * factor))

        return Budget(
            own=times(self.own),
            other=times(self.other),
            hostile=times(self.hostile),
            known_ids=times(self.known_ids),
            coverage=self.coverage,
        )


# About a third of what they were (own 15/4, other 2/1, hostile 16/16, known ids 12/8, for
# SQLite/PostgreSQL), so that the eight fuzzing cases fit in about a minute of a 2-core CI run
# (they took about 190 s there). Measured alone on a 2-core machine, their calls took 43-52 s
# with the old budgets and no shared draws, and about 19 s with these and DRAWN. Every
# operation is still fuzzed for every caller and database, in both generation modes, with every
# coverage case; what is cut is the number of random draws per operation and caller.
# PACKDESK_FUZZ_SCALE multiplies them for a deeper run (module docstring).
BUDGETS = {
    "sqlite": Budget(own=5, other=1, hostile=6, known_ids=4, coverage=True),
    # What differs on PostgreSQL is storage: the strings that reach it, not the shapes.
    "postgresql": Budget(own=2, other=1, hostile=8, known_ids=3, coverage=False),
}
FUZZ_SCALE = float(os.environ.get("PACKDESK_FUZZ_SCALE", "1"))
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# NUL (PostgreSQL text cannot hold it), bidi override, emoji, CRLF (log and header
# injection), quoting, path traversal, a percent-encoded NUL, a URL-shaped id.
HOSTILE_TEXT = ["\x00", "\u202e", "\U0001f600", "\r\n", "'\"; --", "../..", "%00", "?x=/#"]
SCHEMA_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
STREAM_EVENTS: dict[str, type[BaseModel] | None] = {
    "intent": IntentOut,
    "answer": AnswerPiece,
    "citations": AskStreamSummary,
    "done": None,
}


@dataclass(frozen=True)
class Finding:
    """One kind of failure: the first case that showed it, and how often it was seen."""

    operation: str
    caller: str
    check: str
    status: int | None
    request: str
    response: str
    nul: bool  # the request carried a NUL character

    def __str__(self) -> str:
        return (
            f"{self.operation} as {self.caller}: {self.check} (status {self.status})\n"
            f"    request:  {self.request}\n    response: {self.response}"
        )


@dataclass(frozen=True)
class KnownDefect:
    """A failure the fuzzer finds in a file this suite does not own: reported, not fixed here."""

    database: str
    operation: str
    check: str
    where: str  # whose code, and what

    def matches(self, database: str, finding: Finding) -> bool:
        # Only with a NUL character sent: PostgreSQL text cannot hold U+0000.
        return (database, finding.operation, finding.check) == (
            self.database,
            self.operation,
            self.check,
        ) and finding.nul


# Failures found in files this suite does not own, reported and expected by name until fixed.
# None today: the NUL cases (PostgreSQL text cannot hold U+0000) are refused before any query
# (api/app.py refuse_nul_in_path, AskRequest.conversation_id's pattern).
KNOWN_DEFECTS: list[KnownDefect] = []


@pytest.fixture
def fuzz_database(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def api_settings(api_settings, fuzz_database: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    # One key sends hundreds of requests a minute here; the limit itself has its own test.
    update: dict[str, Any] = {"rate_limit_per_minute": 10**9}
    if fuzz_database == "postgresql":
        update["database_url"] = request.getfixturevalue("postgres_url")
    return api_settings.model_copy(update=update)


@dataclass
class Fuzzer:
    """Sends schemathesis cases through the test client and records what each check finds."""

    client: TestClient
    keys: dict[str, str]
    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    findings: dict[tuple[str, str, str, int | None], Finding] = field(default_factory=dict)
    seen: Counter[tuple[str, str, str, int | None]] = field(default_factory=Counter)

    document: str = ""  # the digest of the fuzzed OpenAPI document (the key of DRAWN)

    def run(
        self,
        operation: Any,
        caller: str,
        strategy: Any,
        max_examples: int,
        kind: str,
        *,
        keep: bool = True,
    ) -> None:
        """Send ``max_examples`` cases of ``strategy`` as ``caller``. With ``keep``, the cases
        are drawn once per session for every caller (:data:`DRAWN`); a strategy of the test's
        own data (its ids) passes ``keep=False``."""
        key = (self.document, operation.label, kind, str(max_examples))
        cases = DRAWN.get(key) if keep else None
        if cases is None:
            cases = _draw(strategy, max_examples)
            if keep:
                DRAWN[key] = cases
        for case in cases:
            self.check(operation.label, caller, case, kind)

    def run_coverage(self, operation: Any, caller: str) -> None:
        """Schemathesis' coverage cases: boundary lengths and values, each property of the
        wrong type or missing, no body, a wrong content type, methods the route lacks."""
        key = (self.document, operation.label, "coverage")
        cases = DRAWN.get(key)
        if cases is None:
            schema = operation.schema
            cases = DRAWN[key] = list(
                schema.iter_coverage_cases(
                    operation,
                    generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                    generation_config=schema.config.generation,
                )
            )
        for case in cases:
            self.check(operation.label, caller, case, "coverage")

    def check(self, label: str, caller: str, case: Any, kind: str) -> None:
        headers = bearer(self.keys[caller]) if caller in self.keys else {}
        prepared = _prepare(case, headers)
        if _addresses_another_route(case, prepared):
            return
        self.cases[kind] += 1
        wire = _describe(prepared)
        nul = _carries_nul(prepared)

        def record(check: str, status: int | None, text: str) -> None:
            self._record(label, caller, check, status, wire, text, nul)

        try:
            response = self.client.request(
                prepared.method or "GET",
                prepared.url or "",
                headers={k: v for k, v in prepared.headers.items() if k != "Content-Length"},
                content=prepared.body,
                follow_redirects=False,
            )
        except Exception as exc:  # an exception out of the app: a crash, like a 5xx
            record("exception", None, f"{type(exc).__name__}: {exc}")
            return
        status = response.status_code
        self.statuses[f"{status // 100}xx"] += 1
        text = response.text[:300]
        if status >= 500:
            record("server-error", status, text)
        if status >= 400:
            problem = _problem_violation(response)
            if problem:
                record(f"problem-json: {problem}", status, text)
        streamed = response.headers.get("content-type", "").startswith("text/event-stream")
        if streamed:
            violation = _stream_violation(response.text)
            if violation:
                record(f"event-stream: {violation}", status, text)
        checks = [negative_data_rejection]
        if not streamed:  # the document describes the events in prose only (see module doc)
            checks += SCHEMA_CHECKS
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            for failure in group.exceptions:
                if isinstance(failure, UndefinedStatusCode) and status >= 400:
                    continue  # the known documentation gap, tested on its own
                record(type(failure).__name__, status, f"{failure.title}: {text}")

    def _record(
        self,
        label: str,
        caller: str,
        check: str,
        status: int | None,
        wire: str,
        text: str,
        nul: bool,
    ) -> None:
        key = (label, caller, check, status)
        self.seen[key] += 1
        self.findings.setdefault(key, Finding(label, caller, check, status, wire, text, nul))

    def split(self, database: str) -> tuple[list[str], list[str]]:
        """The findings as report lines: (unknown ones, known defects of other files)."""
        unknown, known = [], []
        for key, finding in sorted(self.findings.items(), key=lambda item: str(item[0])):
            line = f"[{self.seen[key]}x] {finding}"
            defect = next((d for d in KNOWN_DEFECTS if d.matches(database, finding)), None)
            if defect is None:
                unknown.append(line)
            else:
                known.append(f"{line}\n    known defect: {defect.where}")
        return unknown, known


# The cases drawn for each (document digest, operation, kind, budget), kept for the session.
# Generation is derandomized and does not depend on the caller, whose key is added as a case is
# sent: every caller of an operation drew the same cases, on each database. Drawing was most of
# the fuzzer's time (for an operation with little to negate, hypothesis discards hundreds of
# draws), so each is drawn once and sent by every caller; run alone, a test draws its own.
DRAWN: dict[tuple[str, ...], list[Any]] = {}


def _draw(strategy: Any, max_examples: int) -> list[Any]:
    """The cases hypothesis draws from ``strategy`` with this budget (derandomized: the same
    ones in every run)."""
    cases: list[Any] = []

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # cases are recorded, never shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def draw(case: Any) -> None:
        cases.append(case)

    try:
        draw()
    except Unsatisfiable:
        pass  # nothing to negate: an operation without parameters or body
    return cases


def _addresses_another_route(case: Any, prepared: requests.PreparedRequest) -> bool:
    """A path parameter that changes the path's segments: ``/v1/packs/{pack_id}`` with ``""``,
    or with ``x/..`` (which the client resolves), is ``/v1/packs/``, the catalog: another
    route with another schema."""
    path = urlsplit(prepared.url or "").path
    return path.rstrip("/").count("/") != case.operation.path.count("/")


def _prepare(case: Any, headers: dict[str, str]) -> requests.PreparedRequest:
    """The case as bytes on the wire, serialized by schemathesis' own requests transport."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    return requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        data=kwargs.get("data"),
        files=kwargs.get("files"),
        cookies=kwargs.get("cookies"),
    ).prepare()


def _carries_nul(prepared: requests.PreparedRequest) -> bool:
    body = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body or "").encode()
    return "%00" in (prepared.url or "") or b"\x00" in body or b"\\u0000" in body


def _describe(prepared: requests.PreparedRequest) -> str:
    body = prepared.body
    if isinstance(body, bytes):
        body = body[:200].decode("utf-8", errors="replace")
    return f"{prepared.method} {prepared.url} body={body!r}"[:400]


def _problem_violation(response: Any) -> str | None:
    """What makes an error response not RFC 9457 problem JSON, or None."""
    if not response.headers.get("content-type", "").startswith(PROBLEM_MEDIA_TYPE):
        return f"content type {response.headers.get('content-type')!r}"
    try:
        problem = response.json()
    except ValueError:
        return "body is not JSON"
    if not isinstance(problem, dict):
        return "body is not an object"
    missing = {"type", "title", "status", "detail"} - set(problem)
    if missing:
        return f"missing {sorted(missing)}"
    if not str(problem["type"]).startswith(PROBLEM_TYPE_BASE):
        return f"type {problem['type']!r}"
    if problem["status"] != response.status_code:
        return f"status {problem['status']!r} in a {response.status_code} response"
    if not all(isinstance(problem[name], str) and problem[name] for name in ("title", "detail")):
        return "empty title or detail"
    if "Traceback" in response.text:
        return "a stack trace"
    return None


def _stream_violation(text: str) -> str | None:
    """What is wrong with a streamed answer (events in order, data matching its model), or None."""
    events: list[str] = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        name, data = lines.get("event"), lines.get("data")
        if name not in STREAM_EVENTS or data is None:
            return f"unknown event block {block[:80]!r}"
        model = STREAM_EVENTS[name]
        try:
            if model is not None:
                model.model_validate_json(data)
            elif json.loads(data) != {}:
                return f"{name} data {data!r}"
        except ValueError as exc:
            return f"{name} data does not match {model.__name__ if model else 'object'}: {exc}"
        events.append(name)
    answers = events[1:-2]
    if (
        events[:1] != ["intent"]
        or events[-2:] != ["citations", "done"]
        or set(answers) > {"answer"}
    ):
        return f"events out of order: {events}"
    return None


def _operation_scopes(client: TestClient) -> dict[str, str]:
    """``"METHOD /path"`` -> the auth the handler states (customer, publisher, admin, public...)."""
    scopes = {}
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # as the document writes it
            for method in handler.http_methods:
                scopes[f"{method} {path}"] = handler.opt.get("auth", "public")
    return scopes


def _page_labels(client: TestClient) -> set[str]:
    """``"METHOD /path"`` of the web pages, which say so in their ``opt`` (tests/web)."""
    labels = set()
    for route in client.app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            if handler.opt.get("page"):
                labels.update(f"{method} {path}" for method in handler.http_methods)
    return labels


def _known_ids(
    client: TestClient, keys: dict[str, str], pending: tuple[str, str], key_id: str
) -> dict[str, Any]:
    """Real values for path parameters (and the checkout body's ``pack_id``)."""
    customer = bearer(keys["customer"])
    packs = client.get("/v1/packs").json()
    asked = client.post(
        "/v1/ask", json={"question": "How do I reset my password?"}, headers=customer
    )
    assert asked.status_code == 200, asked.text
    checkout = client.post("/v1/checkout", json={"pack_id": "finance"}, headers=customer)
    assert checkout.status_code == 201, checkout.text
    handed_off = client.post(
        "/v1/ask", json={"question": "I want to talk to a human"}, headers=customer
    )
    assert handed_off.status_code == 200 and handed_off.json()["handoff"]["handoff"]
    return {
        "pack_id": [pack["id"] for pack in packs] + [pending[0]],
        "version": [pack["version"] for pack in packs] + [pending[1]],
        "conversation_id": [asked.json()["conversation_id"]],
        "turn_id": [str(asked.json()["turn_id"])],  # feedback (issue 18)
        "handoff_id": [str(handed_off.json()["turn_id"])],  # resolve (issue 18)
        "session_id": [checkout.json()["session_id"]],
        "key_id": [key_id],  # the publisher key of the pending upload (revoked once, then 409)
        "widget_key": [_widget_key(client, keys["customer"])],
        **_payout_ids(client, keys["publisher"]),
    }


def _payout_ids(client: TestClient, publisher_key: str) -> dict[str, list[str]]:
    """The publisher's account id (platform fees, statements) and its TEST MODE connected
    account (the local onboarding page), onboarding started but not completed."""
    started = client.post("/v1/publisher/payouts/onboarding", headers=bearer(publisher_key))
    assert started.status_code == 201, started.text
    services = client.app.state.services
    principal = client.blocking_portal.call(services.accounts.authenticate, publisher_key)
    return {
        "publisher_account_id": [principal.account_id],
        "account_ref": [started.json()["status"]["account_ref"]],
    }


def _widget_key(client: TestClient, customer_key: str) -> str:
    """A real publishable key of the customer (its origin is not the fuzzer's: 403s)."""
    services, web = client.app.state.services, client.app.state.web
    account_id = client.blocking_portal.call(services.accounts.authenticate, customer_key)
    created = client.blocking_portal.call(
        web.widget_keys.create, account_id.account_id, ["https://shop.example"]
    )
    return str(created.widget_key)


def _with_known_ids(operation: Any, known: dict[str, Any]) -> Any | None:
    """Positive cases of ``operation`` whose ids are real, or None if it takes none."""
    names = [param.name for param in operation.path_parameters]
    body_ids = operation.method.upper() == "POST" and operation.path == "/v1/checkout"
    if not names and not body_ids:
        return None
    fixed = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})

    def cases(path_parameters: dict[str, str]) -> Any:
        strategy = operation.as_strategy(
            generation_mode=GenerationMode.POSITIVE, path_parameters=path_parameters
        )
        if not body_ids:
            return strategy
        return st.tuples(strategy, st.sampled_from(known["pack_id"])).map(_set_pack_id)

    return fixed.flatmap(cases)


def _with_hostile_text(operation: Any) -> Any | None:
    """Positive cases of ``operation`` whose strings (path parameters, body fields) carry
    characters that break storage, logs or parsers, or None if it takes no string."""
    has_body = any(True for _ in operation.body)
    if not operation.path_parameters and not has_body:
        return None
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    return st.tuples(strategy, st.sampled_from(HOSTILE_TEXT)).map(_make_hostile)


def _make_hostile(pair: tuple[Any, str]) -> Any:
    case, hostile = pair
    for name, value in (case.path_parameters or {}).items():
        case.path_parameters[name] = f"{str(value)[:8]}{hostile}"
    if isinstance(case.body, dict):
        for name, value in case.body.items():
            if isinstance(value, str):
                case.body[name] = f"{value[:8]}{hostile}"
    return case


def _set_pack_id(pair: tuple[Any, str]) -> Any:
    case, pack_id = pair
    if isinstance(case.body, dict):
        case.body["pack_id"] = pack_id
    return case


def _pending_upload(
    client: TestClient, accounts: Accounts, publisher_key: str, pet_pack: Any
) -> tuple[str, str]:
    """A third-party pack waiting for review, so approve and reject have something to act on."""
    register_publisher_key(client, publisher_key, pet_pack.public_key, pet_pack.private_key)
    uploaded = client.post(
        "/v1/publisher/packs",
        content=pet_pack.archive.read_bytes(),
        headers={**bearer(publisher_key), "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    return uploaded.json()["pack_id"], uploaded.json()["version"]


def _document_digest(client: TestClient) -> str:
    """SHA-256 of the app's OpenAPI document (the key of the cases drawn from it)."""
    document = client.get("/schema/openapi.json")
    assert document.status_code == 200
    return hashlib.sha256(document.content).hexdigest()


def _load_schema(client: TestClient) -> Any:
    document = client.get("/schema/openapi.json")
    assert document.status_code == 200
    # An explicit config: no schemathesis.toml found on disk changes what CI runs.
    schema = schemathesis.openapi.from_dict(document.json(), config=SchemathesisConfig())
    # Unknown query parameters are ignored, as by most HTTP APIs: not a negative case here.
    schema.config.generation.update(allow_extra_parameters=False)
    return schema


@pytest.mark.parametrize("fuzz_database", DATABASES, indirect=True)
@pytest.mark.parametrize("caller", CALLERS)
def test_fuzz_every_route(client, accounts, pet_pack, caller: str, fuzz_database: str) -> None:  # type: ignore[no-untyped-def]
    keys = {scope: accounts.create(scope, f"fuzz {scope}") for scope in SCOPES}
    pending = _pending_upload(client, accounts, keys["publisher"], pet_pack)
    known_ids = _known_ids(client, keys, pending, pet_pack.key_id)
    schema = _load_schema(client)
    scopes = _operation_scopes(client)
    fuzzer = Fuzzer(client, keys, document=_document_digest(client))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    budget = BUDGETS[fuzz_database].scaled(FUZZ_SCALE)
    for operation in operations:
        auth = scopes[operation.label]
        own = auth == caller or auth not in SCOPES
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            fuzzer.run(operation, caller, strategy, budget.own if own else budget.other, mode.value)
        if not own:
            continue
        if budget.coverage:
            fuzzer.run_coverage(operation, caller)
        hostile = _with_hostile_text(operation)
        if hostile is not None:
            fuzzer.run(operation, caller, hostile, budget.hostile, "hostile-text")
        known_cases = _with_known_ids(operation, known_ids)
        if known_cases is not None:
            fuzzer.run(operation, caller, known_cases, budget.known_ids, "known-ids", keep=False)
    total = sum(fuzzer.cases.values())
    print(
        f"\nfuzzed as {caller} on {fuzz_database}: {total} cases over {len(operations)} "
        f"operations ({dict(fuzzer.cases)}; responses {dict(sorted(fuzzer.statuses.items()))})"
    )
    assert total >= len(operations) * budget.other
    unknown, defects = fuzzer.split(fuzz_database)
    assert not unknown, f"{len(unknown)} kinds of failure:\n" + "\n".join(unknown + defects)
    if defects:
        pytest.xfail(f"{len(defects)} known defects of other files:\n" + "\n".join(defects))


def test_every_route_is_in_the_fuzzed_document(client) -> None:  # type: ignore[no-untyped-def]
    """The fuzzer takes its operations from the document: every route must be in it."""
    listed = {op.label for op in (r.ok() for r in _load_schema(client).get_all_operations())}
    pages = _page_labels(client)  # the web's pages (api/web): not API operations
    for label, auth in _operation_scopes(client).items():
        if label in pages:
            continue
        method, path = label.split(" ", 1)
        if method in ("HEAD", "OPTIONS") or path.startswith("/schema") or path == "/metrics":
            continue  # Litestar's own document routes; metrics are for scrapers
        assert label in listed, f"{label} ({auth}) is not in the OpenAPI document"


def test_malformed_json_is_invalid_input_problem(client, accounts) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzzer: an undecodable body was a 400 'http-error' whose title was the
    parser's message. It is invalid input (422), like a body that fails validation."""
    response = client.post(
        "/v1/ask",
        content=b"\x99o\xd8u",
        headers={**bearer(accounts.create("customer")), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem = response.json()
    assert problem["type"] == PROBLEM_TYPE_BASE + "invalid-input"
    assert problem["title"] == "Invalid input"
    assert "malformed" in problem["detail"]


@pytest.mark.parametrize("fuzz_database", DATABASES, indirect=True)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/admin/accounts", {"name": "night\x00shift", "scope": "customer"}),
        ("/v1/admin/packs/finance/versions/1.0.0/reject", {"reason": "no\x00sources"}),
    ],
    ids=["account-name", "reject-reason"],
)
def test_text_with_a_nul_character_is_invalid_input(
    client: TestClient, accounts: Accounts, path: str, body: dict[str, str], fuzz_database: str
) -> None:
    """Found by the fuzzer on PostgreSQL, whose text cannot hold U+0000: an account name or a
    rejection reason with one was a 500. Refused at the boundary, on every database."""
    response = client.post(path, json=body, headers=bearer(accounts.create("admin")))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == PROBLEM_TYPE_BASE + "invalid-input"


def test_generic_http_errors_have_a_stable_title(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/v1/no-such-route")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


def test_error_responses_are_documented(client) -> None:  # type: ignore[no-untyped-def]
    document = client.get("/schema/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {code for code in responses if code[0] in "45"}
            expected = (
                {"422"} if operation.get("requestBody") or operation.get("parameters") else set()
            )
            if operation.get("security"):
                expected |= {"401", "403"}
            assert expected <= errors, (method, path, sorted(errors))
            for code in errors:
                content = responses[code].get("content", {})
                assert list(content) == [PROBLEM_MEDIA_TYPE], (method, path, code, list(content))
