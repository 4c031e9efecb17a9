# PyTorch peer for dev.zq.bench.DecoderGpuBench: HF transformers GPT2LMHeadModel in FP16 with random weights of the
# same shapes (GPT-2 small; GPT-3 1.3B as the GPT-2 architecture at 24x2048), LlamaForCausalLM at TinyLlama 1.1B's shapes
# (llama-1.1b), or the bundled sotu-llama's own weights (from the checkout), greedy generate() of exactly NEW tokens
# after a PROMPT-token random prompt, KV cache on (HF's default dynamic cache), inference mode. Timed as a whole
# (prefill + NEW-1 decode steps) between CUDA events: 1 warm-up, median of 5.
# Prints "torch MODEL bBATCH fp16-generate TOTAL_MS" lines for scripts/gpt_table.py.
import sys, torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

models = (sys.argv[1] if len(sys.argv) > 1 else "gpt2,gpt3-1.3b").split(",")
batches = [int(b) for b in (sys.argv[2] if len(sys.argv) > 2 else "1,16").split(",")]
prompt = int(sys.argv[3]) if len(sys.argv) > 3 else 32
new = int(sys.argv[4]) if len(sys.argv) > 4 else 50
print("torch", torch.__version__, "device:", torch.cuda.get_device_name(0), flush=True)

for name in models:
    if name == "sotu-llama":
        model = LlamaForCausalLM.from_pretrained("model/src/main/resources/zq/zoo/sotu-llama", torch_dtype=torch.float16).cuda().eval()
        cfg = model.config
    elif name == "llama-1.1b":
        cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                          num_key_value_heads=4, max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0)
        model = LlamaForCausalLM(cfg).half().cuda().eval()
    else:
        cfg = GPT2Config(n_embd=2048, n_layer=24, n_head=16, n_positions=2048) if name == "gpt3-1.3b" else GPT2Config()
        model = GPT2LMHeadModel(cfg).half().cuda().eval()
    for b in batches:
        ids = torch.randint(0, cfg.vocab_size, (b, prompt), device="cuda")
        mask = torch.ones_like(ids)
        def run():
            return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                  pad_token_id=0)
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        with torch.inference_mode():
            for r in range(6):
                s.record(); out = run(); e.record(); e.synchronize()
                assert out.shape[1] == prompt + new, out.shape
                if r > 0: times.append(s.elapsed_time(e))
        times.sort()
        print(f"torch {name} b{b} fp16-generate {times[2]:.4f}", flush=True)
    del model
    torch.cuda.empty_cache()
