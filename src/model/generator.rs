//! The hourglass generator g_θ: z → image.
//!
//! Stride-2 4×4 conv encoder, dilated grouped 3×3 bottleneck, transposed-conv decoder with skips
//! from every encoder level (and z), bilinear ×2, 3×3 head, sigmoid. BatchNorm + LeakyReLU 0.2.
//!
//! Restoration renders with g frozen and BatchNorm in eval mode, where each BatchNorm is an
//! affine map per channel: [`Generator::fold_batch_norm`] folds it into the conv before it, so
//! a MAP step runs one conv per layer instead of conv + BatchNorm, forward and backward.
//! Activations are channels-last throughout (training too), and so are the folded weights.
//! Folded weights are also kept in bfloat16: an eval-mode pass runs in the precision of its z.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::config::ModelConfig;
use super::latent::LeakyRelu;

const LEAKY_SLOPE: f64 = 0.2;
/// tch's BatchNorm default, which every norm here uses.
const BATCH_NORM_EPS: f64 = 1e-5;

/// Eval-mode BatchNorm as (scale, shift) per channel.
fn batch_norm_affine(norm: &nn::BatchNorm) -> (Tensor, Tensor) {
    let scale = norm.ws.as_ref().expect("affine BatchNorm") / (&norm.running_var + BATCH_NORM_EPS).sqrt();
    let shift = norm.bs.as_ref().expect("affine BatchNorm") - &norm.running_mean * &scale;
    (scale, shift)
}

/// The same values with NHWC strides. tch has no memory-format API, but ATen infers channels-last
/// from strides: convolutions then skip the NCHW ↔ blocked reorders of activations and weights
/// on every call (CPU: oneDNN; CUDA: cuDNN's NHWC kernels), and the layout propagates.
fn channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// A conv's weight and bias with the following eval-mode BatchNorm folded in, in float32 and
/// in bfloat16.
#[derive(Debug)]
struct Folded {
    weight: Tensor,
    bias: Tensor,
    bfloat16: (Tensor, Tensor),
}

impl Folded {
    fn new(weight: Tensor, bias: Tensor) -> Self {
        let bfloat16 = (weight.to_kind(Kind::BFloat16), bias.to_kind(Kind::BFloat16));
        Self { weight, bias, bfloat16 }
    }

    /// Weight and bias for activations of `kind`.
    fn of(&self, kind: Kind) -> (&Tensor, &Tensor) {
        match kind {
            Kind::BFloat16 => (&self.bfloat16.0, &self.bfloat16.1),
            _ => (&self.weight, &self.bias),
        }
    }
}

#[derive(Debug)]
struct ConvBlock {
    conv: nn::Conv2D,
    norm: nn::BatchNorm,
    stride: i64,
    padding: i64,
    dilation: i64,
    groups: i64,
    folded: Option<Folded>,
}

impl ConvBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = match (&self.folded, train) {
            (Some(f), false) => {
                let (weight, bias) = f.of(x.kind());
                x.conv2d(weight, Some(bias), [self.stride], [self.padding], [self.dilation], self.groups)
            }
            _ => self.norm.forward_t(&x.apply(&self.conv), train),
        };
        y.leaky_relu_with_slope(LEAKY_SLOPE)
    }

    fn fold(&mut self) {
        let (scale, shift) = batch_norm_affine(&self.norm);
        self.folded = Some(Folded::new(channels_last(&(&self.conv.ws * scale.view([-1, 1, 1, 1]))), shift));
    }
}

#[derive(Debug)]
struct UpBlock {
    conv: nn::ConvTranspose2D,
    norm: nn::BatchNorm,
    folded: Option<Folded>,
}

impl UpBlock {
    const STRIDE: i64 = 2;
    const PADDING: i64 = 1;

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = match (&self.folded, train) {
            (Some(f), false) => {
                let (weight, bias) = f.of(x.kind());
                x.conv_transpose2d(weight, Some(bias), [Self::STRIDE], [Self::PADDING], [0], 1, [1])
            }
            _ => self.norm.forward_t(&x.apply(&self.conv), train),
        };
        y.leaky_relu_with_slope(LEAKY_SLOPE)
    }

    fn fold(&mut self) {
        let (scale, shift) = batch_norm_affine(&self.norm);
        // Transposed-conv weights are (in, out, k, k): the output channel is dim 1.
        self.folded = Some(Folded::new(channels_last(&(&self.conv.ws * scale.view([1, -1, 1, 1]))), shift));
    }
}

/// How θ starts: tch's random initialisation (drawn from libtorch's global generator), or
/// zeros for a model whose weights are about to be loaded, which leaves that generator alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightInit {
    Random,
    Zeros,
}

impl WeightInit {
    fn conv(self, cfg: nn::ConvConfig) -> nn::ConvConfig {
        match self {
            Self::Random => cfg,
            Self::Zeros => nn::ConvConfig { ws_init: nn::Init::Const(0.0), bs_init: nn::Init::Const(0.0), ..cfg },
        }
    }

