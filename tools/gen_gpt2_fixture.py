"""Independent float64 PyTorch reference for jgpt's GPT-2: writes the committed test fixtures.

Regenerate (Debian's python3-torch; the pyenv python3 on PATH lacks it):

    /usr/bin/python3 tools/gen_gpt2_fixture.py

Writes src/test/resources/fixtures/gpt2_tiny_tied.safetensors and gpt2_tiny_untied.safetensors
(relative to the repository root). Each holds, for a tiny GPT-2 (2 layers, 2 heads, 32 dims,
block 8, vocab 67) and one batch x/y of shape [2, 8]:
  <name>           every parameter at initialisation (F32, [out, in] like torch.nn.Linear)
  x, y             inputs and next-token targets (I32)
  logits, loss     forward pass at the initial parameters (loss = mean cross-entropy, shape [])
  grad.<name>      gradient of the loss at the initial parameters, before clipping
  losses, grad_norms   loss and pre-clip global gradient norm before each of 3 AdamW steps
  step1.<name>, step3.<name>   parameters after the 1st and the 3rd update
and __metadata__ with the config and hyper-parameters as strings.

Everything is computed in float64 from weights drawn as float32 values, so the F32 parameters in
the file are the exact inputs and the stored results are accurate beyond float32 rounding.
The model is written out op by op (not torch.nn modules) and cross-checked against torch's own
functional ops and torch.optim.AdamW, so two implementations agree before anything is written.

Comparing against these files: the key slice of every h.<i>.attn.c_attn.bias (entries
n_embd..2*n_embd-1) has exactly zero true gradient, because softmax ignores a shift that is the
same for all keys of a query. Its stored gradient is ~1e-18 roundoff, but a float32
implementation's is ~1e-9 noise, and AdamW turns noise of that size into updates up to ~lr per
step (m/(sqrt(v)+eps) ~ sign(g) once |g| is not far below eps). Compare those entries of
grad.* and step*.* with an absolute tolerance (a few lr for step3), not a relative one.
"""
import json
import math
import struct

import torch
import torch.nn.functional as F

N_LAYER, N_HEAD, N_EMBD, BLOCK_SIZE, VOCAB = 2, 2, 32, 8, 67
B, T = 2, 8
LR, BETA1, BETA2, EPS, WEIGHT_DECAY = 1e-2, 0.9, 0.95, 1e-8, 0.1
MAX_NORM = 5.0  # clips step 1 (norm ~6.5) but not steps 2-3 (~3.3): both branches run
STEPS = 3
SEED = 1337
LN_EPS = 1e-5
OUT_DIR = "src/test/resources/fixtures"


def param_shapes(tied):
    """jgpt's parameter names and shapes, in jgpt's order."""
    C = N_EMBD
    shapes = [("wte", [VOCAB, C]), ("wpe", [BLOCK_SIZE, C])]
    for i in range(N_LAYER):
        p = f"h.{i}."
        shapes += [
            (p + "ln_1.weight", [C]), (p + "ln_1.bias", [C]),
            (p + "attn.c_attn.weight", [3 * C, C]), (p + "attn.c_attn.bias", [3 * C]),
            (p + "attn.c_proj.weight", [C, C]), (p + "attn.c_proj.bias", [C]),
            (p + "ln_2.weight", [C]), (p + "ln_2.bias", [C]),
            (p + "mlp.c_fc.weight", [4 * C, C]), (p + "mlp.c_fc.bias", [4 * C]),
            (p + "mlp.c_proj.weight", [C, 4 * C]), (p + "mlp.c_proj.bias", [C]),
        ]
    shapes += [("ln_f.weight", [C]), ("ln_f.bias", [C])]
    if not tied:
        shapes.append(("lm_head.weight", [VOCAB, C]))
    return shapes


def init_std(name):
    # Larger than GPT-2's 0.02 where it matters, so attention is far from uniform, GELU is
    # used beyond its linear region and logits are spread out.
    if name.endswith("c_attn.weight"):
        return 0.2
    if name in ("wte", "wpe", "lm_head.weight") or name.endswith("c_fc.weight"):
        return 0.1
    return 0.02


def init_params(tied):
    """Float32 draws from one seeded generator, then float64. The tied model is the untied one
    without lm_head (drawn last), so the shared parameters are identical in both files."""
    g = torch.Generator().manual_seed(SEED)
    x = torch.randint(0, VOCAB, (B, T), generator=g)
    y = torch.randint(0, VOCAB, (B, T), generator=g)
    params = {}
    for name, shape in param_shapes(tied):
        n = torch.randn(shape, generator=g, dtype=torch.float32)
        if name.endswith(".bias"):
            v = 0.02 * n
        elif ".ln_" in name or name.startswith("ln_"):
            v = 1.0 + 0.1 * n
        else:
            v = init_std(name) * n
        params[name] = v.to(torch.float32).to(torch.float64).requires_grad_(True)
    return x, y, params


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + LN_EPS) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def linear(x, w, b):
    return x @ w.t() + b


