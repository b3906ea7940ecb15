//! `lcm train`: joint training of θ and per-patch φ on real footage, resumable from checkpoints.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::ValueEnum;
use lcm::holdout::{self, Sampling};
use lcm::train::{Health, TrainConfig, Trainer, TrainingSummary};
use lcm::vector_prior::{VectorConfig, VectorKind, VectorPrior, VectorTrainer};
use lcm::{DeviceChoice, LatentKind, Model, ModelConfig, Optimizer, data, imageio};
use tch::Tensor;

use crate::{check_writable, parse_positive, parse_rate, sibling};

#[derive(Clone, Copy, ValueEnum)]
enum LatentArg {
    /// Per-image ConvNet f_φ on fixed noise (LCM).
    Conv,
    /// Directly optimised latent tensor (GLO baseline).
    Glo,
    /// Autoencoder with a 1024-d code (baseline; DCGAN-style decoder).
    Ae,
    /// WGAN-GP generator of a 256-d code (baseline; DCGAN-style).
    WganGp,
}

#[derive(Clone, Copy, ValueEnum)]
enum OptimizerArg {
    Sgd,
    Adam,
}

#[derive(clap::Args)]
pub struct Args {
    /// Video files, image files or folders of images.
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<PathBuf>,
    /// At most this many frames per video.
    #[arg(long, default_value_t = 200, value_parser = parse_positive)]
    frames_per_video: usize,
    /// Take every N-th frame of a video.
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    frame_every: usize,
    /// Shrink frames so their shorter side is at most this (0 = native size).
    #[arg(long, default_value_t = 0)]
    max_side: i64,
    /// Fraction of each video's frames (its last ones) and of the image files kept out of training.
    #[arg(long, default_value_t = 0.1)]
    holdout: f64,
    /// Architecture preset.
    #[arg(long, default_value = "small", value_parser = clap::builder::PossibleValuesParser::new(ModelConfig::PRESETS))]
    preset: String,
    /// Where to write the model; the checkpoint, config JSON and PNGs go beside it.
    #[arg(long)]
    out: PathBuf,
    /// Latent parameterisation.
    #[arg(long, value_enum, default_value_t = LatentArg::Conv)]
    latent: LatentArg,
    /// Total joint optimisation steps.
    #[arg(long, default_value_t = 2000, value_parser = parse_positive)]
    steps: usize,
    /// Images per minibatch.
    #[arg(long, default_value_t = 16, value_parser = parse_positive)]
    batch: usize,
    /// Joint steps on one minibatch before the next (the paper uses 50).
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    steps_per_batch: usize,
    /// Training patches cut from the frames (each gets its own φ).
    #[arg(long, default_value_t = 1000, value_parser = parse_positive)]
    patches: usize,
    /// Spread the patches evenly over the --data inputs (a folder counts as one) before their
    /// frames, so a long video does not outweigh the other sources.
    #[arg(long)]
    balance_sources: bool,
    /// Optimiser of the generator θ.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    optimizer: OptimizerArg,
    /// Learning rate of θ.
    #[arg(long, default_value_t = 2e-3, value_parser = parse_rate)]
    lr: f64,
    /// Learning rate of φ (projected SGD); GLO latents usually want about 10.
    #[arg(long, value_parser = parse_rate)]
    phi_lr: Option<f64>,
    /// Held-out patches for the representation PSNR (MAP on clean footage the prior never saw).
    #[arg(long, default_value_t = 32)]
    health_patches: usize,
    /// Footage of other sources to take the health patches from (default: the held-out frames
    /// of the training sources, which favour a prior that learnt those sources' look).
    #[arg(long, num_args = 1..)]
    health_data: Vec<PathBuf>,
    /// Autoencoder and WGAN-GP: channels of the decoder's last hidden layer (doubling at each
    /// coarser level).
    #[arg(long, default_value_t = 16, value_parser = parse_positive)]
    baseline_width: usize,
    /// MAP steps of the representation PSNR (the elements' default).
    #[arg(long, default_value_t = lcm::train::HEALTH_STEPS, value_parser = parse_positive)]
    health_steps: usize,
    #[command(flatten)]
    run: RunArgs,
}

/// Options of every training run (`lcm train`, `lcm adapt`).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Continue from the checkpoint beside --out.
    #[arg(long)]
    pub resume: bool,
    /// Seed of the noise, θ, φ and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a checkpoint every N steps.
    #[arg(long, default_value_t = 200, value_parser = parse_positive)]
    pub checkpoint_every: usize,
    /// Passes over the φ table that re-estimate BatchNorm statistics at the end (0: none).
    #[arg(long, default_value_t = 2)]
    pub recalibrate_passes: usize,
    /// Store the model's weights as f16 (loading restores f32).
    #[arg(long)]
    pub half: bool,
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
}

