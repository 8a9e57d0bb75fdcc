"""``packdesk intents train`` and ``packdesk intents eval`` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from api.commands import intents
from api.context import CliContext
from core.errors import TrainingDataError
from core.settings import Settings


def _cli() -> click.Group:
    group = click.Group()
    intents.register(group)
    return group


def _data(path: Path) -> Path:
    rows = [{"text": f"open an account please {i}", "label": "bank:open_account"}
            for i in range(5)]
    rows += [{"text": f"my card is lost {i}", "label": "bank:card_lost"} for i in range(5)]
    rows += [{"text": t, "label": "out_of_scope"} for t in ("tell me a joke", "weather today")]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_train_with_data_then_eval(tmp_path: Path, settings: Settings) -> None:
    data = _data(tmp_path / "train.jsonl")
    out = tmp_path / "models" / "v1"
    result = CliRunner().invoke(
        _cli(), ["intents", "train", "--data", str(data), "--recipe", "fine-tune", "--epochs",
                 "1", "--freeze-layers", "5", "--out", str(out)],
        obj=CliContext(settings_override=settings),
    )
    assert result.exit_code == 0, result.output
    assert "out-of-scope threshold" in result.output and "test accuracy" in result.output
    assert json.loads((out / "training_config.json").read_text())["freeze_layers"] == 5
    report = CliRunner().invoke(_cli(), ["intents", "eval", "--model", str(out),
                                         "--data", str(data)],
                                obj=CliContext(settings_override=settings))
    assert report.exit_code == 0, report.output
    assert "bank:card_lost" in report.output and "macro avg" in report.output


def test_train_a_head_by_default_then_eval(tmp_path: Path, settings: Settings) -> None:
    data = _data(tmp_path / "train.jsonl")
    out = tmp_path / "models" / "head"
    context = CliContext(settings_override=settings)
    result = CliRunner().invoke(
        _cli(), ["intents", "train", "--data", str(data), "--out", str(out)], obj=context
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "training_config.json").read_text())["kind"] == "embedding-head"
    assert not (out / "model.safetensors").exists()
    report = CliRunner().invoke(_cli(), ["intents", "eval", "--model", str(out),
                                         "--data", str(data)], obj=context)
    assert report.exit_code == 0, report.output
    assert "bank:open_account" in report.output and "macro avg" in report.output


def test_train_bad_data_writes_nothing(tmp_path: Path, settings: Settings) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("text,label\nhello,platform:greeting\nhi,platform:greeting\n,platform:x\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(_cli(), ["intents", "train", "--data", str(data),
                                         "--out", str(out)],
                                obj=CliContext(settings_override=settings))
    assert isinstance(result.exception, TrainingDataError)
    assert "bad.csv:4: empty text" in str(result.exception)
    assert not out.exists() and not settings.models_dir.exists()
