"""Benchmark 18: the elements as a user runs them — `gst-launch-1.0` at their defaults — on
segments of clips that no training run and no tuning choice saw, with the damage made here
(not by lcm), beside what users run instead. Driven by benches/gst-heldout.sh.

Damage, independent of lcm's own generator (src/clip_eval.rs):
- rect: a static hole, ¼ × ¼ of the frame at its centre (`--rect` changes its size and place),
  given to lcminpaint as `mask-rect`;
- dirt: old-film dirt (REFERENCE.md's recipe, drawn differently from lcm's): 1–2 vertical
  scratches 1–3 px wide moving 5–15 px a frame, 3–7 irregular blotches (unions of 2–4 discs)
  and up to 2 hairs at new places each frame, given as alpha 0 in RGBA frames;
- x4 (and x2): the frames downscaled ×4 (×2) with PIL's (antialiased) Lanczos, the paper's degradation
  (`--downscale bicubic` or `area` for footage made smaller otherwise: lcm is then also run
  told so, as `lcm-told`, with the element's `downscale` property);
- colorize: the frames turned gray here (OpenCV's BT.601 luma, 8 bits) and given to lcmcolorize
  as GRAY8 PNGs; the gray copy is that same gray. (videoconvert's own RGB → GRAY8 rounds
  differently, 0.3 levels darker on average, so converting there scored the element's input
  against a gray it never saw.)
- hints10, hints100: colorize with 10 or 100 true-colour pixels per frame at random places,
  given in RGBA frames (alpha 255 on a hint, 0 elsewhere; RGB the gray elsewhere), as an
  archivist marks a few known colours; keyhints10, keyhints100: on the first frame only, as one
  marks a shot's first frame; the gray copy is the same gray.

Scores as `lcm eval --clip` computes them: PSNR (inpainting: on the missing pixels), LPIPS-VGG
(rect: a box 16 px around the hole) with the project's weights, temporal error
|Δoutput − Δtruth| between consecutive frames, and the element's seconds per frame (gst-launch's
wall time over the frames, model loading included). `LCM_PLUGIN_DIR` runs another build's plugin
(default target/release).
"""
import argparse, json, os, subprocess, sys, time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Lpips:
    """LPIPS-VGG v0.1 exactly as src/metrics.rs computes it (same weights file)."""

    TAPS = (1, 3, 6, 9, 12)

    def __init__(self, path):
        self.w = {k: v.float() for k, v in load_file(path).items()}
        self.shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
        self.scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def features(self, x):
        taps = []
        for i in range(13):
            x = F.relu(F.conv2d(x, self.w[f'vgg.{i}.weight'], self.w[f'vgg.{i}.bias'], padding=1))
            if i in self.TAPS:
                taps.append(x)
                if i != 12:
                    x = F.max_pool2d(x, 2)
        return taps

    @torch.no_grad()
    def __call__(self, a, b):  # RGB float arrays (H, W, 3) in [0, 1]
        norm = lambda z: ((torch.from_numpy(np.ascontiguousarray(z)).float().permute(2, 0, 1)[None] * 2 - 1) - self.shift) / self.scale
        unit = lambda f: f / (f.square().sum(1, keepdim=True).sqrt() + 1e-10)
        total = 0.0
        for k, (x, y) in enumerate(zip(self.features(norm(a)), self.features(norm(b)))):
            total += float(F.conv2d((unit(x) - unit(y)).square(), self.w[f'lin.{k}.weight']).mean())
        return total


def read_frames(video, first, count, size, crop=False):
    """`count` consecutive RGB frames from `first`, area-scaled to `size` (w, h) or, with `crop`,
    their centred `size` crop at the native resolution, in [0, 1]."""
    cap = cv2.VideoCapture(video)
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    frames = []
    w, h = size
    for _ in range(count):
        ok, bgr = cap.read()
        if not ok:
            sys.exit(f'{video}: fewer than {first + count} frames')
        if crop:
            y, x = (bgr.shape[0] - h) // 2, (bgr.shape[1] - w) // 2
            if y < 0 or x < 0:
                sys.exit(f'{video}: frames smaller than the {w}x{h} crop')
            frame = bgr[y:y + h, x:x + w]
        else:
            frame = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        frames.append(frame[..., ::-1] / 255.0)
    return frames


