"""support-basics: the 27 Bitext intents, a reply-template document each, and platform intents."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from core.packs.documents import Document
from core.packs.manifest import Intent
from knowledge_packs.convert.common import (
    PackContent,
    read_csv_gz,
    sample,
    stable_hash,
    unique_examples,
    unleaked_questions,
)

# Bitext intents every deployment has become platform intents (label ``platform:<name>``).
PLATFORM_RENAMES = {"contact_human_agent": "human_agent", "complaint": "complaint"}
EVAL_QUESTIONS_PER_INTENT = 10


def convert(pack_dir: Path) -> PackContent:
    """Build documents and intents from ``pack_dir/data`` and the hand-written platform intents."""
    rows = read_csv_gz(pack_dir / "data" / "bitext_customer_support.csv.gz")
    by_intent: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_intent[row["intent"]].append(row)

    documents, intents = [], []
    for name in sorted(by_intent):
        members = by_intent[name]
        reply = representative_reply([row["response"] for row in members])
        questions = [row["instruction"] for row in members]
        title = _title(name, members[0]["category"])
        documents.append(
            Document(
                id=f"bitext-{name}",
                title=title,
                text=reply,
                metadata={
                    "intent": name,
                    "category": members[0]["category"],
                    "eval_questions": unique_examples(
                        unleaked_questions(title, reply, questions),
                        EVAL_QUESTIONS_PER_INTENT,
                        salt="eval",
                    ),
                },
            )
        )
        intents.append(
            Intent(
                name=PLATFORM_RENAMES.get(name, name),
                description=f"Bitext {members[0]['category']} intent '{name}'.",
                examples=unique_examples(questions, salt=name),
                reply_template=reply,
                platform=name in PLATFORM_RENAMES,
            )
        )
    intents.extend(_written_platform_intents(pack_dir / "platform_intents.json"))
    return PackContent(
        documents=documents,
        intents=intents,
        license_files=[pack_dir / "data" / "LICENSE_CDLA-Sharing-1.0.txt"],
    )


def representative_reply(replies: list[str]) -> str:
    """The reply of median length: a typical template, not the shortest or the longest."""
    ranked = sorted(replies, key=lambda reply: (len(reply), stable_hash(reply)))
    return ranked[len(ranked) // 2]


def _title(name: str, category: str) -> str:
    return f"{name.replace('_', ' ').capitalize()} ({category.replace('_', ' ').lower()})"


def _written_platform_intents(path: Path) -> list[Intent]:
    written = json.loads(path.read_text(encoding="utf-8"))
    return [
        Intent(
            name=name,
            description=spec["description"],
            examples=sample(spec["examples"], len(spec["examples"]), key=lambda text: text),
            reply_template=spec["reply_template"],
            platform=True,
        )
        for name, spec in sorted(written.items())
    ]
