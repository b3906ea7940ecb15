//! Reconstruction losses: Laplacian-pyramid L1 and MSE, per sample.
//!
//! All functions take a residual `d = (D(x) − y) ⊙ w` of shape `(n, c, h, w)` (the weight w
//! masks unknown or padded pixels) and return one value per sample, shape `(n,)`.

use tch::{Kind, Tensor};

/// Band levels of the pyramid; the low-pass residual comes on top.
pub const LAPLACIAN_LEVELS: usize = 3;
const BLUR_SIZE: i64 = 5;
const BLUR_SIGMA: f64 = 2.0;

/// Normalised 5×5 Gaussian (σ = 2), as a depthwise kernel for `channels` channels.
fn blur_kernel(channels: i64, like: &Tensor) -> Tensor {
    let half = (BLUR_SIZE / 2) as f64;
    let g: Vec<f32> = (0..BLUR_SIZE).map(|i| (-(i as f64 - half).powi(2) / (2.0 * BLUR_SIGMA * BLUR_SIGMA)).exp() as f32).collect();
    let g = Tensor::from_slice(&g).to_device(like.device());
    let g = &g / g.sum(Kind::Float);
    g.outer(&g).view([1, 1, BLUR_SIZE, BLUR_SIZE]).repeat([channels, 1, 1, 1])
}

/// Σ_j 2^(−2j) mean|L^j(d)| over 3 band levels and the low-pass residual (zero-padded blur).
pub fn laplacian_l1(d: &Tensor) -> Tensor {
    laplacian_l1_with(d, &blur_kernel(d.size()[1], d))
}

fn laplacian_l1_with(d: &Tensor, kernel: &Tensor) -> Tensor {
    let channels = d.size()[1];
    let mut x = d.shallow_clone();
    let mut total = Tensor::zeros([d.size()[0]], (Kind::Float, d.device()));
    let mut weight = 1.0;
    for _ in 0..LAPLACIAN_LEVELS {
        let low = x.conv2d(kernel, None::<Tensor>, 1, BLUR_SIZE / 2, 1, channels);
        total += (&x - &low).abs().mean_dim([1, 2, 3].as_slice(), false, Kind::Float) * weight;
        x = low.avg_pool2d(2, 2, 0, false, true, None::<i64>);
        weight /= 4.0;
    }
    total + x.abs().mean_dim([1, 2, 3].as_slice(), false, Kind::Float) * weight
}

/// Mean squared value per sample.
pub fn mse(d: &Tensor) -> Tensor {
    d.square().mean_dim([1, 2, 3].as_slice(), false, Kind::Float)
}

/// The objective of training and restoration, Lap-L1 + MSE, with its blur kernel built once.
pub struct Reconstruction {
    kernel: Tensor,
}

impl Reconstruction {
    pub fn new(channels: i64, device: tch::Device) -> Self {
        Self { kernel: blur_kernel(channels, &Tensor::zeros([1], (Kind::Float, device))) }
    }

    pub fn shallow_clone(&self) -> Self {
        Self { kernel: self.kernel.shallow_clone() }
    }

    pub fn apply(&self, d: &Tensor) -> Tensor {
        laplacian_l1_with(d, &self.kernel) + mse(d)
    }
}
