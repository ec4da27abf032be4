#!/usr/bin/env bash
# Fetch, into the git-ignored .whl/, the cp312 wheels that the device machine's image lacks or holds
# in other versions (its Python 3.12 has torch, numpy, pandas, pyarrow, scipy, scikit-learn, einops,
# tqdm, click, but transformers 5, which borzoi-pytorch 0.5.1 does not take). Run it here before a
# device run; `benchmarks/gpu.sh` installs them there with --no-index. polars (41 MB, over what a run
# may carry) is imported by enformer_pytorch.data only for its dataset class, which this project
# never uses: gpu.sh puts an empty module in its place on the device, as for intervaltree (an sdist only),
# imported by borzoi_pytorch.gene_utils for its Transcriptome class, which the project never uses either.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=(
  enformer-pytorch==0.8.11 transformers==4.57.6 tokenizers==0.22.2 huggingface-hub==0.36.2
  pyfaidx==0.8.1.4 cyvcf2==0.35.0 coloredlogs==15.0.1 humanfriendly==10.0
  borzoi-pytorch==0.5.1 alphagenome-pt==1.0.0 einx==0.4.3 frozendict==2.5.1
)
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d .whl "${wheels[@]}"
du -sh .whl
