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
    // A hole is filled from its surroundings: a box around the missing pixels, as wide again as
    // the damage on every side, sees what the whole frame would (a 96×72 hole in a 768×576
    // frame: 0.2 → 0.05 s).
    let (_, h, w) = image.size3().expect("(C, H, W)");
    if let Some((_, _, dh, dw)) = crate::restore::missing_region(mask, 0) {
        let region = crate::restore::missing_region(mask, dh.max(dw).max(16)).expect("the same mask misses pixels");
        if (region.2, region.3) != (h, w) {
            let crop = |t: &Tensor| t.narrow(1, region.0, region.2).narrow(2, region.1, region.3);
            let filled = image.copy();
            crop(&filled).copy_(&smooth_fill(&crop(image), &crop(mask)));
            return filled;
        }
    }
    let relax = |mut filled: Tensor, fixed: &Tensor, missing: &Tensor, _: Option<&Tensor>| {
        for _ in 0..RELAX_PER_LEVEL {
            let blurred = filled.pad([1, 1, 1, 1], "replicate", None).avg_pool2d([3, 3], [1, 1], [0, 0], false, true, None::<i64>);
            filled = fixed + blurred * missing;
        }
        filled
    };
    pyramid_fill(&image.unsqueeze(0), &mask.unsqueeze(0), None, &relax).squeeze_dim(0)
}

/// Relaxation passes per pyramid level of [`smooth_fill`].
const RELAX_PER_LEVEL: usize = 8;

/// How one pyramid level settles its missing values: called with the level seeded from the
/// coarser one, its known values (zero where missing), where it misses (1) and its guide.
pub(crate) type Relax<'a> = dyn Fn(Tensor, &Tensor, &Tensor, Option<&Tensor>) -> Tensor + 'a;

/// Push–pull: the known values of `values` `(1, C, H, W)` (where `known` `(1, 1, H, W)` is 1)
/// are averaged down a pyramid; coarse to fine, each level's missing values start from the
/// coarser fill, upsampled, and `relax` settles them. `guide` `(1, G, H, W)` is averaged down
/// with the levels and handed to `relax`.
pub(crate) fn pyramid_fill(values: &Tensor, known: &Tensor, guide: Option<&Tensor>, relax: &Relax) -> Tensor {
    let (_, _, h, w) = values.size4().expect("(1, C, H, W)");
    if bool::try_from(known.min().ge(1.0)).unwrap_or(true) {
        return values.shallow_clone();
    }
    if h <= 1 || w <= 1 {
        let dims = [2i64, 3].as_slice();
        let mean = (values * known).sum_dim_intlist(dims, true, Kind::Float) / known.sum_dim_intlist(dims, true, Kind::Float).clamp_min(1e-8);
        return values * known + mean * (1.0 - known);
    }
    let pool = |t: &Tensor| t.avg_pool2d(2, 2, 0, true, false, None::<i64>);
    let weight = pool(known);
    let coarse_guide = guide.map(pool);
    let coarse = pyramid_fill(&(pool(&(values * known)) / weight.clamp_min(1e-8)), &weight.gt(0.0).to_kind(Kind::Float), coarse_guide.as_ref(), relax);
    let fixed = values * known;
    let missing = 1.0 - known;
    let filled = &fixed + coarse.upsample_bilinear2d([h, w], false, None, None) * &missing;
    relax(filled, &fixed, &missing, guide)
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
