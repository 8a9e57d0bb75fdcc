"""Choose routing's thresholds on tuning data (CLINC150 train, the tune half of Bitext held out).

Reads the rows bench/routing_features.py wrote, replays
:func:`core.assistant.routing.route_question` for a customer owning only the free pack and
one owning everything, over a grid of :class:`RoutingPolicy` values, and prints the best
policies: the out-of-scope and other-domain leak (an offer or paid-pack route) at most
``--max-leak`` on CLINC150 train, banking and credit-card questions routed to finance,
support questions kept by the generic pack.
``--check`` replays one policy (the defaults) on a set, e.g. validation rows, without choosing.
``--agreeing`` replays the grid of the intent-and-passage agreement rule
(``min_intent_mass_agreeing`` x ``min_passage_agreeing``, the other thresholds at their
defaults): leaks on the tuning rows, finance routing of the ``eval-finance`` rows (``trained``
ones choose, ``held_out`` ones report; docs/routing.md).
Rows with ``domain`` probabilities (bench/routing_features.py ``--domain``: out of fold on
CLINC150 train) are routed with the domain head, and the grid is over its thresholds;
``--no-domain`` ignores them (the intent and retrieval rules alone).

    .venv/bin/python bench/routing_fit.py /tmp/features.jsonl [--check] [--no-domain]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.assistant.routing import RoutingPolicy, route_question  # noqa: E402
from core.intents.labels import pack_id_of  # noqa: E402

GENERIC = frozenset({"support-basics"})
PAID = {"finance", "legal", "medical"}
CUSTOMERS = {"free": {"support-basics"}, "all": {"support-basics", "finance", "legal", "medical"}}


USE_DOMAIN = True


def outcome(row: dict[str, Any], policy: RoutingPolicy, active: set[str]) -> str:
    prediction = SimpleNamespace(label=row["predicted"], pack_id=pack_id_of(row["predicted"]),
                                 confidence=row["confidence"],
                                 top_k=[tuple(x) for x in row["top_k"]])
    route = route_question(prediction, row["pack_scores"], generic_pack_ids=GENERIC,
                           active_pack_ids=active, policy=policy,
                           domain=row.get("domain") if USE_DOMAIN else None,
                           domain_support=row.get("domain_support") if USE_DOMAIN else None)
    if route.pack_id is None:
        return route.by
    return ("answer:" if route.pack_id in active else "offer:") + route.pack_id


def evaluate(rows: list[dict[str, Any]], policy: RoutingPolicy) -> dict[str, float]:
    result: dict[str, float] = {}
    for customer, active in CUSTOMERS.items():
        groups: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            groups[row["set"]].append(outcome(row, policy, active))

        def share(name: str, pred: Any, groups: dict[str, list[str]] = groups) -> float:
            values = groups.get(name, [])
            return sum(1 for o in values if pred(o)) / len(values) if values else float("nan")

        def leak(o: str) -> bool:
            return o.startswith("offer:") or o.split(":")[-1] in PAID
        result[f"{customer}_finance"] = share("finance", lambda o: o.endswith(":finance"))
        result[f"{customer}_other_leak"] = share("other", leak)
        result[f"{customer}_oos_leak"] = share("oos", leak)
        result[f"{customer}_support_generic"] = share("support", lambda o: o == "generic")
    return result


def candidates(*, domain: bool) -> list[RoutingPolicy]:
    """The grid: the domain head's thresholds, or the intent and retrieval rules'."""
    if domain:
        return [RoutingPolicy(min_domain_probability=p, max_generic_mass_against=g,
                              min_generic_probability_against=a, offer_margin=o,
                              min_domain_retrieval_score=r, min_domain_support=n,
                              min_domain_passage_without_support=w)
                for p, g, a, o, r, n, w in itertools.product(
                    [0.3, 0.35, 0.4, 0.45, 0.55], [0.5, 1.01], [0.1], [0.2],
                    [0.15, 0.2, 0.25, 0.3], [0.0, 0.52, 0.55, 0.58, 0.6], [0.5, 0.55, 1.01])]
    return [RoutingPolicy(min_intent_mass=mass, min_retrieval_score=retrieval,
                          generic_margin=gmargin, offer_margin=omargin, min_generic_mass=gmass)
            for mass, retrieval, gmargin, omargin, gmass in itertools.product(
                [0.5, 0.6, 0.7, 0.8], [0.46, 0.48, 0.5, 0.52], [0.0, 0.1], [0.2], [0.2, 0.3])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("features", type=Path)
    parser.add_argument("--source", default=None,
                        help="only rows of these sources (clinc-train, ...)")
    parser.add_argument("--max-leak", type=float, default=0.03,
                        help="other in-scope domains: at most this share to a paid pack")
    parser.add_argument("--max-oos-leak", type=float, default=0.03,
                        help="out-of-scope rows: at most this share to a paid pack")
    parser.add_argument("--min-support", type=float, default=0.9)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--no-domain", action="store_true")
    parser.add_argument("--agreeing", action="store_true",
                        help="replay the intent-and-passage agreement grid")
    parser.add_argument("--none-lead", action="store_true",
                        help="replay the grid of max_none_support_lead")
    args = parser.parse_args()
    global USE_DOMAIN
    USE_DOMAIN = not args.no_domain
    rows = [json.loads(line) for line in args.features.read_text().splitlines()]
    if args.agreeing:
        agreeing_grid(rows)
        return 0
    if args.none_lead:
        none_lead_grid(rows)
        return 0
    if args.source:
        rows = [r for r in rows if r["source"] in args.source.split(",")]
    else:
        rows = [r for r in rows if r["source"] in ("clinc-train", "support-tune")]
    if args.check:
        print(json.dumps({k: round(v, 4) for k, v in evaluate(rows, RoutingPolicy()).items()},
                         indent=1))
        return 0
    scored = []
    for policy in candidates(domain=USE_DOMAIN and any("domain" in r for r in rows)):
        r = evaluate(rows, policy)
        leak = max(r["free_other_leak"], r["all_other_leak"])
        oos_leak = max(r["free_oos_leak"], r["all_oos_leak"])
        support = min(r["free_support_generic"], r["all_support_generic"])
        ok = leak <= args.max_leak and oos_leak <= args.max_oos_leak and (
            support >= args.min_support)
        objective = r["free_finance"] + r["all_finance"]
        scored.append((ok, objective, policy, r))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    for ok, objective, policy, r in scored[:8]:
        print(ok, round(objective, 4), policy)
        print("   ", {k: round(v, 3) for k, v in r.items()})
    return 0


def agreeing_grid(rows: list[dict[str, Any]]) -> None:
    """Leak counts on the tuning rows and finance routing of the finance eval rows, per pair of
    the agreement rule's thresholds; the chosen pair adds no leak and routes the most
    ``trained`` rows."""
    tune = [r for r in rows if r["source"] in ("clinc-train", "support-tune")]
    finance = {kind: [r for r in rows if r["source"] == "eval-finance" and r["set"] == kind]
               for kind in ("trained", "held_out")}

    def count(policy: RoutingPolicy, subset: list[dict[str, Any]], customer: str,
              pred: Any) -> int:
        return sum(1 for r in subset if pred(outcome(r, policy, CUSTOMERS[customer])))

    def leaked(o: str) -> bool:
        return o.startswith("offer:") or o.split(":")[-1] in PAID

    unrelated = [r for r in tune if r["set"] in ("other", "oos")]
    support = [r for r in tune if r["set"] == "support"]
    print(f"{len(unrelated)} other-domain and out-of-scope tuning rows, {len(support)} support"
          f" rows; finance eval rows: {len(finance['trained'])} trained, "
          f"{len(finance['held_out'])} held out")
    print("mass  passage  leaks free/all  support generic  finance: trained  held out")
    pairs = [(1.01, 1.01), *itertools.product([0.5, 0.6, 0.7, 0.8, 0.9],
                                              [0.5, 0.55, 0.6, 0.65, 0.7])]
    for mass, passage in pairs:
        policy = RoutingPolicy(min_intent_mass_agreeing=mass, min_passage_agreeing=passage)
        leaks = [count(policy, unrelated, c, leaked) for c in ("free", "all")]
        generic = count(policy, support, "all", lambda o: o == "generic")
        routed = [count(policy, finance[k], "all", lambda o: o.endswith(":finance"))
                  for k in ("trained", "held_out")]
        print(f"{mass:4}  {passage:7}  {leaks[0]:5}/{leaks[1]:<5}  {generic:15}  "
              f"{routed[0]:16}  {routed[1]:8}")


def none_lead_grid(rows: list[dict[str, Any]]) -> None:
    """Per value of ``max_none_support_lead`` (the other thresholds at their defaults): leaks
    and finance routing on the tuning rows (CLINC150 train out of fold, the Bitext tune half,
    the finance eval rows that are intent examples), then the same on rows no step used to
    choose (CLINC150 validation, the Bitext report half, the held-out finance eval rows)."""
    def count(subset: list[dict[str, Any]], policy: RoutingPolicy, customer: str,
              pred: Any) -> int:
        return sum(1 for r in subset if pred(outcome(r, policy, CUSTOMERS[customer])))

    def leaked(o: str) -> bool:
        return o.startswith("offer:") or o.split(":")[-1] in PAID

    def part(sources: tuple[str, ...], kind: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["source"] in sources and r["set"] == kind]

    for title, sources, finance_kind in (
        ("tuning", ("clinc-train", "support-tune"), "trained"),
        ("validation", ("clinc-val", "support-report"), "held_out"),
    ):
        other, oos, support, finance = (part(sources, k) for k in ("other", "oos", "support",
                                                                   "finance"))
        eval_finance = part(("eval-finance",), finance_kind)
        print(f"{title}: {len(other)} other-domain, {len(oos)} out of scope, {len(support)} "
              f"support, {len(finance)} CLINC finance, {len(eval_finance)} finance eval rows")
        print("lead   other leak free/all  oos leak free/all  support generic  "
              "CLINC finance free/all  eval finance all")
        for lead in (float("inf"), 0.3, 0.2, 0.15, 0.12, 0.1, 0.09, 0.08, 0.07, 0.06, 0.05,
                     0.0):
            policy = RoutingPolicy(max_none_support_lead=lead)
            o = [count(other, policy, c, leaked) for c in ("free", "all")]
            s = [count(oos, policy, c, leaked) for c in ("free", "all")]
            g = count(support, policy, "all", lambda x: x == "generic")
            f = [count(finance, policy, c, lambda x: x.endswith(":finance"))
                 for c in ("free", "all")]
            e = count(eval_finance, policy, "all", lambda x: x.endswith(":finance"))
            print(f"{lead:<5}  {o[0]:>8}/{o[1]:<8}  {s[0]:>7}/{s[1]:<7}  {g:15}  "
                  f"{f[0]:>13}/{f[1]:<8}  {e:16}")


if __name__ == "__main__":
    raise SystemExit(main())
