//! Work counts of the generator, from the architecture alone.

use crate::model::ModelConfig;

/// Multiply-accumulates of one generator forward pass for one image.
pub fn generator_macs(cfg: &ModelConfig) -> i64 {
    let mut macs = 0;
    let mut side = cfg.latent_size();
    let mut widths = vec![cfg.latent_depth()];
    for &o in &cfg.encoder_channels {
        side /= 2;
        macs += widths.last().unwrap() * o * 16 * side * side;
        widths.push(o);
    }
    let deepest = *widths.last().unwrap();
    macs += cfg.bottleneck_dilations.len() as i64 * deepest * deepest / cfg.bottleneck_groups * 9 * side * side;
    let levels = cfg.encoder_channels.len();
    let mut in_channels = deepest;
    for (j, &o) in cfg.decoder_channels.iter().enumerate() {
        // A stride-2 transposed conv touches every input pixel with the whole 4×4 kernel.
        macs += in_channels * o * 16 * side * side;
        side *= 2;
        in_channels = o + if j < levels { widths[levels - 1 - j] } else { 0 };
    }
    side *= 2;
    for &o in &cfg.head_channels {
        macs += in_channels * o * 9 * side * side;
        in_channels = o;
    }
    macs + in_channels * 3 * 9 * side * side
}

/// Multiply-accumulates of f_φ for one image.
pub fn latent_macs(cfg: &ModelConfig) -> i64 {
    let mut side = cfg.noise_size();
    let mut in_channels = cfg.noise_channels;
    let mut macs = 0;
    for &o in &cfg.latent_channels {
        side -= 2;
        macs += in_channels * o * 9 * side * side;
        in_channels = o;
    }
    macs
}
