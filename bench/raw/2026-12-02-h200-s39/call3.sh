#!/usr/bin/env bash
# Session 39, call 3 (H200): the build as committed (SkinnyMmaKernel asks L1 for its first scales and bias before the
# wait; the row prefetch and the folded final LayerNorm of calls 1-2 removed): the decoder's GPU checks, then the A/B of
# -Dzq.decoder.skinnyPrefetch=false (A) against the default (B), same jars, two rounds alternating.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
OUT=$OUT NAME=junit TIMEOUT=200 bash scripts/gpu-decoder-tests.sh
V=-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8
OUT=$OUT OLD=none AB_NAME=ab-scales A_OPTS="$V -Dzq.decoder.skinnyPrefetch=false" B_OPTS="$V" ROUNDS=2 \
  bash scripts/gpu-ab-bench.sh gpt3-1.3b,gpt2 8,16 32 50 | grep "^zq \|^# side"
