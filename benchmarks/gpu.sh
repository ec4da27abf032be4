#!/usr/bin/env bash
# The GPU checks and benchmarks, one prepared run on the device machine (docs/benchmarks.md, "GPU").
#
#   bash benchmarks/gpu_wheels.sh                 here, first: the wheels the device lacks, into .whl/
#   device run:  bash benchmarks/gpu.sh           results in $OUT (8 files), with carry [".whl",
#                "data/external/shapeit4/reference.vcf.gz", "data/external/shapeit4/reference.vcf.gz.csi"]
#                (the 1000 Genomes haplotypes of the benchmark's haplotype path; set up by setup.sh --test)
#   bash benchmarks/gpu.sh --dry-run              the same steps on this machine's CPU, small model
#                                                 (tests/test_gpu_script.py runs it in the suite)
#
# Steps, in order of value, each time-boxed; each writes its JSON to $OUT as it finishes, so a run
# cut off still returns what it measured: versions, correctness (a precompute on the device equals
# the CPU's), the engine benchmark of `python -m compute bench` (naive loop vs engine fp32 / bf16,
# ISM through the conv-tower cache vs full forwards, the haplotype path with prefetch, one gene's
# model work, the study projection) at two batch sizes, Borzoi and AlphaGenome at full size
# (benchmarks/gpu_models.py), then Enformer with torch.compile and a profile.
# Planned to end within 8 minutes on one H200, set-up included.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
log="$OUT/log.txt"
: > "$log"
if [ $dry = 1 ]; then
  # the first 16 people of the haplotype set and 8 SNVs: the steps' wiring, checked in the suite in
  # seconds; time boxes for a CPU shared with other tests (a step cut off there proves nothing).
  # torch.compile through aot_eager: traced and run as compiled, without inductor's C++ code for this
  # CPU (a minute cold, and not the code a GPU runs)
  py=${PYTHON:-.venv/bin/python}; device=cpu; config=small; seconds=0.05; long=300; short=300; people=16; snvs=8
  backend=aot_eager
else
  py=python3; device=cuda; config=full; seconds=3; long=170; short=120; people=0; snvs=32; backend=inductor
  site=/tmp/site
  mkdir -p "$site/polars"
  # polars: imported by enformer_pytorch.data for a dataset class this project never uses (too big to carry)
  echo "# stand-in: enformer_pytorch.data imports polars for GenomeIntervalDataset only" > "$site/polars/__init__.py"
  # intervaltree: imported by borzoi_pytorch.gene_utils for its Transcriptome class only (an sdist: no wheel)
  mkdir -p "$site/intervaltree"
  echo "IntervalTree = None  # stand-in: borzoi_pytorch's Transcriptome only" > "$site/intervaltree/__init__.py"
  if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
      >> "$log" 2>&1 || { echo "wheel install failed: see $log"; exit 1; }
  fi
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ ! -f data/external/shapeit4/reference.vcf.gz ]; then
  echo "data/external/shapeit4/reference.vcf.gz is missing: carry it (and its .csi) with the run" | tee -a "$log"
  exit 1
fi

step() {  # name, seconds allowed, command...
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  echo "== $name: $*" >> "$log"
  timeout "$limit" "$@" >> "$log" 2>&1
  local rc=$?
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - start))}" >> "$OUT/steps.jsonl"
  echo "$name: rc $rc, $((SECONDS - start)) s"
}

step versions 60 "$py" -c "
import json, platform, sys, numpy, torch, enformer_pytorch, transformers
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
json.dump({'python': sys.version.split()[0], 'torch': torch.__version__, 'cuda': torch.version.cuda,
           'gpu': gpu, 'numpy': numpy.__version__, 'transformers': transformers.__version__,
           'machine': platform.machine(), 'date': __import__('datetime').date.today().isoformat()},
          open('$OUT/versions.json', 'w'), indent=2)
print(open('$OUT/versions.json').read())"
step correctness "$short" "$py" benchmarks/gpu_checks.py --device "$device" --out "$OUT/correctness.json"
step bench_batch4 "$long" "$py" -m compute bench --device "$device" --config "$config" --seconds "$seconds" \
  --people "$people" --snvs "$snvs" --batch-size 4 --json "$OUT/bench_batch4.json"
step bench_batch16 "$long" "$py" -m compute bench --device "$device" --config "$config" --seconds "$seconds" \
  --people "$people" --snvs "$snvs" --batch-size 16 --json "$OUT/bench_batch16.json"
# Borzoi (524,288 bp) and AlphaGenome (1,048,576 bp) at full size: forwards/s and peak memory in fp32
# and bf16, bf16's difference from fp32 (the dry run: their small random configurations)
step models "$short" "$py" benchmarks/gpu_models.py --device "$device" --config "$config" --seconds "$seconds" \
  --json "$OUT/models.json"
step bench_compile "$long" "$py" -m compute bench --device "$device" --config "$config" --seconds "$seconds" \
  --people "$people" --snvs "$snvs" --batch-size 16 --compile --compile-backend "$backend" --profile \
  --json "$OUT/bench_compile.json"
echo "results in $OUT: $(ls "$OUT" | tr '\n' ' ')"
