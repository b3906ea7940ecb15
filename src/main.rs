//! `lcm`: train latent convolutional models on real footage, restore stills, evaluate.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use lcm::eval::{self, Method};
use lcm::train::{TrainConfig, Trainer};
use lcm::{DeviceChoice, LatentKind, Model, ModelConfig, Observation, Optimizer, RestoreOptions, Task, data, imageio};
use tch::{Kind, Tensor};

#[derive(Parser)]
#[command(name = "lcm", version, about = "Latent Convolutional Models: learned image priors for inpainting, super-resolution and colorization")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on videos, images or folders of images.
    Train(TrainArgs),
    /// Restore one still image of any size.
    Restore(RestoreArgs),
    /// Degrade real frames, restore them with each method, print and save the scores.
    Eval(EvalArgs),
    /// Show a model file's architecture, training summary and parameter counts.
    Info {
        /// The model file.
        model: PathBuf,
    },
    /// Benchmarks: print tables of medians (see benches/ for the side-by-side scripts).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time one MAP step (render, ×4 Lanczos, loss, backward to φ, Adam, projection) on a batch of tiles.
    Step {
        #[arg(long, default_value = "small", value_parser = clap::builder::PossibleValuesParser::new(ModelConfig::PRESETS))]
        preset: String,
        #[arg(long, default_value_t = 16)]
        tiles: i64,
        /// Timed steps (after 3 warm-up steps).
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Write the (seeded, untrained) model here so another implementation can load the same weights.
        #[arg(long)]
        save_model: Option<PathBuf>,
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
    },
    /// Warm start economics on consecutive real frames: steps to come within 0.2 dB of a long
    /// cold restore, and temporal flicker warm vs cold.
    Warm {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, num_args = 1.., required = true)]
        input: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = TaskArg::Superres)]
        task: TaskArg,
        #[arg(long, default_value_t = 4, value_parser = parse_scale)]
        scale: i64,
        /// Consecutive frames to restore.
        #[arg(long, default_value_t = 6)]
        frames: usize,
        /// Crop of each frame (output pixels) restored.
        #[arg(long, default_value_t = 128)]
        crop: i64,
        /// Steps of the cold reference restore.
        #[arg(long, default_value_t = 1000)]
        cold_steps: usize,
        /// Steps per frame of the warm and cold runs whose flicker is compared (the elements' default).
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
    },
    /// Training throughput (images/s) of a preset on random real patches.
    Train {
        #[arg(long, default_value = "small", value_parser = clap::builder::PossibleValuesParser::new(ModelConfig::PRESETS))]
        preset: String,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LatentArg {
    /// Per-image ConvNet f_φ on fixed noise (LCM).
    Conv,
    /// Directly optimised latent tensor (GLO baseline).
    Glo,
}

#[derive(Clone, Copy, ValueEnum)]
enum OptimizerArg {
    Sgd,
    Adam,
}

impl From<OptimizerArg> for Optimizer {
    fn from(o: OptimizerArg) -> Self {
        match o {
            OptimizerArg::Sgd => Optimizer::Sgd,
            OptimizerArg::Adam => Optimizer::Adam,
        }
    }
}

#[derive(clap::Args)]
struct DataArgs {
    /// Video files, image files or folders of images.
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<PathBuf>,
    /// At most this many frames per video.
    #[arg(long, default_value_t = 200)]
    frames_per_video: usize,
    /// Take every N-th frame of a video.
    #[arg(long, default_value_t = 5)]
    frame_every: usize,
    /// Shrink frames so their shorter side is at most this (0 = native size).
    #[arg(long, default_value_t = 0)]
    max_side: i64,
    /// Fraction of each video's frames (its last ones) and of the image files kept out of training.
    #[arg(long, default_value_t = 0.1)]
    holdout: f64,
}

#[derive(clap::Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
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
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Images per minibatch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Joint steps on one minibatch before the next (the paper uses 50).
    #[arg(long, default_value_t = 5)]
    steps_per_batch: usize,
    /// Training patches cut from the frames (each gets its own φ).
    #[arg(long, default_value_t = 1000)]
    patches: usize,
    /// Optimiser of the generator θ.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    optimizer: OptimizerArg,
    /// Learning rate of θ.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Learning rate of φ (projected SGD); GLO latents usually want about 10.
    #[arg(long)]
    phi_lr: Option<f64>,
    /// Continue from the checkpoint beside --out.
    #[arg(long)]
    resume: bool,
    /// Seed of the noise, θ, φ and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write a checkpoint every N steps.
    #[arg(long, default_value_t = 200)]
    checkpoint_every: usize,
    /// Store the model's weights as f16 (loading restores f32).
    #[arg(long)]
    half: bool,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
}

