//! `lcm bench`: benchmarks that print tables of medians (benches/ runs them side by side).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use lcm::train::{TrainConfig, Trainer};
use lcm::{DeviceChoice, Model, ModelConfig, Observation, Optimizer, RestoreOptions, Task, data};
use tch::{Kind, Tensor};

use crate::{TaskArg, parse_scale};

#[derive(Subcommand)]
pub enum Command {
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn sync(device: tch::Device) {
    if let tch::Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Step { preset, tiles, steps, save_model, device } => {
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
        Command::Warm { model, input, task, scale, frames, crop, cold_steps, steps, device } => {
            let device = device.resolve()?;
            let model = Model::load(&model, device)?.frozen();
            let task = task.task(scale);
            let frames: Vec<Tensor> = data::load_frames(&input, frames, 1)?.into_iter().take(frames).collect();
            let truths: Vec<Tensor> = frames.iter().map(|f| f.narrow(1, 0, crop.min(f.size()[1])).narrow(2, 0, crop.min(f.size()[2]))).collect();
            let observe = |t: &Tensor| match task {
                Task::Inpaint => {
                    let (_, h, w) = t.size3().unwrap();
                    let mask = lcm::mask::centre_hole(h, w, 0.4);
                    Observation { evidence: t * &mask, mask: Some(mask) }
                }
                Task::Colorize => Observation { evidence: lcm::degrade::gray(&t.unsqueeze(0)).squeeze_dim(0), mask: None },
                Task::SuperRes { .. } => Observation { evidence: task.degrade(&t.unsqueeze(0)).squeeze_dim(0), mask: None },
            };
            let region = |t: &Tensor| if task == Task::Inpaint { Some(1.0 - lcm::mask::centre_hole(t.size()[1], t.size()[2], 0.4)) } else { None };
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
        Command::Train { preset, batch, steps, device } => {
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
