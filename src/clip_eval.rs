//! What the elements do, measured: N consecutive frames of a clip, damaged the way footage is,
//! restored through the same path and defaults as the elements (warm start, scene cuts,
//! temporal evidence), beside the methods a user would otherwise run.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use tch::{Kind, Tensor};

use crate::baselines;
use crate::degrade::{Task, lanczos_resize};
use crate::metrics;
use crate::model::Model;
use crate::restore::{Observation, RestoreOptions, VideoOptions, VideoRestorer, back_project, missing_region};
use crate::rng::SplitMix64;

/// Damage of an inpainting clip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Damage {
    /// The same centred rectangle in every frame.
    Rect { width: i64, height: i64 },
    /// Old-film dirt: 1–3 px vertical scratches drifting a few px per frame, and blotches of
    /// 3–9 px radius at new places every frame.
    Dirt,
    /// Thin straight scratches at random angles, new every frame.
    Scratches,
    /// A centred square hole, `fraction` of each side, in every frame.
    Centre { fraction: f64 },
}

impl std::str::FromStr for Damage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let size = |t: &str| -> Option<(i64, i64)> {
            let (w, h) = t.split_once(['x', '×'])?;
            Some((w.parse().ok()?, h.parse().ok()?))
        };
        match s {
            "dirt" => Ok(Self::Dirt),
            "scratches" => Ok(Self::Scratches),
            "centre" | "center" => Ok(Self::Centre { fraction: 0.4 }),
            _ => match s.strip_prefix("rect:").and_then(size) {
                Some((width, height)) if width > 0 && height > 0 => Ok(Self::Rect { width, height }),
                _ => Err(format!("damage '{s}' is not rect:WxH, dirt, scratches or centre")),
            },
        }
    }
}

/// Known-pixel masks `(1, H, W)` for `frames` frames of `damage`, seeded.
pub fn damage_masks(damage: Damage, frames: usize, height: i64, width: i64, seed: u64) -> Vec<Tensor> {
    let mut rng = SplitMix64::new(seed);
    let ones = || vec![1f32; (height * width) as usize];
    let to_tensor = |m: Vec<f32>| Tensor::from_slice(&m).view([1, height, width]);
    match damage {
        Damage::Rect { width: w, height: h } => {
            let mask = crate::mask::rect(height, width, (width - w) / 2, (height - h) / 2, w, h);
            (0..frames).map(|_| mask.shallow_clone()).collect()
        }
        Damage::Centre { fraction } => (0..frames).map(|_| crate::mask::centre_hole(height, width, fraction)).collect(),
        Damage::Scratches => (0..frames).map(|_| crate::eval::scratches(height, width, 4, &mut rng)).collect(),
        Damage::Dirt => {
            // Scratches persist and drift; blotches are new in every frame.
            let mut lines: Vec<(f64, f64, f64)> = (0..1 + rng.below(3))
                .map(|_| (rng.next_f64() * width as f64, 0.5 + rng.next_f64(), rng.next_f64() * 6.0 - 3.0))
                .collect();
            (0..frames)
                .map(|_| {
                    let mut m = ones();
                    for (x0, half, _) in &lines {
                        for y in 0..height {
                            for x in ((x0 - half).floor().max(0.0) as i64)..((x0 + half).ceil().min(width as f64) as i64) {
                                m[(y * width + x) as usize] = 0.0;
                            }
                        }
                    }
                    for line in &mut lines {
                        line.0 = (line.0 + line.2 + rng.next_f64() - 0.5).rem_euclid(width as f64);
                    }
                    let blotches = 3 + rng.below(6);
                    for _ in 0..blotches {
                        let (cx, cy) = (rng.next_f64() * width as f64, rng.next_f64() * height as f64);
                        let r = 3.0 + rng.next_f64() * 6.0;
                        for y in ((cy - r).max(0.0) as i64)..((cy + r).min(height as f64) as i64) {
                            for x in ((cx - r).max(0.0) as i64)..((cx + r).min(width as f64) as i64) {
                                if (x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2) < r * r {
                                    m[(y * width + x) as usize] = 0.0;
                                }
                            }
                        }
                    }
                    to_tensor(m)
                })
                .collect()
        }
    }
}

/// A damaged clip: the truth, what each frame shows, and where quality is measured.
pub struct Clip {
    pub task: Task,
    pub truths: Vec<Tensor>,
    pub observations: Vec<Observation>,
    /// Inpainting: the missing pixels of each frame.
    pub regions: Vec<Option<Tensor>>,
    /// Inpainting: the box (y, x, h, w) around the damage, 16 px wider on every side, where LPIPS
    /// is taken (the whole frame otherwise).
    pub boxes: Vec<Option<(i64, i64, i64, i64)>>,
}

