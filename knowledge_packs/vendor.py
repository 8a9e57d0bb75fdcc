"""Copy what the built-in packs need from the shared public data into ``knowledge_packs/``.

Run once by a maintainer (``python -m knowledge_packs.vendor /path/to/shared/data``); the copies
it writes are committed, so preparing packs never needs the shared data. Output is
deterministic: gzip without timestamps, rows in a fixed order. ``PROVENANCE.json`` in each
``data/`` folder records the upstream files' SHA-256 and the copy rule, so a reviewer can re-run
this and compare bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

from knowledge_packs.convert.common import PACKS_ROOT, write_gzip

BITEXT_COLUMNS = ["instruction", "intent", "category", "response"]


def vendor_all(shared: Path) -> None:
    """Write every pack's ``data/`` folder from the shared data directory ``shared``."""
    _vendor_support_basics(shared / "customer_support_bitext", PACKS_ROOT / "support_basics")
    _vendor_finance(shared, PACKS_ROOT / "finance")
    _vendor_medical(shared / "medquad", PACKS_ROOT / "medical")
    _vendor_legal(shared / "legal", PACKS_ROOT / "legal")


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
    upstream = (src / "medquad_answered.jsonl").read_bytes()
    rows = sum(1 for line in upstream.splitlines() if line.strip())
    data = _fresh(pack / "data")
    write_gzip(data / "medquad_answered.jsonl.gz", upstream)
    _copy(src / "LICENSE.txt", data / "LICENSE.txt")
    _copy(src / "README_upstream.txt", data / "README_upstream.txt")
    _provenance(
        data,
        {"medquad_answered.jsonl": src},
        f"all {rows} rows, unchanged (gzip-compressed); rows that make the same document (same "
        "focus, qtype and answer: 6 CDC rows make 2 documents) are merged by the converter "
        "(knowledge_packs.convert.medical)",
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
