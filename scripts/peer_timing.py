# The timing every PyTorch peer script uses, as zq's benchmarks time themselves: 3 warm-up calls, then the median
# of 20 calls, each between two CUDA events.
import torch

def timed(fn):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    out = []
    for r in range(23):
        s.record(); fn(); e.record(); e.synchronize()
        if r >= 3: out.append(s.elapsed_time(e))
    out.sort()
    return (out[9] + out[10]) / 2


def back_to_back(fn, launches=10, repeats=5):
    """As zq's GemmBench's "back to back" figure: `launches` calls queued behind a spinning kernel (so the host's pace of
    enqueuing does not show), between two events; the median over `repeats` of the time per call."""
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    out = []
    for r in range(repeats + 1):
        torch.cuda._sleep(20_000_000)   # ~10 ms of spinning: every call below is queued before the GPU reaches it
        s.record()
        for _ in range(launches): fn()
        e.record(); e.synchronize()
        if r >= 1: out.append(s.elapsed_time(e) / launches)
    out.sort()
    return out[len(out) // 2]
