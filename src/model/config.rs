//! Architecture configuration shared by training, restoration and the model file.

use serde::{Deserialize, Serialize};

/// How each image's latent tensor z is parameterised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatentKind {
    /// Latent Convolutional Model: z = f_φ(s), a small per-image ConvNet on fixed noise.
    Conv,
    /// GLO baseline: z itself is the per-image parameter, kept on a sphere.
    Glo,
}

/// Everything needed to rebuild a model; stored in every model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Name of the preset this config came from (informational).
    pub preset: String,
    pub latent: LatentKind,
    /// Side of the square image tile the generator produces.
    pub image_size: i64,
    /// Channels of the fixed noise input s.
    pub noise_channels: i64,
    /// Output channels of each 3×3 unpadded conv of f_φ; the last is the latent depth.
    pub latent_channels: Vec<i64>,
    /// Box constraint on f_φ's conv weights.
    pub phi_bound: f64,
    /// Widths of g's stride-2 encoder, from the latent resolution downwards.
    pub encoder_channels: Vec<i64>,
    /// Dilations of g's 3×3 bottleneck convs at the coarsest level.
    pub bottleneck_dilations: Vec<i64>,
    /// Groups of the bottleneck convs.
    pub bottleneck_groups: i64,
    /// Widths of g's transposed-conv decoder (one entry per ×2 step up to image_size/2).
    pub decoder_channels: Vec<i64>,
    /// Widths of the 3×3 convs after the final bilinear ×2, before the RGB layer.
    pub head_channels: Vec<i64>,
}

impl ModelConfig {
    /// Looks a preset up by name: `tiny`, `small` or `ref128`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "small" => Some(Self::small()),
            "ref128" => Some(Self::ref128()),
            _ => None,
        }
    }

    pub const PRESETS: [&'static str; 3] = ["tiny", "small", "ref128"];

    /// 32² tiles, trains in seconds: for tests.
    pub fn tiny() -> Self {
        Self {
            preset: "tiny".into(),
            latent: LatentKind::Conv,
            image_size: 32,
            noise_channels: 2,
            latent_channels: vec![4, 8, 16, 16],
            phi_bound: 0.01,
            encoder_channels: vec![32, 64],
            bottleneck_dilations: vec![1],
            bottleneck_groups: 1,
            decoder_channels: vec![64, 32, 16],
            head_channels: vec![16],
        }
    }

    /// 64² tiles, trainable on a laptop CPU in an hour or two.
    pub fn small() -> Self {
        Self {
            preset: "small".into(),
            latent: LatentKind::Conv,
            image_size: 64,
            noise_channels: 2,
            latent_channels: vec![8, 16, 32, 32],
            phi_bound: 0.01,
            encoder_channels: vec![64, 128, 256],
            bottleneck_dilations: vec![1, 2],
            bottleneck_groups: 4,
            decoder_channels: vec![128, 64, 48, 32],
            head_channels: vec![32, 16],
        }
    }

    /// The reference architecture for 128² images: z is 64×32×32.
    pub fn ref128() -> Self {
        Self {
            preset: "ref128".into(),
            latent: LatentKind::Conv,
            image_size: 128,
            noise_channels: 2,
            latent_channels: vec![8, 16, 32, 64],
            phi_bound: 0.01,
            encoder_channels: vec![256, 512, 1024],
            bottleneck_dilations: vec![1, 2, 4],
            bottleneck_groups: 2,
            decoder_channels: vec![512, 256, 128, 128],
            head_channels: vec![64, 32],
        }
    }

    /// Side of the latent tensor z.
    pub fn latent_size(&self) -> i64 {
        self.image_size / 4
    }

    pub fn latent_depth(&self) -> i64 {
        *self.latent_channels.last().expect("latent_channels is never empty")
    }

    /// Channels at each encoder level: `[k]` at latent_size / 2^k, from z to the deepest.
    pub fn encoder_widths(&self) -> Vec<i64> {
        std::iter::once(self.latent_depth()).chain(self.encoder_channels.iter().copied()).collect()
    }

    /// (input, output) channels of every decoder stage, then the channels entering the head.
    /// Stage j lands on encoder level levels-1-j and concatenates the skip from there (the
    /// last stages, past z's level, have none).
    pub fn decoder_stages(&self) -> (Vec<(i64, i64)>, i64) {
        let widths = self.encoder_widths();
        let levels = self.encoder_channels.len();
        let mut in_channels = *widths.last().expect("widths is never empty");
        let mut stages = Vec::new();
        for (j, &o) in self.decoder_channels.iter().enumerate() {
            stages.push((in_channels, o));
            in_channels = o + if j < levels { widths[levels - 1 - j] } else { 0 };
        }
        (stages, in_channels)
    }

    /// Side of the noise input s (each unpadded 3×3 conv trims two pixels).
    pub fn noise_size(&self) -> i64 {
        self.latent_size() + 2 * self.latent_channels.len() as i64
    }

    /// Checks the invariants every constructor relies on.
    pub fn validate(&self) -> Result<(), String> {
        // Bounds far above any preset, so a damaged file cannot ask for gigabytes of weights.
        const MAX_WIDTH: i64 = 1024;
        const MAX_LIST: usize = 8;
        let lists = [&self.latent_channels, &self.encoder_channels, &self.decoder_channels, &self.head_channels, &self.bottleneck_dilations];
        if lists.iter().any(|l| l.len() > MAX_LIST || l.iter().any(|&v| !(1..=MAX_WIDTH).contains(&v))) {
            return Err(format!("channel counts and dilations must lie in 1..={MAX_WIDTH}, at most {MAX_LIST} per list"));
        }
        if !(1..=64).contains(&self.noise_channels) || self.image_size > 1024 {
            return Err("noise_channels must lie in 1..=64 and image_size be at most 1024".into());
        }
        let levels = self.encoder_channels.len() as u32;
        if self.latent_channels.is_empty() || self.encoder_channels.is_empty() {
            return Err("latent_channels and encoder_channels must not be empty".into());
        }
        if self.image_size < 16 || self.image_size % (4 << levels) != 0 {
            return Err(format!(
                "image_size {} must be a multiple of {} for {levels} encoder levels",
                self.image_size,
                4 << levels
            ));
        }
        if self.decoder_channels.len() as u32 != levels + 1 {
            return Err(format!("decoder needs {} stages, has {}", levels + 1, self.decoder_channels.len()));
        }
        let deepest = *self.encoder_channels.last().unwrap();
        if self.bottleneck_groups < 1 || deepest % self.bottleneck_groups != 0 {
            return Err("bottleneck_groups must divide the deepest encoder width".into());
        }
        if self.phi_bound.is_nan() || self.phi_bound <= 0.0 {
            return Err("phi_bound must be positive".into());
        }
        Ok(())
    }
}
