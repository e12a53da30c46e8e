"""Float64 PyTorch references for jgpt's model import, Llama and GPT-2 in Hugging Face layout.

Regenerate (Debian's python3-torch; the pyenv python3 on PATH lacks it):

    /usr/bin/python3 tools/gen_llama_fixture.py

Writes, under src/test/resources/fixtures/ (relative to the repository root):
  llama_tiny/config.json, model.safetensors   HF LlamaForCausalLM layout (model.layers.{i}...,
        lm_head untied; q/k_proj rows in HF's rotate-half order)
  llama_tiny/model.bin    the same weights as a llama2.c (legacy v0) checkpoint: Meta's
        interleaved RoPE order for wq/wk, negative vocab_size because the classifier is unshared
  gpt2_hf_tiny/config.json, model.safetensors   HF GPT2LMHeadModel layout (Conv1D weights [in, out],
        tied lm_head, so no lm_head.weight)
  <dir>/reference.safetensors: x, y ([B, T] I32), logits, loss, grad.<jgpt name> (jgpt layout,
        [out, in]), prompt and greedy (20 greedy tokens after the prompt, full recompute each step)

Tiny Llama: 2 layers, dim 32, 4 heads, 2 kv heads (GQA), SwiGLU hidden 64, vocab 67, 32 positions,
rms eps 1e-5, theta 10000. Tiny GPT-2: 2 layers, 2 heads, 32 dims, 32 positions, vocab 67.
B = 2, T = 8. Weights are float32 draws, everything else float64. The Llama forward is written
twice (HF rotate-half on HF weights, Meta interleaved complex RoPE on the llama2.c weights) and the
two must agree, which also checks the q/k permutation between the conventions.
"""
import json
import math
import os
import struct

import torch

OUT = "src/test/resources/fixtures"
SEED = 4242
B, T, VOCAB, BLOCK, N_NEW = 2, 8, 67, 32, 20
PROMPT = [5, 17, 42, 3]


def write_safetensors(path, tensors, meta=None, dtype="F32"):
    header, chunks, offset = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        flat = t.detach().reshape(-1).tolist()
        if t.dtype.is_floating_point:
            kind, data = dtype, struct.pack(f"<{len(flat)}f", *flat)
        else:
            kind, data = "I32", struct.pack(f"<{len(flat)}i", *flat)
        header[name] = {"dtype": kind, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def draw(g, shape, std):
    return (std * torch.randn(shape, generator=g, dtype=torch.float32)).to(torch.float64)


def cross_entropy(logits, y):
    flat = logits.reshape(-1, logits.shape[-1])
    logp = flat - torch.logsumexp(flat, -1, keepdim=True)
    return -logp.gather(1, y.reshape(-1, 1)).mean()


def greedy(forward, prompt):
    seq, margins = list(prompt), []
    for _ in range(N_NEW):
        logits = forward(torch.tensor([seq]))[0, -1]
        top = torch.topk(logits, 2).values
        margins.append((top[0] - top[1]).item())
        seq.append(int(logits.argmax()))
    # float32 must not flip a near-tie: every greedy pick wins by a clear margin.
    assert min(margins) > 1e-3, f"greedy near-tie (margin {min(margins)})"
    return seq[len(prompt):]


# ---------------------------------------------------------------- Llama

L_LAYER, L_DIM, L_HEAD, L_KV, L_HIDDEN, L_EPS, L_THETA = 2, 32, 4, 2, 64, 1e-5, 10000.0
HS = L_DIM // L_HEAD


def llama_params(g):
    p = {"embed_tokens.weight": draw(g, [VOCAB, L_DIM], 0.5)}
    for i in range(L_LAYER):
        h = f"layers.{i}."
        p[h + "input_layernorm.weight"] = 1.0 + draw(g, [L_DIM], 0.1)
        p[h + "self_attn.q_proj.weight"] = draw(g, [L_DIM, L_DIM], 0.3)
        p[h + "self_attn.k_proj.weight"] = draw(g, [L_KV * HS, L_DIM], 0.3)
        p[h + "self_attn.v_proj.weight"] = draw(g, [L_KV * HS, L_DIM], 0.2)
        p[h + "self_attn.o_proj.weight"] = draw(g, [L_DIM, L_DIM], 0.2)
        p[h + "post_attention_layernorm.weight"] = 1.0 + draw(g, [L_DIM], 0.1)
        p[h + "mlp.gate_proj.weight"] = draw(g, [L_HIDDEN, L_DIM], 0.3)
        p[h + "mlp.up_proj.weight"] = draw(g, [L_HIDDEN, L_DIM], 0.3)
        p[h + "mlp.down_proj.weight"] = draw(g, [L_DIM, L_HIDDEN], 0.2)
    p["norm.weight"] = 1.0 + draw(g, [L_DIM], 0.1)
    p["lm_head.weight"] = draw(g, [VOCAB, L_DIM], 0.3)
    return p


def rms_norm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + L_EPS) * w


