//! Work counts of the generator, from the architecture alone.

use crate::model::ModelConfig;

/// Multiply-accumulates of one generator forward pass for one image.
pub fn generator_macs(cfg: &ModelConfig) -> i64 {
    let mut macs = 0;
    let mut side = cfg.latent_size();
    let widths = cfg.encoder_widths();
    for pair in widths.windows(2) {
        side /= 2;
        macs += pair[0] * pair[1] * 16 * side * side;
    }
    let deepest = *widths.last().expect("widths is never empty");
    macs += cfg.bottleneck_dilations.len() as i64 * deepest * deepest / cfg.bottleneck_groups * 9 * side * side;
    let (stages, mut in_channels) = cfg.decoder_stages();
    for (i, o) in stages {
        // A stride-2 transposed conv touches every input pixel with the whole 4×4 kernel.
        macs += i * o * 16 * side * side;
        side *= 2;
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
