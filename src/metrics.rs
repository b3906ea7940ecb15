//! Image quality metrics on `(3, H, W)` or `(n, 3, H, W)` tensors in [0, 1].

use tch::{Kind, Tensor};

fn batched(t: &Tensor) -> Tensor {
    if t.dim() == 3 { t.unsqueeze(0) } else { t.shallow_clone() }.to_kind(Kind::Float)
}

/// Peak signal-to-noise ratio in dB over all pixels, or only where `mask` (broadcastable) is 1.
pub fn psnr(a: &Tensor, b: &Tensor, mask: Option<&Tensor>) -> f64 {
    let diff = (batched(a) - batched(b)).square();
    let mse = match mask {
        Some(m) => {
            let m = batched(m).expand_as(&diff);
            f64::try_from((diff * &m).sum(Kind::Float) / m.sum(Kind::Float).clamp_min(1.0)).unwrap_or(f64::NAN)
        }
        None => f64::try_from(diff.mean(Kind::Float)).unwrap_or(f64::NAN),
    };
    10.0 * (1.0 / mse.max(1e-12)).log10()
}

/// Structural similarity (Gaussian 11×11 window, σ = 1.5), averaged over channels and pixels.
pub fn ssim(a: &Tensor, b: &Tensor) -> f64 {
    const C1: f64 = 0.01 * 0.01;
    const C2: f64 = 0.03 * 0.03;
    let (a, b) = (batched(a), batched(b));
    let channels = a.size()[1];
    let g: Vec<f32> = (0..11).map(|i| (-((i as f64 - 5.0).powi(2)) / (2.0 * 1.5 * 1.5)).exp() as f32).collect();
    let g = Tensor::from_slice(&g).to_device(a.device());
    let g = &g / g.sum(Kind::Float);
    let kernel = g.outer(&g).view([1, 1, 11, 11]).repeat([channels, 1, 1, 1]);
    let filter = |t: &Tensor| t.conv2d(&kernel, None::<Tensor>, 1, 0, 1, channels);
    let (mu_a, mu_b) = (filter(&a), filter(&b));
    let var_a = filter(&(&a * &a)) - mu_a.square();
    let var_b = filter(&(&b * &b)) - mu_b.square();
    let cov = filter(&(&a * &b)) - &mu_a * &mu_b;
    let num = (&mu_a * &mu_b * 2.0 + C1) * (cov * 2.0 + C2);
    let den = (mu_a.square() + mu_b.square() + C1) * (var_a + var_b + C2);
    f64::try_from((num / den).mean(Kind::Float)).unwrap_or(f64::NAN)
}