/// Colorization with hints: `per_frame` pixels of each frame, at seeded random places, give
/// their true colour (as a user's colour clicks would).
pub fn add_colour_hints(clip: &mut Clip, per_frame: usize, seed: u64) {
    let mut rng = SplitMix64::new(seed ^ 0xC0_10_0E);
    for (truth, observation) in clip.truths.iter().zip(&mut clip.observations) {
        let (_, h, w) = truth.size3().expect("(3, H, W)");
        let weight = Tensor::zeros([1, h, w], (Kind::Float, truth.device()));
        for _ in 0..per_frame {
            let (y, x) = (rng.below(h as u64) as i64, rng.below(w as u64) as i64);
            let _ = weight.get(0).get(y).get(x).fill_(1.0);
        }
        observation.hints = Some(Tensor::cat(&[truth * &weight, weight], 0));
    }
}

/// Degrades `truths` (consecutive frames) for `task`; `damage` applies to inpainting.
pub fn damage_clip(truths: Vec<Tensor>, task: Task, damage: Damage, seed: u64) -> Clip {
    let (_, h, w) = truths[0].size3().expect("(3, H, W)");
    let (observations, regions, boxes) = match task {
        Task::Inpaint => {
            let masks = damage_masks(damage, truths.len(), h, w, seed);
            let mut observations = Vec::new();
            let mut regions = Vec::new();
            let mut boxes = Vec::new();
            for (truth, mask) in truths.iter().zip(masks) {
                // LPIPS on the damage and 16 px around it, unless that is most of the frame.
                boxes.push(missing_region(&mask, 16).filter(|&(_, _, bh, bw)| bh * bw < h * w / 2));
                let missing = 1.0 - &mask;
                observations.push(Observation::of(task, truth, Some(mask)));
                regions.push(Some(missing));
            }
            (observations, regions, boxes)
        }
        _ => {
            let observations = truths.iter().map(|t| Observation::of(task, t, None)).collect();
            (observations, truths.iter().map(|_| None).collect(), vec![None; truths.len()])
        }
    };
    Clip { task, truths, observations, regions, boxes }
}

/// A method under evaluation on a clip.
pub enum ClipMethod<'a> {
    /// The elements' path: a [`VideoRestorer`] with these options, shown `lookahead` later frames.
    Lcm { model: &'a Model, restore: RestoreOptions, video: VideoOptions, lookahead: usize },
    /// The smooth push–pull / harmonic fill, per frame.
    Smooth,
    /// Each missing pixel from the nearest frame (±1, ±2) that shows it, no motion
    /// compensation; the smooth fill where none does.
    TemporalHold,
    Lanczos,
    Bicubic,
    /// Classical iterative back-projection from a Lanczos upscale.
    LanczosBackProjection,
    /// The gray copied to three channels.
    Gray,
    /// Colorization with hints: their colour spread along the gray's edges, no prior.
    HintSpread,
}

/// Restores every frame with `method`; returns the outputs `(3, H, W)` on the CPU and seconds per frame.
pub fn run(method: &ClipMethod, clip: &Clip) -> (Vec<Tensor>, f64) {
    let started = Instant::now();
    let task = clip.task;
    let outputs: Vec<Tensor> = match method {
        ClipMethod::Lcm { model, restore, video, lookahead } => {
            let mut restorer = VideoRestorer::new(video);
            let frames = &clip.observations;
            (0..frames.len())
                .map(|t| {
                    let upcoming = &frames[(t + 1).min(frames.len())..(t + 1 + lookahead).min(frames.len())];
                    restorer.restore_with_upcoming(model, &frames[t], upcoming, restore, video).image.to_device(tch::Device::Cpu)
                })
                .collect()
        }
        ClipMethod::Smooth => clip
            .observations
            .iter()
            .map(|o| match &o.mask {
                Some(mask) => baselines::smooth_fill(&o.evidence, &mask.to_kind(tch::Kind::Float)),
                None => o.fallback(),
            })
            .collect(),
        ClipMethod::Gray | ClipMethod::Lanczos => clip.observations.iter().map(Observation::fallback).collect(),
        ClipMethod::TemporalHold => temporal_hold(&clip.observations),
        ClipMethod::HintSpread => clip
            .observations
            .iter()
            .map(|o| match &o.hints {
                Some(hints) => crate::restore::colour_guide(&o.evidence, hints),
                None => o.fallback(),
            })
            .collect(),
        ClipMethod::Bicubic => clip
            .observations
            .iter()
            .map(|o| crate::baselines::bicubic_upscale(&o.evidence, task.scale()))
            .collect(),
        ClipMethod::LanczosBackProjection => clip
            .observations
            .iter()
            .map(|o| {
                let (_, h, w) = o.evidence.size3().expect("(3, h, w)");
                let s = task.scale();
                let upscaled = lanczos_resize(&o.evidence.unsqueeze(0), h * s, w * s).squeeze_dim(0);
                back_project(task, &upscaled.unsqueeze(0), &o.evidence.unsqueeze(0)).squeeze_dim(0)
            })
            .collect(),
    };
    let seconds = started.elapsed().as_secs_f64() / outputs.len().max(1) as f64;
    (outputs, seconds)
}

