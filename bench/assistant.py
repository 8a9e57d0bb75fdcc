"""Benchmark the assistant's judgement through the HTTP API: routing, out of scope, answers.

Starts the real server (``packdesk serve``, as bench/load.py does) on a free loopback port over
a prepared data directory (``./var`` as ``packdesk prepare`` leaves it, or ``--data-dir``) with
its own temporary database, creates two customers, and asks every question as each of them:

- ``free``: owns only the free pack (support-basics, active by default);
- ``all``: bought every paid pack through the local test-mode checkout and activated it.

Question sets (none used to calibrate anything; one exception to "never trained on" below):

- CLINC150 **validation** (``../shared/data/clinc150``): the 30 banking and credit-card intents
  (``finance_domains.json``) must reach finance (an answer routed to finance, or an offer for
  finance); the other 120 in-scope intents must get neither an offer nor an answer from a paid
  pack; ``oos_val`` likewise (target: at most 3% leak, with at least 95% of finance routed).
  CLINC's ``oos`` means outside its 150 intents, not outside every pack, so its questions also
  carry a subject labelled blind (bench/data/clinc150_oos_validation_domains.jsonl: 91
  ``none``, 5 medical, 4 finance): the leak is reported on all 100 and on the 91 no pack's
  subject covers (where any paid answer or offer is wrong), with how many of the 9 others
  reached their own pack.
- **Support**: Bitext rows of the support-basics pack that are not among its intents' training
  examples (``knowledge_packs/convert/support_basics.py`` keeps up to 60 per intent; the rest
  are held out), the ``report`` half by a stable hash (the ``tune`` half may be used to tune
  routing; this benchmark never reads it). The two platform intents (human agent, complaint)
  are left out: they are handoff's business (bench/handoff.py). Correct: an answer from
  support-basics (its template, or passages cited only from it), no offer.
- **Answers**: finance and legal documents' ``metadata.eval_questions``, asked by ``all``:
  median and maximum words of composed (extractive) answers, and the share whose gold document
  is cited by a marker ``[n]`` in the text. The finance pack's Ask CFPB topic intents take up
  to 60 of each topic's questions as examples, so 575 of its 1,064 eval questions (86 of the
  default 150) trained the intent and domain heads that route them: the share is also given
  for the eval questions that are no intent example (``held_out``).

    .venv/bin/python bench/assistant.py [--data-dir var] [--concurrency 4] [--label NAME]
        [--eval-per-pack 150]   # 0: every finance and legal eval question (1,064 and 1,459)
    .venv/bin/python bench/assistant.py --markdown     # print the BENCHMARKS.md section

Prints a table, writes bench/assistant.json (or ``--out``; one entry per ``--label``, with the
domain head the server loaded, if any: ``<data dir>/models/domain``, and the out-of-scope and
other-domain questions that leaked) and the "Assistant" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.benchmarks_md import replace_section  # noqa: E402
from bench.load import Server, buy_and_activate_all, create_customer  # noqa: E402
from bench.machine import describe as describe_machine  # noqa: E402
from bench.machine import summary as machine_summary  # noqa: E402

console = Console()
DATA = REPO.parent / "shared" / "data"
CLINC = DATA / "clinc150"
RESULTS = HERE / "assistant.json"
OOS_SUBJECTS = HERE / "data" / "clinc150_oos_validation_domains.jsonl"
GENERIC_PACK = "support-basics"
FINANCE_PACK = "finance"
SUPPORT_PER_INTENT = 20
EVAL_PER_PACK = 150
PLATFORM_BITEXT = {"contact_human_agent", "complaint"}
MARKER = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Question:
    set: str  # finance | other | oos | support | eval-finance | eval-legal
    text: str
    label: str  # the CLINC/Bitext intent, or the gold document id for eval questions
    # An eval question that is also one of its pack's intent examples: the intent and domain
    # heads trained on it (the finance pack's Ask CFPB topic intents use its questions).
    trained: bool = False


# --- question sets -------------------------------------------------------------------------------
def stable_half(text: str) -> str:
    """``tune`` or ``report``, by a hash of the text: the same row always falls the same way."""
    return "tune" if hashlib.sha256(text.encode()).digest()[0] % 2 == 0 else "report"


def clinc_questions() -> list[Question]:
    data = json.loads((CLINC / "clinc150_train_val.json").read_text())
    finance = {i for intents in json.loads((CLINC / "finance_domains.json").read_text()).values()
               for i in intents}
    rows = [Question("finance" if label in finance else "other", text, label)
            for text, label in data["val"]]
    rows += [Question("oos", text, "oos") for text, _ in data["oos_val"]]
    return rows


def support_rows(half: str) -> list[Question]:
    """Bitext rows that are no support-basics training example, ``half`` of them by hash."""
    from knowledge_packs.convert.common import normalized, read_csv_gz
    from knowledge_packs.convert.support_basics import convert

    pack_dir = REPO / "knowledge_packs" / "support_basics"
    trained = {normalized(e) for intent in convert(pack_dir).intents for e in intent.examples}
    by_intent: dict[str, list[str]] = defaultdict(list)
    for row in read_csv_gz(pack_dir / "data" / "bitext_customer_support.csv.gz"):
        text = row["instruction"].strip()
        if row["intent"] in PLATFORM_BITEXT or normalized(text) in trained:
            continue
        if stable_half(text) == half and text not in by_intent[row["intent"]]:
            by_intent[row["intent"]].append(text)
    out = []
    for intent, texts in sorted(by_intent.items()):
        texts.sort(key=lambda t: hashlib.sha256(t.encode()).hexdigest())
        out += [Question("support", t, intent) for t in texts[:SUPPORT_PER_INTENT]]
    return out


def eval_questions(data_dir: Path, pack_id: str, limit: int = EVAL_PER_PACK) -> list[Question]:
    """The pack's eval questions in SHA-256 order of their text, the first ``limit`` (0: all):
    a larger ``limit`` starts with the same questions as a smaller one."""
    docs = next((data_dir / "packs" / pack_id).glob("*/documents.jsonl"))
    manifest = json.loads((docs.parent / "manifest.json").read_text())
    examples = {normalised(text) for intent in manifest.get("intents", [])
                for text in intent.get("examples", [])}
    pairs = []
    for line in docs.read_text().splitlines():
        doc = json.loads(line)
        pairs += [(q, doc["id"]) for q in doc.get("metadata", {}).get("eval_questions", [])]
    pairs.sort(key=lambda p: hashlib.sha256(p[0].encode()).hexdigest())
    return [Question(f"eval-{pack_id}", q, gold, trained=normalised(q) in examples)
            for q, gold in pairs[: limit or None]]


def normalised(text: str) -> str:
    """Case and spacing folded, as the pack converters compare intent examples."""
    return " ".join(text.split()).lower()


# --- asking --------------------------------------------------------------------------------------
async def ask_all(base_url: str, api_key: str, questions: list[Question],
                  concurrency: int) -> list[dict[str, Any]]:
    """Every question once. Routing sets ask for ``"detail": "full"`` (the route does not
    depend on it, and it skips embedding candidate sentences); eval questions get the default
    brief answer, whose words and markers are measured."""
    headers = {"Authorization": f"Bearer {api_key}"}
    results: list[dict[str, Any]] = [{} for _ in questions]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(questions)):
        queue.put_nowait(i)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60.0) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                for attempt in range(3):
                    response = await client.post("/v1/ask",
                                                 json=payload(questions[i]))
                    if response.status_code == 200:
                        results[i] = response.json()
                        break
                    if attempt == 2:
                        results[i] = {"error": response.status_code}

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def payload(question: Question) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question.text[:2000]}
    if not question.set.startswith("eval-"):
        body["detail"] = "full"
    return body


# --- scoring -------------------------------------------------------------------------------------
def paid_pack_ids(data_dir: Path) -> set[str]:
    paid = set()
    for manifest in (data_dir / "packs").glob("*/*/manifest.json"):
        m = json.loads(manifest.read_text())
        if m["pricing"]["model"] != "free" and m["pricing"].get("amount", 0):
            paid.add(m["id"])
    return paid


def outcome(body: dict[str, Any], paid: set[str]) -> str:
    """offer:<pack> | answer:<pack> | out_of_scope | handoff-only | answer | error."""
    if "error" in body:
        return "error"
    if body.get("offer"):
        return f"offer:{body['offer']['pack_id']}"
    if body.get("out_of_scope"):
        return "out_of_scope"
    packs = {c["pack_id"] for c in body.get("citations", [])}
    if body.get("routed_pack_id"):
        packs.add(body["routed_pack_id"])
    if packs & paid:
        return "answer:" + ",".join(sorted(packs & paid))
    if packs:
        return "answer:" + ",".join(sorted(packs))
    return "answer"  # a template (support-basics: the only pack with templates here)


def score(questions: list[Question], bodies: list[dict[str, Any]], paid: set[str],
          generic_templates: set[str]) -> dict[str, Any]:
    by_set: dict[str, list[tuple[Question, dict[str, Any], str]]] = defaultdict(list)
    for q, body in zip(questions, bodies, strict=True):
        by_set[q.set].append((q, body, outcome(body, paid)))

    def share(rows: list[Any], pred: Any) -> float:
        return round(sum(1 for r in rows if pred(r)) / len(rows), 4) if rows else 0.0

    def paid_touch(o: str) -> bool:
        return o.startswith("offer:") or (o.startswith("answer:") and
                                          bool(set(o[7:].split(",")) & paid))

    def generic(r: tuple[Question, dict[str, Any], str]) -> bool:
        _, body, o = r
        if o == "answer:" + GENERIC_PACK:
            return True
        return o == "answer" and body.get("composed_by") == "template" and (
            body.get("text", "").strip() in generic_templates or not paid_touch(o))

    report: dict[str, Any] = {}
    for name, rows in sorted(by_set.items()):
        counts = Counter(o for _, _, o in rows)
        entry: dict[str, Any] = {"n": len(rows), "outcomes": dict(counts.most_common())}
        if name == "finance":
            entry["to_finance"] = share(rows, lambda r: r[2] in (f"offer:{FINANCE_PACK}",
                                                              f"answer:{FINANCE_PACK}"))
        if name in ("other", "oos"):
            entry["paid_leak"] = share(rows, lambda r: paid_touch(r[2]))
            # Which questions leaked and how (bench/routing_features.py says why).
            entry["leaks"] = [{"text": q.text, "label": q.label, "outcome": o,
                               "intent": (b.get("intent") or {}).get("label")}
                              for q, b, o in rows if paid_touch(o)]
        if name == "support":
            entry["to_generic"] = share(rows, generic)
            entry["finance_offer"] = share(rows, lambda r: r[2] == f"offer:{FINANCE_PACK}")
            entry["any_offer"] = share(rows, lambda r: r[2].startswith("offer:"))
        if name.startswith("eval-"):
            words = [len(b["text"].split()) for _, b, _ in rows
                     if b.get("composed_by") == "extractive"]
            entry["extractive"] = len(words)
            entry["median_words"] = statistics.median(words) if words else 0
            entry["max_words"] = max(words) if words else 0
            hits = [(q, gold_cited(q.label, b)) for q, b, _ in rows]
            entry["gold_cited"] = share(hits, lambda h: h[1])
            if len(hits) > EVAL_PER_PACK:  # the default sample, for runs of that size
                entry[f"gold_cited_first_{EVAL_PER_PACK}"] = share(hits[:EVAL_PER_PACK],
                                                                   lambda h: h[1])
            # Questions no model trained on (not among the pack's intent examples).
            held_out = [h for h in hits if not h[0].trained]
            entry["held_out"] = {"n": len(held_out), "gold_cited": share(held_out, lambda h: h[1])}
            # Which questions missed (a hash of the text), so two runs can be compared
            # question by question.
            entry["not_cited"] = [question_key(q.text) for q, hit in hits if not hit]
        report[name] = entry
    return report


def cited(headline: dict[str, Any]) -> str:
    """The gold-cited share, with that of the default sample when more were asked."""
    text = pct(headline["gold_cited"])
    first = headline.get(f"gold_cited_first_{EVAL_PER_PACK}")
    if first is not None:
        text += f"; first {EVAL_PER_PACK}: {pct(first)}"
    held_out = headline.get("held_out")
    if held_out and held_out["n"] < headline["n"]:
        text += f"; not trained on: {pct(held_out['gold_cited'])} of {held_out['n']}"
    return text


def question_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def gold_cited(gold: str, body: dict[str, Any]) -> bool:
    citations = body.get("citations") or []
    for n in MARKER.findall(body.get("text", "")):
        index = int(n) - 1
        if 0 <= index < len(citations) and citations[index]["document_id"] == gold:
            return True
    return False


# --- report --------------------------------------------------------------------------------------
def headline(run: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for customer in ("free", "all"):
        r = run["customers"][customer]
        out[customer] = {
            "finance_to_finance": r["finance"]["to_finance"],
            "other_paid_leak": r["other"]["paid_leak"],
            "oos_paid_leak": r["oos"]["paid_leak"],
            "support_to_generic": r["support"]["to_generic"],
            "support_finance_offer": r["support"]["finance_offer"],
        }
    for pack in ("finance", "legal"):
        e = run["customers"]["all"].get(f"eval-{pack}")
        if e:
            out[f"eval_{pack}"] = {k: e[k] for k in ("n", "extractive", "median_words",
                                                     "max_words", "gold_cited",
                                                     f"gold_cited_first_{EVAL_PER_PACK}",
                                                     "held_out")
                                   if k in e}
    for customer in ("free", "all"):
        out[customer].update(oos_by_subject(run["customers"][customer]["oos"]))
    out["targets"] = {
        customer: {
            "oos_leak_at_most_3pct": out[customer]["oos_paid_leak"] <= 0.03,
            # The same bar on the questions no pack's subject covers (bench/data/README.md).
            "oos_outside_packs_leak_at_most_3pct":
                out[customer]["oos_outside_packs_paid_leak"] <= 0.03,
            "finance_at_least_95pct": out[customer]["finance_to_finance"] >= 0.95,
        }
        for customer in ("free", "all")
    }
    return out


def oos_subjects() -> dict[str, str]:
    """CLINC150 out-of-scope validation question -> the pack whose subject it is, or ``none``
    (labelled blind; bench/data/README.md)."""
    return {row["text"]: row["domain"] for row in map(json.loads, OOS_SUBJECTS.open())}


def oos_by_subject(oos: dict[str, Any]) -> dict[str, Any]:
    """Split an out-of-scope result by subject: the paid leak on the questions no pack covers,
    and how many questions of a pack's subject reached that pack (an answer from it or an offer
    of it). Computed from the run's list of paid touches, so stored runs are split alike;
    runs from before that list (2026-11-29 and earlier) have no split: empty."""
    if "leaks" not in oos:
        return {}
    subjects = oos_subjects()
    outside = sum(1 for subject in subjects.values() if subject == "none")
    inside = len(subjects) - outside
    leaked_outside = reached = 0
    for leak in oos["leaks"]:
        subject = subjects[leak["text"]]
        if subject == "none":
            leaked_outside += 1
        elif leak["outcome"].split(":")[-1].split(",") == [subject]:
            reached += 1
    return {"oos_outside_packs_paid_leak": round(leaked_outside / outside, 4),
            "oos_outside_packs": outside, "oos_pack_subject_reached": reached,
            "oos_pack_subject": inside}


def print_table(runs: dict[str, Any]) -> None:
    table = Table(title="Assistant judgement through POST /v1/ask (CLINC150 val, Bitext held out)")
    for column in ("run", "customer", "finance -> finance", "other: paid leak",
                   "oos: paid leak", "oos outside packs: paid leak", "oos of a pack: reached",
                   "support -> generic", "support: finance offer"):
        table.add_column(column, justify="right")
    for label, run in runs.items():
        h = run["headline"]
        for customer in ("free", "all"):
            c = h[customer]
            split = oos_by_subject(run["customers"][customer]["oos"])
            table.add_row(label, customer, pct(c["finance_to_finance"]), pct(c["other_paid_leak"]),
                          pct(c["oos_paid_leak"]), outside_leak(split), reached(split),
                          pct(c["support_to_generic"]),
                          pct(c["support_finance_offer"]))
    console.print(table)
    for label, run in runs.items():
        for pack in ("finance", "legal"):
            e = run["headline"].get(f"eval_{pack}")
            if e:
                console.print(f"{label} {pack} eval ({e['n']} q, {e['extractive']} extractive): "
                              f"median {e['median_words']} words, max {e['max_words']}, gold "
                              f"cited {pct(e['gold_cited'])}")


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def outside_leak(split: dict[str, Any]) -> str:
    return pct(split["oos_outside_packs_paid_leak"]) if split else "-"


def reached(split: dict[str, Any]) -> str:
    return f"{split['oos_pack_subject_reached']} of {split['oos_pack_subject']}" if split else "-"


def markdown(runs: dict[str, Any]) -> str:
    lines = [
        "## Assistant",
        "",
        "`bench/assistant.py`: the real server over a prepared data directory, every question "
        "through `POST /v1/ask` (not under load: 4 concurrent clients, one server), as a customer "
        "owning only the free pack (`free`) and one owning and activating every pack (`all`). "
        "CLINC150 **validation** only (3,000 in scope: 600 banking/credit-card, 2,400 other; "
        "100 out of scope); support: 500 held-out Bitext rows (not support-basics training "
        "examples, the `report` half by hash; platform intents left out). *finance -> finance*: "
        "an answer routed to finance or an offer for it; *paid leak*: an offer or an answer "
        "citing a paid pack (finance, medical, legal); *support -> generic*: a support-basics "
        "template or passages, no offer. Targets: out-of-scope leak at most 3% with at least 95% "
        "of finance routed to finance. CLINC's out of scope is outside its 150 intents, not "
        "outside every pack: each of its 100 questions carries a subject labelled blind "
        "(bench/data/README.md; 91 no pack's, 5 medical, 4 finance); *outside packs* is the "
        "paid leak on the 91, *of a pack: reached* how many of the 9 others got an answer from "
        "or an offer of their own pack.",
        "",
        "| run | customer | finance -> finance | other in scope: paid leak | out of scope: "
        "paid leak | out of scope, outside packs: paid leak | out of scope, of a pack: reached "
        "| support -> generic | support: finance offer |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, run in runs.items():
        h = run["headline"]
        for customer in ("free", "all"):
            c = h[customer]
            split = oos_by_subject(run["customers"][customer]["oos"])
            lines.append(f"| {label} | {customer} | {pct(c['finance_to_finance'])} | "
                         f"{pct(c['other_paid_leak'])} | {pct(c['oos_paid_leak'])} | "
                         f"{outside_leak(split)} | {reached(split)} | "
                         f"{pct(c['support_to_generic'])} | {pct(c['support_finance_offer'])} |")
    lines += ["", "| run | eval questions (customer `all`) | extractive answers | median words | "
              "max words | gold document cited |", "|---|---|---:|---:|---:|---:|"]
    for label, run in runs.items():
        for pack in ("finance", "legal"):
            e = run["headline"].get(f"eval_{pack}")
            if e:
                lines.append(f"| {label} | {pack} ({e['n']}) | {e['extractive']} | "
                             f"{e['median_words']} | {e['max_words']} | {cited(e)} |")
    lines.append("")
    for label, run in runs.items():
        m = run["machine"]
        where = (machine_summary(m) if "cpu_model" in m  # runs before 2026-12-01 lack it
                 else f"{m['cpus']} CPUs ({m['platform']})")
        lines.append(f"- `{label}`: {run['date']}, `{run['command']}`, {where}, "
                     f"{run['seconds']:.0f} s; {run.get('note', '')}")
    return "\n".join(lines) + "\n"


def compare(runs: dict[str, Any], before: str, after: str, data_dir: Path) -> None:
    """Gold citations of two runs on the same eval questions, paired: how many each run alone
    cited and the exact two-sided sign (McNemar) test of that difference, for the whole set,
    the default sample and the questions no head trained on."""
    table = Table(title=f"Gold document cited, {before} -> {after} (same questions)")
    for header in ("questions", "n", before, after, "only before", "only after", "p (sign test)"):
        table.add_column(header, justify="right")
    for pack in ("finance", "legal"):
        entries = [runs[label]["customers"]["all"].get(f"eval-{pack}") for label in (before, after)]
        if not all(entries) or entries[0]["n"] != entries[1]["n"]:
            console.print(f"[yellow]{pack}: the two runs did not ask the same questions[/yellow]")
            continue
        asked = eval_questions(data_dir, pack, entries[0]["n"])
        missed = [set(entry["not_cited"]) for entry in entries]
        subsets = {"all": asked, f"first {EVAL_PER_PACK}": asked[:EVAL_PER_PACK],
                   "not trained on": [q for q in asked if not q.trained]}
        for name, questions in subsets.items():
            keys = [question_key(q.text) for q in questions]
            cited = [sum(k not in m for k in keys) for m in missed]
            only_before = sum(k not in missed[0] and k in missed[1] for k in keys)
            only_after = sum(k in missed[0] and k not in missed[1] for k in keys)
            table.add_row(f"{pack}: {name}", str(len(keys)),
                          *(pct(c / len(keys)) for c in cited), str(only_before),
                          str(only_after), f"{sign_test(only_before, only_after):.2f}")
    Console(width=150).print(table)


def sign_test(a: int, b: int) -> float:
    """Two-sided exact binomial p-value of ``a`` against ``b`` discordant pairs (p = 1/2)."""
    n = a + b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a, b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def domain_model_info(data_dir: Path) -> dict[str, Any] | None:
    """The domain head the server loaded (``<data_dir>/models/domain``), or None: the rules."""
    path = data_dir / "models" / "domain" / "domain.json"
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    return {k: info.get(k) for k in ("classes", "data_sha256", "C", "rows", "cv", "train_s")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "var")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--label", default="current", help="the run's name in assistant.json")
    parser.add_argument("--note", default="", help="one line about the run, for BENCHMARKS.md")
    parser.add_argument("--limit", type=int, default=0,
                        help="ask only every n-th CLINC question (a quick look; 0: all)")
    parser.add_argument("--eval-per-pack", type=int, default=EVAL_PER_PACK,
                        help=f"finance and legal eval questions asked (default {EVAL_PER_PACK}, "
                             "the first by SHA-256 of the text; 0: all)")
    parser.add_argument("--ready-timeout", type=float, default=240.0)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                        help="question by question: gold citations of two runs of --out that "
                             "asked the same eval questions of --data-dir's packs")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md as it is")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="the runs file to add this run to (default bench/assistant.json)")
    args = parser.parse_args()
    results: Path = args.out
    runs: dict[str, Any] = json.loads(results.read_text()) if results.exists() else {}
    if args.markdown:
        print(markdown(runs))
        return 0
    if args.compare:
        compare(runs, *args.compare, args.data_dir.resolve())
        return 0
    data_dir = args.data_dir.resolve()
    clinc = clinc_questions()
    if args.limit:
        clinc = clinc[:: args.limit]
    questions = clinc + support_rows("report")
    evals = (eval_questions(data_dir, "finance", args.eval_per_pack)
             + eval_questions(data_dir, "legal", args.eval_per_pack))
    paid = paid_pack_ids(data_dir)
    generic_templates = set()
    for manifest in (data_dir / "packs" / GENERIC_PACK).glob("*/manifest.json"):
        generic_templates = {i.get("reply_template", "").strip()
                             for i in json.loads(manifest.read_text()).get("intents", [])}
    console.print(f"{len(questions)} questions per customer + {len(evals)} eval questions; "
                  f"paid packs: {', '.join(sorted(paid))}")

    work = Path(tempfile.mkdtemp(prefix="packdesk-assistant-"))
    database_url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    started = time.perf_counter()
    server = None
    try:
        free_key = asyncio.run(create_customer(data_dir, database_url))
        all_key = asyncio.run(create_customer(data_dir, database_url))
        server = Server(data_dir, database_url, work / "server.log", batching=True, extra_env={})
        console.print(f"server ready in {server.wait_ready(args.ready_timeout):.1f} s")
        buy_and_activate_all(server.base_url, all_key)
        customers = {}
        for name, key in (("free", free_key), ("all", all_key)):
            asked = questions + (evals if name == "all" else [])
            t0 = time.perf_counter()
            bodies = asyncio.run(ask_all(server.base_url, key, asked, args.concurrency))
            console.print(f"{name}: {len(asked)} questions in {time.perf_counter() - t0:.0f} s")
            customers[name] = score(asked, bodies, paid, generic_templates)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    run = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python bench/assistant.py " + " ".join(sys.argv[1:]),
        "machine": describe_machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "note": args.note,
        "domain_model": domain_model_info(data_dir),
        "customers": customers,
    }
    run["headline"] = headline(run)
    runs[args.label] = run
    results.write_text(json.dumps(runs, indent=2) + "\n")
    print_table(runs)
    if not args.no_write:
        replace_section("Assistant", markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
