//! The per-image latent parameterisation: f_φ (LCM) or a free tensor z (GLO).
//!
//! Every image's parameters are one row of a `(n, P)` tensor, so a whole batch of images, each
//! with its own φ, runs through one grouped convolution per layer. Training keeps all rows in one
//! table; restoration keeps one row per tile.

use tch::{Device, Kind, Tensor};

use super::config::{LatentKind, ModelConfig};
use crate::rng::SplitMix64;

const BN_EPS: f64 = 1e-5;
const LEAKY_SLOPE: f64 = 0.2;

/// Where one conv layer of f_φ lives inside a φ row.
#[derive(Clone, Debug)]
struct ConvLayer {
    in_channels: i64,
    out_channels: i64,
    weight_offset: i64,
    /// Offset of the per-image BatchNorm affine (γ then β); `None` for the last layer.
    norm_offset: Option<i64>,
}

/// Layout and maths of φ for one model config.
#[derive(Clone, Debug)]
pub struct Latent {
    kind: LatentKind,
    layers: Vec<ConvLayer>,
    param_count: i64,
    latent_shape: [i64; 3],
    phi_bound: f64,
}

impl Latent {
    pub fn new(cfg: &ModelConfig) -> Self {
        let latent_shape = [cfg.latent_depth(), cfg.latent_size(), cfg.latent_size()];
        let mut layers = Vec::new();
        let mut offset = 0;
        if cfg.latent == LatentKind::Conv {
            let mut in_channels = cfg.noise_channels;
            let last = cfg.latent_channels.len() - 1;
            for (i, &out_channels) in cfg.latent_channels.iter().enumerate() {
                let weight_offset = offset;
                offset += out_channels * in_channels * 9;
                let norm_offset = (i < last).then(|| {
                    let o = offset;
                    offset += 2 * out_channels;
                    o
                });
                layers.push(ConvLayer { in_channels, out_channels, weight_offset, norm_offset });
                in_channels = out_channels;
            }
        } else {
            offset = latent_shape.iter().product();
        }
        Self { kind: cfg.latent, layers, param_count: offset, latent_shape, phi_bound: cfg.phi_bound }
    }

    /// |φ|: parameters per image.
    pub fn param_count(&self) -> i64 {
        self.param_count
    }

    /// Number of φ entries the box constraint applies to (conv weights only).
    pub fn constrained_count(&self) -> i64 {
        match self.kind {
            LatentKind::Conv => self.layers.iter().map(|l| l.out_channels * l.in_channels * 9).sum(),
            LatentKind::Glo => 0,
        }
    }

    /// `n` seeded φ rows: conv weights U(−B, B), BatchNorm γ = 1, β = 0 (GLO: a random unit-RMS z).
    pub fn init(&self, n: i64, seed: u64, device: Device) -> Tensor {
        let mut rng = SplitMix64::new(seed);
        let mut row = vec![0f32; self.param_count as usize];
        let mut rows = Vec::with_capacity((n * self.param_count) as usize);
        for _ in 0..n {
            match self.kind {
                LatentKind::Conv => {
                    for layer in &self.layers {
                        let w = layer.weight_offset as usize;
                        let count = (layer.out_channels * layer.in_channels * 9) as usize;
                        for v in &mut row[w..w + count] {
                            *v = ((rng.next_f64() * 2.0 - 1.0) * self.phi_bound) as f32;
                        }
                        if let Some(o) = layer.norm_offset {
                            let (o, c) = (o as usize, layer.out_channels as usize);
                            row[o..o + c].fill(1.0);
                            row[o + c..o + 2 * c].fill(0.0);
                        }
                    }
                }
                LatentKind::Glo => {
                    for v in row.iter_mut() {
                        *v = rng.next_gaussian() as f32;
                    }
                }
            }
            rows.extend_from_slice(&row);
        }
        let phi = Tensor::from_slice(&rows).view([n, self.param_count]).to_device(device);
        if self.kind == LatentKind::Glo {
            tch::no_grad(|| self.project_(&phi));
        }
        phi
    }

    /// Per-entry bounds (lower, upper) of the box constraint, as `(P,)` tensors.
    fn bounds(&self, device: Device) -> (Tensor, Tensor) {
        let mut upper = vec![f32::INFINITY; self.param_count as usize];
        for layer in &self.layers {
            let w = layer.weight_offset as usize;
            let count = (layer.out_channels * layer.in_channels * 9) as usize;
            upper[w..w + count].fill(self.phi_bound as f32);
        }
        let upper = Tensor::from_slice(&upper).to_device(device);
        (-&upper, upper)
    }

