//! Conversion between image files / 8-bit pixel buffers and `(C, H, W)` float tensors in [0, 1].

use std::path::Path;

use anyhow::{Context, Result};
use tch::{Kind, Tensor};

/// Interleaved 8-bit pixels `(H, W, C)` → `(C, H, W)` in [0, 1].
pub fn from_interleaved(pixels: &[u8], height: i64, width: i64, channels: i64) -> Tensor {
    Tensor::from_slice(pixels).view([height, width, channels]).permute([2, 0, 1]).to_kind(Kind::Float) / 255.0
}

/// `(C, H, W)` in [0, 1] → interleaved 8-bit pixels, rounded.
pub fn to_interleaved(image: &Tensor) -> Vec<u8> {
    let t = (image.detach().to_device(tch::Device::Cpu).clamp(0.0, 1.0) * 255.0).round().to_kind(Kind::Uint8);
    Vec::<u8>::try_from(t.permute([1, 2, 0]).contiguous().flatten(0, -1)).expect("u8 tensor")
}

/// Reads any image file as RGB `(3, H, W)`.
pub fn load_rgb(path: &Path) -> Result<Tensor> {
    let img = image::open(path).with_context(|| format!("cannot read image {}", path.display()))?.to_rgb8();
    Ok(from_interleaved(img.as_raw(), img.height() as i64, img.width() as i64, 3))
}

/// Reads any image file as RGBA `(4, H, W)` (opaque where the file has no alpha).
pub fn load_rgba(path: &Path) -> Result<Tensor> {
    let img = image::open(path).with_context(|| format!("cannot read image {}", path.display()))?.to_rgba8();
    Ok(from_interleaved(img.as_raw(), img.height() as i64, img.width() as i64, 4))
}

/// Reads any image file as gray `(1, H, W)` (luma of colour images).
pub fn load_gray(path: &Path) -> Result<Tensor> {
    let img = image::open(path).with_context(|| format!("cannot read image {}", path.display()))?.to_luma8();
    Ok(from_interleaved(img.as_raw(), img.height() as i64, img.width() as i64, 1))
}

/// Writes `(3, H, W)` or `(1, H, W)` as PNG (or whatever the extension names).
pub fn save(image: &Tensor, path: &Path) -> Result<()> {
    let (c, h, w) = image.size3().context("image must be (C, H, W)")?;
    let pixels = to_interleaved(image);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let color = if c == 1 { image::ExtendedColorType::L8 } else { image::ExtendedColorType::Rgb8 };
    image::save_buffer(path, &pixels, w as u32, h as u32, color).with_context(|| format!("cannot write {}", path.display()))
}

/// Puts images `(C, H, W)` side by side (gray ones as RGB), with a 4-pixel white gap.
pub fn side_by_side(images: &[Tensor]) -> Tensor {
    let height = images.iter().map(|t| t.size()[1]).max().unwrap_or(1);
    let mut parts = Vec::new();
    for (i, t) in images.iter().enumerate() {
        if i > 0 {
            parts.push(Tensor::ones([3, height, 4], (Kind::Float, t.device())));
        }
        let t = t.to_kind(Kind::Float).expand([3, -1, -1], false);
        let pad = height - t.size()[1];
        parts.push(t.constant_pad_nd([0, 0, 0, pad]));
    }
    Tensor::cat(&parts, 2)
}
