#!/usr/bin/python3
"""Independent reader of a Hugging Face model directory written by `sdmoec export`.

Written from the documented semantics of transformers' Mixtral and Qwen2-MoE (modeling_mixtral.py,
modeling_qwen2_moe.py: RMSNorm, rotate-half RoPE, grouped-KV causal softmax attention, softmax
router with top-k, Mixtral renormalising always, Qwen2-MoE when norm_topk_prob, SwiGLU experts,
Qwen2-MoE's sigmoid-gated shared expert and mlp_only_layers) with nothing from sdmoec: it reads
config.json and the safetensors files (or the shard index) itself and computes in float64, so a
mismatch in any name, shape, transposition or config field shows as different logits.

  hf_reference.py logits DIR TOKENS.json OUT.f32   tokens [[...], ...] -> logits float32 [B, T, V]
  hf_reference.py encode DIR TEXTS.json OUT.json   tokenizer.json encoder (regex + byte level + BPE)

Exit 3 with an install hint when torch is missing.
"""
import json
import math
import os
import struct
import sys

try:
    import torch
except ImportError:  # pragma: no cover - the vitest side turns this into a failing test
    sys.stderr.write("PyTorch is missing: install it with `apt-get install -y python3-torch libopenblas0-openmp` "
                     "(scripts/setup.sh does this as root)\n")
    sys.exit(3)

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape = info["shape"]
        buf = bytearray(raw[base + begin:base + end])
        if end == begin:
            t = torch.zeros(shape, dtype=torch.float32)
        else:
            t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]).reshape(shape)
        out[name] = t.to(torch.float64)
    return out


