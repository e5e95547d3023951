# Persistent PyTorch side of `npm run bench -- train-step` (bench/torch-step.ts drives it).
#
#   python3 bench/torch_step.py PKG_DIR INIT_CHECKPOINT_DIR
#
# PKG_DIR is a package of `sdmoec compile --target torch` (runtime/targets/torch.ts); its train.py
# is imported as a module, so the model, AdamW, clipping, schedule and the port of sdmoec's
# BatchSampler are the package's own. The parameters are loaded from INIT_CHECKPOINT_DIR (the
# WebGPU session's initial values written as an sdmoec checkpoint), so both engines start from the
# same values and step s sees the same batch in both.
#
# Protocol (one JSON object per line on stdout, commands one per line on stdin):
#   start-up            -> {"ready": true, "torch": ..., "blas": ..., "defaultThreads": n}
#   "run THREADS COUNT SECONDS" -> {"threads": torch.get_num_threads(), "steps": [...], "ms": [...], "loss": [...]}
#                          COUNT steps, or fewer (at least one) once SECONDS have passed
#   "quit"              -> exits
# Keeping one process alive lets the bench alternate WebGPU and torch blocks without paying
# torch's import (10-15 s under load) per block.
#
# A timed step is the body of train.py's `run` loop for one rank, without its logging, evaluation,
# checkpoints and SD re-basing (the WebGPU side times writing the inputs, the run and reading loss and grad norm back): zero the gradients,
# forward, backward, the loss values and the global gradient norm on the CPU, the clip scale and
# AdamW (parameters updated). The batch is drawn before the timer starts, as on the WebGPU side.
import json
import math
import os
import re
import sys
import time

pkg, init_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, pkg)
import torch  # noqa: E402
import train as T  # noqa: E402  (the package's train.py; it imports its model.py)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    args = T.parse_args(["--init", "torch"])
    args.device = "cpu"
    args.threads = torch.get_num_threads()
    layout = T.layout_for(args, 1, 0)
    torch.manual_seed(T.SEED)
    tr = T.Trainer(args, layout)
    ck = T.latest_checkpoint(init_dir)
    tr.load(T.read_safetensors(os.path.join(ck, "model.safetensors")), False, ck)
    tokens = T.read_token_stream(os.path.join(pkg, "data", "train.bin"))
    sampler = T.BatchSampler(tokens, T.SEQ_LEN, T.BATCH, T.SEED)
    blas = (re.findall(r"BLAS_INFO=(\w+)", torch.__config__.show()) or ["?"])[0]
    # Debian's torch links the generic libblas.so.3; the alternatives system picks the library.
    lib = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
    if blas == "generic" and os.path.exists(lib):
        blas = "generic BLAS -> " + os.path.basename(os.path.dirname(os.path.realpath(lib))) + "/" + os.path.basename(os.path.realpath(lib))
    emit({"ready": True, "torch": torch.__version__, "blas": blas, "defaultThreads": torch.get_num_threads()})
    step = 0
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return
        if words[0] != "run" or len(words) != 4:
            emit({"error": "unknown command %r" % line.strip()})
            continue
        torch.set_num_threads(int(words[1]))
        steps, ms, losses = [], [], []
        deadline = time.perf_counter() + float(words[3])
        for _ in range(int(words[2])):
            if steps and time.perf_counter() > deadline:
                break
            step += 1
            inputs, targets = sampler.next()
            lr = T.learning_rate(step, T.STEPS)
            t0 = time.perf_counter()
            for _, p in tr.trainable:
                p.grad = None
            contributions, _stats = tr.model(inputs, targets)
            sum(contributions.values()).backward()
            for _, p in tr.trainable:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            values = {k: float(v.detach()) for k, v in contributions.items()}
            norm = tr.grad_norm()
            clip = min(1.0, T.CLIP_GRAD / (norm + 1e-6)) if T.CLIP_GRAD > 0 else 1.0
            tr.adamw(step, lr, clip)
            ms.append(1000 * (time.perf_counter() - t0))
            ce = values["ce"]
            if not (math.isfinite(ce) and math.isfinite(norm)):
                emit({"error": "non-finite loss %s or gradient norm %s at step %d" % (ce, norm, step)})
                return
            steps.append(step)
            losses.append(ce)
        emit({"threads": torch.get_num_threads(), "steps": steps, "ms": ms, "loss": losses})


if __name__ == "__main__":
    main()