/// A 400×200 plot of log10(loss) per step, black on white.
fn loss_curve(losses: &[f64]) -> Tensor {
    let (w, h) = (400i64, 200i64);
    let mut pixels = vec![1f32; (w * h) as usize];
    let logs: Vec<f64> = losses.iter().filter(|l| l.is_finite() && **l > 0.0).map(|l| l.log10()).collect();
    if let (Some(lo), Some(hi)) = (logs.iter().copied().reduce(f64::min), logs.iter().copied().reduce(f64::max)) {
        let span = (hi - lo).max(1e-9);
        for (i, l) in logs.iter().enumerate() {
            let x = (i as f64 / logs.len().max(2) as f64 * (w - 1) as f64) as i64;
            let y = ((hi - l) / span * (h - 1) as f64) as i64;
            pixels[(y * w + x) as usize] = 0.0;
        }
    }
    Tensor::from_slice(&pixels).view([1, h, w])
}

/// Appends one row (step and the health figures) to the training's health log.
fn append_health(path: &std::path::Path, step: usize, h: &Health) -> Result<()> {
    use std::io::Write;
    let fresh = !path.exists();
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("cannot write {}", path.display()))?;
    if fresh {
        writeln!(
            file,
            "step\teval_vs_train_db\teval_vs_target_db\ttrain_vs_target_db\trepresentation_db\trepresentation_lpips\tsuperres_x4_db\tsuperres_x4_lpips"
        )?;
    }
    let show = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    let optional = [(h.representation, 3), (h.representation_lpips, 4), (h.superres, 3), (h.superres_lpips, 4)].map(|(v, d)| show(v, d)).join("\t");
    writeln!(file, "{step}\t{:.3}\t{:.3}\t{:.3}\t{optional}", h.eval_vs_train, h.eval_vs_target, h.train_vs_target)?;
    Ok(())
}

/// What a model trained by `args` on `holdout`'s split records of its training.
fn summary(args: &Args, holdout: holdout::Holdout) -> TrainingSummary {
    TrainingSummary {
        data: args.data.iter().map(|p| p.to_string_lossy().to_string()).collect(),
        holdout,
        frame_max_side: args.max_side,
        patches: args.patches,
        balanced_sources: args.balance_sources,
        ..Default::default()
    }
}

fn training_patches(args: &Args, split: &holdout::Split, size: i64) -> Result<Tensor> {
    if args.balance_sources {
        data::source_balanced_patches(&split.train, &split.train_source, size, args.patches, args.run.seed)
    } else {
        data::random_patches(&split.train, size, args.patches, args.run.seed)
    }
}

pub fn run(args: Args) -> Result<()> {
    let checkpoint = sibling(&args.out, ".ckpt.safetensors");
    for path in [&args.out, &checkpoint] {
        check_writable(path)?;
    }
    let device = args.run.device.resolve()?;
    let started = Instant::now();
    let sampling = Sampling {
        frames_per_video: args.frames_per_video,
        frame_every: args.frame_every,
        max_side: args.max_side,
        fraction: args.holdout,
    };
    let split = holdout::split_frames(&args.data, &sampling)?;
    let mut config = ModelConfig::preset(&args.preset).context("unknown preset")?;
    config.latent = match args.latent {
        LatentArg::Conv => LatentKind::Conv,
        LatentArg::Glo => LatentKind::Glo,
        LatentArg::Ae => return train_baseline(&args, VectorKind::Autoencoder, split, &checkpoint, device, started),
        LatentArg::WganGp => return train_baseline(&args, VectorKind::WganGp, split, &checkpoint, device, started),
    };
    let patches = training_patches(&args, &split, config.image_size)?;
    // Fixed clean held-out patches for the representation PSNR (none without a holdout).
    let other_sources: Vec<Tensor> = data::load_frames(&args.health_data, args.frames_per_video, args.frame_every)?
        .iter()
        .map(|f| data::shrink(f, args.max_side))
        .collect();
    let health_frames = if args.health_data.is_empty() { &split.holdout } else { &other_sources };
    let held_out = (!health_frames.is_empty() && args.health_patches > 0)
        .then(|| data::random_patches(health_frames, config.image_size, args.health_patches, args.run.seed ^ lcm::train::HEALTH_PATCH_SEED))
        .transpose()?;
    eprintln!(
        "lcm: {} training frames, {} held out, {} patches of {}² on {device:?}",
        split.train.len(),
        split.holdout.len(),
        args.patches,
        config.image_size
    );
    let trainer = if args.run.resume && checkpoint.exists() {
        eprintln!("lcm: resuming from {}", checkpoint.display());
        Trainer::resume(&checkpoint, patches, device, Some(args.steps))?
    } else {
        if args.run.resume {
            eprintln!("lcm: no checkpoint at {}, starting fresh", checkpoint.display());
        }
        let phi_lr = args.phi_lr.unwrap_or(if config.latent == LatentKind::Glo { 10.0 } else { 1.0 });
        let train_config = TrainConfig {
            steps: args.steps,
            batch: args.batch,
            steps_per_batch: args.steps_per_batch,
            theta_optimizer: match args.optimizer {
                OptimizerArg::Sgd => Optimizer::Sgd,
                OptimizerArg::Adam => Optimizer::Adam,
            },
            theta_lr: args.lr,
            phi_lr,
            seed: args.run.seed,
        };
        let mut model = Model::new(config.clone(), device, args.run.seed)?;
        model.summary = summary(&args, split.record);
        Trainer::new(model, patches, train_config)?
    };

    let perceptual = lcm::metrics::Perceptual::load_default().ok();
    let run = Run {
        out: &args.out,
        checkpoint_every: args.run.checkpoint_every,
        held_out: held_out.as_ref(),
        perceptual: perceptual.as_ref(),
        health_steps: args.health_steps,
        recalibrate_passes: args.run.recalibrate_passes,
        half: args.run.half,
        deadline: None,
    };
    drive(trainer, &run, started)
}

