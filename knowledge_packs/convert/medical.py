"""medical: every MedQuAD answer as a document; intents from ``qtype`` with paraphrased questions.

MedQuAD's questions are templated ("What is (are) X ?", "What are the treatments for X ?"), so
a classifier trained on them learns the template. Each qtype therefore gets several paraphrase
templates, filled with the focus topics of that qtype's documents, and the original template
is only one of them.

Rows that would make the same document (same focus, question type and answer: MedQuAD lists
some CDC pages once per question asked of them) become one document that keeps every row's
question for evaluation. Answers shared by different topics ("This condition is inherited in an
autosomal recessive pattern ...", 348 GHR conditions) stay separate documents: the title says
which condition the answer is about.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from core.packs.builder import SHIPPED_VECTORS_FILE
from core.packs.documents import Document
from core.packs.manifest import Intent
from knowledge_packs.convert.common import (
    MAX_EXAMPLES_PER_INTENT,
    PackContent,
    fill_templates,
    read_jsonl_gz,
    sample,
    slug,
    unleaked_questions,
)

PARAPHRASES: dict[str, list[str]] = {
    "information": [
        "What is {x}?",
        "Can you tell me about {x}?",
        "I was just diagnosed with {x}, what is it?",
        "Explain {x} in simple terms",
        "What should I know about {x}?",
        "{x}: what is that?",
        "Give me an overview of {x}",
        "Do you have information about {x}",
    ],
    "symptoms": [
        "What are the symptoms of {x}?",
        "What are the signs of {x}?",
        "How do I know if I have {x}?",
        "What does {x} feel like?",
        "Which symptoms point to {x}?",
        "early warning signs of {x}",
        "My child might have {x}, what symptoms should I look for?",
    ],
    "treatment": [
        "How is {x} treated?",
        "What are the treatments for {x}?",
        "Is there a cure for {x}?",
        "What medication helps with {x}?",
        "treatment options for {x}",
        "What can doctors do about {x}?",
        "How do you manage {x}?",
    ],
    "causes": [
        "What causes {x}?",
        "Why do people get {x}?",
        "What is the cause of {x}?",
        "What leads to {x}?",
        "Where does {x} come from?",
        "reasons someone develops {x}",
    ],
    "inheritance": [
        "Is {x} inherited?",
        "Can {x} be passed from parent to child?",
        "Is {x} genetic or hereditary?",
        "Will my kids get {x} if I have it?",
        "How is {x} inherited?",
        "Does {x} run in families?",
    ],
    "frequency": [
        "How many people are affected by {x}?",
        "How common is {x}?",
        "Is {x} rare?",
        "How many people have {x}?",
        "prevalence of {x}",
        "How often does {x} occur?",
    ],
    "genetic changes": [
        "What are the genetic changes related to {x}?",
        "Which gene mutation causes {x}?",
        "What genes are involved in {x}?",
        "Is {x} caused by a mutation?",
        "genetics behind {x}",
        "Which chromosome changes lead to {x}?",
    ],
    "exams and tests": [
        "How is {x} diagnosed?",
        "What tests detect {x}?",
        "How do doctors test for {x}?",
        "Which exams confirm {x}?",
        "diagnosis of {x}",
        "Is there a blood test for {x}?",
    ],
    "research": [
        "What research is being done on {x}?",
        "Are there clinical trials for {x}?",
        "latest studies on {x}",
        "Is anyone researching new treatments for {x}?",
        "What are scientists learning about {x}?",
    ],
    "outlook": [
        "What is the outlook for {x}?",
        "What is the prognosis of {x}?",
        "Can you recover from {x}?",
        "life expectancy with {x}",
        "Will {x} get better over time?",
        "What is the long-term outlook for someone with {x}?",
    ],
    "susceptibility": [
        "Who is at risk for {x}?",
        "Am I at risk of getting {x}?",
        "risk factors for {x}",
        "Who is most likely to get {x}?",
        "Does age increase the chance of {x}?",
    ],
    "considerations": [
        "What to do for {x}?",
        "How can I live with {x}?",
        "Tips for coping with {x}",
        "What lifestyle changes help with {x}?",
        "What should I eat if I have {x}?",
    ],
    "prevention": [
        "How to prevent {x}?",
        "How can I avoid getting {x}?",
        "Can {x} be prevented?",
        "ways to lower my risk of {x}",
        "Is there a vaccine against {x}?",
    ],
    "stages": [
        "What are the stages of {x}?",
        "How is {x} staged?",
        "What does stage 2 {x} mean?",
        "How do doctors describe how far {x} has spread?",
        "staging of {x}",
    ],
    "complications": [
        "What are the complications of {x}?",
        "Can {x} lead to other problems?",
        "What happens if {x} is not treated?",
        "long-term effects of {x}",
        "Is {x} dangerous?",
    ],
    "support groups": [
        "Where to find support for people with {x}?",
        "Are there support groups for {x}?",
        "Who can I talk to about living with {x}?",
        "patient organizations for {x}",
        "Where can families of people with {x} get help?",
    ],
}
# What a page answers, as its heading would say it: the title is embedded and BM25-indexed with
# every chunk, and most conditions have several pages (information, symptoms, causes, ...) whose
# text alone often reads alike. Noun phrases, never a question (evaluation asks MedQuAD's).
# Chosen on samples of 300 focuses (all their pages) against "<focus> (<qtype>)": hybrid nDCG@10
# 0.876 -> 0.907 and 0.870 -> 0.893 (docs/builtin-packs.md).
QTYPE_TITLES: dict[str, str] = {
    "information": "overview and definition",
    "symptoms": "signs and symptoms",
    "causes": "causes",
    "treatment": "treatment and therapy",
    "inheritance": "inheritance pattern in families",
    "frequency": "how common it is, frequency",
    "genetic changes": "related genes and genetic changes",
    "exams and tests": "diagnosis and tests",
    "research": "research and clinical trials",
    "outlook": "outlook and prognosis",
    "susceptibility": "risk factors, who is at risk",
    "considerations": "living with it, what to do",
    "prevention": "prevention",
    "stages": "stages",
    "complications": "complications",
    "support groups": "support groups and help",
}
DATA_FILE = "medquad_answered.jsonl.gz"
# A qtype with few documents borrows other focus topics so its examples still vary.
MIN_SUBJECTS = 20
_TITLE_PREFIX = "what i need to know about "
_INTERROGATIVES = {"what", "how", "is", "are", "who", "can", "do", "does", "where", "when", "why"}
_QUESTION_SENTENCE = re.compile(
    r"(?:^|(?<=[.!?:\n]))[ \t]*(?:what|how|is|are|who|can|do|does|where|when|why|which|should)"
    r"\b[^.!?\n]{0,200}\?",
    re.IGNORECASE,
)


def convert(pack_dir: Path) -> PackContent:
    """Build documents and intents from ``pack_dir/data``."""
    rows = read_jsonl_gz(pack_dir / "data" / DATA_FILE)
    documents = [_document(group) for group in same_document_groups(rows)]
    focuses: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        subject = question_subject(row["focus"])
        if subject:
            focuses[row["qtype"]].add(subject)
    all_focuses = sorted(set().union(*focuses.values()))
    intents = []
    for qtype in sorted(focuses):
        subjects = sorted(focuses[qtype])
        if len(subjects) < MIN_SUBJECTS:
            extra = sample(
                set(all_focuses) - set(subjects), MIN_SUBJECTS - len(subjects), key=str, salt=qtype
            )
            subjects += extra
        templates = PARAPHRASES.get(qtype, ["{x}"])
        examples = fill_templates(templates, subjects, salt=qtype)[:MAX_EXAMPLES_PER_INTENT]
        intents.append(
            Intent(
                name=slug(qtype),
                description=f"MedQuAD question type '{qtype}'.",
                examples=examples,
            )
        )
    license_files = [pack_dir / "data" / "LICENSE.txt", pack_dir / "data" / "README_upstream.txt"]
    shipped = pack_dir / SHIPPED_VECTORS_FILE
    return PackContent(
        documents=documents,
        intents=intents,
        license_files=license_files,
        shipped_vectors=shipped if shipped.is_file() else None,
    )


def question_subject(focus: str) -> str | None:
    """The focus as a customer would name it in a question, or ``None`` when it reads badly.

    NIDDK focus values are page titles ("What I need to know about Hepatitis A", "Treatment
    Methods for Kidney Failure: Hemodialysis"); they make unnatural questions.
    """
    subject = focus.strip()
    if subject.lower().startswith(_TITLE_PREFIX):
        subject = subject[len(_TITLE_PREFIX) :].strip()
    if not subject or ":" in subject or len(subject) > 50:
        return None
    if subject.split()[0].lower() in _INTERROGATIVES:
        return None
    return subject


def strip_question_sentences(answer: str) -> str:
    """Drop the question headings some collections (GARD) put inside answers.

    Indexed text must not contain the question it is evaluated with; a GARD answer begins
    "What causes achalasia? The lower esophageal sphincter ...".
    """
    stripped = _QUESTION_SENTENCE.sub("", answer)
    return re.sub(r"[ \t]{2,}", " ", stripped).strip()


def same_document_groups(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the document they make (focus, qtype, answer), in first-row order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["focus"].strip(), row["qtype"], row["answer"]), []).append(row)
    return list(groups.values())


def document_title(row: dict[str, Any]) -> str:
    """``"<focus>: <what the page answers>"`` ("Glaucoma: signs and symptoms", from
    :data:`QTYPE_TITLES`); the site's name stands in for a missing focus (a few CDC rows)."""
    answers = QTYPE_TITLES.get(row["qtype"], row["qtype"])
    return f"{row['focus'].strip() or row['source']}: {answers}"


def _eval_question(row: dict[str, Any]) -> str | None:
    # An empty focus filled into MedQuAD's template leaves "What is (are) ?": no question.
    if not row["focus"].strip() and row["question"].endswith(" ?"):
        return None
    return str(row["question"])


def _document(rows: list[dict[str, Any]]) -> Document:
    row = rows[0]
    title = document_title(row)
    text = strip_question_sentences(row["answer"]) or row["answer"]
    questions = list(dict.fromkeys(q for q in map(_eval_question, rows) if q is not None))
    return Document(
        id=row["id"],
        title=title,
        text=text,
        source_url=row["source_url"] or None,
        metadata={
            "focus": row["focus"],
            "qtype": row["qtype"],
            # The intent the page answers: retrieval ranks by the kind of question asked
            # (index.intent_lift, core/retrieval/intent_lift.py).
            "intent": slug(row["qtype"]),
            "collection": row["collection"],
            "source": row["source"],
            "eval_questions": unleaked_questions(title, text, questions),
        },
    )
