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

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.abstention_signals [--sample 100] [--likelihood] [--cache F]
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.abstention_signals --cache F --verdict
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.abstention_signals --held-out --sample 150 --seed 7

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

from benchmarks.answer_quality import f1, load, sample
from benchmarks.server import SQUAD

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


def dev_questions(questions: list[Row], n: int, seed: int, held_out: bool = False) -> list[Row]:
    """N + N questions that answer_quality's sample does not use; ``held_out`` also leaves out the
    development sample itself (seed 99, 100 + 100), for checking what was chosen on it."""
    used = {(q["question"], q["answerable"]) for q in sample(questions, 100, 13)}
    if held_out:
        used |= {(q["question"], q["answerable"]) for q in dev_questions(questions, 100, 99)}
    rest = [q for q in questions if (q["question"], q["answerable"]) not in used]
    return sample(rest, n, seed)


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
    return "\n\n".join(f"[{p.number}] {p.text}" for p in r["passages"][:n])


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
    from generation.adjustment.types import AdjustmentContext
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
        signals = a.notes.get("abstain_signals", {})
        answer_lp, refusal_lp = r.get("answer_logprobs"), r.get("refusal_logprobs")
        out.append(
            {
                **r,
                "answer": a.answer,
                "fixed_abstain": a.abstained,  # no passages, low relevance, empty answer, model declined
                "reason": a.notes.get("abstain_reason"),
                "missing_key_terms": bool(signals.get("missing_key_terms")),
                "negation": bool(signals.get("unstated_negation")),
                "opposite": bool(signals.get("stated_opposite")),
                "no_phrase": signals.get("answer_phrase") is False,
                "support": signals.get("support"),
                "away": bool(signals.get("key_terms_away_from_evidence")),
                "coverage": signals.get("question_coverage"),
                "unmatched_words": unmatched_words(r["question"], r["passages"]),
                # how much likelier the refusal is than the answer, per token (-inf: not measured)
                "logprob_margin": (
                    statistics.mean(refusal_lp) - statistics.mean(answer_lp)
                    if answer_lp and refusal_lp
                    else float("-inf")
                ),
            }
        )
    return out


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
    print("\nOperating points (a key term in no passage and an unstated negation always abstain, as by default):")
    print(
        f"{'opposite':>8} {'phrase':>6} {'support <':>9} {'near':>5} {'coverage <':>10} {'margin >':>8}"
        f"   {'F1':>5} {'abst.':>6} {'false':>6}"
    )
    margins = [float("inf")] + ([-2.5, -2.0, -1.5] if rows[0].get("answer_logprobs") else [])
    grid = itertools.product([False, True], [False, True], [0.0, 0.3, 0.5], [False, True], [0.0, 0.3], margins)
    best: tuple[float, float, float, dict[str, Any]] | None = None  # most abstention at false abstention <= 0.2
    for opposite, phrase, support, near, coverage, margin in grid:
        point = {
            "key_terms": True,
            "negation": True,
            "opposite": opposite,
            "phrase": phrase,
            "support": support,
            "near_evidence": near,
            "coverage": coverage,
            "margin": margin,
        }
        score, abstained, false = operating_point(rows, point)
        if false <= 0.2 and (best is None or abstained > best[1]):
            best = (score, abstained, false, point)
        default = {k: point[k] for k in DEFAULT_POINT} == DEFAULT_POINT and margin == float("inf")
        print(
            f"{opposite!s:>8} {phrase!s:>6} {support:9.1f} {near!s:>5} {coverage:10.1f} {margin:8.1f}"
            f"   {score:5.3f} {abstained:6.2f} {false:6.2f}"
            + (" <- default" if default else "")
            + (" (both targets)" if abstained >= 0.5 and false <= 0.2 else "")
        )
    if best is not None:
        score, abstained, false, point = best
        print(f"most abstention at false abstention <= 0.2: {abstained:.2f} (false {false:.2f}, F1 {score:.3f})")
        print(f"  at {point}")


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
    args = parser.parse_args()

    paragraphs, questions = load(args.data)
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


if __name__ == "__main__":
    main()
