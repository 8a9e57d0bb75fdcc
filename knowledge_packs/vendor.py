"""Copy what the built-in packs need from the shared public data into ``knowledge_packs/``.

Run once by a maintainer (``python -m knowledge_packs.vendor /path/to/shared/data``); the copies
it writes are committed, so preparing packs never needs the shared data. Output is
deterministic: gzip without timestamps, rows in a fixed order, the MedQuAD subset chosen by a
hash of each row's id. ``PROVENANCE.json`` in each ``data/`` folder records the upstream files'
SHA-256 and the subset rule, so a reviewer can re-run this and compare bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from knowledge_packs.convert.common import PACKS_ROOT, stable_hash, write_gzip

# MedQuAD subset rule (docs/builtin-packs.md): answers up to this many characters, a non-empty
# focus, then round-robin over the (qtype, collection) strata in hash order until this many rows.
MEDQUAD_SUBSET_SIZE = 3000
MEDQUAD_MAX_ANSWER_CHARS = 8000
BITEXT_COLUMNS = ["instruction", "intent", "category", "response"]


def vendor_all(shared: Path) -> None:
    """Write every pack's ``data/`` folder from the shared data directory ``shared``."""
    _vendor_support_basics(shared / "customer_support_bitext", PACKS_ROOT / "support_basics")
    _vendor_finance(shared, PACKS_ROOT / "finance")
    _vendor_medical(shared / "medquad", PACKS_ROOT / "medical")
    _vendor_legal(shared / "legal", PACKS_ROOT / "legal")


def medquad_subset(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documented, deterministic MedQuAD subset, balanced across qtype and collection."""
    strata: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["focus"].strip() and len(row["answer"]) <= MEDQUAD_MAX_ANSWER_CHARS:
            strata[(row["qtype"], row["collection"])].append(row)
    for members in strata.values():
        members.sort(key=lambda row: stable_hash(row["id"]))
    chosen: list[dict[str, Any]] = []
    depth = 0
    # Round-robin keeps small strata (stages, complications, CDC) whole and thins big ones.
    while len(chosen) < MEDQUAD_SUBSET_SIZE:
        added = False
        for key in sorted(strata):
            if depth < len(strata[key]) and len(chosen) < MEDQUAD_SUBSET_SIZE:
                chosen.append(strata[key][depth])
                added = True
        if not added:
            break
        depth += 1
    return sorted(chosen, key=lambda row: row["id"])


def _vendor_support_basics(src: Path, pack: Path) -> None:
    with (src / "bitext_customer_support_training.csv").open(newline="", encoding="utf-8") as fh:
        rows = [{column: row[column] for column in BITEXT_COLUMNS} for row in csv.DictReader(fh)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=BITEXT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    data = _fresh(pack / "data")
    write_gzip(data / "bitext_customer_support.csv.gz", buffer.getvalue().encode("utf-8"))
    _copy(src / "LICENSE_CDLA-Sharing-1.0.txt", data / "LICENSE_CDLA-Sharing-1.0.txt")
    _provenance(
        data,
        {"bitext_customer_support_training.csv": src},
        f"all {len(rows)} rows; columns {', '.join(BITEXT_COLUMNS)} only",
    )


def _vendor_finance(shared: Path, pack: Path) -> None:
    cfpb, banking = shared / "finance_askcfpb", shared / "banking77"
    data = _fresh(pack / "data")
    write_gzip(data / "ask_cfpb_qa.jsonl.gz", (cfpb / "ask_cfpb_qa.jsonl").read_bytes())
    _copy(cfpb / "TERMS.md", data / "TERMS-askcfpb.md")
    _copy(cfpb / "LICENSE.txt", data / "LICENSE-askcfpb.txt")
    write_gzip(data / "banking77_train.csv.gz", (banking / "train.csv").read_bytes())
    write_gzip(data / "banking77_test.csv.gz", (banking / "test.csv").read_bytes())
    _copy(banking / "categories.json", data / "banking77_categories.json")
    _copy(banking / "LICENSE.txt", data / "LICENSE-banking77.txt")
    _provenance(
        data,
        {
            "ask_cfpb_qa.jsonl": cfpb,
            "train.csv": banking,
            "test.csv": banking,
            "categories.json": banking,
        },
        "all rows of every file, unchanged (gzip-compressed)",
    )


def _vendor_medical(src: Path, pack: Path) -> None:
    with (src / "medquad_answered.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    subset = medquad_subset(rows)
    body = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in subset)
    data = _fresh(pack / "data")
    write_gzip(data / "medquad_subset.jsonl.gz", body.encode("utf-8"))
    _copy(src / "LICENSE.txt", data / "LICENSE.txt")
    _copy(src / "README_upstream.txt", data / "README_upstream.txt")
    _provenance(
        data,
        {"medquad_answered.jsonl": src},
        f"{len(subset)} of {len(rows)} rows: non-empty focus, answer <= "
        f"{MEDQUAD_MAX_ANSWER_CHARS} chars, round-robin over (qtype, collection) strata in "
        "sha256(id) order (knowledge_packs.vendor.medquad_subset)",
    )


def _vendor_legal(src: Path, pack: Path) -> None:
    data = _fresh(pack / "data")
    write_gzip(data / "legal_glossary_qa.jsonl.gz", (src / "legal_glossary_qa.jsonl").read_bytes())
    _copy(src / "LICENSE_public-law-datasets.md", data / "LICENSE_public-law-datasets.md")
    _provenance(data, {"legal_glossary_qa.jsonl": src}, "all rows, unchanged (gzip-compressed)")


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _copy(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes())


def _provenance(data: Path, upstream: dict[str, Path], rule: str) -> None:
    record = {
        "upstream_sha256": {
            name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name, folder in sorted(upstream.items())
        },
        "rule": rule,
        "written_by": "python -m knowledge_packs.vendor",
    }
    (data / "PROVENANCE.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    vendor_all(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data"))
