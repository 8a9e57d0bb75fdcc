"""The learned training set: labelled turns made safe to train on.

Rules, in order (each rejection keeps its reason and its turn, so ``packdesk intents dataset``
can show why a row is not used):

1. the label must be usable now (:class:`~core.learning.labels.LabelSpace`): a pack that is no
   longer served cannot get examples;
2. one example per distinct text (case and spacing ignored), traceable to every turn that gave
   it; when people disagree about a text, an agent's resolution outranks customer feedback, and
   a disagreement that remains drops the text;
3. a text the base data (the packs' own examples) already has is not added again, and one the
   base data labels differently is refused rather than taught both ways;
4. one account contributes at most ``max_per_account`` examples to a label, so one account
   cannot steer the model;
5. a label is used only with at least ``min_per_label`` examples, and a label no pack declares
   (a new intent) only with ``min_per_new_label``; below that its examples wait;
6. a fixed share of each label's examples, chosen by a hash of the text (so the same rows stay
   held out at every retrain), is kept out of training: the feedback split the gate compares
   models on.

Nothing from an account that deleted its data is here: the rows were deleted with its turns.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from core.errors import ValidationError
from core.intents.dataset import Example, data_hash
from core.learning.feedback import LabelledTurn
from core.learning.labels import LabelSpace

Split = Literal["train", "heldout"]


@dataclass(frozen=True)
class DatasetPolicy:
    """How much evidence a label needs, and how much one account may give."""

    min_per_label: int = 3
    min_per_new_label: int = 15
    max_per_account: int = 10
    holdout_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.min_per_label < 1 or self.min_per_new_label < 1 or self.max_per_account < 1:
            raise ValidationError("min_per_label, min_per_new_label and max_per_account must "
                                  f"be >= 1, got {self}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValidationError(f"holdout_fraction must be in [0, 1), got "
                                  f"{self.holdout_fraction}")


@dataclass(frozen=True)
class LearnedExample:
    """One accepted example and where it came from."""

    text: str
    label: str
    split: Split
    new_label: bool
    account_id: str  # the account it counts against (the earliest turn's)
    turn_ids: tuple[int, ...]
    kinds: tuple[str, ...]

    def example(self) -> Example:
        return Example(text=self.text, label=self.label,
                       source="turn " + ",".join(str(turn_id) for turn_id in self.turn_ids))


@dataclass(frozen=True)
class Rejected:
    turn_id: int
    label: str
    reason: str


@dataclass(frozen=True)
class LabelSummary:
    label: str
    new_label: bool
    accepted: int
    held_out: int
    accounts: int
    waiting: int  # examples below the label's minimum


@dataclass
class DatasetReport:
    """What a retrain would add to the base data, and what it would not (with reasons)."""

    accepted: list[LearnedExample] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    labels: list[LabelSummary] = field(default_factory=list)

    def examples(self, split: Split) -> list[Example]:
        return [item.example() for item in self.accepted if item.split == split]

    @property
    def data_sha256(self) -> str:
        return data_hash(item.example() for item in self.accepted)


def normalise(text: str) -> str:
    """The key that makes two texts the same example: case and spacing do not count."""
    return " ".join(text.casefold().split())


def build_dataset(
    labelled: Sequence[LabelledTurn],
    *,
    base: Sequence[Example],
    labels: LabelSpace,
    policy: DatasetPolicy = DatasetPolicy(),
) -> DatasetReport:
    """Apply the rules of this module to the labelled turns. Deterministic."""
    report = DatasetReport()
    usable: list[LabelledTurn] = []
    for row in sorted(labelled, key=lambda r: (r.turn_id, r.kind)):
        try:
            labels.check(row.label)
        except ValidationError as exc:
            report.rejected.append(Rejected(row.turn_id, row.label, f"label not usable: "
                                                                    f"{exc.message}"))
            continue
        usable.append(row)

    candidates = _one_per_text(usable, report)
    candidates = _not_in_base(candidates, base, report)
    candidates = _cap_per_account(candidates, policy.max_per_account, report)
    accepted_by_label = _with_label_minimum(candidates, labels, policy, report)
    for label in sorted(accepted_by_label):
        group = accepted_by_label[label]
        split = _holdout(group, policy.holdout_fraction)
        report.accepted.extend(split)
    report.labels = _summaries(report, labels)
    return report


def _one_per_text(rows: list[LabelledTurn], report: DatasetReport) -> list[LearnedExample]:
    by_text: dict[str, list[LabelledTurn]] = defaultdict(list)
    for row in rows:
        by_text[normalise(row.text)].append(row)
    examples = []
    for key in sorted(by_text):
        group = by_text[key]
        resolutions = {row.label for row in group if row.kind == "resolution"}
        voices = resolutions or {row.label for row in group}
        if len(voices) > 1:
            for row in group:
                report.rejected.append(Rejected(row.turn_id, row.label,
                                                f"people disagree on this text: {sorted(voices)}"))
            continue
        (label,) = voices
        agree = [row for row in group if row.label == label]
        for row in group:
            if row.label != label:
                report.rejected.append(Rejected(row.turn_id, row.label,
                                                f"an agent's resolution says {label!r}"))
        first = agree[0]
        examples.append(LearnedExample(
            text=first.text, label=label, split="train", new_label=False,
            account_id=first.account_id,
            turn_ids=tuple(row.turn_id for row in agree),
            kinds=tuple(sorted({row.kind for row in agree})),
        ))
    return examples


def _not_in_base(
    examples: list[LearnedExample], base: Sequence[Example], report: DatasetReport
) -> list[LearnedExample]:
    base_labels: dict[str, set[str]] = defaultdict(set)
    for example in base:
        base_labels[normalise(example.text)].add(example.label)
    kept = []
    for item in examples:
        known = base_labels.get(normalise(item.text))
        if known is None:
            kept.append(item)
            continue
        reason = ("already in the base data" if item.label in known
                  else f"the base data labels this text {sorted(known)}")
        report.rejected.extend(Rejected(turn_id, item.label, reason) for turn_id in item.turn_ids)
    return kept


def _cap_per_account(
    examples: list[LearnedExample], cap: int, report: DatasetReport
) -> list[LearnedExample]:
    taken: Counter[tuple[str, str]] = Counter()
    kept = []
    for item in sorted(examples, key=lambda e: (e.label, e.turn_ids[0])):
        key = (item.account_id, item.label)
        if taken[key] >= cap:
            report.rejected.extend(
                Rejected(turn_id, item.label, f"account {item.account_id} already gave {cap} "
                                              f"examples of this label (the per-account cap)")
                for turn_id in item.turn_ids
            )
            continue
        taken[key] += 1
        kept.append(item)
    return kept


def _with_label_minimum(
    examples: list[LearnedExample], labels: LabelSpace, policy: DatasetPolicy,
    report: DatasetReport,
) -> dict[str, list[LearnedExample]]:
    by_label: dict[str, list[LearnedExample]] = defaultdict(list)
    for item in examples:
        by_label[item.label].append(item)
    accepted = {}
    for label, group in by_label.items():
        new = not labels.is_known(label)
        needed = policy.min_per_new_label if new else policy.min_per_label
        if len(group) < needed:
            report.rejected.extend(
                Rejected(turn_id, label, f"waiting: the label has {len(group)} of the {needed} "
                                         f"examples it needs{' as a new label' if new else ''}")
                for item in group for turn_id in item.turn_ids
            )
            continue
        accepted[label] = [_replace(item, new_label=new) for item in group]
    return accepted


def _holdout(group: list[LearnedExample], fraction: float) -> list[LearnedExample]:
    ranked = sorted(group, key=lambda item: _unit_hash(item.text))
    held = {id(item) for item in ranked if _unit_hash(item.text) < fraction}
    if len(held) == len(ranked):  # a label always keeps one training example
        held.discard(id(ranked[-1]))
    return [_replace(item, split="heldout" if id(item) in held else "train") for item in ranked]


def _unit_hash(text: str) -> float:
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _replace(item: LearnedExample, **changes: object) -> LearnedExample:
    from dataclasses import replace

    return replace(item, **changes)  # type: ignore[arg-type]


def _summaries(report: DatasetReport, labels: LabelSpace) -> list[LabelSummary]:
    waiting: Counter[str] = Counter(
        row.label for row in report.rejected if row.reason.startswith("waiting")
    )
    names = sorted({item.label for item in report.accepted} | set(waiting))
    rows = []
    for label in names:
        items = [item for item in report.accepted if item.label == label]
        rows.append(LabelSummary(
            label=label,
            new_label=not labels.is_known(label),
            accepted=len(items),
            held_out=sum(item.split == "heldout" for item in items),
            accounts=len({item.account_id for item in items}),
            waiting=waiting[label],
        ))
    return rows
