"""finance: Ask CFPB answers as documents; BANKING77 plus the Ask CFPB topics as intents."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from core.errors import PackFormatError
from core.packs.documents import Document
from core.packs.manifest import Intent
from knowledge_packs.convert.common import (
    PackContent,
    read_csv_gz,
    read_jsonl_gz,
    slug,
    unique_examples,
    unleaked_questions,
)


def convert(pack_dir: Path) -> PackContent:
    """Build documents and intents from ``pack_dir/data``."""
    data = pack_dir / "data"
    rows = read_jsonl_gz(data / "ask_cfpb_qa.jsonl.gz")
    documents = [_document(row) for row in sorted(rows, key=lambda row: _numeric_id(row["id"]))]
    intents = banking77_intents(data) + _topic_intents(rows)
    names = [intent.name for intent in intents]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:  # a topic slug equal to a BANKING77 name would merge two meanings silently
        raise PackFormatError(f"finance: topic intents clash with BANKING77 intents: {clashes}")
    license_files = [
        data / name for name in ("TERMS-askcfpb.md", "LICENSE-askcfpb.txt", "LICENSE-banking77.txt")
    ]
    return PackContent(documents=documents, intents=intents, license_files=license_files)


def banking77_rows(data: Path, split: str) -> list[tuple[str, str]]:
    """(text, category) rows of BANKING77's ``train`` or ``test`` split, in file order.

    Categories are as upstream spells them; the finance intent name is ``slug(category)``.
    """
    return [
        (row["text"], row["category"]) for row in read_csv_gz(data / f"banking77_{split}.csv.gz")
    ]


def banking77_intents(data: Path) -> list[Intent]:
    """The 77 BANKING77 intents, in ``categories.json`` order, examples from the train split."""
    categories = json.loads((data / "banking77_categories.json").read_text(encoding="utf-8"))
    texts: dict[str, list[str]] = defaultdict(list)
    for text, category in banking77_rows(data, "train"):
        texts[category].append(text)
    # Upstream spells one category "Refund_not_showing_up": intent names are lower-case slugs.
    return [
        Intent(
            name=slug(category),
            description=f"BANKING77 intent '{category}'.",
            examples=unique_examples(texts[category], salt=category),
        )
        for category in categories
    ]


def _topic_intents(rows: list[dict]) -> list[Intent]:
    questions: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        questions[row["topic"]].append(row["question"])
    return [
        Intent(
            name=slug(topic),
            description=f"Ask CFPB topic '{topic}': questions its answers cover.",
            examples=unique_examples(questions[topic], salt=topic),
        )
        for topic in sorted(questions)
    ]


def _document(row: dict) -> Document:
    subcategories = ", ".join(row["subcategories"])
    title = f"{row['topic']}: {subcategories}" if subcategories else row["topic"]
    # The short answer is part of the answer, never the question: index it first.
    text = f"{row['short_answer']}\n\n{row['answer']}" if row["short_answer"] else row["answer"]
    return Document(
        id=row["id"],
        title=title,
        text=text,
        source_url=row["source_url"],
        metadata={
            "topic": row["topic"],
            "subcategories": row["subcategories"],
            "source": row["source"],
            "eval_questions": unleaked_questions(title, text, [row["question"]]),
        },
    )


def _numeric_id(doc_id: str) -> tuple[int, str]:
    tail = doc_id.rsplit("-", 1)[-1]
    return (int(tail), doc_id) if tail.isdigit() else (-1, doc_id)
