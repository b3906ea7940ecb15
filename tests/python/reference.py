"""Independent PyTorch reference of lcm's model, loss and Lanczos operator.

Reads a safetensors file written by the Rust tests (model tensors, `phi`, `residual`, `photo`
and the model config in the metadata), computes the same quantities with plain PyTorch / PIL and
writes them to the output file for comparison:

    python reference.py IN.safetensors OUT.safetensors [VGG_LPIPS_WEIGHTS.safetensors]

With the weights, the paper's VGG16 feature distance and LPIPS-VGG of `img_a` vs `img_b` too.
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


def pil_down(image, scale, resample=Image.LANCZOS):
    """PIL's antialiased downscale of a (3, H, W) float image, per channel in float mode."""
    _, h, w = image.shape
    out = []
    for ch in image.numpy():
        im = Image.fromarray(ch.astype(np.float32), mode="F")
        out.append(np.asarray(im.resize((w // scale, h // scale), resample)))
    return torch.from_numpy(np.stack(out))


TAPS = (1, 3, 6, 9, 12)


def vgg_features(w, x):
    feats = []
    for i in range(13):
        x = F.relu(F.conv2d(x, w[f"vgg.{i}.weight"], w[f"vgg.{i}.bias"], padding=1))
        if i in TAPS:
            feats.append(x)
            if i != 12:
                x = F.max_pool2d(x, 2)
    return feats


def vgg_distance(w, a, b, region):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    fa, fb = vgg_features(w, (a - mean) / std), vgg_features(w, (b - mean) / std)
    total = 0.0
    for x, y in zip(fa, fb):
        d = (x - y).pow(2).mean(dim=1, keepdim=True)
        r = F.interpolate(region, size=d.shape[2:], mode="nearest")
        total += ((d * r).sum() / r.sum().clamp(min=1)).item()
    return total / len(fa)


def lpips(w, a, b):
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    norm = lambda t: (t * 2 - 1 - shift) / scale
    fa, fb = vgg_features(w, norm(a)), vgg_features(w, norm(b))
    unit = lambda f: f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
    return sum(F.conv2d((unit(x) - unit(y)).pow(2), w[f"lin.{k}.weight"]).mean() for k, (x, y) in enumerate(zip(fa, fb))).item()


def main(src, dst, weights=None):
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
            out[f"pil_down_{s}"] = pil_down(t["photo"], s)
        out["pil_down_bicubic_4"] = pil_down(t["photo"], 4, Image.BICUBIC)
        out["pil_down_area_4"] = pil_down(t["photo"], 4, Image.BOX)
        if weights:
            with safe_open(weights, "pt") as f:
                w = {k: f.get_tensor(k) for k in f.keys()}
            a, b, region = t["img_a"][None], t["img_b"][None], t["region"][None]
            out["vgg_distance"] = torch.tensor([vgg_distance(w, a, b, region)])
            out["lpips"] = torch.tensor([lpips(w, a, b)])
    save_file({k: v.contiguous() for k, v in out.items()}, dst)


if __name__ == "__main__":
    main(*sys.argv[1:4])