def read_weights(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        weights = {}
        for file in sorted(set(weight_map.values())):
            weights.update(read_safetensors(os.path.join(d, file)))
        missing = set(weight_map) - set(weights)
        if missing:
            raise SystemExit(f"index names tensors absent from the shards: {sorted(missing)[:5]}")
        return weights
    return read_safetensors(os.path.join(d, "model.safetensors"))


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, theta):
    # x [B, H, T, hd]; pairs (i, i + hd/2) rotate by position * theta^(-2i/hd)
    hd = x.shape[-1]
    inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(x.shape[2], dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    half = torch.cat([-x[..., hd // 2:], x[..., : hd // 2]], -1)
    return x * cos + half * sin


def linear(x, W, name, b=None):
    y = x @ W[name + ".weight"].T
    if b is not None and name + ".bias" in W:
        y = y + W[name + ".bias"]
    return y


def swiglu_mlp(x, W, p, names=("gate_proj", "up_proj", "down_proj")):
    g, u, d = names
    return linear(torch.nn.functional.silu(linear(x, W, f"{p}.{g}")) * linear(x, W, f"{p}.{u}"), W, f"{p}.{d}")


def attention(x, W, p, c):
    B, T, _ = x.shape
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or c["hidden_size"] // H
    q = linear(x, W, f"{p}.q_proj", True).view(B, T, H, hd).transpose(1, 2)
    k = linear(x, W, f"{p}.k_proj", True).view(B, T, KV, hd).transpose(1, 2)
    v = linear(x, W, f"{p}.v_proj", True).view(B, T, KV, hd).transpose(1, 2)
    q, k = rope(q, c["rope_theta"]), rope(k, c["rope_theta"])
    k = k.repeat_interleave(H // KV, dim=1)
    v = v.repeat_interleave(H // KV, dim=1)
    s = (q @ k.transpose(2, 3)) / math.sqrt(hd)
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, H * hd)
    return linear(o, W, f"{p}.o_proj")


def sparse_block(x, W, p, c, mixtral):
    B, T, D = x.shape
    h = x.reshape(-1, D)
    probs = torch.softmax(linear(h, W, f"{p}.gate"), -1)
    k = c["num_experts_per_tok"]
    # top-k with ties to the lower index (stable descending sort)
    order = torch.sort(probs, dim=-1, descending=True, stable=True).indices[:, :k]
    w = probs.gather(1, order)
    if mixtral or c.get("norm_topk_prob", False):
        w = w / w.sum(-1, keepdim=True)
    E = c["num_local_experts"] if mixtral else c["num_experts"]
    names = ("w1", "w3", "w2") if mixtral else ("gate_proj", "up_proj", "down_proj")
    out = torch.zeros_like(h)
    for e in range(E):
        rows, slot = torch.where(order == e)
        if len(rows):
            out[rows] += swiglu_mlp(h[rows], W, f"{p}.experts.{e}", names) * w[rows, slot, None]
    if not mixtral:
        out = out + torch.sigmoid(linear(h, W, f"{p}.shared_expert_gate")) * swiglu_mlp(h, W, f"{p}.shared_expert")
    return out.view(B, T, D)


def forward(d, tokens):
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    mixtral = c["model_type"] == "mixtral"
    if c["model_type"] not in ("mixtral", "qwen2_moe"):
        raise SystemExit(f"unsupported model_type {c['model_type']}")
    W = read_weights(d)
    eps = c["rms_norm_eps"]
    x = W["model.embed_tokens.weight"][torch.tensor(tokens)]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}"
        x = x + attention(rms_norm(x, W[f"{p}.input_layernorm.weight"], eps), W, f"{p}.self_attn", c)
        h = rms_norm(x, W[f"{p}.post_attention_layernorm.weight"], eps)
        if mixtral:
            x = x + sparse_block(h, W, f"{p}.block_sparse_moe", c, True)
        elif i not in c.get("mlp_only_layers", []) and c["num_experts"] > 0 and (i + 1) % c.get("decoder_sparse_step", 1) == 0:
            x = x + sparse_block(h, W, f"{p}.mlp", c, False)
        else:
            x = x + swiglu_mlp(h, W, f"{p}.mlp")
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ head.T


# --- tokenizer.json -------------------------------------------------------------------------------

def encode_texts(d, texts):
    import regex  # Debian python3-regex: \p{L} / \p{N} like Oniguruma and V8
    with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    pre = tj["pre_tokenizer"]
    assert pre["type"] == "Sequence" and pre["pretokenizers"][0]["type"] == "Split" and pre["pretokenizers"][1]["type"] == "ByteLevel"
    pattern = regex.compile(pre["pretokenizers"][0]["pattern"]["Regex"])
    model = tj["model"]
    vocab = model["vocab"]
    ranks = {tuple(m.split(" ")): r for r, m in enumerate(model["merges"])}
    # GPT-2's byte -> character table, as tokenizers' ByteLevel documents it
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    specials = {t["content"]: t["id"] for t in tj["added_tokens"]}

    def bpe(word):
        syms = [table[b] for b in word.encode("utf-8")]
        while len(syms) > 1:
            best = min(((ranks.get((syms[i], syms[i + 1]), math.inf), i) for i in range(len(syms) - 1)))
            if best[0] == math.inf:
                break
            pair = (syms[best[1]], syms[best[1] + 1])
            merged, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == pair:
                    merged.append(syms[i] + syms[i + 1])
                    i += 2
                else:
                    merged.append(syms[i])
                    i += 1
            syms = merged
        return [vocab[s] for s in syms]

    def encode(text):
        ids = []
        # added tokens are split out first, as tokenizers does
        parts = [text]
        for s in specials:
            parts = [q for part in parts for q in _split_keep(part, s)]
        for part in parts:
            if part in specials:
                ids.append(specials[part])
                continue
            for word in pattern.findall(part):
                ids.extend(bpe(word))
        return ids

    return [encode(t) for t in texts]


def _split_keep(text, sep):
    if sep not in text:
        return [text]
    out = []
    for i, piece in enumerate(text.split(sep)):
        if i:
            out.append(sep)
        if piece:
            out.append(piece)
    return out


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("logits", "encode"):
        raise SystemExit(__doc__)
    mode, d, src, dst = sys.argv[1:]
    with open(src, encoding="utf-8") as f:
        data = json.load(f)
    if mode == "logits":
        torch.set_grad_enabled(False)
        logits = forward(d, data).to(torch.float32).contiguous()
        with open(dst, "wb") as f:
            f.write(logits.numpy().tobytes() if hasattr(logits, "numpy") else bytes(logits.untyped_storage()))
    else:
        with open(dst, "w") as f:
            json.dump(encode_texts(d, data), f)


if __name__ == "__main__":
    main()
