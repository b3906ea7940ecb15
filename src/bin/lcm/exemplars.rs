//! `lcm exemplars`: fits φ to a model's training patches and stores them in the model file, so
//! that restoration starts each tile from the exemplar nearest its evidence.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use lcm::{DeviceChoice, Model, data};

use crate::{check_writable, parse_positive};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    model: PathBuf,
    /// Where to write the model with its exemplars (may be --model itself).
    #[arg(long)]
    out: PathBuf,
    /// Footage to cut the patches from (default: the model's training frames, its holdout kept out).
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Exemplars to fit.
    #[arg(long, default_value_t = 512, value_parser = parse_positive)]
    count: usize,
    /// MAP steps per exemplar.
    #[arg(long, default_value_t = 100, value_parser = parse_positive)]
    steps: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Store the model as f16 (loading restores f32).
    #[arg(long)]
    half: bool,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
}

pub fn run(args: Args) -> Result<()> {
    check_writable(&args.out)?;
    let device = args.device.resolve()?;
    let mut model = Model::load(&args.model, device)?;
    // Fitting uses restoration's (frozen) model, the file keeps θ as trained.
    let mut frozen = Model::load(&args.model, device)?.frozen();
    frozen.exemplars = None;
    let frames = if args.data.is_empty() {
        if model.summary.data.is_empty() {
            bail!("{} records no training data: name the footage with --data", args.model.display());
        }
        lcm::holdout::training_frames(&model.summary.data, &model.summary.holdout, model.summary.frame_max_side)?
    } else {
        data::load_frames(&data::expand_inputs(&args.data)?, 200, 20)?
    };
    let patches = data::random_patches(&frames, model.config.image_size, args.count, args.seed)?;
    eprintln!("lcm: fitting {} exemplars ({} MAP steps each) on patches of {} frames, on {device:?}", args.count, args.steps, frames.len());
    let started = Instant::now();
    let exemplars = lcm::train::fit_exemplars(&frozen, &patches, args.steps, |done| {
        eprintln!("lcm: {done}/{} exemplars, {:.0} s", args.count, started.elapsed().as_secs_f64());
    });
    model.exemplars = Some(exemplars);
    let mut summary = lcm::train::ExemplarSummary {
        count: args.count,
        steps: args.steps,
        seed: args.seed,
        wall_seconds: started.elapsed().as_secs_f64().round(),
        ..Default::default()
    };
    model.summary.exemplars = Some(summary.clone());
    model.save(&args.out, args.half)?;
    // The card's figure: the representation as restoration sees it, from the file just written.
    let sources: Vec<PathBuf> = model.summary.data.iter().map(PathBuf::from).collect();
    if !sources.is_empty() {
        let restoring = Model::load(&args.out, device)?.frozen();
        let patches = lcm::train::held_out_patches(&restoring, &sources, 32)?;
        let perceptual = lcm::metrics::Perceptual::load_default().ok();
        let learning_rate = lcm::RestoreOptions::default().learning_rate;
        let steps = lcm::train::HEALTH_STEPS;
        let (psnr, lpips) = lcm::train::restore_patches(&restoring, lcm::Task::Inpaint, &patches, steps, learning_rate, perceptual.as_ref());
        eprintln!("lcm: representation from the exemplars {psnr:.2} dB at {steps} steps{}", lpips.map_or(String::new(), |l| format!(", LPIPS {l:.4}")));
        (summary.representation, summary.representation_lpips) = (Some(psnr), lpips);
        model.summary.exemplars = Some(summary);
        model.save(&args.out, args.half)?;
    }
    eprintln!("lcm: wrote {} ({:.0} s)", args.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}
