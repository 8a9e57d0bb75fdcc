"""Loading training data: every rejection names the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import TrainingDataError
from core.intents import OUT_OF_SCOPE, examples_from_manifests, load_examples
from core.intents.dataset import cap_per_label, stratified_split
from core.packs.manifest import parse_manifest

GOOD_ROWS = [("hi", "platform:greeting"), ("hello", "platform:greeting"),
             ("bye", "platform:goodbye"), ("see you", "platform:goodbye")]


def _csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    lines = [header] + [f'"{text}",{label}' for text, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_csv_and_jsonl_load(tmp_path: Path) -> None:
    from_csv = load_examples(_csv(tmp_path / "d.csv", GOOD_ROWS))
    from_jsonl = load_examples(_jsonl(tmp_path / "d.jsonl",
                                      [{"text": t, "label": lab} for t, lab in GOOD_ROWS]))
    assert [(e.text, e.label) for e in from_csv] == GOOD_ROWS
    assert [(e.text, e.label) for e in from_jsonl] == GOOD_ROWS
    assert from_csv[2].source.endswith("d.csv:4")


def test_empty_text_names_row(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", [*GOOD_ROWS, ("  ", "platform:goodbye")])
    with pytest.raises(TrainingDataError, match=r"d\.csv:6: empty text"):
        load_examples(path)


def test_missing_label_names_row(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", [*GOOD_ROWS[:2], ("bye", ""), *GOOD_ROWS[2:]])
    with pytest.raises(TrainingDataError, match=r"d\.csv:4: missing label"):
        load_examples(path)


def test_missing_label_in_jsonl_names_line(tmp_path: Path) -> None:
    records = [{"text": t, "label": lab} for t, lab in GOOD_ROWS] + [{"text": "ciao"}]
    with pytest.raises(TrainingDataError, match=r"d\.jsonl:5: missing label"):
        load_examples(_jsonl(tmp_path / "d.jsonl", records))


def test_missing_label_column(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", GOOD_ROWS, header="text,intent")
    with pytest.raises(TrainingDataError, match=r"d\.csv:1: .*lacks column.*label"):
        load_examples(path)


def test_label_with_one_example_names_row(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", [*GOOD_ROWS, ("I want a human", "platform:human_agent")])
    with pytest.raises(TrainingDataError, match=r"d\.csv:6: label 'platform:human_agent' has 1"):
        load_examples(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("absent.csv", None, "file not found"),
     ("latin1.csv", "text,label\ncaf\xe9,x\n".encode("latin-1"), "not UTF-8"),
     ("bad.jsonl", b'{"text": "hi", "label": "a"}\n{not json\n', r"bad\.jsonl:2: malformed JSON"),
     ("list.jsonl", b'["hi", "a"]\n', r"list\.jsonl:1: expected an object"),
     ("data.txt", b"hi\n", "unsupported training data format"),
     ("empty.csv", b"text,label\n", "no training rows")],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TrainingDataError, match=message):
        load_examples(path)


def _manifest(pack_id: str, intents: list[dict]) -> object:
    return parse_manifest({
        "id": pack_id, "name": pack_id, "version": "1.0.0", "domain": "test",
        "publisher": "t", "license": "CC0", "attribution": "t",
        "pricing": {"model": "free"}, "embedding_model": {"id": "m", "dimension": 384},
        "intents": intents,
    })


def test_examples_from_manifests_merges_platform_intents() -> None:
    finance = _manifest("finance", [{"name": "card_lost", "examples": ["lost card", "card gone"]},
                                    {"name": "greeting", "platform": True,
                                     "examples": ["yo", "hello"]}])
    examples = examples_from_manifests([finance])
    labels = {e.label for e in examples}
    assert {"finance:card_lost", "platform:greeting", OUT_OF_SCOPE} <= labels
    greetings = [e.text for e in examples if e.label == "platform:greeting"]
    assert "yo" in greetings and greetings.count("hello") == 1  # union, no duplicates


def test_manifest_intent_with_one_example_is_rejected() -> None:
    pack = _manifest("legal", [{"name": "define_term", "examples": ["what is a tort"]}])
    with pytest.raises(TrainingDataError, match="pack legal intent define_term"):
        examples_from_manifests([pack])


def test_split_is_stratified_and_keeps_out_of_scope_out_of_training() -> None:
    examples = examples_from_manifests([])
    train, val, test = stratified_split(cap_per_label(examples, 10, 1), fractions=(0.1, 0.1),
                                        seed=1)
    assert OUT_OF_SCOPE not in {e.label for e in train}
    in_scope = {e.label for e in examples} - {OUT_OF_SCOPE}
    assert {e.label for e in train} == in_scope == {e.label for e in val} - {OUT_OF_SCOPE}
    assert {e.label for e in test} - {OUT_OF_SCOPE} == in_scope
