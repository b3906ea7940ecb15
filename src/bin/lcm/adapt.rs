//! `lcm adapt`: fine-tunes a prior on the footage it will restore. The clip's known pixels are
//! abundant training data of exactly its kind; damage (a mask, a rectangle, alpha = 0 in RGBA
//! images) is left out of the loss, so the prior never learns what the holes hide.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lcm::train::{TrainConfig, Trainer};
use lcm::{Model, Optimizer, data, imageio};
use tch::{Kind, Tensor};

use crate::train::{Run, RunArgs, drive};
use crate::{check_writable, parse_positive, parse_rate, sibling};

#[derive(clap::Args)]
pub struct Args {
    /// The prior to start from.
    #[arg(long)]
    model: PathBuf,
    /// The footage to restore: videos, image files or folders of images (RGBA: alpha = 0 is damage).
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<PathBuf>,
    /// Where to write the adapted model; the checkpoint and card go beside it.
    #[arg(long)]
    out: PathBuf,
    /// Damage left out of the loss in every frame: `rect:x,y,w,h` or a mask image (non-black = missing).
    #[arg(long)]
    mask: Option<String>,
    /// First frame of each video.
    #[arg(long, default_value_t = 0)]
    start: usize,
    /// At most this many frames per video.
    #[arg(long, default_value_t = 60, value_parser = parse_positive)]
    frames_per_video: usize,
    /// Take every N-th frame of a video.
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    frame_every: usize,
    /// Fraction of the frames (the last ones) kept out to measure the representation PSNR.
    #[arg(long, default_value_t = 0.1)]
    holdout: f64,
    /// Patches cut from the known pixels (each gets its own φ).
    #[arg(long, default_value_t = 512, value_parser = parse_positive)]
    patches: usize,
    /// Wall-time budget in minutes: the run checkpoints, recalibrates and saves when it is spent.
    #[arg(long, default_value_t = 5.0)]
    minutes: f64,
    /// At most this many joint steps.
    #[arg(long, default_value_t = 100_000, value_parser = parse_positive)]
    steps: usize,
    #[arg(long, default_value_t = 16, value_parser = parse_positive)]
    batch: usize,
    /// Joint steps on one minibatch before the next.
    #[arg(long, default_value_t = 20, value_parser = parse_positive)]
    steps_per_batch: usize,
    /// Learning rate of θ (Adam).
    #[arg(long, default_value_t = 5e-4, value_parser = parse_rate)]
    lr: f64,
    #[command(flatten)]
    run: RunArgs,
}

/// Every frame of the inputs with its known pixels `(1, H, W)`: alpha > 0 of RGBA images, and
/// outside `mask` (scaled to each frame).
fn frames_with_known(args: &Args) -> Result<Vec<(Tensor, Tensor)>> {
    let mut frames = Vec::new();
    // The mask at each frame size, read once (a mask image would otherwise be read per frame).
    let mut masks: HashMap<(i64, i64), Tensor> = HashMap::new();
    for path in data::expand_inputs(&args.data)? {
        let loaded: Vec<(Tensor, Tensor)> = if data::is_image(&path) {
            let rgba = imageio::load_rgba(&path)?;
            vec![(rgba.narrow(0, 0, 3), rgba.narrow(0, 3, 1).gt(0.0).to_kind(Kind::Float))]
        } else {
            data::video_frames_from(&path, args.start, args.frames_per_video, args.frame_every)?
                .into_iter()
                .map(|f| {
                    let ones = f.narrow(0, 0, 1).ones_like();
                    (f, ones)
                })
                .collect()
        };
        for (frame, alpha) in loaded {
            let known = match &args.mask {
                Some(spec) => {
                    let (_, h, w) = frame.size3()?;
                    let mask = match masks.entry((h, w)) {
                        Entry::Occupied(e) => e.into_mut(),
                        Entry::Vacant(e) => e.insert(crate::restore::parse_mask(spec, h, w)?),
                    };
                    alpha * &*mask
                }
                None => alpha,
            };
            frames.push((frame, known));
        }
    }
    Ok(frames)
}

