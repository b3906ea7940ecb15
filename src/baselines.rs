//! Classical restorations: the fallback of the engine and the floor every method must beat.

use tch::{Kind, Tensor};

use crate::degrade::{Task, lanczos_resize};

/// Restores `(C, h, w)` evidence without a learned prior: Lanczos upscaling, a smooth hole
/// fill, or the gray copied into all three channels. Returns `(3, H, W)`.
pub fn classical(task: Task, evidence: &Tensor, mask: Option<&Tensor>) -> Tensor {
    let x = evidence.to_kind(Kind::Float);
    match task {
        Task::Inpaint => match mask {
            Some(mask) => smooth_fill(&x, &mask.to_kind(Kind::Float)),
            None => x,
        },
        Task::SuperRes { scale } => {
            let (_, h, w) = x.size3().expect("evidence is (C, h, w)");
            lanczos_resize(&x.unsqueeze(0), h * scale, w * scale).squeeze_dim(0).clamp(0.0, 1.0)
        }
        Task::Colorize => x.expand([3, -1, -1], false).copy(),
    }
}

/// Fills pixels where `mask` is 0 smoothly from the known ones: a push–pull pyramid gives a
/// coarse fill, then harmonic relaxation (repeated 3×3 averaging) smooths it.
pub fn smooth_fill(image: &Tensor, mask: &Tensor) -> Tensor {
    let _guard = tch::no_grad_guard();
    let x = image.unsqueeze(0);
    let m = mask.unsqueeze(0);
    let mut filled = push_pull(&x, &m);
    let channels = x.size()[1];
    let kernel = Tensor::full([channels, 1, 3, 3], 1.0 / 9.0, (Kind::Float, x.device()));
    for _ in 0..50 {
        let blurred = filled.pad([1, 1, 1, 1], "replicate", None).conv2d(&kernel, None::<Tensor>, 1, 0, 1, channels);
        filled = &x * &m + blurred * (1.0 - &m);
    }
    filled.squeeze_dim(0)
}

fn push_pull(x: &Tensor, m: &Tensor) -> Tensor {
    let (_, _, h, w) = x.size4().expect("4-d");
    if bool::try_from(m.min().ge(1.0)).unwrap_or(true) {
        return x.shallow_clone();
    }
    if h <= 1 || w <= 1 {
        let dims = [2i64, 3].as_slice();
        let mean = (x * m).sum_dim_intlist(dims, true, Kind::Float) / m.sum_dim_intlist(dims, true, Kind::Float).clamp_min(1e-8);
        return x * m + mean * (1.0 - m);
    }
    let pool = |t: &Tensor| t.avg_pool2d(2, 2, 0, true, false, None::<i64>);
    let weight = pool(m);
    let coarse = pool(&(x * m)) / weight.clamp_min(1e-8);
    let coarse_mask = weight.gt(0.0).to_kind(Kind::Float);
    let coarse = push_pull(&coarse, &coarse_mask);
    let up = coarse.upsample_bilinear2d([h, w], false, None, None);
    x * m + up * (1.0 - m)
}
