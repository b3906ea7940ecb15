//! `lcm info`: a model file's architecture, parameter counts and training summary.

use std::path::PathBuf;

use anyhow::Result;
use lcm::Model;

#[derive(clap::Args)]
pub struct Args {
    /// The model file.
    model: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let model = Model::load(&args.model, tch::Device::Cpu)?;
    let c = &model.config;
    println!("model      {}", args.model.display());
    println!("preset     {} ({:?} latent)", c.preset, c.latent);
    println!("tile       {}×{} px, z {}×{}×{}", c.image_size, c.image_size, c.latent_depth(), c.latent_size(), c.latent_size());
    println!("generator  {} parameters, {:.3} GMAC per tile", model.generator_param_count(), model.generator_macs() as f64 / 1e9);
    println!("|φ|        {} per image ({} box-constrained to ±{})", model.latent.param_count(), model.latent.constrained_count(), c.phi_bound);
    println!("summary    {}", serde_json::to_string_pretty(&model.summary)?);
    Ok(())
}
