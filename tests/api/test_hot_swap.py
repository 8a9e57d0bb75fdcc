"""Hot swap (issue 18, point 5): a running server picks up a promoted intent model version by its
periodic check of the current-version pointer, without a restart and without failing a request:
a request in flight finishes on the old model while the next one is answered by the new one;
rollback brings the previous version back the same way.

The versions are real model directories: the session's small platform-intent model (A), and
the same weights with a calibrated threshold no prediction reaches (B), so which version
answered shows in the response (``platform:greeting`` from A, ``out_of_scope`` from B). No pack
is installed, so both fit the served packs.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from core.settings import Settings
from tests.api.conftest import bearer

GREETING = "hello there!"


class HeldClassifier:
    """A real classifier whose calls wait, while ``hold`` is set, until released: a request
    stays in flight inside the old model for as long as the test needs."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    @property
    def labels(self) -> list[str]:
        return list(self.classifier.labels)

    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[Any]:
        if self.hold.is_set():
            self.entered.set()
            assert self.release.wait(60), "the test never released the request in flight"
        return self.classifier.predict(texts, top_k=top_k)


@pytest.fixture
def versions_dir(tmp_path: Path, small_classifier: Any) -> dict[str, Path]:
    a = tmp_path / "version-a"
    shutil.copytree(small_classifier.model_dir, a)
    b = tmp_path / "version-b"
    shutil.copytree(small_classifier.model_dir, b)
    calibration = json.loads((b / "calibration.json").read_text())
    calibration["threshold"] = 1.01  # softmax never reaches it: everything is out_of_scope
    (b / "calibration.json").write_text(json.dumps(calibration))
    config = json.loads((b / "training_config.json").read_text())
    config["version"] = "recalibrated"
    (b / "training_config.json").write_text(json.dumps(config))
    return {"a": a, "b": b}


@pytest.fixture
def held(small_classifier: Any) -> HeldClassifier:
    return HeldClassifier(small_classifier)


@pytest.fixture
def swap_client(
    api_settings: Settings, shared_embedder: Any, held: HeldClassifier
) -> Iterator[TestClient]:
    from api.app import create_app

    api_settings.batching_enabled = False  # calls run side by side, not behind one batch
    api_settings.model_check_seconds = 0.2
    app = create_app(api_settings, start_options={"embedder": shared_embedder,
                                                  "classifier": held})
    with TestClient(app, base_url="http://testserver.local") as client:
        yield client


def call(client: TestClient, method: Any, *args: Any, **kwargs: Any) -> Any:
    return client.blocking_portal.call(lambda: method(*args, **kwargs))


def wait_for_version(client: TestClient, version_id: str | None, timeout: float = 60) -> None:
    holder = client.app.state.services.classifier
    deadline = time.monotonic() + timeout
    while holder.version_id != version_id:
        assert time.monotonic() < deadline, f"still serving {holder.version_id}, not {version_id}"
        time.sleep(0.05)


def intent_of(client: TestClient, key: str) -> str:
    response = client.post("/v1/ask", json={"question": GREETING}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()["intent"]["label"]


def customer_key(client: TestClient) -> str:
    services = client.app.state.services
    return client.blocking_portal.call(services.accounts.create_account, "shop", "customer")[1]


def test_a_request_in_flight_finishes_on_the_old_model_while_the_next_uses_the_new(
    swap_client: TestClient, held: HeldClassifier, versions_dir: dict[str, Path]
) -> None:
    client, models = swap_client, swap_client.app.state.services.models
    key = customer_key(client)
    assert intent_of(client, key) == "platform:greeting"
    b = call(client, models.register, versions_dir["b"])

    held.hold.set()
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(intent_of, client, key)
        assert held.entered.wait(30), "the first request never reached the model"
        call(client, models.promote, b.version_id, actor="test")
        wait_for_version(client, b.version_id)  # the server's own periodic check swapped it
        assert intent_of(client, key) == "out_of_scope"  # the next request: the new model
        assert not in_flight.done()
        held.release.set()
        assert in_flight.result(timeout=60) == "platform:greeting"  # finished on the old one
    assert intent_of(client, key) == "out_of_scope"


def test_rollback_restores_the_previous_version(
    swap_client: TestClient, versions_dir: dict[str, Path]
) -> None:
    client, models = swap_client, swap_client.app.state.services.models
    key = customer_key(client)
    a = call(client, models.register, versions_dir["a"])
    b = call(client, models.register, versions_dir["b"])
    call(client, models.promote, a.version_id, actor="test")
    wait_for_version(client, a.version_id)
    assert intent_of(client, key) == "platform:greeting"
    call(client, models.promote, b.version_id, actor="test")
    wait_for_version(client, b.version_id)
    assert intent_of(client, key) == "out_of_scope"

    restored = call(client, models.rollback, actor="test")
    assert restored.version_id == a.version_id
    wait_for_version(client, a.version_id)
    assert intent_of(client, key) == "platform:greeting"
    # The version's files were fetched from the database into this node's models directory.
    settings = client.app.state.services.settings
    local = settings.models_dir / "intents" / "versions" / a.version_id
    assert (local / "label_map.json").is_file()


def test_a_version_that_does_not_fit_the_served_packs_is_not_swapped_in(
    swap_client: TestClient, versions_dir: dict[str, Path], tmp_path: Path
) -> None:
    client, models = swap_client, swap_client.app.state.services.models
    key = customer_key(client)
    foreign = tmp_path / "foreign"
    shutil.copytree(versions_dir["b"], foreign)
    label_map = json.loads((foreign / "label_map.json").read_text())
    label_map["labels"][0] = "legal:contract"  # a pack this server does not serve
    (foreign / "label_map.json").write_text(json.dumps(label_map))
    version = call(client, models.register, foreign)
    call(client, models.promote, version.version_id, actor="test")
    watcher = client.app.state.services.model_watcher
    assert call(client, watcher.check) is False
    assert client.app.state.services.classifier.version_id is None
    assert intent_of(client, key) == "platform:greeting"  # the old model keeps serving
