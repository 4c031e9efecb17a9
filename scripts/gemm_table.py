# The GEMM table from scripts/gpu-gemm-bench.sh's two outputs (zq's GemmBench, then scripts/gemm_peer.py): for each M×N×K,
# the back-to-back milliseconds (TOP/s) of the INT8 and FP16 tiles GemmTiles picked, of torch._int_mm and of PyTorch's
# FP16 a @ b, and the ratios (above 1: zq faster). Usage: python3 scripts/gemm_table.py gemm-zq.txt gemm-torch.txt
import re, sys

def back_to_back(line):
    m = re.search(r"\(back to back ([0-9.]+) ms\)", line)
    return float(m.group(1)) if m else None

def tops(shape, ms):
    m, n, k = map(int, shape.split("x"))
    return 2.0 * m * n * k / (ms * 1e-3) / 1e12

zq, torch, order = {}, {}, []
for line in open(sys.argv[1]):
    m = re.match(r"zq-(int8|fp16)-(\S+) (\d+x\d+x\d+) .*\(picked\)", line)
    if m and back_to_back(line) is not None:
        zq[(m.group(1), m.group(3))] = (back_to_back(line), m.group(2))
        if m.group(3) not in order: order.append(m.group(3))
for line in open(sys.argv[2]):
    m = re.match(r"torch-(int_mm|fp16) (\d+x\d+x\d+) ", line)
    if m and back_to_back(line) is not None:
        torch[(m.group(1), m.group(2))] = back_to_back(line)

def cell(ms, shape, tile=None):
    return "—" if ms is None else f"{ms:.4f} ({tops(shape, ms):.0f})" + (f" `{tile}`" if tile else "")

def ratio(ours, theirs):
    return "—" if ours is None or theirs is None else f"{theirs / ours:.2f}"

print("| M×N×K | zq INT8 | `torch._int_mm` | zq / int_mm | zq FP16 | PyTorch FP16 `a @ b` | zq FP16 / PyTorch FP16 | zq INT8 / PyTorch FP16 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for s in order:
    i8, t8 = zq.get(("int8", s), (None, None)), torch.get(("int_mm", s))
    f16, t16 = zq.get(("fp16", s), (None, None)), torch.get(("fp16", s))
    print(f"| {s} | {cell(i8[0], s, i8[1])} | {cell(t8, s)} | {ratio(i8[0], t8)} | {cell(f16[0], s, f16[1])} | {cell(t16, s)} "
          f"| {ratio(f16[0], t16)} | {ratio(i8[0], t16)} |")
