#!/usr/bin/env bash
# Session 39, call 2 (H200): the A/B of -Dzq.decoder.foldLastNorm=false (A) against the default (B), both without
# SkinnyMmaKernel's L1 prefetches (skinnyPrefetch=0: call 1 found them slower at 1.3B), two rounds alternating; then
# which of the prefetches costs: skinnyPrefetch=1 (rows after the wait, A) against 2 (scales and bias before it, B), 1.3B.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
V="-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8 -Dzq.decoder.skinnyPrefetch=0"
OUT=$OUT OLD=none AB_NAME=ab-fold A_OPTS="$V -Dzq.decoder.foldLastNorm=false" B_OPTS="$V" ROUNDS=2 \
  bash scripts/gpu-ab-bench.sh gpt3-1.3b,gpt2 8,16 32 50 | grep "^zq \|^# side"
V=-Dzq.bench.variants=W8A8+head8,W4/8A8+head8
OUT=$OUT OLD=none AB_NAME=ab-mask A_OPTS="$V -Dzq.decoder.skinnyPrefetch=1" B_OPTS="$V -Dzq.decoder.skinnyPrefetch=2" ROUNDS=2 \
  bash scripts/gpu-ab-bench.sh gpt3-1.3b,gpt2 8,16 32 50 | grep "^zq \|^# side"
