"""The built-in packs' converters: valid manifests, derived intents, no eval-question leaks,
deterministic output and skip-when-up-to-date, through ``knowledge_packs.prepare``."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest

from core.errors import PackNotFound
from core.packs.builder import SHIPPED_VECTORS_FILE
from core.packs.documents import Document
from core.packs.manifest import MANIFEST_FILE, Manifest, generic_pack_ids, load_manifest
from core.retrieval.shipped_vectors import ShippedVectors
from knowledge_packs.convert import medical
from knowledge_packs.convert.common import PACKS_ROOT, normalized, read_csv_gz, slug
from knowledge_packs.convert.finance import banking77_rows
from knowledge_packs.convert.medical import QTYPE_TITLES
from knowledge_packs.prepare import BUILTIN_PACKS, prepare_pack, prepare_pack_result

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PACK_IDS = ["support-basics", "finance", "medical", "legal"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    return {pack_id: prepare_pack(pack_id, root / pack_id) for pack_id in PACK_IDS}


def _manifest(prepared: dict[str, Path], pack_id: str) -> Manifest:
    return load_manifest(prepared[pack_id] / MANIFEST_FILE)


def _documents(prepared: dict[str, Path], pack_id: str) -> list[Document]:
    lines = (prepared[pack_id] / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    return [Document.model_validate_json(line) for line in lines]


def test_the_four_builtin_packs_exist() -> None:
    assert list(BUILTIN_PACKS) == PACK_IDS


@pytest.mark.parametrize(
    ("pack_id", "model", "amount", "disclaimer"),
    [
        ("support-basics", "free", 0, None),
        ("finance", "one_time", 1900, None),
        ("medical", "monthly", 900, "not medical advice"),
        ("legal", "one_time", 1500, "not legal advice"),
    ],
)
def test_manifest_validates_with_price_license_and_disclaimer(
    prepared: dict[str, Path], pack_id: str, model: str, amount: int, disclaimer: str | None
) -> None:
    manifest = _manifest(prepared, pack_id)
    assert manifest.id == pack_id
    assert (manifest.pricing.model, manifest.pricing.amount, manifest.pricing.currency) == (
        model,
        amount,
        "usd",
    )
    assert manifest.publisher == "PackDesk"
    assert manifest.embedding_model.id == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest.embedding_model.dimension == 384
    assert manifest.license and manifest.attribution
    if disclaimer:
        assert disclaimer in (manifest.disclaimer or "").lower()


@pytest.mark.parametrize(
    ("pack_id", "credit"),
    [
        ("support-basics", "bitext/customer-support-llm-chatbot-training-dataset @ 8b6ca3d9"),
        ("finance", "catops/ask-cfpb-bot @ 90c86064"),
        ("finance", "PolyAI-LDN/task-specific-datasets @ 57ec275d"),
        ("medical", "abachaa/MedQuAD @ 577bd37b"),
        ("legal", "public-law/datasets @ 9f4e57ac"),
    ],
)
def test_attribution_credits_upstream_and_license_file_ships(
    prepared: dict[str, Path], pack_id: str, credit: str
) -> None:
    manifest = _manifest(prepared, pack_id)
    assert credit in manifest.attribution
    licenses = [name for name in manifest.files if re.match(r"(LICENSE|TERMS)", name)]
    assert licenses, f"{pack_id} ships no upstream license file"


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_file_table_matches_the_files_written(prepared: dict[str, Path], pack_id: str) -> None:
    manifest = _manifest(prepared, pack_id)
    on_disk = {p.name for p in prepared[pack_id].iterdir()} - {MANIFEST_FILE}
    assert set(manifest.files) == on_disk
    for name, digest in manifest.files.items():
        assert hashlib.sha256((prepared[pack_id] / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_intents_have_capped_distinct_examples(prepared: dict[str, Path], pack_id: str) -> None:
    for intent in _manifest(prepared, pack_id).intents:
        assert 2 <= len(intent.examples) <= 60, intent.name
        lowered = [example.lower() for example in intent.examples]
        assert len(set(lowered)) == len(lowered), intent.name


def test_finance_intents_are_banking77_plus_cfpb_topics(prepared: dict[str, Path]) -> None:
    names = [intent.name for intent in _manifest(prepared, "finance").intents]
    categories = json.loads((PACKS_ROOT / "finance/data/banking77_categories.json").read_text())
    assert len(categories) == 77
    # Upstream spells two categories oddly ("Refund_not_showing_up", "reverted_card_payment?").
    assert names[:77] == [slug(category) for category in categories]
    topics = {doc.metadata["topic"] for doc in _documents(prepared, "finance")}
    assert len(topics) == 11
    assert names[77:] == sorted(slug(topic) for topic in topics)


def test_banking77_splits_are_read_with_a_csv_parser() -> None:
    data = PACKS_ROOT / "finance" / "data"
    train, test = banking77_rows(data, "train"), banking77_rows(data, "test")
    assert (len(train), len(test)) == (10003, 3080)
    assert len({category for _, category in train}) == 77
    # Some texts hold quoted newlines: line counting would give more rows than these.
    assert sum("\n" in text for text, _ in train) == 10


def test_support_basics_has_bitext_and_platform_intents(prepared: dict[str, Path]) -> None:
    manifest = _manifest(prepared, "support-basics")
    labels = set(manifest.intent_labels())
    for name in ("greeting", "thanks", "goodbye", "human_agent", "complaint"):
        assert f"platform:{name}" in labels
    assert "support-basics:cancel_order" in labels
    assert "support-basics:contact_human_agent" not in labels  # it is platform:human_agent
    assert len(manifest.intents) == 25 + 5
    for intent in manifest.intents:
        assert intent.reply_template, intent.name
        if intent.platform:
            assert len(intent.examples) >= 25, intent.name
    bitext = {
        row["intent"]
        for row in read_csv_gz(PACKS_ROOT / "support_basics/data/bitext_customer_support.csv.gz")
    }
    documents = _documents(prepared, "support-basics")
    assert {doc.metadata["intent"] for doc in documents} == bitext
    assert len(bitext) == 27


def test_only_support_basics_says_it_serves_generic_intents(prepared: dict[str, Path]) -> None:
    manifests = [_manifest(prepared, pack_id) for pack_id in PACK_IDS]
    assert generic_pack_ids(manifests) == frozenset({"support-basics"})
    # The domain packs leave the field out, so their manifests are as before it existed.
    for pack_id in ("finance", "medical", "legal"):
        written = json.loads((prepared[pack_id] / MANIFEST_FILE).read_text(encoding="utf-8"))
        assert "serves_generic_intents" not in written


def test_medical_intents_are_qtypes_with_varied_wording(prepared: dict[str, Path]) -> None:
    manifest = _manifest(prepared, "medical")
    documents = _documents(prepared, "medical")
    qtypes = {doc.metadata["qtype"].replace(" ", "_") for doc in documents}
    assert {intent.name for intent in manifest.intents} == qtypes
    # Each page names the intent it answers, and retrieval ranks by it (index.intent_lift).
    assert all(doc.metadata["intent"] == doc.metadata["qtype"].replace(" ", "_")
               for doc in documents)
    assert manifest.index.intent_lift > 0
    for intent in manifest.intents:
        # The dataset's template ("What are the symptoms of X ?") must not be the only wording.
        openings = {" ".join(example.lower().split()[:2]) for example in intent.examples}
        assert len(openings) >= 4, (intent.name, openings)


def test_medical_holds_every_medquad_answer(prepared: dict[str, Path]) -> None:
    documents = _documents(prepared, "medical")
    # 16,339 rows; 6 CDC rows repeat one page's answer under one focus and qtype (one row per
    # question asked of it): 2 documents that keep all 6 questions.
    assert len(documents) == 16_339 - 4
    assert len({doc.id for doc in documents}) == len(documents)
    assert len({doc.metadata["collection"] for doc in documents}) == 9
    assert len({doc.metadata["qtype"] for doc in documents}) == 16
    for doc in documents:
        focus = doc.metadata["focus"].strip() or doc.metadata["source"]
        assert doc.title == f"{focus}: {QTYPE_TITLES[doc.metadata['qtype']]}"
    # Every MedQuAD question but the few an answer quotes (and "What is (are) ?") is asked.
    assert sum(len(doc.metadata["eval_questions"]) for doc in documents) == 16_317
    ids = {doc.id for doc in documents}
    assert "9_0000424-1" in ids and not {"9_0000424-2", "9_0000424-3"} & ids
    merged = next(doc for doc in documents if doc.id == "9_0000424-1")
    # The third row's question, kept on the first row's document (the first row's own
    # "What is (are) ?" names no topic, and the second's is quoted by the answer itself).
    assert merged.metadata["eval_questions"] == [
        "what types of infections does vancomycin-resistant enterococci cause?"
    ]


def test_medical_titles_say_what_the_page_answers() -> None:
    # One heading per question type, a noun phrase (never a question: evaluation asks those),
    # distinct, so a condition's pages differ in their titles.
    assert set(QTYPE_TITLES) == set(medical.PARAPHRASES)
    assert len(set(QTYPE_TITLES.values())) == len(QTYPE_TITLES)
    assert not any("?" in words for words in QTYPE_TITLES.values())
    row = {"focus": "Glaucoma ", "qtype": "symptoms", "source": "NEI"}
    assert medical.document_title(row) == "Glaucoma: signs and symptoms"
    assert medical.document_title({**row, "focus": ""}) == "NEI: signs and symptoms"


def test_answers_shared_by_different_topics_stay_separate_documents(
    prepared: dict[str, Path],
) -> None:
    documents = _documents(prepared, "medical")
    recessive = [
        doc
        for doc in documents
        if doc.text.startswith(
            "This condition is inherited in an autosomal recessive pattern, which means both copies"
        )
    ]
    # The title names the condition, which the shared answer does not.
    assert len(recessive) > 300
    assert len({doc.title for doc in recessive}) == len(recessive)


def test_legal_intents_use_varied_question_templates(prepared: dict[str, Path]) -> None:
    manifest = _manifest(prepared, "legal")
    assert len(manifest.intents) == 7
    examples = [example for intent in manifest.intents for example in intent.examples]
    templated = [e for e in examples if re.fullmatch(r'What does ".+" mean in law\?', e)]
    assert len(templated) < len(examples) / 5
    assert any(e.startswith("define ") for e in examples)
    documents = _documents(prepared, "legal")
    assert all(
        doc.title == f"{doc.metadata['term']} ({doc.metadata['jurisdiction']})" for doc in documents
    )


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_indexed_text_never_contains_its_eval_question(
    prepared: dict[str, Path], pack_id: str
) -> None:
    documents = _documents(prepared, pack_id)
    with_questions = 0
    for doc in documents:
        questions = doc.metadata["eval_questions"]
        with_questions += bool(questions)
        indexed = normalized(f"{doc.title} {doc.text}")
        for question in questions:
            assert normalized(question) not in indexed, (doc.id, question)
    # Only the rare answer that quotes its own question loses its eval question.
    assert with_questions >= 0.99 * len(documents)


def test_chunks_embedded_at_first_run_stay_few(prepared: dict[str, Path]) -> None:
    # ~4 characters a token, 200-token chunks with 40 overlap: the first `make run` embeds the
    # packs that ship no vectors (knowledge_packs/<folder>/vectors.shipped).
    estimate = 0
    for pack_id in PACK_IDS:
        if (BUILTIN_PACKS[pack_id].root / SHIPPED_VECTORS_FILE).is_file():
            continue
        for doc in _documents(prepared, pack_id):
            tokens = len(doc.title + doc.text) / 4
            estimate += 1 + max(0, int((tokens - 200) // 160) + 1) if tokens > 200 else 1
    assert estimate <= 15_000


def test_medical_ships_vectors_of_the_bundled_model() -> None:
    shipped = ShippedVectors.read(BUILTIN_PACKS["medical"].root / SHIPPED_VECTORS_FILE)
    assert shipped.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert shipped.dimension == 384
    assert shipped.backend in ("torch", "onnx", "onnx-int8")
    assert len(shipped.vectors) >= 30_000  # about one per chunk of every MedQuAD answer


def test_output_is_deterministic(prepared: dict[str, Path], tmp_path: Path) -> None:
    again = prepare_pack("finance", tmp_path / "finance")
    for path in prepared["finance"].iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_up_to_date_directory_is_skipped_and_tampering_is_repaired(tmp_path: Path) -> None:
    out = tmp_path / "legal"
    assert prepare_pack_result("legal", out).skipped is False
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert prepare_pack_result("legal", out).skipped is True
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    (out / "documents.jsonl").write_text("tampered\n")
    (out / "extra.txt").write_text("left over\n")
    assert prepare_pack_result("legal", out).skipped is False
    assert not (out / "extra.txt").exists()
    assert (out / "documents.jsonl").read_text().startswith("{")


def test_unknown_pack_id_is_rejected_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(PackNotFound, match="'cooking'"):
        prepare_pack("cooking", tmp_path / "cooking")
    assert list(tmp_path.iterdir()) == []


def test_committed_data_is_compressed_and_small() -> None:
    for pack in BUILTIN_PACKS.values():
        data = pack.root / "data"
        files = list(data.iterdir())
        assert any(re.match(r"(LICENSE|TERMS)", f.name) for f in files), pack.pack_id
        for path in files:
            assert path.stat().st_size < 8 * 1024 * 1024, path
            if path.suffix in (".jsonl", ".csv"):
                pytest.fail(f"{path} is not compressed")
            if path.suffix == ".gz":
                with gzip.open(path) as fh:
                    fh.read(1)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared public data not present")
def test_medquad_copy_is_the_upstream_file_unchanged() -> None:
    upstream = (SHARED_DATA / "medquad" / "medquad_answered.jsonl").read_bytes()
    committed = PACKS_ROOT / "medical" / "data" / "medquad_answered.jsonl.gz"
    with gzip.open(committed) as fh:
        assert fh.read() == upstream
    provenance = json.loads((committed.parent / "PROVENANCE.json").read_text())
    digest = hashlib.sha256(upstream).hexdigest()
    assert provenance["upstream_sha256"] == {"medquad_answered.jsonl": digest}


FULL_PROFILE = {
    "Website Name": "shop.example",
    "Customer Support Email Address": "help@shop.example",
    "Customer Support Phone Number": "+1 555 0100",
    "Customer Support Availability": "Monday to Friday, 9:00 to 17:00",
    "Live Chat": "live chat at shop.example/help",
}


@pytest.mark.parametrize("values", [{}, FULL_PROFILE], ids=["empty profile", "full profile"])
def test_no_placeholder_of_any_builtin_template_ever_reaches_an_answer(
    prepared: dict[str, Path], values: dict[str, str]
) -> None:
    from core.assistant.templates import render_template

    texts = []
    for pack_id in PACK_IDS:
        for intent in _manifest(prepared, pack_id).intents:
            if not intent.reply_template:
                continue
            text = render_template(intent.reply_template, values)
            assert "{{" not in text and "}}" not in text, (pack_id, intent.name, text)
            assert text.strip(), (pack_id, intent.name)  # something is always left to say
            texts.append(text)
    assert len(texts) >= 25
    # the profile's facts are what fills the templates that ask for them
    for value in values.values():
        assert any(value in text for text in texts), value


def test_every_builtin_placeholder_is_one_the_renderer_knows(prepared: dict[str, Path]) -> None:
    from core.assistant.templates import (
        DROPPED_PLACEHOLDERS,
        PROFILE_PLACEHOLDERS,
        SECTION_PLACEHOLDERS,
    )
    from core.packs.manifest import TEMPLATE_PLACEHOLDERS, check_templates

    known = PROFILE_PLACEHOLDERS | SECTION_PLACEHOLDERS | DROPPED_PLACEHOLDERS
    assert known == TEMPLATE_PLACEHOLDERS  # one documented set, every name handled
    for pack_id in PACK_IDS:
        check_templates(_manifest(prepared, pack_id))  # the review-time check accepts them
