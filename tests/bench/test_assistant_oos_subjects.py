"""bench/assistant.py: CLINC150's out-of-scope questions split by the subject labelled blind."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench.assistant import CLINC, oos_by_subject, oos_subjects


def test_every_out_of_scope_validation_question_has_exactly_one_subject() -> None:
    if not (CLINC / "clinc150_train_val.json").exists():
        pytest.skip("CLINC150 is not beside the checkout (../shared/data/clinc150)")
    questions = [text for text, _ in
                 json.loads((CLINC / "clinc150_train_val.json").read_text())["oos_val"]]

    subjects = oos_subjects()

    assert sorted(subjects) == sorted(questions)
    assert set(subjects.values()) <= {"finance", "medical", "legal", "support", "none"}


def test_a_paid_touch_counts_against_the_packs_only_outside_every_packs_subject() -> None:
    subjects = oos_subjects()
    counts = Counter(subjects.values())
    medical = next(t for t, s in subjects.items() if s == "medical")
    finance = next(t for t, s in subjects.items() if s == "finance")
    unrelated = next(t for t, s in subjects.items() if s == "none")
    leaks = [{"text": medical, "outcome": "answer:medical"},
             {"text": finance, "outcome": "offer:medical"},  # a pack, but not its own
             {"text": unrelated, "outcome": "offer:finance"}]

    split = oos_by_subject({"leaks": leaks})

    assert split == {"oos_outside_packs_paid_leak": round(1 / counts["none"], 4),
                     "oos_outside_packs": counts["none"],
                     "oos_pack_subject_reached": 1,
                     "oos_pack_subject": len(subjects) - counts["none"]}


def test_a_run_stored_before_the_leak_list_has_no_split() -> None:
    assert oos_by_subject({"paid_leak": 0.02}) == {}
