# PyTorch peers for dev.zq.bench.BertGpuBench, timed the same way: HF transformers BertModel (no pooler), FP16,
# random weights of the real shapes, random token ids already on the GPU, inference mode; median of 20 CUDA-event-timed
# forward passes after 3 warm-ups. "eager" is the model as HF builds it (its default attention implementation);
# "compile" is torch.compile(model, dynamic=False) of the same model, compiled per shape, for the shapes in COMPILE.
# Prints "torch MODEL sSEQ bBATCH eager|compile MS" lines for scripts/bert_table.py.
import os, sys, time, torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_timing import timed
from transformers import BertConfig, BertModel

models = (sys.argv[1] if len(sys.argv) > 1 else "base,large").split(",")
seqs = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "128,256").split(",")]
batches = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else "1,8,32,128").split(",")]
COMPILE = set((sys.argv[4] if len(sys.argv) > 4 else "base:128:1,base:128:128,large:128:1,large:128:128").split(","))
torch._dynamo.config.cache_size_limit = 64
print("torch", torch.__version__, "device:", torch.cuda.get_device_name(0), flush=True)

for name in models:
    cfg = BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096) if name == "large" \
        else BertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    model = BertModel(cfg, add_pooling_layer=False).half().cuda().eval()
    print(f"bert-{name}: attention implementation {getattr(model.config, '_attn_implementation', '?')}", flush=True)
    compiled = torch.compile(model, dynamic=False)
    with torch.inference_mode():
        for seq in seqs:
            for b in batches:
                ids = torch.randint(0, cfg.vocab_size, (b, seq), device="cuda")
                mask = torch.ones(b, seq, dtype=torch.long, device="cuda")
                print(f"torch bert-{name} s{seq} b{b} eager {timed(lambda: model(input_ids=ids, attention_mask=mask)):.4f}", flush=True)
                if f"{name}:{seq}:{b}" in COMPILE:
                    t0 = time.time()
                    compiled(input_ids=ids, attention_mask=mask); torch.cuda.synchronize()
                    print(f"# compiled bert-{name} s{seq} b{b} in {time.time() - t0:.0f} s", flush=True)
                    print(f"torch bert-{name} s{seq} b{b} compile {timed(lambda: compiled(input_ids=ids, attention_mask=mask)):.4f}", flush=True)
    del model, compiled
    torch.cuda.empty_cache()
