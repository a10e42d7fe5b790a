"""Which signals tell SQuAD 2.0's unanswerable questions from its answerable ones? Measured on a
development sample, so abstention can be chosen without looking at benchmarks/answer_quality.py's questions.

1. The real app runs in-process on a temporary data folder; the 126 paragraphs are ingested.
2. N answerable + N unanswerable questions are drawn (``--seed``, default 99) from the questions that
   answer_quality's seeded sample (seed 13, 100 + 100) does not use.
3. Each is retrieved and prompted exactly as ``/ask`` does with ``detail: short``, and the raw greedy
   answer kept (``--cache`` saves and reuses these, the slow part).
4. The adjustment stage re-runs offline with every optional abstention signal recorded and none firing,
   and the script prints how often each signal fires per kind, the AUC of each measured value
   (unanswerable against answerable, among answers no fixed rule abstained on), and the operating points
   (abstention on unanswerable, false abstention, F1) of combinations of signals and thresholds.
5. ``--likelihood`` adds the generator's own view, from one more forward pass per question: the mean
   log-probability of its answer, and of the refusal the prompt asks for, given the same prompt.
6. ``--verdict`` asks the generator itself, in three phrasings, whether the passages answer the question
   (or whether the shown answer is right), and scores the log-odds of "No" over "Yes" as its first word.
   It also works on a ``--cache`` made without it: it loads the generator again itself, after the app.
7. ``--cross-fit CACHE`` fits a logistic regression over the answer- and retrieval-side values in
   ``FEATURES`` on this sample and scores it on another sample's cache, and the other way round.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.research.abstention_signals [--sample 100] [--likelihood] \
        [--cache F]
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.research.abstention_signals --cache F --verdict
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.research.abstention_signals --held-out --sample 150 --seed 7
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.research.abstention_signals --cache DEV --cross-fit HELD_OUT

The second is the held-out sample: rules chosen on the first were checked on it before the benchmark.

On 2 CPU cores: about 7 s a question to generate, 5 s more for ``--likelihood`` and 6 s for ``--verdict``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import pickle
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.answer_quality import f1, question_rows
from benchmarks.common import SQUAD, Question, load_squad, sample

Row = dict[str, Any]

# How the shipped default abstains (generation/adjustment/config.py), as a point among the grid's.
DEFAULT_POINT = {
    "key_terms": True,
    "negation": True,
    "opposite": True,
    "phrase": True,
    "support": 0.5,
    "near_evidence": False,
    "coverage": 0.0,
}

# Only the rules that cannot be switched off: nothing relevant retrieved, the model declined, empty answer.
NO_OPTIONAL_RULE = {
    **DEFAULT_POINT,
    **{"key_terms": False, "negation": False, "opposite": False, "phrase": False, "support": 0.0},
}
# Support below this means next to nothing of the answer is in any passage: the issue asks to abstain then.
SUPPORTED = 0.1


def dev_questions(questions: list[Question], n: int, seed: int, held_out: bool = False) -> list[Row]:
    """N + N questions that answer_quality's sample does not use; ``held_out`` also leaves out the
    development sample itself (seed 99, 100 + 100), for checking what was chosen on it."""
    used = {(q.text, q.answerable) for q in sample(questions, 100, 13)}
    if held_out:
        used |= {(q["question"], q["answerable"]) for q in dev_questions(questions, 100, 99)}
    rest = [q for q in questions if (q.text, q.answerable) not in used]
    return question_rows(sample(rest, n, seed))


def generate(paragraphs: list[str], questions: list[Row], concurrency: int, likelihood: bool) -> list[Row]:
    """Raw answers as /ask would generate them (and, with ``likelihood``, the model's log-probabilities)."""
    import asyncio

    from fastapi.testclient import TestClient

    from app.main import app
    from app.schemas import AskRequest

    with TestClient(app) as client:
        while client.get("/readyz").status_code != 200:
            time.sleep(1)
        for i, text in enumerate(paragraphs):
            client.post("/ingest", files=[("files", (f"p{i:04d}.txt", text.encode()))]).raise_for_status()
        services = app.state.services
        ask = services.ask

        async def one(q: Row, sem: asyncio.Semaphore) -> Row:
            async with sem:
                plan = ask.plan(services.settings.default_tenant, AskRequest(question=q["question"], detail="short"))
                prepared = await ask._prepare(plan)  # retrieval and prompt exactly as /ask builds them
                result = await services.generator.generate(prepared.messages, plan.params)
            return {**q, "passages": prepared.passages, "raw": result.text, "messages": prepared.messages}

        async def run_all() -> list[Row]:
            sem = asyncio.Semaphore(concurrency)
            return list(await asyncio.gather(*(one(q, sem) for q in questions)))

        t0 = time.perf_counter()
        assert client.portal is not None  # set while the client is open
        rows: list[Row] = client.portal.call(run_all)
        print(f"generated {len(rows)} answers in {time.perf_counter() - t0:.0f} s", flush=True)
        if likelihood:
            add_likelihood(rows, services.generator.loaded)
    return rows


def add_likelihood(rows: list[Row], loaded: Any) -> None:
    """Per row: log-probabilities of the answer's tokens and of the refusal's, after the same prompt."""
    import torch

    from generation.prompt import CANNOT_ANSWER

    tok, model = loaded.tokenizer, loaded.model

    def continuation(cache: Any, last: torch.Tensor, text: str) -> list[float]:
        ids = tok.encode(text, add_special_tokens=False)
        out = model(input_ids=torch.tensor([ids], device=loaded.device), cache=cache, use_cache=True)
        logits = torch.cat([last[None], out.logits[0, :-1]]).float()
        return [float(x) for x in torch.log_softmax(logits, -1)[torch.arange(len(ids)), torch.tensor(ids)]]

    t0 = time.perf_counter()
    with torch.inference_mode():
        for row in rows:
            prompt = tok.apply_chat_template(
                row["messages"], add_generation_prompt=True, tokenize=True, return_dict=True
            )
            out = model(input_ids=torch.tensor([list(prompt["input_ids"])], device=loaded.device), use_cache=True)
            last = out.logits[0, -1]
            refusal_cache = copy.deepcopy(out.cache)
            row["answer_logprobs"] = continuation(out.cache, last, row["raw"].strip() or CANNOT_ANSWER)
            row["refusal_logprobs"] = continuation(refusal_cache, last, CANNOT_ANSWER)
    print(f"likelihoods in {time.perf_counter() - t0:.0f} s", flush=True)


def _passage_list(r: Row, n: int) -> str:
    return "\n\n".join(f"[{p.rank}] {p.text}" for p in r["passages"][:n])


# The generator asked for a verdict instead of an answer; after the adjustment stage, so "answer" can show
# the adjusted answer. Each gives (system, user) messages.
VERDICT_PROMPTS: dict[str, Callable[[Row], tuple[str, str]]] = {
    "passages contain the answer": lambda r: (
        "You check whether passages answer a question. Reply Yes or No.",
        f"{_passage_list(r, 5)}\n\nQuestion: {r['question']}\n"
        "Do the passages contain the answer to this question? Reply Yes or No.",
    ),
    "top passage answers": lambda r: (
        "You check whether a passage answers a question. Reply Yes or No.",
        f"Passage: {r['passages'][0].text if r['passages'] else ''}\n\nQuestion: {r['question']}\n"
        "Does the passage answer this question? Reply Yes or No.",
    ),
    "answer is correct": lambda r: (
        "You check answers against passages. Reply Yes or No.",
        f"{_passage_list(r, 2)}\n\nQuestion: {r['question']}\nProposed answer: {r['answer']}\n"
        "Is the proposed answer correct according to the passages? Reply Yes or No.",
    ),
}


def add_verdicts(rows: list[Row]) -> None:
    """Per row and phrasing: log P("No") - log P("Yes") for the generator's first token (any casing)."""
    import torch

    from app.settings import get_settings
    from generation.model import load_causal_lm

    s = get_settings()
    loaded = load_causal_lm(s.generator_model, gguf_file=s.generator_gguf_file, device=s.device)
    tok, model = loaded.tokenizer, loaded.model
    yes = [tok.encode(w, add_special_tokens=False)[0] for w in ("Yes", " Yes", "yes")]
    no = [tok.encode(w, add_special_tokens=False)[0] for w in ("No", " No", "no")]
    t0 = time.perf_counter()
    with torch.inference_mode():
        for r in rows:
            r["verdicts"] = {}
            for name, prompt in VERDICT_PROMPTS.items():
                system, user = prompt(r)
                ids = tok.apply_chat_template(
                    [{"role": "system", "content": system}, {"role": "user", "content": user}],
                    add_generation_prompt=True,
                    tokenize=True,
                    return_dict=True,
                )["input_ids"][-loaded.context_window :]
                logits = model(input_ids=torch.tensor([list(ids)], device=loaded.device)).logits[0, -1]
                lp = torch.log_softmax(logits.float(), -1)
                r["verdicts"][name] = float(torch.logsumexp(lp[no], 0) - torch.logsumexp(lp[yes], 0))
    print(f"verdicts in {time.perf_counter() - t0:.0f} s", flush=True)


def _verdict(phrasing: str) -> Callable[[Row], float | None]:
    return lambda r: float(r["verdicts"][phrasing])


def adjust(rows: list[Row]) -> list[Row]:
    """The default adjustment stage with every optional abstention signal measured but none firing."""
    from app.settings import get_settings
    from generation.adjustment.config import AdjustmentConfig
    from generation.adjustment.pipeline import build_default_pipeline
    from generation.adjustment.types import AbstainSignals, AdjustmentContext
    from retrieval.encoder import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(get_settings().embedding_model, device="cpu")
    encoder.load()
    measure_all = AdjustmentConfig(
        support_threshold=0.0,
        require_key_terms=False,
        require_stated_negation=False,
        require_answer_phrase=False,
        reject_stated_opposite=False,
        key_terms_near_evidence=False,
        min_question_coverage=0.0,
    )
    pipeline = build_default_pipeline(measure_all)
    out = []
    for r in rows:
        ctx = AdjustmentContext(
            question=r["question"],
            raw_answer=r["raw"],
            passages=r["passages"],
            detail="short",
            tone="neutral",
            embed=encoder.encode,
        )
        a = pipeline.run(ctx)
        signals = a.abstention.signals if a.abstention else AbstainSignals()
        answer_lp, refusal_lp = r.get("answer_logprobs"), r.get("refusal_logprobs")
        out.append(
            {
                **r,
                "answer": a.answer,
                "fixed_abstain": a.abstained,  # no passages, low relevance, empty answer, model declined
                "reason": a.abstention.reason if a.abstention else None,
                "missing_key_terms": bool(signals.missing_key_terms),
                "negation": bool(signals.unstated_negation),
                "opposite": bool(signals.stated_opposite),
                "no_phrase": signals.answer_phrase is False,
                "support": signals.support,
                "away": bool(signals.key_terms_away_from_evidence),
                "coverage": signals.question_coverage,
                "unmatched_words": unmatched_words(r["question"], r["passages"]),
                "relevance": signals.best_relevance or 0.0,  # the question's cosine with the top passage
                "sentence_relevance": best_sentence_relevance(r["question"], r["passages"], encoder.encode),
                "answer_words": len(a.answer.split()),
                # how much likelier the refusal is than the answer, per token (-inf: not measured)
                "logprob_margin": (
                    statistics.mean(refusal_lp) - statistics.mean(answer_lp)
                    if answer_lp and refusal_lp
                    else float("-inf")
                ),
            }
        )
    return out


def best_sentence_relevance(question: str, passages: list[Any], embed: Callable[[list[str]], Any]) -> float:
    """Cosine of the question with the closest single sentence of any retrieved passage."""
    from generation.adjustment.sentences import split_sentences

    sentences = [s for p in passages for s in split_sentences(p.text)]
    if not sentences:
        return 0.0
    vectors = embed([question, *sentences])
    return float((vectors[1:] @ vectors[0]).max())


def unmatched_words(question: str, passages: list[Any]) -> int:
    """How many of the question's content words (stemmed) occur in no retrieved passage."""
    from generation.adjustment.sentences import content_words, passage_stems, stems

    seen: set[str] = set()
    for p in passages:
        seen |= passage_stems(p.text)
    return len(stems(content_words(question)) - seen)


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a random ``pos`` value > a random ``neg`` value), ties counting half."""
    if not pos or not neg:
        return float("nan")
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def abstains(r: Row, point: dict[str, Any]) -> bool:
    return bool(
        r["fixed_abstain"]
        or (point["key_terms"] and r["missing_key_terms"])
        or (point["negation"] and r["negation"])
        or (point["opposite"] and r["opposite"])
        or (point["phrase"] and r["no_phrase"])
        or (r["support"] is not None and r["support"] < point["support"])
        or (point["near_evidence"] and r["away"])
        or (r["coverage"] is not None and r["coverage"] < point["coverage"])
        or r["logprob_margin"] > point.get("margin", float("inf"))
        or r["sentence_relevance"] < point.get("sentence_relevance", 0.0)
        or r.get("probability", 0.0) > point.get("probability", 1.0)
    )


def operating_point(rows: list[Row], point: dict[str, Any]) -> tuple[float, float, float]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    score = sum(0.0 if abstains(r, point) else max(f1(r["answer"], g) for g in r["answers"]) for r in ans)
    false = sum(abstains(r, point) for r in ans) / len(ans)
    return score / len(ans), sum(abstains(r, point) for r in una) / len(una), false


def report(rows: list[Row]) -> None:
    una = [r for r in rows if not r["answerable"]]
    ans = [r for r in rows if r["answerable"]]
    print(f"\n{len(ans)} answerable, {len(una)} unanswerable development questions")
    print(f"\n{'fires on':34} {'unanswerable':>12} {'answerable':>11}")
    flags: dict[str, Callable[[Row], bool]] = {
        "fixed rules (declined, empty, ...)": lambda r: r["fixed_abstain"],
        "key term in no passage": lambda r: r["missing_key_terms"],
        "negation the passages don't state": lambda r: r["negation"],
        "opposite stated near the question": lambda r: r["opposite"],
        "no answer phrase (detail: short)": lambda r: r["no_phrase"],
        "key term away from the evidence": lambda r: r["away"],
        "support < 0.5": lambda r: r["support"] is not None and r["support"] < 0.5,
    }
    for name, flag in flags.items():
        print(f"{name:34} {sum(map(flag, una)) / len(una):12.2f} {sum(map(flag, ans)) / len(ans):11.2f}")

    def settled(r: Row) -> bool:
        return bool(r["fixed_abstain"] or r["missing_key_terms"] or r["negation"] or r["opposite"] or r["no_phrase"])

    open_u = [r for r in una if not settled(r)]
    open_a = [r for r in ans if not settled(r)]
    print(f"\nAUC, unanswerable vs answerable, among the {len(open_u)} + {len(open_a)} that no rule above settles")
    print("(0.5 = no better than chance; below 0.5 = higher on answerable):")
    values: dict[str, Callable[[Row], float | None]] = {
        "1 - support": lambda r: None if r["support"] is None else 1 - r["support"],
        "1 - question coverage": lambda r: None if r["coverage"] is None else 1 - r["coverage"],
        # Far below 0.5: SQuAD 2.0's unanswerable questions were written by editing passage sentences, so
        # they share *more* words with the passages than answerable ones do. An artefact of how the
        # questions were made, not a property of real users' questions: reported, never used as a rule.
        "question words in no passage": lambda r: float(r["unmatched_words"]),
        "1 - top passage relevance (cosine)": lambda r: 1 - r["relevance"],
        "1 - best sentence relevance (cosine)": lambda r: 1 - r["sentence_relevance"],
        "answer words": lambda r: float(r["answer_words"]),
    }
    if rows[0].get("answer_logprobs"):
        values |= {
            "- mean logprob of the answer": lambda r: -statistics.mean(r["answer_logprobs"]),
            "mean logprob of the refusal": lambda r: statistics.mean(r["refusal_logprobs"]),
            "refusal minus answer (mean)": lambda r: r["logprob_margin"],
        }
    if rows[0].get("verdicts"):
        values |= {f"verdict: {phrasing}": _verdict(phrasing) for phrasing in VERDICT_PROMPTS}
    for name, value in values.items():
        pos = [v for r in open_u if (v := value(r)) is not None]
        neg = [v for r in open_a if (v := value(r)) is not None]
        print(f"  {name:40} {auc(pos, neg):.3f}")

    print("\nthe default, and the default without each rule:")
    for rule in ("", "negation", "opposite", "phrase"):
        point = {**DEFAULT_POINT, **({rule: False} if rule else {})}
        score, abstained, false = operating_point(rows, point)
        label = f"without {rule}" if rule else "default"
        print(f"  {label:20} F1 {score:.3f}, abstention {abstained:.2f}, false {false:.2f}")

    required = {**NO_OPTIONAL_RULE, "support": SUPPORTED}
    score, abstained, false = operating_point(rows, required)
    shown = operating_point(rows, NO_OPTIONAL_RULE)[0]
    print(
        f"\nrefusals the issue requires alone (nothing relevant, declined, empty, support < {SUPPORTED}):"
        f" abstention {abstained:.2f}, false {false:.2f}; the answers they refuse would add"
        f" {shown - score:.3f} to F1 if shown"
    )

    margins = [float("inf")] + ([-2.5, -2.0, -1.5] if rows[0].get("answer_logprobs") else [])
    grid = itertools.product(
        [False, True],
        [False, True],
        [0.0, SUPPORTED, 0.3, 0.5],
        [False, True],
        [0.0, 0.3],
        [0.0, 0.4, 0.45, 0.5],
        margins,
    )
    points = []
    for opposite, phrase, support, near, coverage, relevance, margin in grid:
        point = {
            "key_terms": True,
            "negation": True,
            "opposite": opposite,
            "phrase": phrase,
            "support": support,
            "near_evidence": near,
            "coverage": coverage,
            "sentence_relevance": relevance,
            "margin": margin,
        }
        points.append((*operating_point(rows, point), point))
    front = [
        p for p in points if not any(q[1] >= p[1] and q[2] <= p[2] and (q[1], q[2]) != (p[1], p[2]) for q in points)
    ]
    print("\nOperating points that no other beats on both abstention and false abstention")
    print("(a key term in no passage and an unstated negation always abstain, as by default):")
    header = f"{'opposite':>8} {'phrase':>6} {'support <':>9} {'near':>5} {'coverage <':>10} {'sentence <':>10}"
    print(header + f" {'margin >':>8}   {'F1':>5} {'abst.':>6} {'false':>6}")
    seen = set()
    for score, abstained, false, point in sorted(front, key=lambda p: (p[1], p[2])):
        if (abstained, false) in seen:
            continue  # one point per pair of rates
        seen.add((abstained, false))
        print(
            f"{point['opposite']!s:>8} {point['phrase']!s:>6} {point['support']:9.1f} {point['near_evidence']!s:>5}"
            f" {point['coverage']:10.1f} {point['sentence_relevance']:10.2f} {point['margin']:8.1f}"
            f"   {score:5.3f} {abstained:6.2f} {false:6.2f}"
            + (" (both targets)" if abstained >= 0.5 and false <= 0.2 else "")
        )
    for label, allowed in (
        ("any point", points),
        (f"refusing answers with support < {SUPPORTED}", [p for p in points if p[3]["support"] >= SUPPORTED]),
    ):
        ok = [p for p in allowed if p[2] <= 0.2]
        if ok:
            score, abstained, false, point = max(ok, key=lambda p: (p[1], p[0]))
            print(
                f"most abstention at false abstention <= 0.2, {label}: {abstained:.2f}"
                f" (false {false:.2f}, F1 {score:.3f})"
            )
            print(f"  at {point}")


FEATURES: dict[str, Callable[[Row], float]] = {
    "support": lambda r: r["support"] if r["support"] is not None else 0.0,
    "question coverage": lambda r: r["coverage"] if r["coverage"] is not None else 0.0,
    "no answer phrase": lambda r: float(r["no_phrase"]),
    "key term away from the evidence": lambda r: float(r["away"]),
    "answer words": lambda r: float(r["answer_words"]),
    "top passage relevance": lambda r: r["relevance"],
    "best sentence relevance": lambda r: r["sentence_relevance"],
}


def cross_fit(samples: dict[str, list[Row]]) -> None:
    """A logistic regression over ``FEATURES``, fit on one sample and scored on the other (AUC over all
    rows; operating points with the question-side rules abstaining as by default)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def matrix(rows: list[Row]) -> tuple[Any, Any]:
        x = np.array([[f(r) for f in FEATURES.values()] for r in rows])
        return x, np.array([0 if r["answerable"] else 1 for r in rows])

    def rates(rows: list[Row], p: Any, threshold: float, floor: float) -> tuple[float, float, float]:
        point = {**DEFAULT_POINT, "phrase": False, "support": floor, "probability": threshold}
        return operating_point([{**r, "probability": v} for r, v in zip(rows, p, strict=True)], point)

    print(f"\nLogistic regression over {', '.join(FEATURES)}:")
    for train, test in itertools.permutations(samples, 2):
        x, y = matrix(samples[train])
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
        p_train = model.predict_proba(x)[:, 1]
        x_test, y_test = matrix(samples[test])
        p_test = model.predict_proba(x_test)[:, 1]
        print(
            f"  fit on {train}: AUC {roc_auc_score(y, p_train):.3f} there,"
            f" {roc_auc_score(y_test, p_test):.3f} on {test}"
        )
        for floor in (0.0, SUPPORTED):
            candidates = [(rates(samples[train], p_train, t, floor), t) for t in sorted(set(p_train))]
            ok = [(r, t) for r, t in candidates if r[2] <= 0.2]
            if not ok:
                continue
            (score, abstained, false), t = max(ok, key=lambda c: (c[0][1], c[0][0]))
            score_t, abstained_t, false_t = rates(samples[test], p_test, t, floor)
            print(
                f"    support < {floor}: threshold {t:.3f} chosen there gives {abstained:.2f} / {false:.2f}"
                f" (F1 {score:.3f}); on {test} {abstained_t:.2f} / {false_t:.2f} (F1 {score_t:.3f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SQUAD)
    parser.add_argument("--sample", type=int, default=100, help="questions of each kind")
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument(
        "--held-out", action="store_true", help="leave out the seed-99 development sample too (with --seed 7)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--likelihood", action="store_true", help="also score the generator's log-probabilities")
    parser.add_argument("--verdict", action="store_true", help="also ask the generator for yes/no verdicts")
    parser.add_argument("--cache", type=Path, help="pickle of generated rows: read if it exists, else written")
    parser.add_argument(
        "--cross-fit",
        type=Path,
        metavar="CACHE",
        help="another sample's cache: fit a classifier on each, score the other",
    )
    args = parser.parse_args()

    squad = load_squad(args.data)
    paragraphs, questions = squad.paragraphs, squad.questions
    if args.cache and args.cache.exists():
        rows = pickle.loads(args.cache.read_bytes())
    else:
        qs = dev_questions(questions, args.sample, args.seed, args.held_out)
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["RAG_INDEX_DIR"] = str(Path(tmp) / "data")
            rows = generate(paragraphs, qs, args.concurrency, args.likelihood)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(rows))
    adjusted = adjust(rows)
    if args.verdict:
        add_verdicts(adjusted)
    report(adjusted)
    if args.cross_fit:
        cross_fit({"this sample": adjusted, args.cross_fit.name: adjust(pickle.loads(args.cross_fit.read_bytes()))})


if __name__ == "__main__":
    main()
