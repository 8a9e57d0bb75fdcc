"""legal: glossary definitions as documents; intents by area of law with varied questions.

Every row's ``kind`` is ``glossary_definition``, so intents come from what the definitions are
about: the glossary each one was published in (immigration, criminal court, parliament, ...)
maps to an area of law. Questions are generated from each area's terms through several
templates, some naming the jurisdiction, because the dataset's own question is one template.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from core.errors import PackFormatError
from core.packs.documents import Document
from core.packs.manifest import Intent
from knowledge_packs.convert.common import (
    MAX_EXAMPLES_PER_INTENT,
    PackContent,
    read_jsonl_gz,
    sample,
    unleaked_questions,
)

# Glossary file (the last word of ``source``) -> area of law. Documented in docs/builtin-packs.md.
GLOSSARY_AREAS = {
    "Australia/aus_law_handbook.json": "general_legal_terms",
    "Australia/dv-glossary.json": "family_law_terms",
    "Canada/doj-glossaries.json": "family_law_terms",
    "UnitedKingdom/fpr_glossary.json": "family_law_terms",
    "Australia/ip-glossary.json": "intellectual_property_terms",
    "Canada/parliamentary-glossary.json": "parliamentary_terms",
    "Ireland/courts-glossary.json": "court_procedure_terms",
    "NewZealand/justice-glossary.json": "court_procedure_terms",
    "UnitedKingdom/cpr_glossary.json": "court_procedure_terms",
    "UnitedStates/us-courts-glossary.json": "court_procedure_terms",
    "UnitedStates/California/usa_ca_criminal_glossary.json": "criminal_law_terms",
    "UnitedStates/uscis-glossary.json": "immigration_terms",
}
AREA_DESCRIPTIONS = {
    "general_legal_terms": "General legal vocabulary (South Australian law handbook).",
    "family_law_terms": "Family law, parenting and family violence terms.",
    "intellectual_property_terms": "Patents, trade marks, designs and other IP terms.",
    "parliamentary_terms": "Parliamentary procedure terms.",
    "court_procedure_terms": "Court and civil procedure terms.",
    "criminal_law_terms": "Criminal court terms.",
    "immigration_terms": "Immigration and citizenship terms (USCIS).",
}
JURISDICTION_NAMES = {
    "AUS": "Australian",
    "CAN": "Canadian",
    "GBR": "UK",
    "IRL": "Irish",
    "NZL": "New Zealand",
    "USA": "US",
}
TEMPLATES = [
    "what does {term} mean?",
    "define {term}",
    "what is {term} in legal terms?",
    "explain the legal term {term}",
    'What does "{term}" mean in law?',
    "what is meant by {term} in {jur} law?",
    "{term} legal definition",
    "can you explain what {term} is?",
    "my lawyer mentioned {term}, what is that?",
    "meaning of {term} in court",
    "what's the definition of {term} under {jur} law?",
    "I keep seeing the word {term} in my papers, what does it mean?",
]


def convert(pack_dir: Path) -> PackContent:
    """Build documents and intents from ``pack_dir/data``."""
    rows = read_jsonl_gz(pack_dir / "data" / "legal_glossary_qa.jsonl.gz")
    documents = [_document(row) for row in rows]
    members: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        members[area_of(row)].append(row)
    intents = []
    for area in sorted(members):
        chosen = sample(
            members[area], MAX_EXAMPLES_PER_INTENT, key=lambda row: row["id"], salt=area
        )
        examples = [
            TEMPLATES[i % len(TEMPLATES)].format(
                term=row["term"],
                jur=JURISDICTION_NAMES.get(row["jurisdiction"], row["jurisdiction"]),
            )
            for i, row in enumerate(chosen)
        ]
        intents.append(Intent(name=area, description=AREA_DESCRIPTIONS[area], examples=examples))
    license_files = [pack_dir / "data" / "LICENSE_public-law-datasets.md"]
    return PackContent(documents=documents, intents=intents, license_files=license_files)


def area_of(row: dict) -> str:
    """The area of law of a glossary row, from the glossary file named in its ``source``."""
    glossary = row["source"].rsplit(" ", 1)[-1]
    try:
        return GLOSSARY_AREAS[glossary]
    except KeyError:
        raise PackFormatError(
            f"legal: glossary {glossary!r} of {row['id']!r} has no area of law"
        ) from None


def _document(row: dict) -> Document:
    title = f"{row['term']} ({row['jurisdiction']})"
    return Document(
        id=row["id"],
        title=title,
        text=row["answer"],
        source_url=row["source_url"],
        metadata={
            "term": row["term"],
            "jurisdiction": row["jurisdiction"],
            "kind": row["kind"],
            "area": area_of(row),
            "source": row["source"],
            "eval_questions": unleaked_questions(title, row["answer"], [row["question"]]),
        },
    )
