//! The evaluation protocol of `lcm eval`: degrade real frames, restore them with each method,
//! measure quality against the truth.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use tch::{Kind, Tensor};

use crate::degrade::Task;
use crate::metrics;
use crate::model::Model;
use crate::restore::{Observation, RestoreOptions, restore_with};
use crate::rng::SplitMix64;

/// A restoration method under evaluation.
pub enum Method<'a> {
    /// MAP with a trained model (LCM or GLO latent, as its config says).
    Model(&'a Model),
    /// Lanczos upscaling / the engine's hole fill / gray copy.
    Classical,
    /// The degraded input as it is (nearest-upscaled, gray as RGB): the floor.
    Input,
    /// Deep Image Prior with this architecture and number of steps.
    Dip(&'a crate::ModelConfig, usize),
    /// MAP over the code of an autoencoder or WGAN-GP baseline.
    Vector(&'a crate::vector_prior::VectorPrior),
}

/// Mean scores of one method over the evaluated frames.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Scores {
    pub psnr: f64,
    pub ssim: f64,
    pub lpips: Option<f64>,
    pub vgg: Option<f64>,
    pub seconds_per_frame: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub task: String,
    pub frames: usize,
    pub methods: BTreeMap<String, Scores>,
}

/// One test case: the truth, what the method sees, and where quality is measured.
pub struct Case {
    pub truth: Tensor,
    pub observation: Observation,
    /// Where metrics are computed (inpainting: the hole), `(1, H, W)`.
    pub region: Option<Tensor>,
}

use crate::mask::centre_hole;

/// Known-pixel mask with `lines` random straight scratches, 1–3 px wide, like film damage.
pub fn scratches(height: i64, width: i64, lines: usize, rng: &mut SplitMix64) -> Tensor {
    let mut mask = vec![1f32; (height * width) as usize];
    for _ in 0..lines {
        let (x0, y0) = (rng.next_f64() * width as f64, rng.next_f64() * height as f64);
        let angle = rng.next_f64() * std::f64::consts::PI;
        let half_width = 0.5 + rng.next_f64();
        let (dx, dy) = (angle.cos(), angle.sin());
        for y in 0..height {
            for x in 0..width {
                // Distance from the pixel centre to the line through (x0, y0) along (dx, dy).
                let d = ((x as f64 + 0.5 - x0) * dy - (y as f64 + 0.5 - y0) * dx).abs();
                if d < half_width {
                    mask[(y * width + x) as usize] = 0.0;
                }
            }
        }
    }
    Tensor::from_slice(&mask).view([1, height, width])
}

/// What is missing in inpainting cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskKind {
    /// A centred square hole (the paper's protocol).
    Centre,
    /// Random thin scratches.
    Scratches,
}

/// Cuts `count` seeded random `crop`×`crop` windows from the frames and degrades them for `task`
/// (inpainting: a centre hole of `hole_fraction` of the side, or scratches).
pub fn make_cases(frames: &[Tensor], task: Task, crop: i64, count: usize, hole_fraction: f64, mask_kind: MaskKind, seed: u64) -> Vec<Case> {
    let mut rng = SplitMix64::new(seed);
    let usable: Vec<&Tensor> = frames.iter().filter(|f| f.size()[1] >= crop && f.size()[2] >= crop).collect();
    (0..count.min(usable.len() * 8))
        .map(|i| {
            let frame = usable[i % usable.len()];
            let (_, h, w) = frame.size3().expect("(3, H, W)");
            let y = rng.below((h - crop + 1) as u64) as i64;
            let x = rng.below((w - crop + 1) as u64) as i64;
            let truth = frame.narrow(1, y, crop).narrow(2, x, crop).to_kind(Kind::Float);
            match task {
                Task::Inpaint => {
                    let mask = match mask_kind {
                        MaskKind::Centre => centre_hole(crop, crop, hole_fraction),
                        MaskKind::Scratches => scratches(crop, crop, 4, &mut rng),
                    };
                    let region = 1.0 - &mask;
                    Case { observation: Observation::of(task, &truth, Some(mask)), truth, region: Some(region) }
                }
                _ => Case { observation: Observation::of(task, &truth, None), truth, region: None },
            }
        })
        .collect()
}

/// Restores every case with `method`; returns the outputs and the mean time per case.
pub fn run_method(method: &Method, task: Task, cases: &[Case], opts: &RestoreOptions) -> (Vec<Tensor>, f64) {
    let started = Instant::now();
    let outputs = cases
        .iter()
        .map(|case| match method {
            Method::Model(model) => {
                restore_with(model, &case.observation, opts, None).image.to_device(tch::Device::Cpu)
            }
            Method::Classical => case.observation.fallback(),
            Method::Input => case.observation.shown(),
            Method::Dip(config, steps) => crate::baselines::deep_image_prior(
                config,
                task,
                &case.observation.evidence,
                case.observation.mask.as_ref(),
                *steps,
                opts.seed,
            )
            .unwrap_or_else(|_| case.observation.shown())
            .to_device(tch::Device::Cpu),
            Method::Vector(prior) => prior.restore(&case.observation, opts).unwrap_or_else(|_| case.observation.shown()).to_device(tch::Device::Cpu),
        })
        .collect();
    (outputs, started.elapsed().as_secs_f64() / cases.len().max(1) as f64)
}

/// PSNR (on the region when there is one), SSIM and, given the weights, LPIPS-VGG and the
/// paper's VGG distance (on the region), averaged over cases.
pub fn score(cases: &[Case], outputs: &[Tensor], seconds_per_frame: f64, perceptual: Option<&metrics::Perceptual>) -> Scores {
    let n = cases.len().max(1) as f64;
    let (mut psnr, mut ssim, mut lpips, mut vgg) = (0.0, 0.0, 0.0, 0.0);
    for (case, out) in cases.iter().zip(outputs) {
        psnr += metrics::psnr(out, &case.truth, case.region.as_ref());
        ssim += metrics::ssim(out, &case.truth);
        if let Some(p) = perceptual {
            lpips += p.lpips(out, &case.truth);
            vgg += p.vgg_distance(out, &case.truth, case.region.as_ref());
        }
    }
    Scores {
        psnr: psnr / n,
        ssim: ssim / n,
        lpips: perceptual.map(|_| lpips / n),
        vgg: perceptual.map(|_| vgg / n),
        seconds_per_frame,
    }
}