def rope_angles(Tx):
    inv = L_THETA ** (-torch.arange(0, HS, 2, dtype=torch.float64) / HS)
    return torch.arange(Tx, dtype=torch.float64)[:, None] * inv[None, :]  # [T, HS/2]


def rope_hf(x):
    """rotate-half: element i pairs with i + HS/2. x: [B, nh, T, HS]."""
    a = rope_angles(x.shape[2])
    cos, sin = torch.cat([a.cos(), a.cos()], -1), torch.cat([a.sin(), a.sin()], -1)
    x1, x2 = x[..., : HS // 2], x[..., HS // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def rope_meta(x):
    """Meta / llama2.c: element 2i pairs with 2i+1, as a complex multiplication."""
    a = rope_angles(x.shape[2])
    xc = torch.view_as_complex(x.reshape(*x.shape[:-1], HS // 2, 2).contiguous())
    return torch.view_as_real(xc * torch.polar(torch.ones_like(a), a)).reshape(x.shape)


def llama_forward(p, x, rope=rope_hf):
    Bx, Tx = x.shape
    h = p["embed_tokens.weight"][x]
    causal = torch.tril(torch.ones(Tx, Tx, dtype=torch.bool))
    for i in range(L_LAYER):
        pre = f"layers.{i}."
        n = rms_norm(h, p[pre + "input_layernorm.weight"])
        q = (n @ p[pre + "self_attn.q_proj.weight"].t()).view(Bx, Tx, L_HEAD, HS).transpose(1, 2)
        k = (n @ p[pre + "self_attn.k_proj.weight"].t()).view(Bx, Tx, L_KV, HS).transpose(1, 2)
        v = (n @ p[pre + "self_attn.v_proj.weight"].t()).view(Bx, Tx, L_KV, HS).transpose(1, 2)
        q, k = rope(q), rope(k)
        k = k.repeat_interleave(L_HEAD // L_KV, dim=1)  # query head h reads kv head h // group
        v = v.repeat_interleave(L_HEAD // L_KV, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
        att = torch.softmax(att.masked_fill(~causal, float("-inf")), -1)
        y = (att @ v).transpose(1, 2).reshape(Bx, Tx, L_DIM)
        h = h + y @ p[pre + "self_attn.o_proj.weight"].t()
        n = rms_norm(h, p[pre + "post_attention_layernorm.weight"])
        gate, up = n @ p[pre + "mlp.gate_proj.weight"].t(), n @ p[pre + "mlp.up_proj.weight"].t()
        h = h + (torch.nn.functional.silu(gate) * up) @ p[pre + "mlp.down_proj.weight"].t()
    return rms_norm(h, p["norm.weight"]) @ p["lm_head.weight"].t()


def hf_to_meta(w, n_heads):
    """Inverse of HF's convert_llama_weights_to_hf permute: rotate-half rows back to interleaved."""
    d1, d2 = w.shape
    return w.view(n_heads, 2, d1 // n_heads // 2, d2).transpose(1, 2).reshape(d1, d2)


def write_llama2c(path, p):
    meta = {k: v for k, v in p.items()}
    for i in range(L_LAYER):
        meta[f"layers.{i}.self_attn.q_proj.weight"] = hf_to_meta(p[f"layers.{i}.self_attn.q_proj.weight"], L_HEAD)
        meta[f"layers.{i}.self_attn.k_proj.weight"] = hf_to_meta(p[f"layers.{i}.self_attn.k_proj.weight"], L_KV)
    layers = lambda s: [meta[f"layers.{i}.{s}"] for i in range(L_LAYER)]
    a = rope_angles(BLOCK)
    parts = ([meta["embed_tokens.weight"]] + layers("input_layernorm.weight") + layers("self_attn.q_proj.weight")
             + layers("self_attn.k_proj.weight") + layers("self_attn.v_proj.weight") + layers("self_attn.o_proj.weight")
             + layers("post_attention_layernorm.weight") + layers("mlp.gate_proj.weight")
             + layers("mlp.down_proj.weight") + layers("mlp.up_proj.weight")
             + [meta["norm.weight"], a.cos(), a.sin(), meta["lm_head.weight"]])
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", L_DIM, L_HIDDEN, L_LAYER, L_HEAD, L_KV, -VOCAB, BLOCK))
        for t in parts:
            flat = t.reshape(-1).tolist()
            f.write(struct.pack(f"<{len(flat)}f", *flat))
    return meta


def llama():
    g = torch.Generator().manual_seed(SEED)
    x = torch.randint(0, VOCAB, (B, T), generator=g)
    y = torch.randint(0, VOCAB, (B, T), generator=g)
    p = {k: v.requires_grad_(True) for k, v in llama_params(g).items()}
    logits = llama_forward(p, x)
    loss = cross_entropy(logits, y)
    grads = dict(zip(p, torch.autograd.grad(loss, list(p.values()))))
    d = f"{OUT}/llama_tiny"
    os.makedirs(d, exist_ok=True)
    meta = write_llama2c(f"{d}/model.bin", {k: v.detach() for k, v in p.items()})
    with torch.no_grad():
        other = llama_forward(meta, x, rope=rope_meta)
        assert torch.allclose(logits, other, rtol=0, atol=1e-12), "HF and Meta RoPE conventions disagree"
        out = greedy(lambda t: llama_forward(p, t), PROMPT)
    write_safetensors(f"{d}/model.safetensors", {("lm_head.weight" if k == "lm_head.weight" else "model." + k): v
                                                 for k, v in p.items()}, {"format": "pt"})
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=L_DIM,
               intermediate_size=L_HIDDEN, num_hidden_layers=L_LAYER, num_attention_heads=L_HEAD,
               num_key_value_heads=L_KV, vocab_size=VOCAB, max_position_embeddings=BLOCK,
               rms_norm_eps=L_EPS, rope_theta=L_THETA, tie_word_embeddings=False, hidden_act="silu",
               torch_dtype="float32")
    json.dump(cfg, open(f"{d}/config.json", "w"), indent=2)
    ref = {"x": x.to(torch.int32), "y": y.to(torch.int32), "logits": logits.detach(), "loss": loss.detach(),
           **{"grad." + k: v for k, v in grads.items()},
           "prompt": torch.tensor(PROMPT, dtype=torch.int32), "greedy": torch.tensor(out, dtype=torch.int32)}
    write_safetensors(f"{d}/reference.safetensors", ref, {"generator": "tools/gen_llama_fixture.py"})
    print(f"{d}: loss {loss.item():.6f}, greedy {out}")


# ---------------------------------------------------------------- GPT-2

G_LAYER, G_HEAD, G_DIM, G_EPS = 2, 2, 32, 1e-5


def gpt2_params(g):
    C = G_DIM
    p = {"wte": draw(g, [VOCAB, C], 0.6), "wpe": draw(g, [BLOCK, C], 0.3)}
    for i in range(G_LAYER):
        h = f"h.{i}."
        p[h + "ln_1.weight"], p[h + "ln_1.bias"] = 1.0 + draw(g, [C], 0.1), draw(g, [C], 0.02)
        p[h + "attn.c_attn.weight"], p[h + "attn.c_attn.bias"] = draw(g, [3 * C, C], 0.4), draw(g, [3 * C], 0.02)
        p[h + "attn.c_proj.weight"], p[h + "attn.c_proj.bias"] = draw(g, [C, C], 0.1), draw(g, [C], 0.02)
        p[h + "ln_2.weight"], p[h + "ln_2.bias"] = 1.0 + draw(g, [C], 0.1), draw(g, [C], 0.02)
        p[h + "mlp.c_fc.weight"], p[h + "mlp.c_fc.bias"] = draw(g, [4 * C, C], 0.3), draw(g, [4 * C], 0.02)
        p[h + "mlp.c_proj.weight"], p[h + "mlp.c_proj.bias"] = draw(g, [C, 4 * C], 0.1), draw(g, [C], 0.02)
    p["ln_f.weight"], p["ln_f.bias"] = 1.0 + draw(g, [C], 0.1), draw(g, [C], 0.02)
    return p


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + G_EPS) * w + b


def gpt2_forward(p, x):
    Bx, Tx = x.shape
    C, hs = G_DIM, G_DIM // G_HEAD
    h = p["wte"][x] + p["wpe"][:Tx]
    causal = torch.tril(torch.ones(Tx, Tx, dtype=torch.bool))
    for i in range(G_LAYER):
        pre = f"h.{i}."
        n = layer_norm(h, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"])
        q, k, v = (n @ p[pre + "attn.c_attn.weight"].t() + p[pre + "attn.c_attn.bias"]).split(C, -1)
        q, k, v = (t.view(Bx, Tx, G_HEAD, hs).transpose(1, 2) for t in (q, k, v))
        att = torch.softmax(((q @ k.transpose(-2, -1)) / math.sqrt(hs)).masked_fill(~causal, float("-inf")), -1)
        y = (att @ v).transpose(1, 2).reshape(Bx, Tx, C)
        h = h + y @ p[pre + "attn.c_proj.weight"].t() + p[pre + "attn.c_proj.bias"]
        n = layer_norm(h, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"])
        m = torch.nn.functional.gelu(n @ p[pre + "mlp.c_fc.weight"].t() + p[pre + "mlp.c_fc.bias"], approximate="tanh")
        h = h + m @ p[pre + "mlp.c_proj.weight"].t() + p[pre + "mlp.c_proj.bias"]
    return layer_norm(h, p["ln_f.weight"], p["ln_f.bias"]) @ p["wte"].t()


def gpt2():
    g = torch.Generator().manual_seed(SEED + 1)
    x = torch.randint(0, VOCAB, (B, T), generator=g)
    y = torch.randint(0, VOCAB, (B, T), generator=g)
    p = {k: v.requires_grad_(True) for k, v in gpt2_params(g).items()}
    logits = gpt2_forward(p, x)
    loss = cross_entropy(logits, y)
    grads = dict(zip(p, torch.autograd.grad(loss, list(p.values()))))
    with torch.no_grad():
        out = greedy(lambda t: gpt2_forward(p, t), PROMPT)
    hf = {}
    for k, v in p.items():
        v = v.detach()
        # HF's Conv1D stores [in, out]: the transpose of torch.nn.Linear's [out, in].
        hf["transformer." + (k + ".weight" if k in ("wte", "wpe") else k)] = v.t() if k.endswith(
            ("c_attn.weight", "c_proj.weight", "c_fc.weight")) else v
    d = f"{OUT}/gpt2_hf_tiny"
    os.makedirs(d, exist_ok=True)
    write_safetensors(f"{d}/model.safetensors", hf, {"format": "pt"})
    cfg = dict(architectures=["GPT2LMHeadModel"], model_type="gpt2", n_layer=G_LAYER, n_head=G_HEAD, n_embd=G_DIM,
               n_positions=BLOCK, n_ctx=BLOCK, vocab_size=VOCAB, layer_norm_epsilon=G_EPS,
               activation_function="gelu_new", tie_word_embeddings=True, torch_dtype="float32")
    json.dump(cfg, open(f"{d}/config.json", "w"), indent=2)
    ref = {"x": x.to(torch.int32), "y": y.to(torch.int32), "logits": logits.detach(), "loss": loss.detach(),
           **{"grad." + k: v for k, v in grads.items()},
           "prompt": torch.tensor(PROMPT, dtype=torch.int32), "greedy": torch.tensor(out, dtype=torch.int32)}
    write_safetensors(f"{d}/reference.safetensors", ref, {"generator": "tools/gen_llama_fixture.py"})
    print(f"{d}: loss {loss.item():.6f}, greedy {out}")


if __name__ == "__main__":
    llama()
    gpt2()
