//! `lcm restore`: one still image of any size, by MAP with the model frozen.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use lcm::{DeviceChoice, Model, Observation, Precision, RestoreOptions, Task, imageio};
use tch::Tensor;

use crate::{TaskArg, check_writable, parse_positive, parse_rate, parse_scale};

#[derive(clap::Args)]
pub struct Args {
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
    /// Colorization: an image whose non-transparent pixels give colours (scaled to the input).
    #[arg(long)]
    hints: Option<std::path::PathBuf>,
    /// Super-resolution factor.
    #[arg(long, default_value_t = 4, value_parser = parse_scale)]
    scale: i64,
    /// Super-resolution: how the input was made smaller (lanczos, bicubic or area); restoring
    /// with the same filter fits it best.
    #[arg(long, default_value = "lanczos")]
    downscale: lcm::Downscale,
    /// MAP steps.
    #[arg(long, default_value_t = 200, value_parser = parse_positive)]
    steps: usize,
    /// Adam step size (relative to φ's box).
    #[arg(long, default_value_t = 0.05, value_parser = parse_rate)]
    lr: f64,
    /// Tile overlap in output pixels (at most half a tile).
    #[arg(long, default_value_t = 16)]
    overlap: i64,
    /// Also write degraded input | restored side by side here.
    #[arg(long)]
    side_by_side: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Number format of the MAP steps: auto (bfloat16 on CPUs with AMX or AVX-512 BF16), float32, bfloat16.
    #[arg(long, default_value = "auto")]
    precision: Precision,
}

pub fn parse_mask(spec: &str, height: i64, width: i64) -> Result<Tensor> {
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

pub fn run(args: Args) -> Result<()> {
    for path in std::iter::once(&args.output).chain(&args.side_by_side) {
        check_writable(path)?;
    }
    let device = args.device.resolve()?;
    let model = Model::load(&args.model, device)?.frozen();
    if args.overlap < 0 || args.overlap > model.config.image_size / 2 {
        bail!("--overlap {} must be between 0 and half the model's {}-pixel tile", args.overlap, model.config.image_size);
    }
    let task = args.task.task(args.scale, args.downscale);
    let rgb = imageio::load_rgb(&args.input)?;
    let (_, h, w) = rgb.size3()?;
    let observation = match task {
        Task::Inpaint => {
            let spec = args.mask.as_deref().context("--task inpaint needs --mask rect:x,y,w,h or --mask mask.png")?;
            let mask = parse_mask(spec, h, w)?;
            Observation::inpaint(&rgb * &mask, mask)
        }
        // The input is already the small image.
        Task::SuperRes { scale, downscale } => Observation::superres(rgb, scale, downscale),
        Task::Colorize => {
            let hints = args.hints.as_deref().map(imageio::load_rgba).transpose()?.map(|image| lcm::restore::hints_from_rgba(&image, h, w));
            Observation::of(task, &rgb, None).with_hints(hints)
        }
    };
    let opts = RestoreOptions {
        steps: args.steps,
        learning_rate: args.lr,
        tile_overlap: args.overlap,
        precision: args.precision,
        ..Default::default()
    };
    let started = Instant::now();
    let result = lcm::restore::restore_with(&model, &observation, &opts, None);
    if let Some(reason) = &result.fallback {
        eprintln!("lcm: warning: {reason}; wrote the classical fallback instead");
    }
    imageio::save(&result.image, &args.output)?;
    if let Some(path) = &args.side_by_side {
        imageio::save(&imageio::side_by_side(&[observation.shown(), result.image.to_device(tch::Device::Cpu)]), path)?;
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
