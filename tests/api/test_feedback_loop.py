"""The learning loop end to end (issue 18): feedback through the HTTP API, ``packdesk intents
dataset`` and ``retrain`` through the CLI (a real candidate is trained and gated), and the
running server swapping the promoted version in; ``versions``, ``promote`` and ``rollback``.

The app starts with the session's small platform-intent model, registered as the first version
the way ``packdesk prepare`` registers its default model. Customers of two accounts correct
answers to "where is my order" questions with a new platform label, ``platform:order_status``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from litestar.testing import TestClient

from api.cli import build_cli
from api.context import CliContext
from core.settings import Settings
from tests.api.conftest import bearer

NEW_LABEL = "platform:order_status"
QUESTIONS = [
    "where is my order {n}?", "my parcel {n} has not arrived yet", "track order number {n}",
    "when will order {n} be delivered?",
]


@pytest.fixture
def api_settings(api_settings: Settings) -> Settings:
    api_settings.learning_min_per_new_label = 6
    api_settings.learning_max_per_account = 4
    api_settings.learning_holdout_fraction = 0.3
    return api_settings


@pytest.fixture(scope="module")
def root() -> click.Group:
    return build_cli()


def cli(root: click.Group, settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(root, list(args), obj=CliContext(settings_override=settings))


def test_feedback_becomes_a_promoted_model_that_the_server_swaps_in(
    client: TestClient, accounts, api_settings: Settings, root: click.Group,
    small_classifier: Any,
) -> None:
    from api.commands.intents import register_default_model
    from core.packs.store import PackStore

    manifests = [item.manifest for item in PackStore(api_settings).installed()]
    first, promoted = client.blocking_portal.call(
        register_default_model, api_settings, Path(small_classifier.model_dir), manifests
    )
    assert promoted

    turn_ids = []
    for account in range(2):
        key = accounts.create("customer")
        for index, template in enumerate(QUESTIONS):
            question = template.format(n=1000 * account + index)
            answer = client.post("/v1/ask", json={"question": question}, headers=bearer(key))
            assert answer.status_code == 200, answer.text
            body = answer.json()
            path = f"/v1/conversations/{body['conversation_id']}/turns/{body['turn_id']}/feedback"
            response = client.post(path, headers=bearer(key),
                                   json={"helpful": False, "correct_intent": NEW_LABEL})
            assert response.status_code == 200, response.text
            turn_ids.append(body["turn_id"])

    shown = cli(root, api_settings, "intents", "dataset", "--json")
    assert shown.exit_code == 0, shown.output
    dataset = json.loads(shown.output)
    assert sorted(t for item in dataset["accepted"] for t in item["turn_ids"]) == sorted(turn_ids)
    assert {item["label"] for item in dataset["accepted"]} == {NEW_LABEL}
    assert all(item["new_label"] for item in dataset["accepted"])

    trained = cli(root, api_settings, "intents", "retrain", "--epochs", "2", "--json")
    assert trained.exit_code == 0, trained.output
    # The report is the one JSON line (training's own progress lines may surround it).
    lines = [text[text.index('{"status"'):] for text in trained.output.splitlines()
             if '{"status"' in text]
    assert len(lines) == 1, trained.output[-2000:]
    report = json.loads(lines[0])
    assert report["status"] == "promoted", report
    assert report["new_labels"] == [NEW_LABEL]
    gate = report["gate"]
    assert gate["candidate"]["feedback_accuracy"] > gate["current"]["feedback_accuracy"] == 0.0
    assert report["previous_version_id"] == first

    services = client.app.state.services
    assert client.blocking_portal.call(services.model_watcher.check) is True
    assert services.classifier.version_id == report["version_id"]
    assert NEW_LABEL in services.classifier.labels

    listed = cli(root, api_settings, "intents", "versions")
    assert listed.exit_code == 0 and report["version_id"] in listed.output
    assert cli(root, api_settings, "intents", "rollback").output.strip().endswith(first)
    assert cli(root, api_settings, "intents", "promote", report["version_id"]).exit_code == 0
    unknown = cli(root, api_settings, "intents", "promote", "no-such-version")
    assert unknown.exit_code != 0 and "not found" in str(unknown.exception)


def test_retrain_with_nothing_learned_trains_nothing(
    client: TestClient, api_settings: Settings, root: click.Group
) -> None:
    result = cli(root, api_settings, "intents", "retrain", "--json")
    assert result.exit_code == 0, result.output
    assert '{"status": "nothing-to-learn"' in result.output
    assert cli(root, api_settings, "intents", "versions").exit_code == 0


def test_every_needs_a_sane_interval(api_settings: Settings, root: click.Group) -> None:
    for bad in ("soon", "10s", "-5m"):
        result = cli(root, api_settings, "intents", "retrain", "--every", bad)
        assert result.exit_code == 2 and "--every" in result.output, result.output