/// Trains the autoencoder or WGAN-GP baseline on the same patches LCM would get, with
/// checkpoints, `--resume` and Ctrl-C (checkpoint, exit 130); writes the model file, its loss
/// curve and a PNG of training patches over their decodings (autoencoder) or of samples (WGAN-GP).
fn train_baseline(
    args: &Args,
    kind: VectorKind,
    split: holdout::Split,
    checkpoint: &std::path::Path,
    device: tch::Device,
    started: Instant,
) -> Result<()> {
    let config = VectorConfig::new(kind, args.baseline_width as i64);
    let patches = training_patches(args, &split, config.image_size)?;
    let batch = args.batch as i64;
    let mut trainer = if args.run.resume && checkpoint.exists() {
        eprintln!("lcm: resuming from {}", checkpoint.display());
        VectorTrainer::resume(checkpoint, patches.shallow_clone(), batch, args.run.seed, device)?
    } else {
        let mut prior = VectorPrior::new(config, device, args.run.seed);
        prior.summary = summary(args, split.record);
        VectorTrainer::new(prior, patches.shallow_clone(), batch, args.run.seed)?
    };
    eprintln!("lcm: {} baseline, {} patches of 64², batch {batch}, on {device:?}", kind.name(), args.patches);
    let interrupted = ctrl_c_flag();
    let (run_started, first_step) = (Instant::now(), trainer.step);
    while trainer.step < args.steps {
        let loss = trainer.train_step();
        let step = trainer.step;
        if step % 50 == 0 {
            let rate = (step - first_step) as f64 * batch as f64 / run_started.elapsed().as_secs_f64();
            eprintln!("step {step} loss {loss:.5} {rate:.1} images/s");
        }
        if step % args.run.checkpoint_every == 0 || step == args.steps || interrupted.load(Ordering::SeqCst) {
            trainer.save_checkpoint(checkpoint)?;
        }
        if interrupted.load(Ordering::SeqCst) {
            eprintln!("lcm: interrupted at step {step}; checkpoint written, continue with --resume");
            std::process::exit(130);
        }
    }
    let tail = &trainer.losses[trainer.losses.len().saturating_sub(50)..];
    let final_loss = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    let summary = &mut trainer.prior.summary;
    summary.steps = trainer.step;
    summary.final_loss = Some(final_loss);
    summary.wall_seconds_last_run = Some(started.elapsed().as_secs_f64().round());
    summary.images_per_second = Some((trainer.step - first_step) as f64 * batch as f64 / run_started.elapsed().as_secs_f64());
    trainer.prior.save(&args.out, args.run.half)?;
    imageio::save(&loss_curve(&trainer.losses), &sibling(&args.out, ".loss.png"))?;
    let _guard = tch::no_grad_guard();
    let prior = &trainer.prior;
    let shown = match kind {
        VectorKind::Autoencoder => {
            let x = patches.narrow(0, 0, 8).to_device(device);
            Tensor::cat(&[x.shallow_clone(), prior.decode(&prior.encode(&x))], 2)
        }
        VectorKind::WganGp => prior.decode(&Tensor::randn([8, prior.config.code_size], (tch::Kind::Float, device))),
    };
    imageio::save(&Tensor::cat(&shown.unbind(0), 2), &sibling(&args.out, ".recon.png"))?;
    println!("wrote {} ({} steps, final loss {final_loss:.5}, {:.0} s)", args.out.display(), trainer.step, started.elapsed().as_secs_f64());
    Ok(())
}