    /// Per-entry step multipliers for adaptive optimisers: box-bounded entries move relative to
    /// their box (×B), the rest (BatchNorm affine, GLO z) unscaled.
    pub fn step_scale(&self, device: Device) -> Tensor {
        let (_, upper) = self.bounds(device);
        upper.where_self(&upper.isfinite(), &upper.ones_like())
    }

    /// The projection onto φ's feasible set, with its bounds prepared on `device` once.
    pub fn projection(&self, device: Device) -> Projection {
        match self.kind {
            LatentKind::Conv => Projection::Box(self.bounds(device)),
            LatentKind::Glo => Projection::Sphere,
        }
    }

    /// Projects φ back onto its feasible set in place (see [`Projection`]).
    pub fn project_(&self, phi: &Tensor) {
        self.projection(phi.device()).apply_(phi);
    }

    /// z for every row of φ, given the fixed noise s of shape `(1, C, H, W)`.
    pub fn forward(&self, noise: &Tensor, phi: &Tensor) -> Tensor {
        let n = phi.size()[0];
        let [c, h, w] = self.latent_shape;
        if self.kind == LatentKind::Glo {
            return phi.view([n, c, h, w]);
        }
        // Stack the batch along channels; groups = n keeps every image's weights apart.
        let mut x = noise.repeat([1, n, 1, 1]);
        for layer in &self.layers {
            let count = layer.out_channels * layer.in_channels * 9;
            let weight = phi.narrow(1, layer.weight_offset, count).reshape([
                n * layer.out_channels,
                layer.in_channels,
                3,
                3,
            ]);
            x = x.conv2d(&weight, None::<Tensor>, 1, 0, 1, n);
            if let Some(o) = layer.norm_offset {
                // BatchNorm in training mode over one sample = per-channel spatial normalisation.
                let c = layer.out_channels;
                let gamma = phi.narrow(1, o, c).reshape([1, n * c, 1, 1]);
                let beta = phi.narrow(1, o + c, c).reshape([1, n * c, 1, 1]);
                let (var, mean) = x.var_mean_correction([2, 3].as_slice(), 0, true);
                x = (x - mean) / (var + BN_EPS).sqrt() * gamma + beta;
            }
            x = x.leaky_relu_with_slope(LEAKY_SLOPE);
        }
        x.view([n, c, h, w])
    }
}

/// φ's feasible set: the conv-weight box for LCM, the unit-RMS sphere for GLO.
pub enum Projection {
    Box((Tensor, Tensor)),
    Sphere,
}

impl Projection {
    pub fn shallow_clone(&self) -> Self {
        match self {
            Projection::Box((lower, upper)) => Projection::Box((lower.shallow_clone(), upper.shallow_clone())),
            Projection::Sphere => Projection::Sphere,
        }
    }

    /// Projects φ in place; call under `no_grad` after every optimiser step.
    pub fn apply_(&self, phi: &Tensor) {
        let mut phi = phi.shallow_clone();
        match self {
            Projection::Box((lower, upper)) => {
                let _ = phi.clamp_tensor_(Some(lower), Some(upper));
            }
            Projection::Sphere => {
                let rms = phi.square().mean_dim(1, true, Kind::Float).sqrt().clamp_min(1e-12);
                let _ = phi.g_div_(&rms);
            }
        }
    }
}

/// LeakyReLU with any slope, one kernel each way.
pub(crate) trait LeakyRelu {
    fn leaky_relu_with_slope(&self, slope: f64) -> Tensor;
}

impl LeakyRelu for Tensor {
    /// tch's `leaky_relu` has no slope argument, but `leaky_relu_backward(grad = x, x)` is exactly
    /// leaky(x), and its gradient with respect to `grad` is `leaky_relu_backward` again. The
    /// other argument only supplies the sign, so it is detached.
    fn leaky_relu_with_slope(&self, slope: f64) -> Tensor {
        self.detach().leaky_relu_backward(self, slope, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaky_relu_with_slope_has_the_right_value_and_gradient() {
        let x = Tensor::from_slice(&[-2.0f32, -0.5, 0.5, 3.0]).set_requires_grad(true);
        let y = x.leaky_relu_with_slope(0.2);
        let expected = Tensor::from_slice(&[-0.4f32, -0.1, 0.5, 3.0]);
        assert!(y.allclose(&expected, 1e-6, 1e-7, false));
        let grad = Tensor::run_backward(&[(&y * Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0])).sum(Kind::Float)], &[&x], false, false);
        assert!(grad[0].allclose(&Tensor::from_slice(&[0.2f32, 0.4, 3.0, 4.0]), 1e-6, 1e-7, false));
    }
}