def softmax(a):
    e = torch.exp(a - a.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def attention(x, p, pre):
    Bx, Tx, C = x.shape
    hs = C // N_HEAD
    qkv = linear(x, p[pre + "c_attn.weight"], p[pre + "c_attn.bias"])
    q, k, v = qkv.split(C, dim=2)
    q = q.view(Bx, Tx, N_HEAD, hs).transpose(1, 2)
    k = k.view(Bx, Tx, N_HEAD, hs).transpose(1, 2)
    v = v.view(Bx, Tx, N_HEAD, hs).transpose(1, 2)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
    causal = torch.tril(torch.ones(Tx, Tx, dtype=torch.bool))
    att = softmax(att.masked_fill(~causal, float("-inf")))
    y = (att @ v).transpose(1, 2).contiguous().view(Bx, Tx, C)
    return linear(y, p[pre + "c_proj.weight"], p[pre + "c_proj.bias"]), att


def forward(p, x, y, tied):
    """Returns (logits, loss, attention probabilities of every layer)."""
    Tx = x.shape[1]
    h = p["wte"][x] + p["wpe"][torch.arange(Tx)]
    atts = []
    for i in range(N_LAYER):
        pre = f"h.{i}."
        a, att = attention(layer_norm(h, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"]), p, pre + "attn.")
        atts.append(att)
        h = h + a
        m = layer_norm(h, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"])
        m = gelu_tanh(linear(m, p[pre + "mlp.c_fc.weight"], p[pre + "mlp.c_fc.bias"]))
        h = h + linear(m, p[pre + "mlp.c_proj.weight"], p[pre + "mlp.c_proj.bias"])
    h = layer_norm(h, p["ln_f.weight"], p["ln_f.bias"])
    logits = h @ (p["wte"] if tied else p["lm_head.weight"]).t()
    flat = logits.view(-1, logits.shape[-1])
    shifted = flat - flat.max(-1, keepdim=True).values
    logp = shifted - torch.log(torch.exp(shifted).sum(-1, keepdim=True))
    loss = -logp.gather(1, y.view(-1, 1)).mean()
    return logits, loss, atts


def reference_forward(p, x, y, tied):
    """The same model with torch's functional ops, used only to cross-check forward()."""
    C, hs = N_EMBD, N_EMBD // N_HEAD
    h = F.embedding(x, p["wte"]) + p["wpe"][: x.shape[1]]
    for i in range(N_LAYER):
        pre = f"h.{i}."
        a = F.linear(F.layer_norm(h, (C,), p[pre + "ln_1.weight"], p[pre + "ln_1.bias"], LN_EPS),
                     p[pre + "attn.c_attn.weight"], p[pre + "attn.c_attn.bias"])
        q, k, v = (t.reshape(B, -1, N_HEAD, hs).transpose(1, 2) for t in a.chunk(3, dim=-1))
        mask = torch.full((x.shape[1], x.shape[1]), float("-inf"), dtype=h.dtype).triu(1)
        att = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(hs) + mask, dim=-1)
        a = (att @ v).transpose(1, 2).reshape(B, -1, C)
        h = h + F.linear(a, p[pre + "attn.c_proj.weight"], p[pre + "attn.c_proj.bias"])
        m = F.layer_norm(h, (C,), p[pre + "ln_2.weight"], p[pre + "ln_2.bias"], LN_EPS)
        m = F.gelu(F.linear(m, p[pre + "mlp.c_fc.weight"], p[pre + "mlp.c_fc.bias"]), approximate="tanh")
        h = h + F.linear(m, p[pre + "mlp.c_proj.weight"], p[pre + "mlp.c_proj.bias"])
    h = F.layer_norm(h, (C,), p["ln_f.weight"], p["ln_f.bias"], LN_EPS)
    logits = F.linear(h, p["wte"] if tied else p["lm_head.weight"])
    return logits, F.cross_entropy(logits.view(-1, VOCAB), y.view(-1))


def adamw_step(p, grads, state, t):
    """One AdamW update in place, PyTorch's formula, weight decay only on >=2-dim tensors."""
    bc1 = 1.0 - BETA1 ** t
    bc2 = 1.0 - BETA2 ** t
    with torch.no_grad():
        for name, w in p.items():
            g = grads[name]
            m, v = state.setdefault(name, (torch.zeros_like(w), torch.zeros_like(w)))
            if w.dim() >= 2:
                w.mul_(1.0 - LR * WEIGHT_DECAY)
            m.mul_(BETA1).add_(g, alpha=1.0 - BETA1)
            v.mul_(BETA2).addcmul_(g, g, value=1.0 - BETA2)
            w.sub_((LR / bc1) * m / (v.sqrt() / math.sqrt(bc2) + EPS))


def clip(grads):
    """clip_grad_norm_: returns the pre-clip global norm and whether clipping happened."""
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values())).item()
    coef = MAX_NORM / (norm + 1e-6)
    if coef < 1.0:
        for g in grads.values():
            g.mul_(coef)
    return norm, coef < 1.0


def train(tied):
    x, y, p = init_params(tied)
    out = {name: w.detach().clone() for name, w in p.items()}
    out["x"], out["y"] = x.to(torch.int32), y.to(torch.int32)

    ref = {n: w.detach().clone().requires_grad_(True) for n, w in p.items()}
    ref_opt = torch.optim.AdamW(
        [{"params": [w for w in ref.values() if w.dim() >= 2], "weight_decay": WEIGHT_DECAY},
         {"params": [w for w in ref.values() if w.dim() < 2], "weight_decay": 0.0}],
        lr=LR, betas=(BETA1, BETA2), eps=EPS)

    state, losses, norms, clipped = {}, [], [], 0
    for t in range(1, STEPS + 1):
        logits, loss, atts = forward(p, x, y, tied)
        grads = dict(zip(p, torch.autograd.grad(loss, list(p.values()))))
        ref_logits, ref_loss = reference_forward(ref, x, y, tied)
        assert torch.allclose(logits, ref_logits, rtol=0, atol=1e-12), "forward disagrees with torch ops"
        ref_opt.zero_grad()
        ref_loss.backward()
        for n in p:
            assert torch.allclose(grads[n], ref[n].grad, rtol=0, atol=1e-12), f"grad {n} disagrees"
        if t == 1:
            out["logits"], out["loss"] = logits.detach(), loss.detach()
            for n, g in grads.items():
                out["grad." + n] = g.clone()
            peak = max(a[..., 2:, :].max(-1).values.mean().item() for a in atts)
            assert peak > 0.5, f"attention is close to uniform (mean peak {peak:.3f})"
        losses.append(loss.item())
        norm, did_clip = clip(grads)
        ref_norm = torch.nn.utils.clip_grad_norm_(list(ref.values()), MAX_NORM).item()
        assert abs(norm - ref_norm) < 1e-12 * norm
        norms.append(norm)
        clipped += did_clip
        adamw_step(p, grads, state, t)
        ref_opt.step()
        for n in p:
            # 1e-10, not 1e-12: the key slice of c_attn.bias has exactly zero true gradient
            # (softmax ignores a per-query shift), so its gradient is roundoff that AdamW scales
            # up by 1/eps, and the two AdamW's operation orders differ there by ~1e-12.
            assert torch.allclose(p[n], ref[n], rtol=0, atol=1e-10), f"AdamW step {t} disagrees on {n}"
        if t in (1, STEPS):
            for n, w in p.items():
                out[f"step{t}.{n}"] = w.detach().clone()
    assert clipped >= 1, f"gradient clipping never triggered (norms {norms}, max_norm {MAX_NORM})"
    out["losses"] = torch.tensor(losses, dtype=torch.float64)
    out["grad_norms"] = torch.tensor(norms, dtype=torch.float64)
    return out, losses, norms, clipped


def metadata(tied):
    meta = dict(n_layer=N_LAYER, n_head=N_HEAD, n_embd=N_EMBD, block_size=BLOCK_SIZE,
                vocab_size=VOCAB, tied=str(tied).lower(), lr=LR, beta1=BETA1, beta2=BETA2, eps=EPS,
                weight_decay=WEIGHT_DECAY, max_norm=MAX_NORM, steps=STEPS, B=B, T=T, seed=SEED,
                ln_eps=LN_EPS, gelu="tanh", reference_dtype="float64",
                torch_version=torch.__version__, generator="tools/gen_gpt2_fixture.py")
    return {k: str(v) for k, v in meta.items()}


def write_safetensors(path, tensors, meta):
    """safetensors by hand: u64 LE header length, JSON header padded with spaces to a multiple
    of 8, then the raw little-endian data. Float tensors become F32, int tensors I32."""
    header, chunks, offset = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        flat = t.detach().reshape(-1).tolist()
        if t.dtype.is_floating_point:
            dtype, data = "F32", struct.pack(f"<{len(flat)}f", *flat)
        else:
            dtype, data = "I32", struct.pack(f"<{len(flat)}i", *flat)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def main():
    torch.manual_seed(SEED)
    for tied in (True, False):
        out, losses, norms, clipped = train(tied)
        path = f"{OUT_DIR}/gpt2_tiny_{'tied' if tied else 'untied'}.safetensors"
        write_safetensors(path, out, metadata(tied))
        print(f"{path}: losses {[round(v, 6) for v in losses]}, grad norms "
              f"{[round(v, 6) for v in norms]}, clipped {clipped}/{STEPS}")


if __name__ == "__main__":
    main()
