"""Independent PyTorch reference of lcm's model, loss and Lanczos operator.

Reads a safetensors file written by the Rust tests (model tensors, `phi`, `residual`, `photo`
and the model config in the metadata), computes the same quantities with plain PyTorch / PIL and
writes them to the output file for comparison:

    python reference.py IN.safetensors OUT.safetensors
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

SLOPE = 0.2
EPS = 1e-5


def latent(cfg, t, noise, phi):
    """z = f_phi(s) for every row of phi, one image at a time (no grouped-conv trick)."""
    zs = []
    for row in phi:
        x, off, cin = noise, 0, cfg["noise_channels"]
        for i, cout in enumerate(cfg["latent_channels"]):
            n = cout * cin * 9
            w = row[off:off + n].reshape(cout, cin, 3, 3)
            off += n
            x = F.conv2d(x, w)
            if i < len(cfg["latent_channels"]) - 1:
                gamma, beta = row[off:off + cout], row[off + cout:off + 2 * cout]
                off += 2 * cout
                x = F.batch_norm(x, None, None, gamma, beta, training=True, eps=EPS)
            x = F.leaky_relu(x, SLOPE)
            cin = cout
        zs.append(x)
    return torch.cat(zs)


def bn(t, name, x, train):
    return F.batch_norm(x, t[name + ".running_mean"].clone(), t[name + ".running_var"].clone(),
                        t[name + ".weight"], t[name + ".bias"], training=train, momentum=0.1, eps=EPS)


def generator(cfg, t, z, train):
    g = lambda k: t["generator." + k]
    skips, x = [z], z
    for i, _ in enumerate(cfg["encoder_channels"]):
        x = F.conv2d(x, g(f"encoder.{i}.conv.weight"), stride=2, padding=1)
        x = F.leaky_relu(bn(t, f"generator.encoder.{i}.norm", x, train), SLOPE)
        skips.append(x)
    skips.pop()
    for i, d in enumerate(cfg["bottleneck_dilations"]):
        x = F.conv2d(x, g(f"bottleneck.{i}.conv.weight"), padding=d, dilation=d, groups=cfg["bottleneck_groups"])
        x = F.leaky_relu(bn(t, f"generator.bottleneck.{i}.norm", x, train), SLOPE)
    for j, _ in enumerate(cfg["decoder_channels"]):
        x = F.conv_transpose2d(x, g(f"decoder.{j}.conv.weight"), stride=2, padding=1)
        x = F.leaky_relu(bn(t, f"generator.decoder.{j}.norm", x, train), SLOPE)
        if skips:
            x = torch.cat([x, skips.pop()], 1)
    s = cfg["image_size"]
    x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
    for i, _ in enumerate(cfg["head_channels"]):
        x = F.conv2d(x, g(f"head.{i}.conv.weight"), padding=1)
        x = F.leaky_relu(bn(t, f"generator.head.{i}.norm", x, train), SLOPE)
    return torch.sigmoid(F.conv2d(x, g("to_rgb.weight"), g("to_rgb.bias"), padding=1))


def laplacian_l1(d, levels=3):
    c = d.shape[1]
    k = torch.tensor([math.exp(-((i - 2) ** 2) / 8.0) for i in range(5)])
    k = k / k.sum()
    k = torch.outer(k, k).expand(c, 1, 5, 5)
    total, w, x = 0.0, 1.0, d
    for _ in range(levels):
        low = F.conv2d(x, k, padding=2, groups=c)
        total = total + w * (x - low).abs().mean(dim=(1, 2, 3))
        x = F.avg_pool2d(low, 2)
        w /= 4
    return total + w * x.abs().mean(dim=(1, 2, 3))


def pil_lanczos_down(image, scale):
    """PIL's antialiased Lanczos resize of a (3, H, W) float image, per channel in float mode."""
    _, h, w = image.shape
    out = []
    for ch in image.numpy():
        im = Image.fromarray(ch.astype(np.float32), mode="F")
        out.append(np.asarray(im.resize((w // scale, h // scale), Image.LANCZOS)))
    return torch.from_numpy(np.stack(out))


def main(src, dst):
    with safe_open(src, "pt") as f:
        meta = f.metadata()
        t = {k: f.get_tensor(k).float() for k in f.keys()}
    cfg = json.loads(meta["config"])
    out = {}
    with torch.no_grad():
        z = latent(cfg, t, t["noise"], t["phi"])
        out["latent"] = z
        out["render_eval"] = generator(cfg, t, z, train=False)
        out["render_train"] = generator(cfg, t, z, train=True)
        out["lap_l1"] = laplacian_l1(t["residual"])
        out["mse"] = t["residual"].pow(2).mean(dim=(1, 2, 3))
        for s in (2, 4, 8):
            out[f"pil_down_{s}"] = pil_lanczos_down(t["photo"], s)
    save_file({k: v.contiguous() for k, v in out.items()}, dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
