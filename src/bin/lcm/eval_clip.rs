//! `lcm eval --clip`: consecutive frames of each clip, damaged as footage is, restored through
//! the elements' path and defaults, beside what users would run instead.

use std::path::Path;

use anyhow::{Context, Result, bail};
use lcm::clip_eval::{self, Clip, ClipMethod, ClipReport};
use lcm::{Model, RestoreOptions, Task, VideoOptions, data, imageio};
use tch::Tensor;

use crate::eval::Args;

/// The methods of a task, in table order.
fn default_methods(task: Task) -> &'static [&'static str] {
    match task {
        Task::Inpaint => &["lcm", "smooth", "hold", "telea", "ns"],
        Task::SuperRes { scale: 4, .. } => &["lcm", "lanczos", "bicubic", "lanczos-bp", "realesrgan"],
        Task::SuperRes { .. } => &["lcm", "lanczos", "bicubic", "lanczos-bp"],
        Task::Colorize => &["lcm", "gray", "hint-spread"],
    }
}

/// Consecutive frames `start..start + count` of a clip (a video, or a folder of images in name
/// order), cropped to a centred `crop` that the task's scale divides.
fn clip_frames(path: &Path, start: usize, count: usize, crop: Option<(i64, i64)>, scale: i64) -> Result<Vec<Tensor>> {
    let frames: Vec<Tensor> = if path.is_dir() {
        data::load_frames(&[path.to_path_buf()], 1, 1)?.into_iter().skip(start).take(count).collect()
    } else {
        data::video_frames_from(path, start, count, 1)?
    };
    if frames.len() < count {
        bail!("{} has {} frames from frame {start}, {count} wanted", path.display(), frames.len());
    }
    let (_, h, w) = frames[0].size3()?;
    let (cw, ch) = crop.unwrap_or((w, h));
    if cw > w || ch > h {
        bail!("crop {cw}x{ch} is larger than the {w}x{h} frames of {}", path.display());
    }
    let (cw, ch) = (cw / scale * scale, ch / scale * scale);
    Ok(frames.iter().map(|f| f.narrow(1, (h - ch) / 2, ch).narrow(2, (w - cw) / 2, cw).copy()).collect())
}

