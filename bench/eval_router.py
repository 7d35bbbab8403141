"""Evaluate the complexity classifier as a weak/strong router on real per-prompt outcomes.

Data: ``gsm8k.jsonl`` and ``mt_bench.jsonl`` from the routing data directory (see its README). Each set is
split deterministically by a hash of the prompt id (MT-Bench by question, so both turns of a question land in
the same half) into a ``tune`` half — the only half the weights and thresholds were tuned on — and a
``held-out`` half.

Routing policy evaluated (explicit): class ``complex`` -> strong model; ``simple`` and ``moderate`` -> weak
model. This mirrors the default RoutingPolicy, where only ``complex`` requires a frontier (tier-3) model.

Metrics (RouteLLM definitions): quality = mean score of the model chosen per prompt; PGR =
(quality - weak-only) / (strong-only - weak-only); APGR = area under PGR versus the strong-call fraction c,
obtained by sweeping a threshold over the continuous score (tied scores are interpolated, i.e. randomly
ordered in expectation);
CPT(50%) = the smallest c with PGR >= 0.5. Random routing has PGR(c) = c, so APGR = 0.5 and CPT(50%) = 50%.

Usage: python -m bench.eval_router [--data-dir DIR] [--json OUT] [--tune-only]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from gateway.routing.classifier import DEFAULT, ClassifierConfig, classify, warm_up  # noqa: E402

DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared/data/routing"
STRONG_CLASSES = frozenset({"complex"})
DATASETS = ("gsm8k", "mt_bench")


@dataclass(frozen=True)
class Row:
    key: str
    category: str
    request: dict[str, Any]
    weak: float
    strong: float


@dataclass(frozen=True)
class Scored:
    row: Row
    score: float
    complexity: str


def data_dir_from(arg: str | None) -> Path:
    return Path(arg or os.environ.get("ROUTING_DATA_DIR") or DEFAULT_DATA_DIR)


def split_of(key: str) -> str:
    """Deterministic half: 'tune' or 'held-out', from the SHA-256 of the key."""
    return "tune" if hashlib.sha256(key.encode()).digest()[0] % 2 == 0 else "held-out"


def _messages_from_turns(turns: list[str]) -> list[dict[str, str]]:
    # The data holds the user turns only; earlier assistant answers are represented by empty messages.
    messages: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        if i:
            messages.append({"role": "assistant", "content": ""})
        messages.append({"role": "user", "content": turn})
    return messages


def load_rows(data_dir: Path, name: str) -> list[Row]:
    rows = []
    with open(data_dir / f"{name}.jsonl", encoding="utf-8") as fh:
        for line in fh:
            raw = json.loads(line)
            if name == "mt_bench":
                key = "mt_bench/" + raw["id"].split("/")[0]
                messages = _messages_from_turns(raw.get("turns") or [raw["prompt"]])
            else:
                key = f"{name}/{raw['id']}"
                messages = [{"role": "user", "content": raw["prompt"]}]
            rows.append(Row(key=key, category=raw.get("category", name), request={"messages": messages},
                            weak=float(raw["weak_score"]), strong=float(raw["strong_score"])))
    return rows


def score_rows(rows: list[Row], config: ClassifierConfig = DEFAULT) -> list[Scored]:
    out = []
    for row in rows:
        c = classify(row.request, config=config)
        out.append(Scored(row=row, score=c.score, complexity=c.complexity))
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def pgr(quality: float, weak_only: float, strong_only: float) -> float:
    gap = strong_only - weak_only
    return (quality - weak_only) / gap if gap else 0.0


def pgr_curve(scored: list[Scored]) -> list[tuple[float, float]]:
    """(strong fraction, PGR) at each distinct score threshold, highest scores sent to strong first."""
    n = len(scored)
    weak_only = _mean([s.row.weak for s in scored])
    strong_only = _mean([s.row.strong for s in scored])
    by_score: dict[float, float] = defaultdict(float)
    counts: Counter[float] = Counter()
    for s in scored:
        by_score[s.score] += s.row.strong - s.row.weak
        counts[s.score] += 1
    points = [(0.0, 0.0)]
    sent = 0
    gain = 0.0
    for score in sorted(by_score, reverse=True):
        sent += counts[score]
        gain += by_score[score]
        quality = weak_only + gain / n
        points.append((sent / n, pgr(quality, weak_only, strong_only)))
    return points


def apgr(points: list[tuple[float, float]]) -> float:
    return sum((c1 - c0) * (p0 + p1) / 2 for (c0, p0), (c1, p1) in itertools.pairwise(points))


def cpt(points: list[tuple[float, float]], target: float = 0.5) -> float:
    for (c0, p0), (c1, p1) in itertools.pairwise(points):
        if p1 >= target:
            if p1 == p0 or p0 >= target:
                return c0 if p0 >= target else c1
            return c0 + (c1 - c0) * (target - p0) / (p1 - p0)
    return 1.0


def evaluate(scored: list[Scored]) -> dict[str, float]:
    weak_only = _mean([s.row.weak for s in scored])
    strong_only = _mean([s.row.strong for s in scored])
    chosen = [s.row.strong if s.complexity in STRONG_CLASSES else s.row.weak for s in scored]
    quality = _mean(chosen)
    points = pgr_curve(scored)
    return {
        "n": len(scored),
        "weak_only": weak_only,
        "strong_only": strong_only,
        "strong_share": _mean([1.0 if s.complexity in STRONG_CLASSES else 0.0 for s in scored]),
        "quality": quality,
        "pgr": pgr(quality, weak_only, strong_only),
        "apgr": apgr(points),
        "cpt50": cpt(points, 0.5),
        "random_apgr": 0.5,
        "random_cpt50": 0.5,
    }


def class_distribution(scored: list[Scored]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for s in scored:
        table[s.row.category][s.complexity] += 1
    return {cat: dict(counter) for cat, counter in sorted(table.items())}


def run(data_dir: Path, splits: tuple[str, ...] = ("all", "tune", "held-out"),
        config: ClassifierConfig = DEFAULT) -> dict[str, Any]:
    """Evaluate on each set; ``splits`` picks what is reported (tuning looks at ``("tune",)`` only)."""
    warm_up()
    results: dict[str, Any] = {"data_dir": str(data_dir), "sets": {}}
    for name in DATASETS:
        rows = [r for r in load_rows(data_dir, name) if "all" in splits or split_of(r.key) in splits]
        scored = score_rows(rows, config)
        per_split = {}
        for split in splits:
            per_split[split] = evaluate([s for s in scored if split in ("all", split_of(s.row.key))])
        entry: dict[str, Any] = {"splits": per_split}
        if name == "mt_bench" and "all" in splits:
            entry["classes_by_category"] = class_distribution(scored)
        results["sets"][name] = entry
    return results


def print_report(results: dict[str, Any]) -> None:
    print(f"data: {results['data_dir']}")
    print("policy: complex -> strong model, simple/moderate -> weak model\n")
    header = (f"{'set':<9} {'split':<9} {'n':>5} {'strong%':>8} {'quality':>8} {'weak':>7} {'strong':>7} "
              f"{'PGR':>6} {'APGR':>6} {'CPT50':>6}   random APGR/CPT50")
    print(header)
    print("-" * len(header))
    for name, entry in results["sets"].items():
        for split, m in entry["splits"].items():
            print(f"{name:<9} {split:<9} {m['n']:>5} {m['strong_share']:>8.1%} {m['quality']:>8.3f} "
                  f"{m['weak_only']:>7.3f} {m['strong_only']:>7.3f} {m['pgr']:>6.3f} {m['apgr']:>6.3f} "
                  f"{m['cpt50']:>6.1%}   {m['random_apgr']:.3f} / {m['random_cpt50']:.0%}")
    dist = results["sets"].get("mt_bench", {}).get("classes_by_category", {})
    if dist:
        print("\nMT-Bench classes per category (simple / moderate / complex):")
        for category, counts in dist.items():
            print(f"  {category:<11} {counts.get('simple', 0):>3} / {counts.get('moderate', 0):>3} / "
                  f"{counts.get('complex', 0):>3}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None,
                        help=f"routing data directory (default: env ROUTING_DATA_DIR or {DEFAULT_DATA_DIR})")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    parser.add_argument("--tune-only", action="store_true",
                        help="score and report the tune half only (use this while tuning)")
    args = parser.parse_args(argv)
    splits = ("tune",) if args.tune_only else ("all", "tune", "held-out")
    results = run(data_dir_from(args.data_dir), splits)
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
