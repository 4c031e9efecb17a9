"""Golden logits from Hugging Face transformers for zq's decoder tests (run where torch+transformers exist,
e.g. the GPU machine: `python3 scripts/hf_decoder_fixtures.py OUTDIR`).

Writes, per architecture, a tiny *randomly initialised* model (seeded) in HF's own layout
(config.json + model.safetensors) and golden.safetensors with input ids, HF's logits for them, and the
logits of a greedy KV-cache continuation. These are not pretrained weights: they check that zq reads HF's
layout and computes the same function as HF, nothing about language quality.
"""
import json, os, sys
import torch
from safetensors.torch import save_file
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
torch.manual_seed(0)

def dump(name, model, vocab):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model = model.float().eval()
    with torch.no_grad():
        for p in model.parameters():  # larger than init's std 0.02 so every op matters in the logits
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(d, safe_serialization=True)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (2, 11), generator=g)
    with torch.no_grad():
        logits = model(ids).logits
        gen = model.generate(ids[:1, :5], max_new_tokens=6, min_new_tokens=6, do_sample=False, return_dict_in_generate=True,
                             output_logits=True, pad_token_id=0)
    save_file({"input_ids": ids.to(torch.int64).contiguous(), "logits": logits.contiguous(),
               "gen_prompt": ids[:1, :5].clone(), "gen_ids": gen.sequences.contiguous(),
               "gen_logits": torch.stack(gen.logits, 1).contiguous()},
              os.path.join(d, "golden.safetensors"), metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    print(name, "ok", logits.shape, gen.sequences.tolist())

dump("tiny-gpt2", GPT2LMHeadModel(GPT2Config(vocab_size=96, n_positions=32, n_embd=32, n_layer=2, n_head=4,
                                             activation_function="gelu_new", bos_token_id=0, eos_token_id=0, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)), 96)
dump("tiny-llama", LlamaForCausalLM(LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=56, num_hidden_layers=2,
                                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                                                rms_norm_eps=1e-5, bos_token_id=0, eos_token_id=0, rope_theta=10000.0, tie_word_embeddings=False)), 96)
