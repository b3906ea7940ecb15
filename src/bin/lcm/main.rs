//! `lcm`: train latent convolutional models on real footage, restore stills, evaluate, benchmark.
//! One file per subcommand, each with its `Args` and `run`.

mod adapt;
mod bench;
mod eval;
mod eval_clip;
mod exemplars;
mod info;
mod restore;
mod train;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use lcm::Task;

#[derive(Parser)]
#[command(name = "lcm", version, about = "Latent Convolutional Models: learned image priors for inpainting, super-resolution and colorization")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on videos, images or folders of images.
    Train(train::Args),
    /// Fine-tune a model on the footage it will restore (its known pixels), in minutes.
    Adapt(adapt::Args),
    /// Fit φ to a model's training patches and store them: restoration starts from the nearest.
    Exemplars(exemplars::Args),
    /// Restore one still image of any size.
    Restore(restore::Args),
    /// Degrade real frames, restore them with each method, print and save the scores.
    Eval(eval::Args),
    /// Show a model file's architecture, training summary and parameter counts.
    Info(info::Args),
    /// Benchmarks: print tables of medians (see benches/ for the side-by-side scripts).
    #[command(subcommand)]
    Bench(bench::Command),
}

/// The restoration task as named on the command line.
#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum TaskArg {
    Inpaint,
    Superres,
    Colorize,
}

impl TaskArg {
    /// The task; super-resolution's evidence made `scale` times smaller by `downscale`.
    pub fn task(self, scale: i64, downscale: lcm::Downscale) -> Task {
        match self {
            TaskArg::Inpaint => Task::Inpaint,
            TaskArg::Superres => Task::SuperRes { scale, downscale },
            TaskArg::Colorize => Task::Colorize,
        }
    }
}

pub fn parse_scale(s: &str) -> Result<i64, String> {
    match s {
        "2" | "4" | "8" => Ok(s.parse().expect("digits")),
        _ => Err(format!("scale must be 2, 4 or 8, not {s}")),
    }
}

/// A count that must be at least 1.
pub fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}' is not a whole number of at least 1")),
    }
}

/// A learning rate: finite and above zero.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number above 0")),
    }
}

/// Fails before any work when `path` cannot be written as a file: it is a folder, or its folder
/// cannot be created or written. Creates the folder, as the writers would. Errors name the path.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("cannot write {}: it is a folder; give a file name", path.display());
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot write {}: cannot create the folder {}", path.display(), dir.display()))?;
    let probe = dir.join(format!(".lcm-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("cannot write {}: the folder {} is not writable", path.display(), dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// `out` with its extension replaced by `suffix` (`model.safetensors` → `model.json`).
pub fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "model".into());
    out.with_file_name(format!("{stem}{suffix}"))
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
        Command::Train(args) => train::run(args),
        Command::Adapt(args) => adapt::run(args),
        Command::Exemplars(args) => exemplars::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Info(args) => info::run(args),
        Command::Bench(command) => bench::run(command),
    };
    if let Err(e) = result {
        eprintln!("lcm: error: {e:#}");
        std::process::exit(1);
    }
}