#[derive(Clone, Copy, ValueEnum)]
enum MaskArg {
    Centre,
    Scratches,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum TaskArg {
    Inpaint,
    Superres,
    Colorize,
}

impl TaskArg {
    fn task(self, scale: i64) -> Task {
        match self {
            TaskArg::Inpaint => Task::Inpaint,
            TaskArg::Superres => Task::SuperRes { scale },
            TaskArg::Colorize => Task::Colorize,
        }
    }
}

#[derive(clap::Args)]
struct RestoreArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long, value_enum)]
    task: TaskArg,
    /// The degraded image (super-resolution: the small one).
    input: PathBuf,
    /// Where to write the restored image.
    output: PathBuf,
    /// Missing pixels: `rect:x,y,w,h` or a mask image (non-black = missing).
    #[arg(long)]
    mask: Option<String>,
    /// Super-resolution factor.
    #[arg(long, default_value_t = 4, value_parser = parse_scale)]
    scale: i64,
    /// MAP steps.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Adam step size (relative to φ's box).
    #[arg(long, default_value_t = 0.05)]
    lr: f64,
    /// Tile overlap in output pixels.
    #[arg(long, default_value_t = 16)]
    overlap: i64,
    /// Also write degraded input | restored side by side here.
    #[arg(long)]
    side_by_side: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// The LCM model.
    #[arg(long)]
    model: PathBuf,
    /// A GLO model with the same generator, evaluated as the `glo` method.
    #[arg(long)]
    glo: Option<PathBuf>,
    #[arg(long, value_enum)]
    task: TaskArg,
    /// Video, image or folder to evaluate on (frames held out from training, if it was a source).
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// Number of test crops.
    #[arg(long, default_value_t = 8)]
    frames: usize,
    #[arg(long, default_value_t = 4, value_parser = parse_scale)]
    scale: i64,
    #[arg(long, default_value_t = 200)]
    steps: usize,
    #[arg(long, default_value_t = 0.05)]
    lr: f64,
    /// Methods to compare (`input` scores the degraded input itself).
    #[arg(long, value_delimiter = ',', default_value = "input,lcm,glo,dip,classical")]
    methods: Vec<String>,
    /// Steps of the DIP baseline (a fresh generator fitted to each image).
    #[arg(long, default_value_t = 500)]
    dip_steps: usize,
    /// Inpainting damage: a centre hole or random scratches.
    #[arg(long, value_enum, default_value_t = MaskArg::Centre)]
    mask: MaskArg,
    /// Inpainting hole side as a fraction of the crop side.
    #[arg(long, default_value_t = 0.4)]
    hole: f64,
    /// Take every N-th video frame (sources the model was trained on use the training setting).
    #[arg(long, default_value_t = 5)]
    frame_every: usize,
    /// At most this many frames per video (likewise).
    #[arg(long, default_value_t = 100)]
    max_frames: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the report here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write degraded | each method | truth for the first crops here.
    #[arg(long)]
    grid: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
}

fn parse_scale(s: &str) -> Result<i64, String> {
    match s {
        "2" | "4" | "8" => Ok(s.parse().expect("digits")),
        _ => Err(format!("scale must be 2, 4 or 8, not {s}")),
    }
}

