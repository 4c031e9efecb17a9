# Joins dev.zq.bench.DecoderGpuBench's lines ("zq MODEL bB VARIANT PREFILL_MS DECODE_MS") with scripts/gpt_peer.py's
# ("torch MODEL bB fp16-generate TOTAL_MS") from the same run into the markdown table of bench/RESULTS.md.
# Decode tokens/s counts the NEW-1 decode steps; "50 tokens ms" is prefill + those steps (HF: its whole generate()).
import sys
new = int(sys.argv[3]) if len(sys.argv) > 3 else 50
zq, torch = {}, {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 6 and p[0] == "zq" and p[2].startswith("b"): zq[(p[1], int(p[2][1:]), p[3])] = (float(p[4]), float(p[5]))
for line in open(sys.argv[2]):
    p = line.split()
    if len(p) == 5 and p[0] == "torch" and p[2].startswith("b"): torch[(p[1], int(p[2][1:]))] = float(p[4])
print(f"| model | batch | variant | prefill ms | decode ms/token | decode tokens/s | {new} tokens ms | vs our W16A16 (decode) | vs HF FP16 generate ({new} tokens) |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for (m, b, v), (pre, dec) in zq.items():
    step = dec / (new - 1)
    base = zq.get((m, b, "W16A16"))
    ours = f"{base[1] / dec:.2f}×" if base else "-"
    hf = torch.get((m, b))
    peer = f"{hf / (pre + dec):.1f}×" if hf else "-"
    print(f"| {m} | {b} | {v} | {pre:.3f} | {step:.4f} | {b / step * 1000:,.0f} | {pre + dec:.2f} | {ours} | {peer} |")
for (m, b), t in torch.items():
    print(f"| {m} | {b} | HF FP16 generate | | | {b * new / t * 1000:,.0f} (all {new}) | {t:.2f} | | 1.0× |")