def to8(rgb):
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def write_png(path, rgb_or_rgba):
    a = rgb_or_rgba
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGBA2BGRA if a.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    cv2.imwrite(path, a)


def read_pngs(folder):
    return [cv2.imread(os.path.join(folder, f))[..., ::-1] / 255.0 for f in sorted(os.listdir(folder))]


def dirt_masks(count, h, w, seed):
    rng = np.random.default_rng(seed)
    scratches = [(rng.uniform(0.1, 0.9) * w, int(rng.integers(1, 4)), rng.uniform(5, 15) * rng.choice([-1, 1]))
                 for _ in range(rng.integers(1, 3))]
    masks = []
    for t in range(count):
        m = np.zeros((h, w), np.uint8)
        for x0, width, speed in scratches:
            x = int(x0 + speed * t) % w
            y0, y1 = sorted(rng.integers(0, h, 2))
            m[min(y0, h // 4):max(y1, 3 * h // 4), x:x + width] = 255
        for _ in range(rng.integers(3, 8)):
            cy, cx = rng.integers(0, h), rng.integers(0, w)
            for _ in range(rng.integers(2, 5)):
                r = int(rng.integers(3, 13) * min(h, w) / 360 + 1)
                cv2.circle(m, (int(cx + rng.integers(-6, 7)), int(cy + rng.integers(-6, 7))), r, 255, -1)
        for _ in range(rng.integers(0, 3)):
            pts = np.cumsum(rng.normal(0, 4, (12, 2)), 0) + [rng.integers(0, w), rng.integers(0, h)]
            cv2.polylines(m, [pts.astype(np.int32)], False, 255, 1)
        masks.append(m > 0)
    return masks


# The rect hole's side as a fraction of the frame's, and its centre as fractions of the frame.
CENTRED_QUARTER = (0.25, 0.5, 0.5)


def placed_rect(h, w, geometry=CENTRED_QUARTER):
    """The rect hole (x, y, width, height) for a frame `h` × `w`, kept inside the frame."""
    size, cx, cy = geometry
    rw, rh = int(w * size), int(h * size)
    return min(max(int(cx * w - rw / 2), 0), w - rw), min(max(int(cy * h - rh / 2), 0), h - rh), rw, rh


def gst(pipeline, frames):
    """Runs one gst-launch-1.0 pipeline; seconds per frame."""
    env = dict(os.environ, GST_PLUGIN_PATH=os.environ.get('LCM_PLUGIN_DIR', os.path.join(ROOT, 'target', 'release')))
    start = time.time()
    subprocess.run(['gst-launch-1.0', '-q', *pipeline.split()], check=True, env=env)
    return (time.time() - start) / frames


def through(element, src_dir, out_dir, count, fmt, caps_out='RGB'):
    os.makedirs(out_dir, exist_ok=True)
    return gst(f'multifilesrc location={src_dir}/%04d.png stop-index={count - 1} caps=image/png,framerate=25/1 ! pngdec '
               f'! videoconvert ! video/x-raw,format={fmt} ! {element} ! videoconvert ! video/x-raw,format={caps_out} '
               f'! pngenc ! multifilesink location={out_dir}/%04d.png', count)


def inpaint_cv(frames, masks, flag):
    out = []
    for f, m in zip(frames, masks):
        d = to8(f)
        d[m] = 0
        out.append(cv2.inpaint(d, m.astype(np.uint8) * 255, 3, flag) / 255.0)
    return out


def temporal_hold(frames, masks):
    """Each missing pixel from the nearest frame (±1, ±2) that shows it; Telea where none does."""
    out = []
    for t, (f, m) in enumerate(zip(frames, masks)):
        o, left = f.copy(), m.copy()
        for k in (1, -1, 2, -2):
            if 0 <= t + k < len(frames):
                take = left & ~masks[t + k]
                o[take] = frames[t + k][take]
                left &= ~take
        d = to8(o)
        out.append(cv2.inpaint(d, left.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA) / 255.0 if left.any() else d / 255.0)
    return out


def pil_resize(rgb, size, how):
    return np.asarray(Image.fromarray(to8(rgb)).resize(size, how)) / 255.0


def back_projection(lr, size, iterations=20):
    """Classical iterative back-projection from a Lanczos upscale (PIL Lanczos both ways), as
    the 8-bit frame a user's pipeline carries, like every other output scored here (on flat
    footage near 47 dB the rounding alone costs 0.2 dB)."""
    f = lambda a, s: np.asarray(Image.fromarray(a.astype(np.float32), 'F').resize(s, Image.LANCZOS))
    lr_size = (lr.shape[1], lr.shape[0])
    x = np.stack([f(lr[..., c], size) for c in range(3)], -1)
    for _ in range(iterations):
        r = lr - np.stack([f(x[..., c], lr_size) for c in range(3)], -1)
        x = x + np.stack([f(r[..., c], size) for c in range(3)], -1)
    return to8(x) / 255.0


def psnr(out, truth, region=None):
    """PSNR over `region` (all pixels if None), capped at 120 dB as lcm's `metrics::psnr` is."""
    err = np.square(out - truth)
    return 10 * np.log10(1 / max((err if region is None else err[region]).mean(), 1e-12))


def scores(outs, truths, lpips, regions=None, box=None):
    crop = (lambda z: z[box[0]:box[1], box[2]:box[3]]) if box else (lambda z: z)
    return {
        'psnr': float(np.mean([psnr(o, g, r) for o, g, r in zip(outs, truths, regions or [None] * len(outs))])),
        'lpips': float(np.mean([lpips(crop(o), crop(g)) for o, g in zip(outs, truths)])),
        'temporal_error': float(np.mean([np.abs((outs[t + 1] - outs[t]) - (truths[t + 1] - truths[t])).mean()
                                         for t in range(len(outs) - 1)])),
    }


DOWNSCALERS = {'lanczos': Image.LANCZOS, 'bicubic': Image.BICUBIC, 'area': Image.BOX}


def run_case(name, task, truths, work, lpips, seed, downscale='lanczos', rect=CENTRED_QUARTER):
    n = len(truths)
    h, w = truths[0].shape[:2]
    d = os.path.join(work, f'{name}-{task}')
    subprocess.run(['rm', '-rf', d])
    os.makedirs(d + '/in')
    results = {}
    if task in ('rect', 'dirt'):
        if task == 'rect':
            x, y, rw, rh = placed_rect(h, w, rect)
            masks = [np.zeros((h, w), bool) for _ in truths]
            for m in masks:
                m[y:y + rh, x:x + rw] = True
            for t, f in enumerate(truths):
                write_png(f'{d}/in/{t:04d}.png', to8(f))
            spf = through(f'lcminpaint mask-rect={x},{y},{rw},{rh}', d + '/in', d + '/lcm', n, 'RGB')
            box = (max(y - 16, 0), min(y + rh + 16, h), max(x - 16, 0), min(x + rw + 16, w))
        else:
            masks = dirt_masks(n, h, w, seed)
            for t, (f, m) in enumerate(zip(truths, masks)):
                rgba = np.dstack([to8(f), np.where(m, 0, 255).astype(np.uint8)])
                rgba[m, :3] = 0
                write_png(f'{d}/in/{t:04d}.png', rgba)
            spf = through('lcminpaint', d + '/in', d + '/lcm', n, 'RGBA')
            box = None
        regions = [np.repeat(m[..., None], 3, 2) for m in masks]
        outs = {'lcm': read_pngs(d + '/lcm'), 'telea': inpaint_cv(truths, masks, cv2.INPAINT_TELEA),
                'ns': inpaint_cv(truths, masks, cv2.INPAINT_NS)}
        if task == 'dirt':
            outs['hold'] = temporal_hold(truths, masks)
        lcm_known = max(np.abs(o - to8(g) / 255.0)[~r].max() for o, g, r in zip(outs['lcm'], truths, regions))
        for k, o in outs.items():
            results[k] = scores(o, truths, lpips, regions, box)
        results['lcm']['seconds_per_frame'] = spf
        results['lcm']['max_change_outside_damage'] = float(lcm_known)
        damaged = [np.where(r, 0, f) for f, r in zip(truths, regions)]
    elif task in ('x2', 'x4'):
        scale = int(task[1:])
        lr = [pil_resize(f, (w // scale, h // scale), DOWNSCALERS[downscale]) for f in truths]
        truths = [f[:lr[0].shape[0] * scale, :lr[0].shape[1] * scale] for f in truths]
        size = (lr[0].shape[1] * scale, lr[0].shape[0] * scale)
        for t, f in enumerate(lr):
            write_png(f'{d}/in/{t:04d}.png', to8(f))
        spf = through(f'lcmsuperres scale={scale}', d + '/in', d + '/lcm', n, 'RGB')
        outs = {'lcm': read_pngs(d + '/lcm'), 'bicubic': [pil_resize(f, size, Image.BICUBIC) for f in lr],
                'lanczos': [pil_resize(f, size, Image.LANCZOS) for f in lr],
                'lanczos-bp': [back_projection(f, size) for f in lr]}
        if downscale != 'lanczos':  # the element told how the input was made smaller
            through(f'lcmsuperres scale={scale} downscale={downscale}', d + '/in', d + '/lcm-told', n, 'RGB')
            outs['lcm-told'] = read_pngs(d + '/lcm-told')
        for k, o in outs.items():
            results[k] = scores(o, truths, lpips)
        results['lcm']['seconds_per_frame'] = spf
        damaged = outs['lanczos']
    else:
        gray8 = [cv2.cvtColor(to8(f), cv2.COLOR_RGB2GRAY) for f in truths]
        first_only = task.startswith('key')
        hints = int(task.removeprefix('key').removeprefix('hints') or 0) if 'hints' in task else 0
        rng = np.random.default_rng(seed)
        for t, (g, f) in enumerate(zip(gray8, truths)):
            if hints:
                rgba = np.dstack([np.repeat(g[..., None], 3, 2), np.zeros_like(g)])
                count = hints if t == 0 or not first_only else 0
                ys, xs = rng.integers(0, h, count), rng.integers(0, w, count)
                rgba[ys, xs, :3] = to8(f)[ys, xs]
                rgba[ys, xs, 3] = 255
                write_png(f'{d}/in/{t:04d}.png', rgba)
            else:
                write_png(f'{d}/in/{t:04d}.png', g)
        spf = through('lcmcolorize', d + '/in', d + '/lcm', n, 'RGBA' if hints else 'GRAY8')
        gray = [np.repeat((g / 255.0)[..., None], 3, 2) for g in gray8]
        outs = {'lcm': read_pngs(d + '/lcm'), 'gray': gray}
        for k, o in outs.items():
            results[k] = scores(o, truths, lpips)
        results['lcm']['seconds_per_frame'] = spf
        damaged = gray
    mid = n // 2
    grid = np.concatenate([damaged[mid]] + [o[mid] for o in outs.values()] + [truths[mid]], 1)
    write_png(os.path.join(work, f'{name}-{task}.png'), to8(grid))
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--clip', action='append', required=True, help='NAME:VIDEO:FIRST:WxH[:TASKS] (TASKS comma-separated)')
    p.add_argument('--frames', type=int, default=6)
    p.add_argument('--tasks', default='rect,dirt,x4,colorize')
    p.add_argument('--downscale', choices=sorted(DOWNSCALERS), default='lanczos',
                   help='x2, x4: how the low-resolution frames are made (PIL, antialiased); lcm assumes Lanczos')
    p.add_argument('--rect', type=lambda v: tuple(float(x) for x in v.split(',')), default=CENTRED_QUARTER,
                   metavar='SIZE,CX,CY', help='rect: the hole\'s side as a fraction of the frame\'s, and its centre (fractions)')
    p.add_argument('--crop', action='store_true',
                   help="each --clip's WxH is a centred crop of the native frames, not a rescale")
    p.add_argument('--out', default=os.path.join(ROOT, 'out', 'gst-heldout'))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    lpips = Lpips(os.path.join(ROOT, 'data', 'weights', 'vgg16_lpips.safetensors'))
    report = []
    print('| clip | task | lcm PSNR / LPIPS / temporal | best alternative (PSNR; LPIPS; temporal) | lcm s/frame |')
    print('|---|---|---|---|---|')
    for seed, spec in enumerate(a.clip):
        name, video, first, size, *tasks = spec.split(':')
        w, h = map(int, size.split('x'))
        truths = read_frames(video, int(first), a.frames, (w, h), a.crop)
        for task in (tasks[0] if tasks else a.tasks).split(','):
            if task not in a.tasks.split(','):
                continue
            r = run_case(name, task, truths, a.out, lpips, seed, a.downscale, a.rect)
            report.append({'clip': name, 'video': video, 'first': int(first), 'size': size, 'crop': a.crop, 'task': task, 'methods': r,
                           **({'rect': a.rect} if task == 'rect' else {})})
            others = {k: v for k, v in r.items() if not k.startswith('lcm')}
            best = lambda key, low: min(others.items(), key=lambda kv: kv[1][key] * (1 if low else -1))
            (bp, vp), (bl, vl), (bt, vt) = best('psnr', False), best('lpips', True), best('temporal_error', True)
            l = r['lcm']
            told = r.get('lcm-told')
            told = f" (told: {told['psnr']:.2f} / {told['lpips']:.4f} / {told['temporal_error']:.5f})" if told else ''
            print(f"| {name} | {task} | {l['psnr']:.2f} / {l['lpips']:.4f} / {l['temporal_error']:.5f}{told} | "
                  f"{vp['psnr']:.2f} ({bp}); {vl['lpips']:.4f} ({bl}); {vt['temporal_error']:.5f} ({bt}) | {l['seconds_per_frame']:.2f} |",
                  flush=True)
    with open(os.path.join(a.out, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    for task in dict.fromkeys(r['task'] for r in report):
        contact_sheet([r for r in report if r['task'] == task], a.out, task)


def contact_sheet(rows, work, task, width=1600):
    """One JPEG per task, `<task>-sheet.jpg`: every segment's grid (middle frame) scaled to
    `width`, under a caption naming its panels."""
    strips = []
    for r in rows:
        grid = Image.open(os.path.join(work, f"{r['clip']}-{task}.png")).convert('RGB')
        grid = grid.resize((width, round(grid.height * width / grid.width)), Image.LANCZOS)
        caption = Image.new('RGB', (width, 18), 'white')
        ImageDraw.Draw(caption).text((4, 3), f"{r['clip']}: " + ' | '.join(['input', *r['methods'], 'truth']), fill='black')
        strips += [caption, grid]
    sheet = Image.new('RGB', (width, sum(s.height for s in strips)))
    y = 0
    for s in strips:
        sheet.paste(s, (0, y))
        y += s.height
    sheet.save(os.path.join(work, f'{task}-sheet.jpg'), quality=85)


if __name__ == '__main__':
    main()
