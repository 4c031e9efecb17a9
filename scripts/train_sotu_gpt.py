"""Trains zq's reference decoder, `sotu-gpt`: a small GPT-2 (6 layers, 256 wide, 4 heads, 256 positions,
byte-level BPE of 4096 tokens) on the State of the Union addresses' train split, on a GPU machine.

No pretrained causal LM can be installed from the registries the project reaches (issue #4), so the
quantization and LKD studies need a decoder whose weights were actually trained on real text. This script
makes one, reproducibly (fixed seeds, fixed step count), and measures the peer figures zq must reproduce.

    python3 scripts/train_sotu_gpt.py CORPUS_DIR OUT_DIR [SECONDS]
    ARCH=llama STEPS=N python3 scripts/train_sotu_gpt.py CORPUS_DIR OUT_DIR [SECONDS]

ARCH=llama trains `sotu-llama` instead, the LLaMA-family twin for zq's LLaMA paths (LKD included): the same tokenizer,
data, steps and schedule; RMSNorm, rotary positions (θ 10000), 4 query heads sharing 2 key/value heads, a SwiGLU MLP
of 704 (a multiple of zq's 64-wide weight groups), untied head; no dropout (LLaMA has none but attention's, left at 0),
so it overfits 8,000 steps (60 passes over the 2.2 M train tokens): STEPS shortens the cosine schedule.

CORPUS_DIR holds sotu-train.txt and sotu-test.txt as zq's TextCorpora writes them (zq's cache:
~/.cache/zq/corpora). OUT_DIR receives, in Hugging Face's layout: config.json, model.safetensors (FP16),
tokenizer.json (+ tokenizer_config.json), and reference.json: the test split's perplexity computed by
transformers in FP32 on the FP16 weights with zq's sliding window (window 256, stride 128), the token count
of both splits, the first test ids, and the last-position logits of a fixed prompt.
"""
import json, lzma, math, os, sys, time
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from safetensors.torch import save_file

corpus, out = sys.argv[1], sys.argv[2]
budget = float(sys.argv[3]) if len(sys.argv) > 3 else 240.0
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
def read(name):  # plain or xz-compressed (scripts/train-sotu-gpt.sh carries them compressed)
    path = os.path.join(corpus, name)
    if os.path.exists(path + ".xz"):
        return lzma.open(path + ".xz", "rt", encoding="utf-8").read()
    return open(path, encoding="utf-8").read()
train_text, test_text = read("sotu-train.txt"), read("sotu-test.txt")

# Byte-level BPE like GPT-2's (same pre-tokenizer regex, no prefix space), learned on the train split only.
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator([train_text[i:i + 100_000] for i in range(0, len(train_text), 100_000)],
                        trainers.BpeTrainer(vocab_size=4096, min_frequency=2, special_tokens=["<|endoftext|>"],
                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
fast.save_pretrained(out)
train_ids = torch.tensor(tok.encode(train_text).ids, dtype=torch.long)
test_ids = torch.tensor(tok.encode(test_text).ids, dtype=torch.long)
print(f"tokens: train {len(train_ids)}, test {len(test_ids)}", flush=True)

ctx = 256
llama = os.environ.get("ARCH", "gpt2") == "llama"
if llama:
    cfg = LlamaConfig(vocab_size=4096, hidden_size=256, intermediate_size=704, num_hidden_layers=6, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=ctx, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=False, bos_token_id=0, eos_token_id=0)
    Model = LlamaForCausalLM
else:
    cfg = GPT2Config(vocab_size=4096, n_positions=ctx, n_embd=256, n_layer=6, n_head=4, activation_function="gelu_new",
                     resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, bos_token_id=0, eos_token_id=0)
    Model = GPT2LMHeadModel
dev = "cuda"
model = Model(cfg).to(dev)
# The last 5% of the train split chooses the checkpoint; the test split is never seen while training.
n_val = len(train_ids) // 20
fit, val = train_ids[:-n_val].to(dev), train_ids[-n_val:].to(dev)
batch, steps, warmup = 64, int(os.environ.get("STEPS", 8000)), 200
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
g = torch.Generator(device=dev).manual_seed(1)

def val_loss():
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        starts = torch.arange(0, len(val) - ctx - 1, ctx, device=dev)
        x = val[starts[:, None] + torch.arange(ctx, device=dev)]
        loss = model(x, labels=x).loss.item()
    model.train()
    return loss

best, best_state, t0, step = float("inf"), None, time.time(), 0
model.train()
while step < steps and time.time() - t0 < budget:
    starts = torch.randint(0, len(fit) - ctx - 1, (batch,), device=dev, generator=g)
    x = fit[starts[:, None] + torch.arange(ctx, device=dev)]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(x, labels=x).loss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); sched.step(); step += 1
    if step % 250 == 0:
        v = val_loss()
        if v < best:
            best, best_state = v, {k: t.detach().clone() for k, t in model.state_dict().items()}
        print(f"step {step} train {loss.item():.3f} val {v:.3f} ({time.time() - t0:.0f} s)", flush=True)
train_seconds = time.time() - t0
model.load_state_dict(best_state)

# The model is its FP16 weights: save them, then measure everything on them widened to FP32, as zq loads them.
model = model.half().cpu().eval()
model.config.torch_dtype = torch.float16
model.save_pretrained(out, safe_serialization=True)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
ref = Model.from_pretrained(out, torch_dtype=torch.float32).to(dev).eval()

def perplexity(ids, window=256, stride=128):
    nll, scored, prev_end = 0.0, 0, 0
    with torch.no_grad():
        for begin in range(0, len(ids), stride):
            end = min(begin + window, len(ids))
            logits = ref(ids[begin:end].unsqueeze(0).to(dev)).logits[0].double()
            lp = torch.log_softmax(logits, -1)
            first = max(prev_end, begin + 1)
            t = torch.arange(first, end, device=dev)
            nll -= lp[t - begin - 1, ids[first:end].to(dev)].sum().item()
            scored += end - first
            prev_end = end
            if end == len(ids):
                break
    return math.exp(nll / scored), nll / scored, scored

ppl, mean_nll, scored = perplexity(test_ids)
prompt = test_ids[:48]
with torch.no_grad():
    last = ref(prompt.unsqueeze(0).to(dev)).logits[0, -1].float().cpu()
json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "device": torch.cuda.get_device_name(),
           "train_steps": step, "train_seconds": round(train_seconds, 1), "best_val_loss": best,
           "train_tokens": len(train_ids), "test_tokens": len(test_ids),
           "test_perplexity": {"window": 256, "stride": 128, "perplexity": ppl, "mean_nll": mean_nll, "tokens_scored": scored},
           "test_ids_head": test_ids[:512].tolist(), "train_ids_head": train_ids[:512].tolist(),
           "prompt_ids": prompt.tolist(), "prompt_last_logits": last.tolist()},
          open(os.path.join(out, "reference.json"), "w"))
print(f"test perplexity {ppl:.3f} (nll {mean_nll:.4f}, {scored} tokens), {step} steps in {train_seconds:.0f} s", flush=True)
