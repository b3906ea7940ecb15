//! Known-pixel masks for inpainting: `(1, H, W)`, 1 where a pixel is known, 0 where missing.

use std::path::Path;

use anyhow::Result;
use tch::{Kind, Tensor};

/// A damage image (non-black = missing) scaled to `height`×`width` (nearest).
pub fn from_image(path: &Path, height: i64, width: i64) -> Result<Tensor> {
    Ok(scaled(&crate::imageio::load_gray(path)?, height, width))
}

/// A damage image `(1, h, w)` already in memory (non-black = missing) scaled to `height`×`width`.
pub fn scaled(damage: &Tensor, height: i64, width: i64) -> Tensor {
    let scaled = damage.unsqueeze(0).upsample_nearest2d([height, width], None, None).squeeze_dim(0);
    scaled.le(0.5 / 255.0).to_kind(Kind::Float)
}

/// The rectangle at (`x`, `y`) of `w`×`h` missing, clipped to the image.
pub fn rect(height: i64, width: i64, x: i64, y: i64, w: i64, h: i64) -> Tensor {
    let mask = Tensor::ones([1, height, width], (Kind::Float, tch::Device::Cpu));
    let (x, y) = (x.clamp(0, width), y.clamp(0, height));
    let (w, h) = (w.min(width - x), h.min(height - y));
    if w > 0 && h > 0 {
        let _ = mask.narrow(1, y, h).narrow(2, x, w).fill_(0.0);
    }
    mask
}

/// A centred square hole covering `fraction` of each side (the paper's protocol).
pub fn centre_hole(height: i64, width: i64, fraction: f64) -> Tensor {
    let (hh, hw) = ((height as f64 * fraction) as i64, (width as f64 * fraction) as i64);
    rect(height, width, (width - hw) / 2, (height - hh) / 2, hw, hh)
}
