"""Redaction benchmark: span-level precision / recall / F1 of core.privacy.Redactor.

A prediction counts as a true positive only when its kind AND its exact character span match a
labelled span. The labelled set (bench/data/redaction_labelled.jsonl) holds customer-service
messages with and without personal data, including near-misses (order and tracking numbers,
Luhn-invalid card numbers, invalid SSNs and IBANs, dates, amounts, product codes, versions).

Also reported: "leaked", labelled spans of which at least one character is left unredacted
(the privacy-relevant failure, independent of exact boundaries).

Second table: the cost of hostile input (issue 14: "1 " repeated took 2.8 s at 1,200 characters
before the detectors were made linear). Each shape is redacted at 1,000, 2,000 and 4,000
characters; CPU time of the calling thread, best of three. Linear cost doubles with the length.

Usage: .venv/bin/python bench/redaction.py [--data PATH] [--out bench/redaction.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.privacy.redaction import KIND_PRIORITY, Redactor

HERE = Path(__file__).resolve().parent


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate(rows: list[dict], redactor: Redactor) -> dict:
    """Score the redactor on labelled rows; returns per-kind and overall counts and metrics."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    leaked: Counter[str] = Counter()
    errors: list[dict] = []
    started = time.perf_counter()
    for row in rows:
        gold = {(s["kind"], s["start"], s["end"]) for s in row["spans"]}
        findings = redactor.find(row["text"])
        pred = {(f.kind, f.start, f.end) for f in findings}
        covered = set()
        for f in findings:
            covered.update(range(f.start, f.end))
        for kind, _s, _e in pred & gold:
            tp[kind] += 1
        for kind, s, e in pred - gold:
            fp[kind] += 1
            errors.append({"id": row["id"], "type": "fp", "kind": kind, "span": row["text"][s:e]})
        for kind, s, e in gold - pred:
            fn[kind] += 1
            errors.append({"id": row["id"], "type": "fn", "kind": kind, "span": row["text"][s:e]})
        for kind, s, e in gold:
            if not set(range(s, e)) <= covered:
                leaked[kind] += 1
    elapsed = time.perf_counter() - started
    per_kind = {}
    for kind in KIND_PRIORITY:
        p, r, f = _prf(tp[kind], fp[kind], fn[kind])
        per_kind[kind] = {
            "support": tp[kind] + fn[kind],
            "tp": tp[kind],
            "fp": fp[kind],
            "fn": fn[kind],
            "leaked": leaked[kind],
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f, 4),
        }
    T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
    p, r, f = _prf(T, F, N)
    overall = {
        "support": T + N,
        "tp": T,
        "fp": F,
        "fn": N,
        "leaked": sum(leaked.values()),
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f, 4),
    }
    return {
        "messages": len(rows),
        "messages_without_personal_data": sum(1 for r in rows if not r["spans"]),
        "ms_per_message": round(1000 * elapsed / max(1, len(rows)), 3),
        "per_kind": per_kind,
        "overall": overall,
        "errors": errors,
    }


HOSTILE_SHAPES = {
    "1 (space)": "1 ",
    "1- (dash)": "1-",
    "1. (dots)": "1.",
    "digit run": "1",
    "4111 groups": "4111 ",
    "mixed groups": "12 345-6789 ",
    "full-width digits": "\uff11 ",
    "1: (colons)": "1:",
    "1/ (slashes)": "1/",
    "a! (e-mail specials)": "a!",
    "IBAN prefix": "DE89 ",
    "valid cards": "4111111111111111 ",
    "valid phones": "+44 7911 123456 ",
}
HOSTILE_LENGTHS = (1_000, 2_000, 4_000)


def hostile_scaling(redactor: Redactor) -> dict[str, dict[str, float]]:
    """Milliseconds (thread CPU time, best of 3) to redact each hostile shape at each length."""
    table: dict[str, dict[str, float]] = {}
    for name, unit in HOSTILE_SHAPES.items():
        row = {}
        for length in HOSTILE_LENGTHS:
            text = (unit * (length // len(unit) + 1))[:length]
            best = float("inf")
            for _ in range(3):
                started = time.thread_time()
                redactor.redact(text)
                best = min(best, time.thread_time() - started)
            row[str(length)] = round(1000 * best, 2)
        table[name] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "redaction_labelled.jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "redaction.json")
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line]
    redactor = Redactor()
    redactor.find("warm up +1 212 555 0198")  # load phonenumbers metadata outside the timing
    result = evaluate(rows, redactor)
    result["hostile_ms"] = hostile_scaling(redactor)
    result["machine"] = f"{platform.machine()} Python {platform.python_version()}"
    result["date"] = time.strftime("%Y-%m-%d")

    table = Table(title=f"Redaction, {result['messages']} messages (span-level, exact kind)")
    for col in ("kind", "support", "TP", "FP", "FN", "leaked", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind, m in [*result["per_kind"].items(), ("overall", result["overall"])]:
        counts = [str(m[k]) for k in ("support", "tp", "fp", "fn", "leaked")]
        scores = [f"{m[k]:.3f}" for k in ("precision", "recall", "f1")]
        table.add_row(kind, *counts, *scores)
    console = Console()
    console.print(table)
    console.print(f"{result['ms_per_message']} ms/message; errors: {len(result['errors'])}")
    for err in result["errors"]:
        console.print(f"  {err['type']} {err['kind']:5} {err['id']}: {err['span']!r}")
    hostile = Table(title="Hostile input: ms to redact (thread CPU time, best of 3)")
    hostile.add_column("shape", justify="left")
    for length in HOSTILE_LENGTHS:
        hostile.add_column(f"{length:,} chars", justify="right")
    for name, row in result["hostile_ms"].items():
        hostile.add_row(name, *(f"{row[str(length)]:.1f}" for length in HOSTILE_LENGTHS))
    console.print(hostile)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
