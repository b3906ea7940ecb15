//! The hourglass generator g_θ: z → image.
//!
//! Stride-2 4×4 conv encoder, dilated grouped 3×3 bottleneck, transposed-conv decoder with skips
//! from every encoder level (and z), bilinear ×2, 3×3 head, sigmoid. BatchNorm + LeakyReLU 0.2.

use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::config::ModelConfig;
const LEAKY_SLOPE: f32 = 0.2;

#[derive(Debug)]
struct ConvBlock {
    conv: nn::Conv2D,
    norm: nn::BatchNorm,
}

impl ConvBlock {
    fn forward_t(&self, x: &Tensor, train: bool, slope: &Tensor) -> Tensor {
        self.norm.forward_t(&x.apply(&self.conv), train).prelu(slope)
    }
}

#[derive(Debug)]
struct UpBlock {
    conv: nn::ConvTranspose2D,
    norm: nn::BatchNorm,
}

fn conv_block(p: nn::Path, i: i64, o: i64, k: i64, cfg: nn::ConvConfig) -> ConvBlock {
    ConvBlock {
        conv: nn::conv2d(&p / "conv", i, o, k, nn::ConvConfig { bias: false, ..cfg }),
        norm: nn::batch_norm2d(&p / "norm", o, Default::default()),
    }
}

#[derive(Debug)]
pub struct Generator {
    encoder: Vec<ConvBlock>,
    bottleneck: Vec<ConvBlock>,
    decoder: Vec<UpBlock>,
    head: Vec<ConvBlock>,
    to_rgb: nn::Conv2D,
    image_size: i64,
    /// LeakyReLU 0.2 as a fixed PReLU weight: one fused kernel each way (tch's leaky_relu has no slope).
    slope: Tensor,
}

impl Generator {
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Self {
        let mut encoder = Vec::new();
        let mut widths = vec![cfg.latent_depth()];
        for (i, &o) in cfg.encoder_channels.iter().enumerate() {
            let stride2 = nn::ConvConfig { stride: 2, padding: 1, ..Default::default() };
            encoder.push(conv_block(p / "encoder" / i, *widths.last().unwrap(), o, 4, stride2));
            widths.push(o);
        }
        let deepest = *widths.last().unwrap();
        let bottleneck = cfg
            .bottleneck_dilations
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                let dilated = nn::ConvConfig {
                    padding: d,
                    dilation: d,
                    groups: cfg.bottleneck_groups,
                    ..Default::default()
                };
                conv_block(p / "bottleneck" / i, deepest, deepest, 3, dilated)
            })
            .collect();
        // widths[k] is the channel count at latent_size / 2^k; decoder stage j lands on level
        // levels-1-j and concatenates the skip from there (none for the last stage).
        let levels = cfg.encoder_channels.len();
        let mut decoder = Vec::new();
        let mut in_channels = deepest;
        for (j, &o) in cfg.decoder_channels.iter().enumerate() {
            let up = nn::ConvTransposeConfig { stride: 2, padding: 1, bias: false, ..Default::default() };
            decoder.push(UpBlock {
                conv: nn::conv_transpose2d(p / "decoder" / j / "conv", in_channels, o, 4, up),
                norm: nn::batch_norm2d(p / "decoder" / j / "norm", o, Default::default()),
            });
            in_channels = o + if j < levels { widths[levels - 1 - j] } else { 0 };
        }
        let mut head = Vec::new();
        for (i, &o) in cfg.head_channels.iter().enumerate() {
            let same = nn::ConvConfig { padding: 1, ..Default::default() };
            head.push(conv_block(p / "head" / i, in_channels, o, 3, same));
            in_channels = o;
        }
        let to_rgb = nn::conv2d(p / "to_rgb", in_channels, 3, 3, nn::ConvConfig { padding: 1, ..Default::default() });
        let slope = Tensor::from_slice(&[LEAKY_SLOPE]).to_device(p.device());
        Self { encoder, bottleneck, decoder, head, to_rgb, image_size: cfg.image_size, slope }
    }

    /// Images in [0, 1], shape `(n, 3, S, S)`. `train` selects batch statistics in BatchNorm.
    pub fn forward_t(&self, z: &Tensor, train: bool) -> Tensor {
        let mut skips = vec![z.shallow_clone()];
        let mut x = z.shallow_clone();
        for block in &self.encoder {
            x = block.forward_t(&x, train, &self.slope);
            skips.push(x.shallow_clone());
        }
        skips.pop(); // the deepest level feeds the bottleneck, not a skip
        for block in &self.bottleneck {
            x = block.forward_t(&x, train, &self.slope);
        }
        for up in &self.decoder {
            x = up.norm.forward_t(&x.apply(&up.conv), train).prelu(&self.slope);
            if let Some(skip) = skips.pop() {
                x = Tensor::cat(&[x, skip], 1);
            }
        }
        x = x.upsample_bilinear2d([self.image_size, self.image_size], false, None, None);
        for block in &self.head {
            x = block.forward_t(&x, train, &self.slope);
        }
        x.apply(&self.to_rgb).sigmoid()
    }
}
