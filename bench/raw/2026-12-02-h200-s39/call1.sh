#!/usr/bin/env bash
# Session 39, call 1 (H200): the decoder's GPU checks with this build's defaults (SkinnyMmaKernel's L1 prefetches,
# the decode step's final LayerNorm folded into the head's staging), then the A/B of -Dzq.decoder.skinnyPrefetch=0 (A)
# against the default 3 (B: rows after the wait, scales and bias before it), same jars, two rounds alternating.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
OUT=$OUT NAME=junit TIMEOUT=220 bash scripts/gpu-decoder-tests.sh
V=-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8
OUT=$OUT OLD=none AB_NAME=ab-prefetch A_OPTS="$V -Dzq.decoder.skinnyPrefetch=0" B_OPTS="$V" ROUNDS=2 \
  bash scripts/gpu-ab-bench.sh gpt3-1.3b,gpt2 8,16 32 50 | grep -v "^#\s*profile"
