# Merges BertGpuBench's and bert_peer.py's lines (same run) into the Markdown table of bench/RESULTS.md.
import sys, collections
rows = collections.OrderedDict()
for path in sys.argv[1:]:
    for line in open(path):
        p = line.split()
        if len(p) == 6 and p[0] in ("zq", "torch") and p[1].startswith("bert-") and p[2][0] == "s" and p[3][0] == "b":
            key = (p[1], int(p[2][1:]), int(p[3][1:]))
            rows.setdefault(key, {})[p[0] + " " + p[4]] = float(p[5])
def f(v): return "—" if v is None else f"{v:.3f}"
def r(a, b): return "—" if a is None or b is None else f"{b / a:.2f}×"
print("| model | seq | batch | zq W8A8 ms | zq W4/8A8 ms | zq W16A16 ms | torch FP16 eager ms | torch FP16 compile ms | W8A8 vs zq W16A16 | W4/8A8 vs zq W16A16 | W8A8 vs eager | W8A8 vs compile |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (model, seq, batch), v in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
    w8, w4, w16, eager, comp = v.get("zq W8A8"), v.get("zq W4_8A8"), v.get("zq W16A16"), v.get("torch eager"), v.get("torch compile")
    print(f"| {model} | {seq} | {batch} | {f(w8)} | {f(w4)} | {f(w16)} | {f(eager)} | {f(comp)} | {r(w8, w16)} | {r(w4, w16)} | {r(w8, eager)} | {r(w8, comp)} |")