    fn conv_transpose(self, cfg: nn::ConvTransposeConfig) -> nn::ConvTransposeConfig {
        match self {
            Self::Random => cfg,
            Self::Zeros => nn::ConvTransposeConfig { ws_init: nn::Init::Const(0.0), bs_init: nn::Init::Const(0.0), ..cfg },
        }
    }

    fn batch_norm(self) -> nn::BatchNormConfig {
        match self {
            Self::Random => Default::default(),
            Self::Zeros => nn::BatchNormConfig { ws_init: nn::Init::Const(1.0), bs_init: nn::Init::Const(0.0), ..Default::default() },
        }
    }
}

fn conv_block(p: nn::Path, i: i64, o: i64, k: i64, cfg: nn::ConvConfig, init: WeightInit) -> ConvBlock {
    ConvBlock {
        conv: nn::conv2d(&p / "conv", i, o, k, init.conv(nn::ConvConfig { bias: false, ..cfg })),
        norm: nn::batch_norm2d(&p / "norm", o, init.batch_norm()),
        stride: cfg.stride,
        padding: cfg.padding,
        dilation: cfg.dilation,
        groups: cfg.groups,
        folded: None,
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
}

impl Generator {
    pub fn new(p: &nn::Path, cfg: &ModelConfig, init: WeightInit) -> Self {
        let widths = cfg.encoder_widths();
        let stride2 = nn::ConvConfig { stride: 2, padding: 1, ..Default::default() };
        let encoder =
            widths.windows(2).enumerate().map(|(i, w)| conv_block(p / "encoder" / i, w[0], w[1], 4, stride2, init)).collect();
        let deepest = *widths.last().expect("widths is never empty");
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
                conv_block(p / "bottleneck" / i, deepest, deepest, 3, dilated, init)
            })
            .collect();
        let (stages, mut in_channels) = cfg.decoder_stages();
        let up = nn::ConvTransposeConfig { stride: UpBlock::STRIDE, padding: UpBlock::PADDING, bias: false, ..Default::default() };
        let decoder = stages
            .into_iter()
            .enumerate()
            .map(|(j, (i, o))| UpBlock {
                conv: nn::conv_transpose2d(p / "decoder" / j / "conv", i, o, 4, init.conv_transpose(up)),
                norm: nn::batch_norm2d(p / "decoder" / j / "norm", o, init.batch_norm()),
                folded: None,
            })
            .collect();
        let mut head = Vec::new();
        for (i, &o) in cfg.head_channels.iter().enumerate() {
            let same = nn::ConvConfig { padding: 1, ..Default::default() };
            head.push(conv_block(p / "head" / i, in_channels, o, 3, same, init));
            in_channels = o;
        }
        let to_rgb = nn::conv2d(p / "to_rgb", in_channels, 3, 3, init.conv(nn::ConvConfig { padding: 1, ..Default::default() }));
        Self { encoder, bottleneck, decoder, head, to_rgb, image_size: cfg.image_size }
    }

    /// Folds every eval-mode BatchNorm into its conv. Eval-mode forwards use the folded weights
    /// from then on, so call it once θ and the running statistics are final.
    pub fn fold_batch_norm(&mut self) {
        let _guard = tch::no_grad_guard();
        self.encoder.iter_mut().chain(&mut self.bottleneck).chain(&mut self.head).for_each(ConvBlock::fold);
        self.decoder.iter_mut().for_each(UpBlock::fold);
    }

    /// Whether [`Generator::fold_batch_norm`] has run.
    pub fn is_folded(&self) -> bool {
        self.encoder.first().is_some_and(|block| block.folded.is_some())
    }

    /// Images in [0, 1], shape `(n, 3, S, S)`, in float32. `train` selects batch statistics in
    /// BatchNorm. With BatchNorm folded, an eval-mode pass runs in z's precision (float32 or
    /// bfloat16) up to the last conv, which takes float32.
    pub fn forward_t(&self, z: &Tensor, train: bool) -> Tensor {
        let z = &channels_last(z); // the layout propagates through every layer
        let mut skips = vec![z.shallow_clone()];
        let mut x = z.shallow_clone();
        for block in &self.encoder {
            x = block.forward_t(&x, train);
            skips.push(x.shallow_clone());
        }
        skips.pop(); // the deepest level feeds the bottleneck, not a skip
        for block in &self.bottleneck {
            x = block.forward_t(&x, train);
        }
        for up in &self.decoder {
            x = up.forward_t(&x, train);
            if let Some(skip) = skips.pop() {
                x = Tensor::cat(&[x, skip], 1);
            }
        }
        x = x.upsample_bilinear2d([self.image_size, self.image_size], false, None, None);
        for block in &self.head {
            x = block.forward_t(&x, train);
        }
        x.to_kind(Kind::Float).apply(&self.to_rgb).sigmoid()
    }
}
