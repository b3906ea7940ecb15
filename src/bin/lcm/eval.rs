//! `lcm eval`: degrade held-out frames, restore them with each method, print and save scores.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use lcm::eval::{self, Method};
use lcm::holdout::{self, Sampling};
use lcm::{DeviceChoice, Model, RestoreOptions, imageio};
use tch::Tensor;

use crate::{TaskArg, check_writable, parse_positive, parse_rate, parse_scale};

#[derive(Clone, Copy, ValueEnum)]
enum MaskArg {
    Centre,
    Scratches,
}

#[derive(clap::Args)]
pub struct Args {
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
    #[arg(long, default_value_t = 8, value_parser = parse_positive)]
    frames: usize,
    #[arg(long, default_value_t = 4, value_parser = parse_scale)]
    scale: i64,
    #[arg(long, default_value_t = 200, value_parser = parse_positive)]
    steps: usize,
    #[arg(long, default_value_t = 0.05, value_parser = parse_rate)]
    lr: f64,
    /// Methods to compare (`input` scores the degraded input itself).
    #[arg(long, value_delimiter = ',', default_value = "input,lcm,glo,dip,classical")]
    methods: Vec<String>,
    /// Steps of the DIP baseline (a fresh generator fitted to each image).
    #[arg(long, default_value_t = 500, value_parser = parse_positive)]
    dip_steps: usize,
    /// Inpainting damage: a centre hole or random scratches.
    #[arg(long, value_enum, default_value_t = MaskArg::Centre)]
    mask: MaskArg,
    /// Inpainting hole side as a fraction of the crop side.
    #[arg(long, default_value_t = 0.4)]
    hole: f64,
    /// Take every N-th video frame (sources the model was trained on use the training setting).
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    frame_every: usize,
    /// At most this many frames per video (likewise).
    #[arg(long, default_value_t = 100, value_parser = parse_positive)]
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

pub fn run(args: Args) -> Result<()> {
    for path in args.json.iter().chain(&args.grid) {
        check_writable(path)?;
    }
    if !(0.0..1.0).contains(&args.hole) || args.hole == 0.0 {
        bail!("--hole {} must be a fraction of the side in (0, 1)", args.hole);
    }
    let known = ["input", "lcm", "glo", "dip", "classical"];
    if let Some(other) = args.methods.iter().find(|m| !known.contains(&m.as_str())) {
        bail!("unknown method '{other}' ({})", known.join(", "));
    }
    let device = args.device.resolve()?;
    let model = Model::load(&args.model, device)?.frozen();
    let glo = args.glo.as_ref().map(|p| Model::load(p, device).map(Model::frozen)).transpose()?;
    let task = args.task.task(args.scale);
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
