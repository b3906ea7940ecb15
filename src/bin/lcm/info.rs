//! `lcm info`: a model file's (or a baseline's) architecture, parameter counts and training summary.

use std::path::PathBuf;

use anyhow::Result;
use lcm::Model;
use lcm::vector_prior::VectorPrior;

#[derive(clap::Args)]
pub struct Args {
    /// The model file.
    model: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let model = match Model::load(&args.model, tch::Device::Cpu) {
        Ok(model) => model,
        Err(error) => match VectorPrior::load(&args.model, tch::Device::Cpu) {
            Ok(prior) => {
                let c = &prior.config;
                println!("model      {}", args.model.display());
                println!("baseline   {} ({}-d code, DCGAN-style decoder of width {})", c.kind.name(), c.code_size, c.width);
                println!("decoder    {} parameters", prior.decoder_vars.trainable_variables().iter().map(|t| t.numel()).sum::<usize>());
                println!("summary    {}", serde_json::to_string_pretty(&prior.summary)?);
                return Ok(());
            }
            Err(_) => return Err(error),
        },
    };
    let c = &model.config;
    println!("model      {}", args.model.display());
    println!("preset     {} ({:?} latent)", c.preset, c.latent);
    println!("tile       {}×{} px, z {}×{}×{}", c.image_size, c.image_size, c.latent_depth(), c.latent_size(), c.latent_size());
    println!("generator  {} parameters, {:.3} GMAC per tile", model.generator_param_count(), model.generator_macs() as f64 / 1e9);
    println!("|φ|        {} per image ({} box-constrained to ±{})", model.latent.param_count(), model.latent.constrained_count(), c.phi_bound);
    match &model.exemplars {
        Some(e) => println!("exemplars  {} φ (inpainting starts each tile from the nearest)", e.size()[0]),
        None => println!("exemplars  none (restoration starts from the seed φ)"),
    }
    println!("summary    {}", serde_json::to_string_pretty(&model.summary)?);
    Ok(())
}