pub fn run(args: Args) -> Result<()> {
    let checkpoint = sibling(&args.out, ".ckpt.safetensors");
    for path in [&args.out, &checkpoint] {
        check_writable(path)?;
    }
    if !(0.0..1.0).contains(&args.holdout) {
        bail!("--holdout must be in [0, 1), not {}", args.holdout);
    }
    if !(args.minutes > 0.0 && args.minutes.is_finite()) {
        bail!("--minutes must be above 0");
    }
    let device = args.run.device.resolve()?;
    let started = Instant::now();
    let base = Model::load(&args.model, device)?;
    let size = base.config.image_size;
    let frames = frames_with_known(&args)?;
    let held = if frames.len() > 1 { lcm::holdout::first_held_out(frames.len(), args.holdout) } else { frames.len() };
    let (train, held_out) = frames.split_at(held);
    let split = |part: &[(Tensor, Tensor)]| -> (Vec<Tensor>, Vec<Tensor>) {
        part.iter().map(|(f, k)| (f.shallow_clone(), k.shallow_clone())).unzip()
    };
    let (train_frames, train_known) = split(train);
    let (patches, known) = data::random_known_patches(&train_frames, &train_known, size, args.patches, args.run.seed, 0.5)?;
    let known_fraction = f64::try_from(known.mean(Kind::Float))?;
    // Clean held-out patches (every pixel known) for the representation PSNR.
    let held_out = if held_out.is_empty() {
        None
    } else {
        let (frames, known) = split(held_out);
        let (p, k) = data::random_known_patches(&frames, &known, size, 32, args.run.seed ^ lcm::train::HEALTH_PATCH_SEED, 1.0)?;
        let whole = k.amin([1i64, 2, 3].as_slice(), false).eq(1.0).nonzero().squeeze_dim(1);
        (whole.size()[0] > 0).then(|| p.index_select(0, &whole))
    };
    eprintln!(
        "lcm: adapting {} to {} frames ({} held out): {} patches of {size}², {:.0}% of their pixels known, for at most {} min on {device:?}",
        args.model.display(),
        train.len(),
        frames.len() - train.len(),
        args.patches,
        known_fraction * 100.0,
        args.minutes
    );
    let trainer = if args.run.resume && checkpoint.exists() {
        eprintln!("lcm: resuming from {}", checkpoint.display());
        Trainer::resume(&checkpoint, patches, device, Some(args.steps))?
    } else {
        let config = TrainConfig {
            steps: args.steps,
            batch: args.batch,
            steps_per_batch: args.steps_per_batch,
            theta_optimizer: Optimizer::Adam,
            theta_lr: args.lr,
            phi_lr: 1.0,
            seed: args.run.seed,
        };
        let mut model = base;
        model.summary.adapted_from = Some(args.model.to_string_lossy().to_string());
        model.summary.data.extend(args.data.iter().map(|p| p.to_string_lossy().to_string()));
        model.summary.patches = args.patches;
        Trainer::new(model, patches, config)?
    }
    .with_known_pixels(known)
    .context("the known-pixel masks do not fit the patches")?;
    let perceptual = lcm::metrics::Perceptual::load_default().ok();
    if let (0, Some(patches)) = (trainer.step, &held_out) {
        let before = trainer.health(16, Some(patches), lcm::train::HEALTH_STEPS, perceptual.as_ref());
        if let Some(r) = before.representation {
            let lpips = before.representation_lpips.map_or(String::new(), |l| format!(", LPIPS {l:.4}"));
            eprintln!("lcm: before adapting: representation {r:.2} dB at {} steps{lpips} on the held-out frames", before.representation_steps);
        }
    }
    let run = Run {
        out: &args.out,
        checkpoint_every: args.run.checkpoint_every,
        held_out: held_out.as_ref(),
        perceptual: perceptual.as_ref(),
        health_steps: lcm::train::HEALTH_STEPS,
        recalibrate_passes: args.run.recalibrate_passes,
        half: args.run.half,
        deadline: Some(started + Duration::from_secs_f64(args.minutes * 60.0)),
    };
    drive(trainer, &run, started)
}
