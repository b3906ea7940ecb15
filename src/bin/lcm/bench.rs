//! `lcm bench`: benchmarks that print tables of medians (benches/ runs them side by side).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use lcm::train::{TrainConfig, Trainer};
use lcm::{DeviceChoice, Model, ModelConfig, Observation, Optimizer, Precision, RestoreOptions, Task, data};
use tch::{Kind, Tensor};

use lcm::rng::SplitMix64;

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
        /// Number format of the generator's passes: auto, float32 or bfloat16.
        #[arg(long, default_value = "auto")]
        precision: Precision,
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
    /// Representation PSNR of a model: MAP from where restoration starts (the seed φ or the
    /// model's exemplars) on clean held-out patches of its training sources (the patches `lcm
    /// train` measures its health on), at several step counts.
    Health {
        #[arg(long)]
        model: PathBuf,
        /// The model's training sources (only their held-out frames are used) or other footage.
        #[arg(long, num_args = 1.., required = true)]
        input: Vec<PathBuf>,
        #[arg(long, default_value_t = 32)]
        patches: usize,
        #[arg(long, value_delimiter = ',', default_value = "20,60,200")]
        steps: Vec<usize>,
        /// MAP learning rate (default: the restoration default).
        #[arg(long, default_value_t = RestoreOptions::default().learning_rate)]
        lr: f64,
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
    },
    /// Loader fuzz: thousands of mutated copies of a model file (flipped header and data bytes,
    /// edited numbers, truncations, bad length prefixes) loaded from memory; counts what loads,
    /// what is refused with an error, and panics (fails if any).
    FuzzLoad {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, default_value_t = 2000)]
        cases: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
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
        Command::Step { preset, tiles, steps, save_model, device, precision } => {
            let device = device.resolve()?;
            let config = ModelConfig::preset(&preset).context("unknown preset")?;
            let model = Model::new(config, device, 0)?;
            if let Some(path) = save_model {
                model.save(&path, false)?;
            }
            let model = model.frozen();
            let s = model.config.image_size;
            let task = Task::superres(4);
            let y = Tensor::rand([tiles, 3, s / 4, s / 4], (Kind::Float, device));
            let w = y.ones_like();
            let phi = model.initial_phi(tiles, 0);
            let mut map = lcm::restore::MapOptimizer::new(&model, task, y, w, phi, Optimizer::Adam, 0.05).with_precision(precision);
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
            let kind = precision.kind(device);
            println!("| impl | preset | tiles | median ms/step | ≈GFLOP/s | precision |\n|---|---|---|---|---|---|");
            println!("| lcm (tch) | {preset} | {tiles} | {ms:.2} | {gflops:.1} | {kind:?} |");
        }
        Command::Warm { model, input, task, scale, frames, crop, cold_steps, steps, device } => {
            let device = device.resolve()?;
            let model = Model::load(&model, device)?.frozen();
            let task = task.task(scale, lcm::Downscale::Lanczos);
            let frames: Vec<Tensor> = data::load_frames(&input, frames, 1)?.into_iter().take(frames).collect();
            let truths: Vec<Tensor> = frames.iter().map(|f| f.narrow(1, 0, crop.min(f.size()[1])).narrow(2, 0, crop.min(f.size()[2]))).collect();
            let observe = |t: &Tensor| {
                let mask = (task == Task::Inpaint).then(|| lcm::mask::centre_hole(t.size()[1], t.size()[2], 0.4));
                Observation::of(task, t, mask)
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
                    // Every tile steps: this counts the steps a warm start needs.
                    let opts = RestoreOptions { steps: k, settle: false, ..Default::default() };
                    let previous = if warm { engine.previous() } else { None };
                    let r = lcm::restore::restore_with(&model, &obs, &opts, previous);
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
                warm_outputs.push(engine.restore(&model, &obs, &opts, true).image.to_device(tch::Device::Cpu));
                cold_outputs.push(lcm::restore::restore_with(&model, &obs, &opts, None).image.to_device(tch::Device::Cpu));
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
        Command::FuzzLoad { model, cases, seed } => fuzz_load(&model, cases, seed)?,
        Command::Health { model, input, patches, steps, lr, device } => {
            let device = device.resolve()?;
            let model = Model::load(&model, device)?.frozen();
            let clean = lcm::train::held_out_patches(&model, &input, patches)?;
            let perceptual = lcm::metrics::Perceptual::load_default()?;
            println!("| MAP steps | representation PSNR (dB) | LPIPS | ×4 SR PSNR (dB) | ×4 SR LPIPS |\n|---|---|---|---|---|");
            for k in steps {
                let mut row = format!("| {k} |");
                for task in [lcm::Task::Inpaint, lcm::Task::superres(4)] {
                    let (psnr, lpips) = lcm::train::restore_patches(&model, task, &clean, k, lr, Some(&perceptual));
                    row += &format!(" {psnr:.2} | {:.4} |", lpips.unwrap_or(f64::NAN));
                }
                println!("{row}");
            }
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

/// One mutation of a model file's bytes.
fn mutate(original: &[u8], rng: &mut SplitMix64) -> (&'static str, Vec<u8>) {
    let mut bytes = original.to_vec();
    let header_end = 8 + u64::from_le_bytes(original[..8].try_into().expect("8 bytes")) as usize;
    let pick = |rng: &mut SplitMix64, lo: usize, hi: usize| lo + rng.below((hi - lo) as u64) as usize;
    let kind = match rng.below(12) {
        10 | 11 => {
            // A well-formed file whose config (or summary) holds a strange value.
            let mut header: serde_json::Value = serde_json::from_slice(&original[8..header_end]).expect("the original header is JSON");
            let meta = header["__metadata__"].as_object_mut().expect("lcm files carry metadata");
            let field = if rng.below(4) == 0 { "summary" } else { "config" };
            let mut value: serde_json::Value = serde_json::from_str(meta[field].as_str().unwrap_or("{}")).unwrap_or_default();
            if let Some(object) = value.as_object_mut().filter(|o| !o.is_empty()) {
                let keys: Vec<String> = object.keys().cloned().collect();
                let key = &keys[rng.below(keys.len() as u64) as usize];
                let strange = [
                    serde_json::json!(0), serde_json::json!(-1), serde_json::json!(1u64 << 40), serde_json::json!(3),
                    serde_json::json!(f64::MAX), serde_json::json!("x"), serde_json::json!([]), serde_json::json!([100000, 1]),
                    serde_json::json!(null),
                ];
                object.insert(key.clone(), strange[rng.below(strange.len() as u64) as usize].clone());
            }
            meta.insert(field.into(), value.to_string().into());
            let text = header.to_string().into_bytes();
            bytes = [&(text.len() as u64).to_le_bytes()[..], &text, &original[header_end..]].concat();
            "config and summary values"
        }
        0..=3 => {
            for _ in 0..1 + rng.below(8) {
                let i = pick(rng, 8, header_end);
                bytes[i] = rng.next_u64() as u8;
            }
            "header bytes"
        }
        4 | 5 => {
            // A digit of the header's JSON changed, or a number lengthened: shapes, offsets, config.
            let digits: Vec<usize> = (8..header_end).filter(|&i| bytes[i].is_ascii_digit()).collect();
            let i = digits[rng.below(digits.len() as u64) as usize];
            if rng.below(2) == 0 {
                bytes[i] = b'0' + rng.below(10) as u8;
            } else {
                let extra: Vec<u8> = (0..1 + rng.below(6)).map(|_| b'0' + rng.below(10) as u8).collect();
                bytes.splice(i..i, extra);
            }
            "header numbers"
        }
        6 => {
            bytes.truncate(rng.below(original.len() as u64) as usize);
            "truncation"
        }
        7 | 8 => {
            for _ in 0..1 + rng.below(64) {
                let i = pick(rng, header_end, bytes.len());
                bytes[i] = rng.next_u64() as u8;
            }
            "data bytes"
        }
        _ => {
            let n = match rng.below(3) {
                0 => rng.next_u64(),
                1 => rng.below(original.len() as u64 * 2),
                _ => (header_end as u64 - 8).wrapping_add(rng.below(16)).wrapping_sub(8),
            };
            bytes[..8].copy_from_slice(&n.to_le_bytes());
            "length prefix"
        }
    };
    (kind, bytes)
}

fn fuzz_load(path: &std::path::Path, cases: usize, seed: u64) -> Result<()> {
    use std::collections::BTreeMap;
    let original = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if original.len() < 8 {
        anyhow::bail!("{} is too short to be a model file", path.display());
    }
    Model::from_bytes(&original, path, tch::Device::Cpu).context("the unmutated file must load")?;
    let mut rng = SplitMix64::new(seed);
    // (loaded, refused, panicked) per mutation kind, and the most frequent refusals.
    let mut counts: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    for _ in 0..cases {
        let (kind, bytes) = mutate(&original, &mut rng);
        let outcome = std::panic::catch_unwind(|| {
            Model::from_bytes(&bytes, path, tch::Device::Cpu).map(|m| {
                // A model that loads must also render.
                let m = m.frozen();
                let _ = tch::no_grad(|| m.render(&m.initial_phi(1, 0), false));
            })
        });
        let slot = counts.entry(kind).or_default();
        match outcome {
            Ok(Ok(())) => slot[0] += 1,
            Ok(Err(e)) => {
                slot[1] += 1;
                let reason = format!("{:#}", e).replace(&path.display().to_string(), "FILE");
                let reason: String = reason.chars().filter(|c| !c.is_ascii_digit()).take(90).collect();
                *reasons.entry(reason).or_default() += 1;
            }
            Err(_) => slot[2] += 1,
        }
    }
    std::panic::set_hook(default_hook);
    println!("| mutation | cases | loaded | refused with an error | panicked |\n|---|---|---|---|---|");
    for (kind, [ok, refused, panicked]) in &counts {
        println!("| {kind} | {} | {ok} | {refused} | {panicked} |", ok + refused + panicked);
    }
    let panics: usize = counts.values().map(|c| c[2]).sum();
    println!("\n{cases} cases in {:.1} s, {panics} panics; most frequent refusals (digits removed):", started.elapsed().as_secs_f64());
    let mut top: Vec<(String, usize)> = reasons.into_iter().collect();
    top.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    for (reason, n) in top.iter().take(6) {
        println!("  {n:5}  {reason}");
    }
    if panics > 0 {
        anyhow::bail!("{panics} mutated files made the loader panic");
    }
    Ok(())
}
