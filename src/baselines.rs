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

/// Fills pixels where `mask` is 0 smoothly from the known ones: a push–pull pyramid whose every
/// level, coarse to fine, is relaxed towards the harmonic fill (repeated 3×3 averaging of the
/// missing pixels) before it seeds the next; relaxing at every scale converges across wide
/// holes at the cost of a few full-resolution passes.
pub fn smooth_fill(image: &Tensor, mask: &Tensor) -> Tensor {
    let _guard = tch::no_grad_guard();
    push_pull(&image.unsqueeze(0), &mask.unsqueeze(0)).squeeze_dim(0)
}

/// Relaxation passes per pyramid level of [`smooth_fill`].
const RELAX_PER_LEVEL: usize = 8;

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
    let known = x * m;
    let missing = 1.0 - m;
    let mut filled = &known + coarse.upsample_bilinear2d([h, w], false, None, None) * &missing;
    for _ in 0..RELAX_PER_LEVEL {
        let blurred = filled.pad([1, 1, 1, 1], "replicate", None).avg_pool2d([3, 3], [1, 1], [0, 0], false, true, None::<i64>);
        filled = &known + blurred * &missing;
    }
    filled
}

/// Deep Image Prior: a freshly initialised generator of `config`'s architecture, fed a fixed
/// random latent, fitted with Adam (lr 0.01) to this one image's evidence alone — no training
/// data. `evidence` `(C, h, w)` must be one tile (`config.image_size` in output pixels).
pub fn deep_image_prior(
    config: &crate::ModelConfig,
    task: Task,
    evidence: &Tensor,
    mask: Option<&Tensor>,
    steps: usize,
    seed: u64,
) -> anyhow::Result<Tensor> {
    use tch::nn::OptimizerConfig;
    let device = evidence.device();
    let size = config.image_size;
    let (_, h, w) = evidence.size3()?;
    if (h * task.scale(), w * task.scale()) != (size, size) {
        anyhow::bail!("DIP runs on one {size}×{size} tile, got {}×{}", h * task.scale(), w * task.scale());
    }
    tch::manual_seed(seed as i64);
    let vars = tch::nn::VarStore::new(device);
    let generator = crate::model::Generator::new(&vars.root(), config, crate::model::generator::WeightInit::Random);
    let side = config.latent_size();
    let z = Tensor::rand([1, config.latent_depth(), side, side], (Kind::Float, device)) * 0.1;
    let y = evidence.to_kind(Kind::Float).unsqueeze(0);
    let weight = match mask {
        Some(m) => m.to_kind(Kind::Float).unsqueeze(0),
        None => y.ones_like(),
    };
    let operator = crate::degrade::Operator::new(task, size, device);
    let objective = crate::loss::Reconstruction::new(task.evidence_channels(), device);
    let mut optimizer = tch::nn::Adam::default().build(&vars, 0.01)?;
    for _ in 0..steps {
        let x = generator.forward_t(&z, true);
        let loss = objective.apply(&((operator.apply(&x) - &y) * &weight)).sum(Kind::Float);
        optimizer.backward_step(&loss);
    }
    let _guard = tch::no_grad_guard();
    Ok(generator.forward_t(&z, true).squeeze_dim(0))
}
