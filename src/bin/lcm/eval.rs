//! `lcm eval`: degrade held-out frames, restore them with each method, print and save scores.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use lcm::eval::{self, Method};
use lcm::holdout::{self, Sampling};
use lcm::vector_prior::VectorPrior;
use lcm::{DeviceChoice, Model, Precision, RestoreOptions, imageio};
use tch::Tensor;

use crate::{TaskArg, check_writable, parse_positive, parse_rate, parse_scale};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum MaskArg {
    Centre,
    Scratches,
}

#[derive(clap::Args)]
pub struct Args {
    /// The LCM model.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// A GLO model with the same generator, evaluated as the `glo` method.
    #[arg(long)]
    pub(crate) glo: Option<PathBuf>,
    /// An autoencoder baseline (`lcm train --latent ae`), evaluated as the `ae` method.
    #[arg(long)]
    pub(crate) ae: Option<PathBuf>,
    /// A WGAN-GP baseline (`lcm train --latent wgan-gp`), evaluated as the `wgan-gp` method.
    #[arg(long)]
    pub(crate) wgan_gp: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub(crate) task: TaskArg,
    /// Video, image or folder to evaluate on (frames held out from training, if it was a source).
    #[arg(long, num_args = 1.., required = true)]
    pub(crate) input: Vec<PathBuf>,
    /// Number of test crops (with --clip: consecutive frames per clip).
    #[arg(long, default_value_t = 8, value_parser = parse_positive)]
    pub(crate) frames: usize,
    /// Score what the elements do: each input is a clip whose consecutive frames are damaged
    /// and restored through the elements' path and defaults (warm start, temporal evidence),
    /// beside what users run instead.
    #[arg(long)]
    pub(crate) clip: bool,
    /// With --clip: first frame of each clip.
    #[arg(long, default_value_t = 0)]
    pub(crate) start: usize,
    /// With --clip: a centred WxH crop of every frame (default: whole frames).
    #[arg(long, value_parser = parse_size)]
    pub(crate) crop: Option<(i64, i64)>,
    /// With --clip: inpainting damage, rect:WxH (static), dirt, scratches or centre.
    #[arg(long, default_value = "dirt")]
    pub(crate) damage: lcm::clip_eval::Damage,
    /// With --clip: earlier frames lcm searches for missing pixels (the element's temporal-frames).
    #[arg(long, default_value_t = 2)]
    pub(crate) temporal_frames: usize,
    /// With --clip: later frames lcm may also take missing pixels from (the element's lookahead).
    #[arg(long, default_value_t = lcm::restore::VIDEO_LOOKAHEAD)]
    pub(crate) lookahead: usize,
    /// With --clip --task colorize: true-colour hint pixels per frame, at seeded random places.
    #[arg(long, default_value_t = 0)]
    pub(crate) hints: usize,
    #[arg(long, default_value_t = 4, value_parser = parse_scale)]
    pub(crate) scale: i64,
    /// Super-resolution: how the evidence is made smaller (lanczos, bicubic or area); lcm and
    /// the back-projection comparator (`lanczos-bp`: a Lanczos upscale back-projected) are told.
    #[arg(long, default_value = "lanczos")]
    pub(crate) downscale: lcm::Downscale,
    /// MAP steps (default: 200 on crops; with --clip, the elements' default).
    #[arg(long, value_parser = parse_positive)]
    pub(crate) steps: Option<usize>,
    #[arg(long, default_value_t = 0.05, value_parser = parse_rate)]
    pub(crate) lr: f64,
    /// Methods to compare (`input` scores the degraded input itself); with --clip the default
    /// is every method that fits the task (lcm, smooth, hold, telea, ns / lanczos, bicubic,
    /// lanczos-bp and, at ×4, realesrgan / gray, hint-spread).
    #[arg(long, value_delimiter = ',')]
    pub(crate) methods: Option<Vec<String>>,
    /// Steps of the DIP baseline (a fresh generator fitted to each image).
    #[arg(long, default_value_t = 500, value_parser = parse_positive)]
    pub(crate) dip_steps: usize,
    /// Inpainting damage: a centre hole or random scratches.
    #[arg(long, value_enum, default_value_t = MaskArg::Centre)]
    pub(crate) mask: MaskArg,
    /// Inpainting hole side as a fraction of the crop side.
    #[arg(long, default_value_t = 0.4)]
    pub(crate) hole: f64,
    /// Take every N-th video frame (sources the model was trained on use the training setting).
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    pub(crate) frame_every: usize,
    /// At most this many frames per video (likewise).
    #[arg(long, default_value_t = 100, value_parser = parse_positive)]
    pub(crate) max_frames: usize,
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Write the report here as JSON.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Write degraded | each method | truth for the first crops here.
    #[arg(long)]
    pub(crate) grid: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    pub(crate) device: DeviceChoice,
    /// Number format of LCM's MAP steps: auto (bfloat16 on CPUs with AMX or AVX-512 BF16), float32, bfloat16.
    #[arg(long, default_value = "auto")]
    pub(crate) precision: Precision,
}

