#!/usr/bin/env bash
# /ask throughput on a GPU, batched against one-at-a-time, with a random-initialised model of realistic
# size, plus the memory-bandwidth bound for that model. Written to run as ONE call on a lent GPU machine
# (which has torch, transformers and sentence-transformers but no network): the service's other
# dependencies travel as wheels in .whl/, and the bundled models' tokenizers and configs (no weights) in
# .gpu/, made here beforehand:
#
#   echo /.gpu/ >> .git/info/exclude
#   .venv/bin/python -m benchmarks.research.random_model export --out .gpu && cp ../shared/data/squad2-dev-3articles.json .gpu/
#   pip download ... -d .whl   (the service's dependencies missing on that machine; see the device README)
#
# (add py-spy's wheel to .whl/ for ASK_ARGS="--py-spy $OUT"; profile_summary.py reads what it records)
# then, there:  OUT=<folder> bash benchmarks/research/gpu_throughput.sh
# Knobs: SHAPE (benchmarks/research/random_model.py), LEVELS, REQUESTS, MODES, MAX_NEW_TOKENS, MAX_BATCH, ASK_ARGS, NO_BOUND.
set -euo pipefail
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/tmp/gpu-work}
PY=${PY:-python3}
mkdir -p "$OUT" "$WORK"
if [ -z "${NO_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PATH=/tmp/site/bin:$PATH  # py-spy, if carried
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv || true
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
$PY -m benchmarks.research.random_model generator --shape "${SHAPE:-llama-1.1b}" --tokenizer .gpu/smollm2-tokenizer --out "$WORK/gen"
$PY -m benchmarks.research.random_model encoder --like .gpu/minilm-shape --out "$WORK/enc"
[ -n "${NO_BOUND:-}" ] || $PY -m benchmarks.research.decode_bound --model "$WORK/gen" 2>&1 | tee "$OUT/decode_bound.txt" || true
RAG_GENERATOR_MODEL="$WORK/gen" RAG_EMBEDDING_MODEL="$WORK/enc" RAG_MAX_BATCH_SIZE="${MAX_BATCH:-64}" \
  $PY -m benchmarks.ask_throughput --data .gpu/squad2-dev-3articles.json \
    --levels "${LEVELS:-1,4,16,64}" --requests "${REQUESTS:-4,8,32,64}" --modes "${MODES:-batched,serial}" \
    --max-new-tokens "${MAX_NEW_TOKENS:-64}" ${ASK_ARGS:-} --dump "$OUT/ask_records.jsonl" 2>&1 | tee "$OUT/ask_throughput.txt"