fn main() {
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        use clap::error::ErrorKind::*;
        if matches!(e.kind(), DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand) {
            e.exit();
        }
        // One line, like every other lcm error; `--help` has the rest.
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
        eprintln!("lcm: error: {first}");
        std::process::exit(2);
    });
    lcm::device::retain_host_memory();
    let result = match cli.command {
        Command::Train(args) => train(args),
        Command::Restore(args) => restore(args),
        Command::Eval(args) => evaluate(args),
        Command::Info { model } => info(&model),
        Command::Bench(bench) => run_bench(bench),
    };
    if let Err(e) = result {
        eprintln!("lcm: error: {e:#}");
        std::process::exit(1);
    }
}

/// Training and held-out frames of the inputs, with the holdout recorded per source.
struct Split {
    train: Vec<Tensor>,
    holdout: Vec<Tensor>,
    record: serde_json::Value,
}

fn split_frames(args: &DataArgs) -> Result<Split> {
    if !(0.0..1.0).contains(&args.holdout) {
        bail!("--holdout must be in [0, 1)");
    }
    let (mut train, mut holdout) = (Vec::new(), Vec::new());
    let mut record = serde_json::Map::new();
    let files = data::expand_inputs(&args.data)?;
    let stride = if args.holdout > 0.0 { (1.0 / args.holdout).round().max(2.0) as usize } else { usize::MAX };
    let mut image_index = 0usize;
    for path in &files {
        let frames = data::load_frames(std::slice::from_ref(path), args.frames_per_video, args.frame_every)?;
        let frames: Vec<Tensor> =
            frames.iter().map(|f| if args.max_side > 0 { data::shrink(f, args.max_side) } else { f.shallow_clone() }).collect();
        let key = source_key(path);
        if frames.len() > 1 {
            let held = ((frames.len() as f64) * args.holdout).ceil() as usize;
            let first = frames.len() - held;
            record.insert(
                key,
                serde_json::json!({"first_held_out_frame": first, "frame_every": args.frame_every, "frames_per_video": args.frames_per_video}),
            );
            train.extend(frames[..first].iter().map(Tensor::shallow_clone));
            holdout.extend(frames[first..].iter().map(Tensor::shallow_clone));
        } else {
            image_index += 1;
            if image_index % stride == 0 {
                record.insert(key, serde_json::json!({"held_out": true}));
                holdout.extend(frames);
            } else {
                train.extend(frames);
            }
        }
    }
    if train.is_empty() {
        bail!("no training frames left after the holdout");
    }
    Ok(Split { train, holdout, record: serde_json::Value::Object(record) })
}

/// How a data source is named in a model's holdout record: relative to the working directory
/// when inside it (so the record holds in any checkout), else absolute.
fn source_key(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or(path.to_path_buf());
    let cwd = std::env::current_dir().and_then(|d| d.canonicalize()).unwrap_or_default();
    path.strip_prefix(&cwd).unwrap_or(&path).to_string_lossy().to_string()
}

fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "model".into());
    out.with_file_name(format!("{stem}{suffix}"))
}

