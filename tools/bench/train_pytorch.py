#!/usr/bin/python3
"""PyTorch counterpart of `jgpt bench train`: a nanoGPT-style GPT-2 trained on random tokens.

    train_pytorch.py CONFIG.json [--vocab 50257] [--batch-size B] [--seq-len T] [--steps N]
                     [--warmup W] [--threads K] [--label TEXT]

Same model as jgpt (pre-LN blocks, tied wte/lm_head, tanh GELU, biases as the config says), fp32,
AdamW (foreach=False: torch 1.13 has no fused AdamW on CPU) with betas/eps/weight decay from the
config and decay on 2-D weights only, clip_grad_norm_ to grad_clip. Times forward, backward
(zero_grad + loss.backward) and optimizer (clip + step) per step after W untimed warm-up steps;
reports the fastest step and the mean like jgpt, FLOPs per token as nanoGPT's estimate_mfu
(6N + 12*L*C*T, N = parameters without wpe), peak RSS (ru_maxrss), and one JSON line at the end.
"""
import argparse
import json
import math
import os
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, C, nh, bias):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.c_proj = nn.Linear(C, C, bias=bias)
        self.nh = nh

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.nh, C // self.nh).transpose(1, 2)
        k = k.view(B, T, self.nh, C // self.nh).transpose(1, 2)
        v = v.view(B, T, self.nh, C // self.nh).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, C, nh, bias):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, elementwise_affine=True)
        self.attn = CausalSelfAttention(C, nh, bias)
        self.ln_2 = nn.LayerNorm(C, elementwise_affine=True)
        self.c_fc = nn.Linear(C, 4 * C, bias=bias)
        self.c_proj = nn.Linear(4 * C, C, bias=bias)
        if not bias:
            self.ln_1.bias = None
            self.ln_2.bias = None

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, V, block, L, nh, C, bias, tied):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(block, C)
        self.h = nn.ModuleList([Block(C, nh, bias) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)
        if not bias:
            self.ln_f.bias = None
        self.lm_head = nn.Linear(C, V, bias=False)
        if tied:
            self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        B, T = idx.size()
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def load_config(path):
    defaults = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128, "bias": True, "tied": True,
                "batch_size": 32, "seq_len": 0, "lr": 1e-3, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95,
                "grad_clip": 1.0, "seed": 1337}
    with open(path) as f:
        defaults.update(json.load(f))
    return defaults


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--seq-len", type=int)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--label", default="pytorch")
    a = ap.parse_args()
    c = load_config(a.config)
    B = a.batch_size or c["batch_size"]
    T = a.seq_len or c["seq_len"] or c["block_size"]
    torch.set_num_threads(a.threads)
    torch.manual_seed(c["seed"])
    L, nh, C = c["n_layer"], c["n_head"], c["n_embd"]
    model = GPT(a.vocab, c["block_size"], L, nh, C, c["bias"], c["tied"])
    params = [p for p in model.parameters()]
    n_all = sum(p.numel() for p in params)
    n = n_all - model.wpe.weight.numel()
    flops_per_token = 6 * n + 12 * L * C * T
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": c["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=1e-8, foreach=False)
    print(f"pytorch {torch.__version__} ({a.label}): {L} layers, {nh} heads, {C} dims, vocab {a.vocab}, "
          f"{n_all:,} parameters ({n:,} without wpe), B={B} T={T}, threads={torch.get_num_threads()}, "
          f"{a.warmup} warm-up + {a.steps} timed steps", flush=True)
    g = torch.Generator().manual_seed(1)
    fwd, bwd, optt, losses = [], [], [], []
    for s in range(a.warmup + a.steps):
        tok = torch.randint(0, a.vocab, (B, T + 1), generator=g)
        x, y = tok[:, :T].contiguous(), tok[:, 1:].contiguous()
        t0 = time.perf_counter()
        loss = model(x, y)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        if c["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, c["grad_clip"])
        opt.step()
        t3 = time.perf_counter()
        if s >= a.warmup:
            fwd.append((t1 - t0) * 1e3)
            bwd.append((t2 - t1) * 1e3)
            optt.append((t3 - t2) * 1e3)
            losses.append(loss.item())
    total = [f + b + o for f, b, o in zip(fwd, bwd, optt)]
    best = min(range(len(total)), key=lambda i: total[i])
    mean = lambda v: sum(v) / len(v)
    tok_s = B * T / (total[best] / 1e3)
    mean_tok_s = B * T / (mean(total) / 1e3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"loss {losses[0]:.4f} (first timed step) -> {losses[-1]:.4f} (last)")
    print(f"best step:  {total[best]:8.1f} ms = forward {fwd[best]:.1f} + backward {bwd[best]:.1f} + optimizer {optt[best]:.1f}")
    print(f"mean step:  {mean(total):8.1f} ms = forward {mean(fwd):.1f} + backward {mean(bwd):.1f} + optimizer {mean(optt):.1f}")
    print(f"tokens/s:   {tok_s:8.1f} best, {mean_tok_s:.1f} mean")
    print(f"FLOPs/token {flops_per_token:,}; achieved {flops_per_token * tok_s / 1e9:.1f} GFLOPS (best step)")
    print(f"peak RSS:   {rss / 2**30:.2f} GiB (ru_maxrss); load average {load}")
    print(json.dumps({"bench": "train", "impl": "pytorch", "label": a.label, "torch": torch.__version__,
                      "n_layer": L, "n_head": nh, "n_embd": C, "vocab": a.vocab, "batch_size": B, "seq_len": T,
                      "threads": torch.get_num_threads(), "warmup": a.warmup, "steps": a.steps,
                      "params": n_all, "params_no_wpe": n, "ms_per_step": total[best], "forward_ms": fwd[best],
                      "backward_ms": bwd[best], "optimizer_ms": optt[best], "mean_ms_per_step": mean(total),
                      "tokens_per_s": tok_s, "mean_tokens_per_s": mean_tok_s, "flops_per_token": flops_per_token,
                      "gflops": flops_per_token * tok_s / 1e9, "peak_rss_bytes": rss, "load_end": load}))


if __name__ == "__main__":
    main()
