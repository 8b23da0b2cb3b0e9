#!/usr/bin/env bash
# The one prepared GPU check of issue 6 (docs/performance.md, "GPU"): prints the GPU and the framework
# versions, then times training of the two reference configs at batch 64 and at large batches, and writes
# every figure to $OUT (benchmark.json, benchmark.log, machine.txt).
#
# With TensorFlow installed it times our JointVAE (XLA, steps_per_execution 1 and 50, mixed_bfloat16).
# Without it (the lent H100 image has JAX but no TensorFlow, and a TensorFlow wheel is far over the
# 64 MiB that travels), it installs the carried Keras wheels (.whl/: keras, namex, optree) and times the
# same networks and objective with Keras' JAX backend in an XLA-compiled loop over on-device data.
#
#   bash scripts/gpu_benchmark.sh            # OUT defaults to ./gpu-results
set -uo pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python3}

{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  nproc; "$PYTHON" --version
} 2>&1 | tee "$OUT/machine.txt"

if "$PYTHON" -c "import tensorflow, keras, tensorflow_probability" 2>/dev/null; then
  "$PYTHON" -c "import tensorflow as tf; print('TF', tf.__version__, tf.config.list_physical_devices('GPU'))" \
    2>&1 | tee -a "$OUT/machine.txt"
  prefix=ours-xla
else
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "no TensorFlow and no carried Keras wheels (.whl/)"; exit 1; }
  export PYTHONPATH="$PYTHONPATH:/tmp/site" KERAS_BACKEND=jax
  "$PYTHON" -c "import jax, keras; print('JAX', jax.__version__, jax.devices(), 'Keras', keras.__version__)" \
    2>&1 | tee -a "$OUT/machine.txt"
  prefix=plain-loop
fi

bench() { "$PYTHON" scripts/benchmark_training.py --repeats 1 --seconds 3 --warmup 4 --timeout 150 "$@"; }
{  # most important first: the large-batch target (>= 1M images/s at 32x32 on one H100)
  bench --configs 32 --batch 16384 --variants "$prefix-spe10-bf16,$prefix-spe10" --baseline "$prefix-spe10" \
    --json "$OUT/large32.json"
  bench --configs 32 --batch 8192,65536 --variants "$prefix-spe10-bf16" --json "$OUT/other32.json"
  bench --configs 32,64 --batch 64 --variants "$prefix-spe1,$prefix-spe50" --baseline "$prefix-spe1" \
    --json "$OUT/small.json"
  bench --configs 64 --batch 8192 --variants "$prefix-spe10-bf16" --json "$OUT/large64.json"
} 2>&1 | grep -v "^I0000\|^W0000\|^WARNING: All log" | tee "$OUT/benchmark.log"
