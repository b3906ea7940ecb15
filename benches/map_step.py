"""PyTorch eager twin of `lcm bench step`: the same MAP step on the same weights.

    python benches/map_step.py MODEL.safetensors --tiles 16 --steps 20 [--device cuda]
"""
import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
from reference import generator, laplacian_l1  # noqa: E402


def latent_batched(cfg, noise, phi):
    """All rows of phi in one grouped convolution per layer, as lcm does."""
    n, x, off, cin = phi.shape[0], noise.repeat(1, phi.shape[0], 1, 1), 0, cfg["noise_channels"]
    for i, cout in enumerate(cfg["latent_channels"]):
        k = cout * cin * 9
        x = F.conv2d(x, phi[:, off:off + k].reshape(n * cout, cin, 3, 3), groups=n)
        off += k
        if i < len(cfg["latent_channels"]) - 1:
            var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
            gamma = phi[:, off:off + cout].reshape(1, n * cout, 1, 1)
            beta = phi[:, off + cout:off + 2 * cout].reshape(1, n * cout, 1, 1)
            off += 2 * cout
            x = (x - mean) / torch.sqrt(var + 1e-5) * gamma + beta
        x = F.leaky_relu(x, 0.2)
        cin = cout
    return x.reshape(n, cin, x.shape[2], x.shape[3])


def lanczos_matrix(n_in, n_out):
    scale = n_in / n_out
    support = 3 * max(scale, 1)
    m = torch.zeros(n_out, n_in)
    sinc = lambda v: 1.0 if v == 0 else math.sin(math.pi * v) / (math.pi * v)
    for i in range(n_out):
        c = (i + 0.5) * scale
        lo, hi = max(int(math.floor(c - support + 0.5)), 0), min(int(math.floor(c + support + 0.5)), n_in)
        w = [sinc(v) * sinc(v / 3) if abs(v) < 3 else 0.0 for v in ((j - c + 0.5) / max(scale, 1) for j in range(lo, hi))]
        for j, wj in zip(range(lo, hi), w):
            m[i, j] = wj / sum(w)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    with safe_open(args.model, "pt") as f:
        cfg = json.loads(f.metadata()["config"])
        t = {k: f.get_tensor(k).float().to(dev) for k in f.keys()}
    s, n = cfg["image_size"], args.tiles
    down = lanczos_matrix(s, s // 4).to(dev)
    y = torch.rand(n, 3, s // 4, s // 4, device=dev)
    # φ as lcm initialises it: conv weights in the box, BatchNorm affine (1, 0); bounds per entry.
    sizes, upper, cin = [], [], cfg["noise_channels"]
    for i, cout in enumerate(cfg["latent_channels"]):
        upper += [cfg["phi_bound"]] * (cout * cin * 9)
        if i < len(cfg["latent_channels"]) - 1:
            upper += [math.inf] * (2 * cout)
        cin = cout
    upper = torch.tensor(upper, device=dev)
    scale = torch.where(upper.isfinite(), upper, torch.ones_like(upper))
    phi = ((torch.rand(n, upper.numel(), device=dev) * 2 - 1) * cfg["phi_bound"]).where(upper.isfinite(), torch.ones_like(upper))
    phi.requires_grad_(True)
    m, v = torch.zeros_like(phi), torch.zeros_like(phi)
    times = []
    for step in range(1, args.steps + 4):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        x = generator(cfg, t, latent_batched(cfg, t["noise"], phi), train=False)
        d = down @ x @ down.T - y
        loss = (laplacian_l1(d) + d.pow(2).mean(dim=(1, 2, 3))).sum()
        (g,) = torch.autograd.grad(loss, [phi])
        with torch.no_grad():
            m.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            upd = (m / (1 - 0.9 ** step)) / ((v / (1 - 0.999 ** step)).sqrt() + 1e-8) * 0.05 * scale
            phi.sub_(upd)
            phi.copy_(torch.maximum(torch.minimum(phi, upper), -upper))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if step > 3:
            times.append(time.perf_counter() - t0)
    print(f"| pytorch eager | {cfg['preset']} | {n} | {statistics.median(times) * 1e3:.2f} | |")


if __name__ == "__main__":
    main()