fn parse_size(s: &str) -> Result<(i64, i64), String> {
    let (w, h) = s.split_once(['x', '×']).ok_or_else(|| format!("'{s}' is not WxH"))?;
    match (w.parse::<i64>(), h.parse::<i64>()) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(format!("'{s}' is not WxH with positive sizes")),
    }
}

pub fn run(args: Args) -> Result<()> {
    for path in args.json.iter().chain(&args.grid) {
        check_writable(path)?;
    }
    if args.clip {
        return crate::eval_clip::run(args);
    }
    let steps = args.steps.unwrap_or(200);
    let known = ["input", "lcm", "glo", "ae", "wgan-gp", "dip", "classical"];
    let methods = args.methods.clone().unwrap_or_else(|| known.map(String::from).to_vec());
    if !(0.0..1.0).contains(&args.hole) || args.hole == 0.0 {
        bail!("--hole {} must be a fraction of the side in (0, 1)", args.hole);
    }
    if let Some(other) = methods.iter().find(|m| !known.contains(&m.as_str())) {
        bail!("unknown method '{other}' ({})", known.join(", "));
    }
    let device = args.device.resolve()?;
    let model = Model::load(&args.model, device)?.frozen();
    let glo = args.glo.as_ref().map(|p| Model::load(p, device).map(Model::frozen)).transpose()?;
    let ae = args.ae.as_ref().map(|p| VectorPrior::load(p, device)).transpose()?;
    let wgan_gp = args.wgan_gp.as_ref().map(|p| VectorPrior::load(p, device)).transpose()?;
    let task = args.task.task(args.scale, args.downscale);
    let sampling = Sampling { frames_per_video: args.max_frames, frame_every: args.frame_every, max_side: 0, fraction: 0.0 };
    let frames = holdout::evaluation_frames(&args.input, &model.summary.data, &model.summary.holdout, &sampling)?;
    let crop = model.config.image_size;
    let mask_kind = match args.mask {
        MaskArg::Centre => eval::MaskKind::Centre,
        MaskArg::Scratches => eval::MaskKind::Scratches,
    };
    let cases = eval::make_cases(&frames, task, crop, args.frames, args.hole, mask_kind, args.seed);
    if cases.is_empty() {
        bail!("no frame is large enough for {crop}×{crop} crops");
    }
    let opts = RestoreOptions { steps, learning_rate: args.lr, precision: args.precision, ..Default::default() };
    let perceptual = lcm::metrics::Perceptual::load_default()
        .map_err(|e| eprintln!("lcm: warning: no LPIPS/VGG scores: {e:#}"))
        .ok();
    let mut report = eval::Report { task: task.name().into(), frames: cases.len(), methods: Default::default() };
    let mut columns: Vec<Tensor> = vec![Tensor::stack(&cases.iter().map(|c| c.observation.shown()).collect::<Vec<_>>(), 0)];
    for name in &methods {
        let method = match name.as_str() {
            "lcm" => Method::Model(&model),
            "glo" => match &glo {
                Some(g) => Method::Model(g),
                None => {
                    eprintln!("lcm: skipping glo (no --glo model given)");
                    continue;
                }
            },
            "ae" | "wgan-gp" => match if name == "ae" { &ae } else { &wgan_gp } {
                Some(prior) => Method::Vector(prior),
                None => {
                    eprintln!("lcm: skipping {name} (no --{name} model given)");
                    continue;
                }
            },
            "classical" => Method::Classical,
            "input" => Method::Input,
            _ => Method::Dip(&model.config, args.dip_steps),
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
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.grid {
        let rows: Vec<Tensor> = (0..cases.len().min(6) as i64)
            .map(|i| imageio::side_by_side(&columns.iter().map(|c| c.get(i)).collect::<Vec<_>>()))
            .collect();
        imageio::save(&Tensor::cat(&rows, 1), path)?;
    }
    Ok(())
}
