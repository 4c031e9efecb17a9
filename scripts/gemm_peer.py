# PyTorch peers for the GEMM table, timed like zq's GemmBench: median of 20 CUDA-event-timed calls after 3
# warm-ups, and 10 calls back to back behind a spinning kernel (zq's "back to back" figure). torch._int_mm is cuBLASLt's INT8 GEMM (INT32 out); a @ b is FP16 with FP16 out. The weight is
# [N, K] row-major and passed transposed, as a Linear layer holds it and as zq's kernel reads it (cuBLASLt's
# fast INT8 path wants this "TN" layout).
import os, sys, torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_timing import timed, back_to_back
shapes = sys.argv[1:] or ["128x768x768", "512x768x768", "2048x3072x768", "2048x768x3072", "16384x3072x768", "16384x768x3072", "4096x4096x4096", "8192x8192x8192"]
print("torch", torch.__version__, "device:", torch.cuda.get_device_name(0))
# The GPU leaves its idle clocks only under load: spin it up for a second before the first timing (as GemmBench does).
import time
w = torch.randint(-128, 127, (2048, 2048), dtype=torch.int8, device="cuda")
t0 = time.time()
while time.time() - t0 < 1.0:
    torch._int_mm(w, w.t()); torch.cuda.synchronize()
for sh in shapes:
    m, n, k = map(int, sh.split("x"))
    a8 = torch.randint(-128, 127, (m, k), dtype=torch.int8, device="cuda")
    b8 = torch.randint(-128, 127, (n, k), dtype=torch.int8, device="cuda").t()
    a16, b16 = torch.randn(m, k, dtype=torch.float16, device="cuda"), torch.randn(n, k, dtype=torch.float16, device="cuda").t()
    th = timed(lambda: a16 @ b16)
    bh = back_to_back(lambda: a16 @ b16)
    if m > 16:   # torch._int_mm refuses M <= 16
        ti = timed(lambda: torch._int_mm(a8, b8))
        bi = back_to_back(lambda: torch._int_mm(a8, b8))
        print(f"torch-int_mm {sh} {ti:.4f} ms {2*m*n*k/(ti*1e9):.1f} TOP/s (back to back {bi:.4f} ms)")
    else:
        print(f"torch-int_mm {sh} n/a (torch._int_mm needs M > 16)")
    print(f"torch-fp16 {sh} {th:.4f} ms {2*m*n*k/(th*1e9):.1f} TFLOP/s (back to back {bh:.4f} ms)")