fn train(args: TrainArgs) -> Result<()> {
    let device = args.device.resolve()?;
    let started = Instant::now();
    let split = split_frames(&args.data)?;
    let mut config = ModelConfig::preset(&args.preset).context("unknown preset")?;
    config.latent = match args.latent {
        LatentArg::Conv => LatentKind::Conv,
        LatentArg::Glo => LatentKind::Glo,
    };
    let patches = data::random_patches(&split.train, config.image_size, args.patches, args.seed)?;
    eprintln!(
        "lcm: {} training frames, {} held out, {} patches of {}² on {device:?}",
        split.train.len(),
        split.holdout.len(),
        args.patches,
        config.image_size
    );
    let checkpoint = sibling(&args.out, ".ckpt.safetensors");
    let mut trainer = if args.resume && checkpoint.exists() {
        eprintln!("lcm: resuming from {}", checkpoint.display());
        Trainer::resume(&checkpoint, patches, device, Some(args.steps))?
    } else {
        if args.resume {
            eprintln!("lcm: no checkpoint at {}, starting fresh", checkpoint.display());
        }
        let phi_lr = args.phi_lr.unwrap_or(if config.latent == LatentKind::Glo { 10.0 } else { 1.0 });
        let train_config = TrainConfig {
            steps: args.steps,
            batch: args.batch,
            steps_per_batch: args.steps_per_batch,
            theta_optimizer: args.optimizer.into(),
            theta_lr: args.lr,
            phi_lr,
            seed: args.seed,
        };
        let mut model = Model::new(config.clone(), device, args.seed)?;
        model.summary = serde_json::json!({
            "data": args.data.data.iter().map(|p| p.to_string_lossy().to_string()).collect::<Vec<_>>(),
            "holdout": split.record,
            "patches": args.patches,
        });
        Trainer::new(model, patches, train_config)?
    };

    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
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
    loop {
        let target = (trainer.step / args.checkpoint_every + 1) * args.checkpoint_every;
        trainer.run(|step, loss| {
            if let Some(bar) = &bar {
                bar.set_position(step as u64);
                bar.set_message(format!("{loss:.4}"));
            } else if step % 50 == 0 {
                let rate = (step - first_step) as f64 * batch as f64 / run_started.elapsed().as_secs_f64();
                eprintln!("step {step} loss {loss:.5} {rate:.1} images/s");
            }
            step >= target || interrupted.load(Ordering::SeqCst)
        })?;
        trainer.save_checkpoint(&checkpoint)?;
        if interrupted.load(Ordering::SeqCst) {
            eprintln!("lcm: interrupted at step {}; checkpoint written, continue with --resume", trainer.step);
            std::process::exit(130);
        }
        if trainer.step >= trainer.config.steps {
            break;
        }
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    let tail = &trainer.losses[trainer.losses.len().saturating_sub(50)..];
    let final_loss = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    let mut summary = trainer.model.summary.clone();
    summary["steps"] = trainer.step.into();
    summary["train_config"] = serde_json::to_value(&trainer.config)?;
    summary["final_loss"] = final_loss.into();
    summary["wall_seconds_last_run"] = started.elapsed().as_secs_f64().round().into();
    summary["images_per_second"] =
        ((trainer.step - first_step) as f64 * batch as f64 / run_started.elapsed().as_secs_f64()).into();
    trainer.model.summary = summary;
    trainer.model.save(&args.out, args.half)?;
    std::fs::write(sibling(&args.out, ".json"), serde_json::to_string_pretty(&trainer.model.config)?)?;
    imageio::save(&loss_curve(&trainer.losses), &sibling(&args.out, ".loss.png"))?;
    let (recon, truth) = trainer.reconstructions(8);
    let rows: Vec<Tensor> = (0..recon.size()[0]).map(|i| Tensor::cat(&[truth.get(i), recon.get(i)], 1)).collect();
    imageio::save(&Tensor::cat(&rows, 2), &sibling(&args.out, ".recon.png"))?;
    println!(
        "wrote {} ({} steps, final loss {final_loss:.5}, {:.0} s)",
        args.out.display(),
        trainer.step,
        started.elapsed().as_secs_f64()
    );
    Ok(())
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

fn parse_mask(spec: &str, height: i64, width: i64) -> Result<Tensor> {
    if let Some(rect) = spec.strip_prefix("rect:") {
        let v: Vec<i64> = rect.split(',').map(|p| p.trim().parse()).collect::<Result<_, _>>().context("--mask rect:x,y,w,h needs four integers")?;
        let [x, y, w, h] = <[i64; 4]>::try_from(v).map_err(|_| anyhow::anyhow!("--mask rect:x,y,w,h needs four integers"))?;
        if x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > width || y + h > height {
            bail!("--mask rect:{x},{y},{w},{h} does not fit in the {width}×{height} image");
        }
        return Ok(lcm::mask::rect(height, width, x, y, w, h));
    }
    lcm::mask::from_image(Path::new(spec), height, width)
}

fn restore(args: RestoreArgs) -> Result<()> {
    let device = args.device.resolve()?;
    let model = Model::load(&args.model, device)?.frozen();
    let task = args.task.task(args.scale);
    let rgb = imageio::load_rgb(&args.input)?;
    let (_, h, w) = rgb.size3()?;
    let observation = match task {
        Task::Inpaint => {
            let spec = args.mask.as_deref().context("--task inpaint needs --mask rect:x,y,w,h or --mask mask.png")?;
            let mask = parse_mask(spec, h, w)?;
            Observation { evidence: &rgb * &mask, mask: Some(mask) }
        }
        Task::SuperRes { .. } => Observation { evidence: rgb, mask: None },
        Task::Colorize => Observation { evidence: lcm::degrade::gray(&rgb.unsqueeze(0)).squeeze_dim(0), mask: None },
    };
    let opts = RestoreOptions { steps: args.steps, learning_rate: args.lr, tile_overlap: args.overlap, ..Default::default() };
    let started = Instant::now();
    let result = lcm::restore::restore_with(&model, task, &observation, &opts, None);
    if let Some(reason) = &result.fallback {
        eprintln!("lcm: warning: {reason}; wrote the classical fallback instead");
    }
    imageio::save(&result.image, &args.output)?;
    if let Some(path) = &args.side_by_side {
        let shown = match task {
            Task::SuperRes { scale } => observation.evidence.unsqueeze(0).upsample_nearest2d([h * scale, w * scale], None, None).squeeze_dim(0),
            _ => observation.evidence.shallow_clone(),
        };
        imageio::save(&imageio::side_by_side(&[shown, result.image.to_device(tch::Device::Cpu)]), path)?;
    }
    println!(
        "wrote {} ({} steps, loss {:.5} → {:.5}, {:.1} s)",
        args.output.display(),
        result.losses.len(),
        result.losses.first().copied().unwrap_or(f64::NAN),
        result.losses.last().copied().unwrap_or(f64::NAN),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Frames of the inputs; for sources the model was trained on, only its held-out frames.
fn eval_frames(args: &EvalArgs, summary: &serde_json::Value) -> Result<Vec<Tensor>> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or(p.to_path_buf());
    let trained: Vec<PathBuf> = summary["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).map(|s| canonical(Path::new(s))).collect())
        .unwrap_or_default();
    let mut frames = Vec::new();
    for path in data::expand_inputs(&args.input)? {
        let path = canonical(&path);
        let record = &summary["holdout"][source_key(&path).as_str()];
        let every = record["frame_every"].as_u64().map_or(args.frame_every, |e| e as usize);
        let first = match record["first_held_out_frame"].as_u64() {
            Some(first) => first as usize,
            None if record["held_out"].as_bool() == Some(true) => 0,
            // A training source with no held-out part: nothing of it is fair to evaluate on.
            None if trained.iter().any(|t| path.starts_with(t)) => continue,
            None => 0,
        };
        let count = record["frames_per_video"].as_u64().map_or(args.max_frames, |n| n as usize);
        frames.extend(data::load_frames(std::slice::from_ref(&path), count, every)?.into_iter().skip(first));
    }
    if frames.is_empty() {
        bail!("no frames to evaluate on (all inputs were training data)");
    }
    Ok(frames)
}

fn evaluate(args: EvalArgs) -> Result<()> {
    let device = args.device.resolve()?;
    let model = Model::load(&args.model, device)?.frozen();
    let glo = args.glo.as_ref().map(|p| Model::load(p, device).map(Model::frozen)).transpose()?;
    let task = args.task.task(args.scale);
    let frames = eval_frames(&args, &model.summary)?;
    let crop = model.config.image_size;
    let mask_kind = match args.mask {
        MaskArg::Centre => eval::MaskKind::Centre,
        MaskArg::Scratches => eval::MaskKind::Scratches,
    };
    let cases = eval::make_cases(&frames, task, crop, args.frames, args.hole, mask_kind, args.seed);
    if cases.is_empty() {
        bail!("no frame is large enough for {crop}×{crop} crops");
    }
    let opts = RestoreOptions { steps: args.steps, learning_rate: args.lr, ..Default::default() };
    let perceptual = lcm::metrics::Perceptual::load_default()
        .map_err(|e| eprintln!("lcm: warning: no LPIPS/VGG scores: {e:#}"))
        .ok();
    let mut report = eval::Report { task: task.name().into(), frames: cases.len(), methods: Default::default() };
    let mut columns: Vec<Tensor> = vec![Tensor::stack(&cases.iter().map(|c| eval::shown_evidence(task, c)).collect::<Vec<_>>(), 0)];
    for name in &args.methods {
        let method = match name.as_str() {
            "lcm" => Method::Model(&model),
            "glo" => match &glo {
                Some(g) => Method::Model(g),
                None => {
                    eprintln!("lcm: skipping glo (no --glo model given)");
                    continue;
                }
            },
            "classical" => Method::Classical,
            "input" => Method::Input,
            "dip" => Method::Dip(&model.config, args.dip_steps),
            other => bail!("unknown method '{other}' (input, lcm, glo, dip, classical)"),
        };
        let (outputs, seconds) = eval::run_method(&method, task, &cases, &opts);
        report.methods.insert(name.clone(), eval::score(&cases, &outputs, seconds, perceptual.as_ref()));
        columns.push(Tensor::stack(&outputs, 0));
    }
    columns.push(Tensor::stack(&cases.iter().map(|c| c.truth.shallow_clone()).collect::<Vec<_>>(), 0));
    println!("task {} on {} crops of {crop}²", report.task, report.frames);
    println!("| method | PSNR | SSIM | LPIPS | VGG | s/frame |\n|---|---|---|---|---|---|");
    let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
    for (name, s) in &report.methods {
        println!("| {name} | {:.2} | {:.4} | {} | {} | {:.3} |", s.psnr, s.ssim, opt(s.lpips), opt(s.vgg), s.seconds_per_frame);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(path) = &args.grid {
        let rows: Vec<Tensor> = (0..cases.len().min(6) as i64)
            .map(|i| imageio::side_by_side(&columns.iter().map(|c| c.get(i)).collect::<Vec<_>>()))
            .collect();
        imageio::save(&Tensor::cat(&rows, 1), path)?;
    }
    Ok(())
}

fn info(path: &Path) -> Result<()> {
    let model = Model::load(path, tch::Device::Cpu)?;
    let c = &model.config;
    println!("model      {}", path.display());
    println!("preset     {} ({:?} latent)", c.preset, c.latent);
    println!("tile       {}×{} px, z {}×{}×{}", c.image_size, c.image_size, c.latent_depth(), c.latent_size(), c.latent_size());
    println!("generator  {} parameters, {:.3} GMAC per tile", model.generator_param_count(), model.generator_macs() as f64 / 1e9);
    println!("|φ|        {} per image ({} box-constrained to ±{})", model.latent.param_count(), model.latent.constrained_count(), c.phi_bound);
    println!("summary    {}", serde_json::to_string_pretty(&model.summary)?);
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn sync(device: tch::Device) {
    if let tch::Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn run_bench(bench: BenchCommand) -> Result<()> {
    match bench {
        BenchCommand::Step { preset, tiles, steps, save_model, device } => {
            let device = device.resolve()?;
            let config = ModelConfig::preset(&preset).context("unknown preset")?;
            let model = Model::new(config, device, 0)?;
            if let Some(path) = save_model {
                model.save(&path, false)?;
            }
            let model = model.frozen();
            let s = model.config.image_size;
            let task = Task::SuperRes { scale: 4 };
            let y = Tensor::rand([tiles, 3, s / 4, s / 4], (Kind::Float, device));
            let w = y.ones_like();
            let phi = model.initial_phi(tiles, 0);
            let mut map = lcm::restore::MapOptimizer::new(&model, task, y, w, phi, Optimizer::Adam, 0.05);
            let mut times = Vec::new();
            for i in 0..steps + 3 {
                sync(device);
                let t = Instant::now();
                let _ = map.step();
                sync(device);
                if i >= 3 {
                    times.push(t.elapsed().as_secs_f64());
                }
            }
            let ms = median(times) * 1e3;
            // Forward + backward to the activations ≈ 3× the forward MACs of g (no weight grads).
            let macs = (model.generator_macs() + lcm::flops::latent_macs(&model.config)) as f64 * tiles as f64;
            let gflops = 2.0 * 2.0 * macs / (ms / 1e3) / 1e9;
            println!("| impl | preset | tiles | median ms/step | ≈GFLOP/s |\n|---|---|---|---|---|");
            println!("| lcm (tch) | {preset} | {tiles} | {ms:.2} | {gflops:.1} |");
        }
        BenchCommand::Warm { model, input, task, scale, frames, crop, cold_steps, steps, device } => {
            let device = device.resolve()?;
            let model = Model::load(&model, device)?.frozen();
            let task = task.task(scale);
            let frames: Vec<Tensor> = data::load_frames(&input, frames, 1)?.into_iter().take(frames).collect();
            let truths: Vec<Tensor> = frames.iter().map(|f| f.narrow(1, 0, crop.min(f.size()[1])).narrow(2, 0, crop.min(f.size()[2]))).collect();
            let observe = |t: &Tensor| match task {
                Task::Inpaint => {
                    let (_, h, w) = t.size3().unwrap();
                    let mask = eval::centre_hole(h, w, 0.4);
                    Observation { evidence: t * &mask, mask: Some(mask) }
                }
                Task::Colorize => Observation { evidence: lcm::degrade::gray(&t.unsqueeze(0)).squeeze_dim(0), mask: None },
                Task::SuperRes { .. } => Observation { evidence: task.degrade(&t.unsqueeze(0)).squeeze_dim(0), mask: None },
            };
            let region = |t: &Tensor| if task == Task::Inpaint { Some(1.0 - eval::centre_hole(t.size()[1], t.size()[2], 0.4)) } else { None };
            let psnr = |out: &Tensor, t: &Tensor| lcm::metrics::psnr(&out.to_device(tch::Device::Cpu), t, region(t).as_ref());
            // Every probe up to CURVE_UNTIL steps is measured (the PSNR-vs-steps table); beyond
            // it, only until both starts are within 0.2 dB of the long cold restore.
            const CURVE_UNTIL: usize = 200;
            let probes: Vec<usize> = [5, 10, 20, 40, 60, 100, 150, 200, 300, 500, 1000].into_iter().filter(|&k| k <= cold_steps).collect();
            // Sums over frames 1.. of (warm PSNR, cold PSNR, warm loss, cold loss) at each probe.
            let mut curve = vec![[0.0f64; 4]; probes.iter().filter(|&&k| k <= CURVE_UNTIL).count()];
            let mut reference_loss = 0.0;
            println!("| frame | cold {cold_steps} PSNR | warm steps to within 0.2 dB | cold steps to within 0.2 dB |\n|---|---|---|---|");
            let mut engine = lcm::Engine::new();
            let mut warm_outputs = Vec::new();
            let mut cold_outputs = Vec::new();
            for (i, truth) in truths.iter().enumerate() {
                let obs = observe(truth);
                // (PSNR against the truth, final MAP loss on the evidence) after k steps.
                let restored = |k: usize, warm: bool| {
                    let opts = RestoreOptions { steps: k, ..Default::default() };
                    let previous = if warm { engine.previous() } else { None };
                    let r = lcm::restore::restore_with(&model, task, &obs, &opts, previous);
                    (psnr(&r.image, truth), r.losses.last().copied().unwrap_or(f64::NAN))
                };
                let (reference, loss) = restored(cold_steps, false);
                if i > 0 {
                    reference_loss += loss;
                }
                let (mut warm_needed, mut cold_needed) = (None, None);
                for (j, &k) in probes.iter().enumerate() {
                    if k > CURVE_UNTIL && cold_needed.is_some() && (i == 0 || warm_needed.is_some()) {
                        break;
                    }
                    let on_curve = k <= CURVE_UNTIL;
                    let (cold, cold_loss) = if on_curve || cold_needed.is_none() { restored(k, false) } else { (f64::NAN, f64::NAN) };
                    cold_needed = cold_needed.or((cold >= reference - 0.2).then_some(k));
                    if i > 0 && (on_curve || warm_needed.is_none()) {
                        let (warm, warm_loss) = restored(k, true);
                        warm_needed = warm_needed.or((warm >= reference - 0.2).then_some(k));
                        if let Some(point) = curve.get_mut(j) {
                            for (sum, v) in point.iter_mut().zip([warm, cold, warm_loss, cold_loss]) {
                                *sum += v;
                            }
                        }
                    }
                }
                let show = |v: Option<usize>| v.map_or("–".into(), |v| v.to_string());
                println!("| {i} | {reference:.2} | {} | {} |", if i == 0 { "(first frame)".into() } else { show(warm_needed) }, show(cold_needed));
                let opts = RestoreOptions { steps, ..Default::default() };
                warm_outputs.push(engine.restore(&model, task, &obs, &opts, true).image.to_device(tch::Device::Cpu));
                cold_outputs.push(lcm::restore::restore_with(&model, task, &obs, &opts, None).image.to_device(tch::Device::Cpu));
            }
            let later = truths.len().saturating_sub(1).max(1) as f64;
            println!("\nmeans over frames 1–{}; MAP loss summed over tiles, cold {cold_steps} steps: {:.5}", truths.len() - 1, reference_loss / later);
            println!("| steps | warm PSNR | cold PSNR | warm loss | cold loss |\n|---|---|---|---|---|");
            for (k, point) in probes.iter().zip(&curve) {
                let [wp, cp, wl, cl] = point.map(|v| v / later);
                println!("| {k} | {wp:.2} | {cp:.2} | {wl:.5} | {cl:.5} |");
            }
            let flicker = |outs: &[Tensor]| {
                let n = outs.len().saturating_sub(1).max(1) as f64;
                outs.windows(2).zip(truths.windows(2)).map(|(o, t)| {
                    f64::try_from(((&o[1] - &o[0]) - (&t[1] - &t[0])).abs().mean(Kind::Float)).unwrap()
                }).sum::<f64>() / n
            };
            println!("\nflicker (mean |Δoutput − Δtruth|, {steps} steps/frame): warm {:.5}, cold {:.5}", flicker(&warm_outputs), flicker(&cold_outputs));
        }
        BenchCommand::Train { preset, batch, steps, device } => {
            let device = device.resolve()?;
            let config = ModelConfig::preset(&preset).context("unknown preset")?;
            let s = config.image_size;
            let images = Tensor::rand([batch as i64 * 4, 3, s, s], (Kind::Float, device));
            let model = Model::new(config, device, 0)?;
            let cfg = TrainConfig { steps: steps + 3, batch, ..TrainConfig::default() };
            let mut trainer = Trainer::new(model, images, cfg)?;
            let mut times = Vec::new();
            let mut last = Instant::now();
            trainer.run(|step, _| {
                sync(device);
                if step > 3 {
                    times.push(last.elapsed().as_secs_f64());
                }
                last = Instant::now();
                false
            })?;
            let per_step = median(times);
            println!("| preset | batch | median s/step | images/s |\n|---|---|---|---|");
            println!("| {preset} | {batch} | {per_step:.4} | {:.1} |", batch as f64 / per_step);
        }
    }
    Ok(())
}