fn temporal_hold(observations: &[Observation]) -> Vec<Tensor> {
    (0..observations.len())
        .map(|t| {
            let o = &observations[t];
            let Some(mask) = &o.mask else { return o.evidence.shallow_clone() };
            let mut image = o.evidence.shallow_clone();
            let mut known = mask.shallow_clone();
            for offset in [-1i64, 1, -2, 2] {
                let s = t as i64 + offset;
                if s < 0 || s >= observations.len() as i64 {
                    continue;
                }
                let other = &observations[s as usize];
                let other_known = other.mask.as_ref().expect("inpainting frames all have masks");
                let take = (1.0 - &known) * other_known;
                image = &image * (1.0 - &take) + &other.evidence * &take;
                known = &known + &take;
            }
            baselines::smooth_fill(&image, &known)
        })
        .collect()
}

/// Mean scores of one method over a clip's frames.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClipScores {
    /// PSNR in dB (inpainting: on the missing pixels).
    pub psnr: f64,
    pub ssim: f64,
    /// LPIPS-VGG (inpainting: on the box around the damage).
    pub lpips: Option<f64>,
    /// Mean |Δoutput − Δtruth| between consecutive frames: flicker the truth does not have.
    pub temporal_error: f64,
    pub seconds_per_frame: f64,
}

pub fn score(clip: &Clip, outputs: &[Tensor], seconds_per_frame: f64, perceptual: Option<&metrics::Perceptual>) -> ClipScores {
    let n = outputs.len().max(1) as f64;
    let (mut psnr, mut ssim, mut lpips) = (0.0, 0.0, 0.0);
    for ((out, truth), (region, bbox)) in outputs.iter().zip(&clip.truths).zip(clip.regions.iter().zip(&clip.boxes)) {
        psnr += metrics::psnr(out, truth, region.as_ref());
        ssim += metrics::ssim(out, truth);
        if let Some(p) = perceptual {
            let crop = |t: &Tensor| match bbox {
                Some((y, x, h, w)) => t.narrow(1, *y, *h).narrow(2, *x, *w),
                None => t.shallow_clone(),
            };
            lpips += p.lpips(&crop(out), &crop(truth));
        }
    }
    let temporal: f64 = outputs
        .windows(2)
        .zip(clip.truths.windows(2))
        .map(|(o, t)| f64::try_from(((&o[1] - &o[0]) - (&t[1] - &t[0])).abs().mean(Kind::Float)).unwrap_or(f64::NAN))
        .sum();
    ClipScores {
        psnr: psnr / n,
        ssim: ssim / n,
        lpips: perceptual.map(|_| lpips / n),
        temporal_error: temporal / (outputs.len().saturating_sub(1).max(1)) as f64,
        seconds_per_frame,
    }
}

/// One clip's report: the task, damage, frames and each method's scores.
#[derive(Debug, Serialize)]
pub struct ClipReport {
    pub clip: String,
    pub task: String,
    pub damage: Option<String>,
    pub frames: usize,
    pub width: i64,
    pub height: i64,
    pub methods: BTreeMap<String, ClipScores>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirt_is_thin_scratches_and_small_blotches_that_move() {
        let masks = damage_masks(Damage::Dirt, 4, 120, 160, 3);
        let missing: Vec<f64> = masks.iter().map(|m| f64::try_from(m.mean(Kind::Float)).map(|k| 1.0 - k).unwrap_or(f64::NAN)).collect();
        assert!(missing.iter().all(|&f| f > 0.005 && f < 0.1), "missing fractions {missing:?}");
        assert!(!masks[0].equal(&masks[1]), "dirt did not move");
        assert_eq!("rect:40x30".parse::<Damage>().unwrap(), Damage::Rect { width: 40, height: 30 });
        assert!("rect:0x3".parse::<Damage>().is_err());
    }

    #[test]
    fn the_temporal_hold_recovers_moving_damage_on_a_static_scene() {
        let truth = Tensor::rand([3, 40, 50], (Kind::Float, tch::Device::Cpu));
        let clip = damage_clip((0..5).map(|_| truth.shallow_clone()).collect(), Task::Inpaint, Damage::Scratches, 1);
        let (outputs, _) = run(&ClipMethod::TemporalHold, &clip);
        let scores = score(&clip, &outputs, 0.0, None);
        assert!(scores.psnr > 30.0, "the hold reached only {:.1} dB on a static scene", scores.psnr);
    }
}