/// What a comparator in Python (`scripts/SCRIPT`, run by the project's `.venv` or `LCM_PYTHON`)
/// makes of every frame's evidence: it reads `frame_NNNN.png` (and `mask_NNNN.png`, white =
/// missing) from a folder and writes `OUTPUT_NNNN.png` for each of `outputs`. Also returns its
/// wall seconds per frame (model loading included).
fn python_comparator(clip: &Clip, script: &str, outputs: &[&str]) -> Result<(Vec<Vec<Tensor>>, f64)> {
    let dir = std::env::temp_dir().join(format!("lcm-comparator-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (i, o) in clip.observations.iter().enumerate() {
        imageio::save(&o.evidence, &dir.join(format!("frame_{i:04}.png")))?;
        if let Some(known) = &o.mask {
            imageio::save(&(1.0 - known), &dir.join(format!("mask_{i:04}.png")))?;
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("LCM_PYTHON").map(Into::into).unwrap_or_else(|| root.join(".venv/bin/python"));
    let started = std::time::Instant::now();
    let status = std::process::Command::new(&python)
        .arg(root.join("scripts").join(script))
        .arg(&dir)
        .status()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let seconds = started.elapsed().as_secs_f64() / clip.observations.len().max(1) as f64;
    let read = |name: &str| -> Result<Vec<Tensor>> {
        (0..clip.observations.len()).map(|i| imageio::load_rgb(&dir.join(format!("{name}_{i:04}.png")))).collect()
    };
    let results = status.success().then(|| outputs.iter().map(|name| read(name)).collect::<Result<Vec<_>>>());
    let _ = std::fs::remove_dir_all(&dir);
    match results {
        Some(results) => Ok((results?, seconds)),
        None => bail!("scripts/{script} failed (install the comparators with scripts/setup.sh --comparators)"),
    }
}

pub fn run(args: Args) -> Result<()> {
    let device = args.device.resolve()?;
    let model = Model::load(&args.model, device)?.frozen();
    let task = args.task.task(args.scale, args.downscale);
    let methods: Vec<String> =
        args.methods.clone().unwrap_or_else(|| default_methods(task).iter().map(|m| m.to_string()).collect());
    let restore = RestoreOptions {
        steps: args.steps.unwrap_or(lcm::restore::video_steps(task)),
        learning_rate: args.lr,
        precision: args.precision,
        ..Default::default()
    };
    let video = VideoOptions { temporal_frames: args.temporal_frames, ..Default::default() };
    let perceptual = lcm::metrics::Perceptual::load_default()
        .map_err(|e| eprintln!("lcm: warning: no LPIPS scores: {e:#}"))
        .ok();
    let mut reports = Vec::new();
    let mut grid_rows = Vec::new();
    for path in &args.input {
        let truths = clip_frames(path, args.start, args.frames, args.crop, task.scale())?;
        let (_, height, width) = truths[0].size3()?;
        let mut clip = clip_eval::damage_clip(truths, task, args.damage, args.seed);
        if task == Task::Colorize && args.hints > 0 {
            clip_eval::add_colour_hints(&mut clip, args.hints, args.seed);
        }
        let mut report = ClipReport {
            clip: path.display().to_string(),
            task: task.name().into(),
            damage: (task == Task::Inpaint).then(|| format!("{:?}", args.damage)),
            frames: args.frames,
            width,
            height,
            methods: Default::default(),
        };
        let mut opencv: Option<(Vec<Vec<Tensor>>, f64)> = None;
        let middle = args.frames / 2;
        let mut row = vec![clip.observations[middle].shown()];
        for name in &methods {
            let (outputs, seconds): (Vec<Tensor>, f64) = match name.as_str() {
                "telea" | "ns" => {
                    if opencv.is_none() {
                        match python_comparator(&clip, "cv2_inpaint.py", &["telea", "ns"]) {
                            Ok(fills) => opencv = Some(fills),
                            Err(e) => {
                                eprintln!("lcm: skipping {name}: {e:#}");
                                continue;
                            }
                        }
                    }
                    let (fills, seconds) = opencv.as_ref().expect("filled above");
                    (fills[usize::from(name == "ns")].iter().map(Tensor::shallow_clone).collect(), *seconds)
                }
                "realesrgan" => {
                    if !matches!(task, Task::SuperRes { scale: 4, .. }) {
                        eprintln!("lcm: skipping realesrgan: it restores ×4 super-resolution only");
                        continue;
                    }
                    match python_comparator(&clip, "realesrgan_x4.py", &["realesrgan"]) {
                        Ok((mut outputs, seconds)) => (outputs.remove(0), seconds),
                        Err(e) => {
                            eprintln!("lcm: skipping {name}: {e:#}");
                            continue;
                        }
                    }
                }
                _ => {
                    let method = match name.as_str() {
                        "lcm" => ClipMethod::Lcm { model: &model, restore: restore.clone(), video: video.clone(), lookahead: args.lookahead },
                        "smooth" => ClipMethod::Smooth,
                        "hold" => ClipMethod::TemporalHold,
                        "lanczos" => ClipMethod::Lanczos,
                        "bicubic" => ClipMethod::Bicubic,
                        "lanczos-bp" => ClipMethod::LanczosBackProjection,
                        "gray" => ClipMethod::Gray,
                        "hint-spread" => ClipMethod::HintSpread,
                        other => bail!("unknown method '{other}' for --clip (lcm, smooth, hold, telea, ns, lanczos, bicubic, lanczos-bp, realesrgan, gray, hint-spread)"),
                    };
                    clip_eval::run(&method, &clip)
                }
            };
            row.push(outputs[middle].shallow_clone());
            report.methods.insert(name.clone(), clip_eval::score(&clip, &outputs, seconds, perceptual.as_ref()));
        }
        row.push(clip.truths[middle].shallow_clone());
        grid_rows.push(imageio::side_by_side(&row));
        println!("{} — {} on {} frames of {width}×{height}{}", report.clip, report.task, report.frames, report.damage.as_ref().map_or(String::new(), |d| format!(", damage {d}")));
        println!("| method | PSNR | SSIM | LPIPS | temporal error | s/frame |\n|---|---|---|---|---|---|");
        let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
        for (name, s) in &report.methods {
            println!("| {name} | {:.2} | {:.4} | {} | {:.5} | {:.3} |", s.psnr, s.ssim, opt(s.lpips), s.temporal_error, s.seconds_per_frame);
        }
        reports.push(report);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&reports)?).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.grid {
        let width = grid_rows.iter().map(|r| r.size()[2]).max().unwrap_or(1);
        let rows: Vec<Tensor> = grid_rows.iter().map(|r| r.pad([0, width - r.size()[2], 0, 0], "constant", Some(1.0))).collect();
        imageio::save(&Tensor::cat(&rows, 1), path)?;
    }
    Ok(())
}