/// How a training run (`lcm train`, `lcm adapt`) is driven to its model file.
pub struct Run<'a> {
    pub out: &'a std::path::Path,
    pub checkpoint_every: usize,
    /// Clean held-out patches for the representation PSNR.
    pub held_out: Option<&'a Tensor>,
    /// The health figures' LPIPS, when the metric's weights are installed.
    pub perceptual: Option<&'a lcm::metrics::Perceptual>,
    pub health_steps: usize,
    pub recalibrate_passes: usize,
    pub half: bool,
    /// Stop (checkpoint, recalibrate, save) once this moment has passed.
    pub deadline: Option<Instant>,
}

/// Trains to the last step or the deadline with checkpoints, health figures and Ctrl-C (which
/// checkpoints and exits 130), then recalibrates BatchNorm and writes the model and its card.
pub fn drive(mut trainer: Trainer, run: &Run, started: Instant) -> Result<()> {
    let checkpoint = sibling(run.out, ".ckpt.safetensors");
    let held_out = run.held_out;
    let interrupted = ctrl_c_flag();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(trainer.config.steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} loss {msg} [{elapsed} < {eta}, {per_sec}]")
                .expect("valid template"),
        );
        bar.set_position(trainer.step as u64);
        bar
    });
    let run_started = Instant::now();
    let first_step = trainer.step;
    let batch = trainer.config.batch.min(trainer.image_count() as usize);
    // The health at the last checkpoint is the final one before recalibration.
    let before = loop {
        let target = (trainer.step / run.checkpoint_every + 1) * run.checkpoint_every;
        trainer.run(|step, loss| {
            if let Some(bar) = &bar {
                bar.set_position(step as u64);
                bar.set_message(format!("{loss:.4}"));
            } else if step % 50 == 0 {
                let rate = (step - first_step) as f64 * batch as f64 / run_started.elapsed().as_secs_f64();
                eprintln!("step {step} loss {loss:.5} {rate:.1} images/s");
            }
            step >= target || interrupted.load(Ordering::SeqCst) || past(run.deadline)
        })?;
        trainer.save_checkpoint(&checkpoint)?;
        let health = trainer.health(16, held_out, run.health_steps, run.perceptual);
        let line = format!("step {} loss {:.5} | {health}", trainer.step, trainer.losses.last().copied().unwrap_or(f64::NAN));
        match &bar {
            Some(bar) => bar.println(&line),
            None => eprintln!("{line}"),
        }
        append_health(&sibling(run.out, ".health.tsv"), trainer.step, &health)?;
        if interrupted.load(Ordering::SeqCst) {
            eprintln!("lcm: interrupted at step {}; checkpoint written, continue with --resume", trainer.step);
            std::process::exit(130);
        }
        if trainer.step >= trainer.config.steps || past(run.deadline) {
            break health;
        }
    };
    if let Some(bar) = bar {
        bar.finish();
    }
    let after = if run.recalibrate_passes > 0 {
        trainer.recalibrate_batch_norm(64, run.recalibrate_passes);
        trainer.health(16, held_out, run.health_steps, run.perceptual)
    } else {
        before.clone()
    };
    eprintln!("health before BatchNorm recalibration: {before}\nhealth after {} passes: {after}", run.recalibrate_passes);
    let tail = &trainer.losses[trainer.losses.len().saturating_sub(50)..];
    let final_loss = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    let summary = &mut trainer.model.summary;
    summary.steps = trainer.step;
    summary.train_config = Some(trainer.config.clone());
    summary.final_loss = Some(final_loss);
    summary.wall_seconds_last_run = Some(started.elapsed().as_secs_f64().round());
    summary.images_per_second = Some((trainer.step - first_step) as f64 * batch as f64 / run_started.elapsed().as_secs_f64());
    summary.health_before_recalibration = Some(before);
    summary.health = Some(after);
    trainer.model.save(run.out, run.half)?;
    let config_path = sibling(run.out, ".json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&trainer.model.config)?)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    imageio::save(&loss_curve(&trainer.losses), &sibling(run.out, ".loss.png"))?;
    let (recon, truth) = trainer.reconstructions(8);
    let rows: Vec<Tensor> = (0..recon.size()[0]).map(|i| Tensor::cat(&[truth.get(i), recon.get(i)], 1)).collect();
    imageio::save(&Tensor::cat(&rows, 2), &sibling(run.out, ".recon.png"))?;
    println!(
        "wrote {} ({} steps, final loss {final_loss:.5}, {:.0} s)",
        run.out.display(),
        trainer.step,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Set once Ctrl-C is pressed: training loops checkpoint and exit 130 instead of dying mid-write.
fn ctrl_c_flag() -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    interrupted
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}
