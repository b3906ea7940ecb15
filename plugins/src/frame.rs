//! Moving pixels between mapped video frames and `(C, H, W)` float tensors in [0, 1].

use gst_video::{VideoFormat, VideoFrameExt, VideoFrameRef};
use tch::Tensor;

/// Formats every element reads and writes (packed 8-bit RGB orders).
pub const RGB_FORMATS: [VideoFormat; 9] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Xrgb,
    VideoFormat::Xbgr,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Argb,
];

struct Layout {
    width: usize,
    height: usize,
    stride: usize,
    pixel_stride: usize,
    /// Byte offsets of R, G, B (or of the one gray component).
    colour: Vec<usize>,
    alpha: Option<usize>,
}

fn layout<T>(frame: &VideoFrameRef<T>) -> Layout {
    let info = frame.format_info();
    let n = info.n_components() as usize;
    let offsets: Vec<usize> = info.poffset()[..n].iter().map(|&o| o as usize).collect();
    let (colour, alpha) = if info.is_gray() {
        (vec![offsets[0]], None)
    } else {
        (offsets[..3].to_vec(), info.has_alpha().then(|| offsets[3]))
    };
    Layout {
        width: frame.width() as usize,
        height: frame.height() as usize,
        stride: frame.plane_stride()[0] as usize,
        pixel_stride: info.pixel_stride()[0] as usize,
        colour,
        alpha,
    }
}

/// The frame's colour (or gray) channels `(C, H, W)` and, when it has one, alpha `(1, H, W)`.
pub fn read<T>(frame: &VideoFrameRef<T>) -> Result<(Tensor, Option<Tensor>), glib::BoolError> {
    let l = layout(frame);
    let data = frame.plane_data(0)?;
    let c = l.colour.len();
    let mut colour = Vec::with_capacity(l.width * l.height * c);
    let mut alpha = Vec::with_capacity(if l.alpha.is_some() { l.width * l.height } else { 0 });
    for y in 0..l.height {
        let row = &data[y * l.stride..];
        for x in 0..l.width {
            let px = &row[x * l.pixel_stride..];
            colour.extend(l.colour.iter().map(|&o| px[o]));
            if let Some(a) = l.alpha {
                alpha.push(px[a]);
            }
        }
    }
    let (h, w) = (l.height as i64, l.width as i64);
    let colour = lcm::imageio::from_interleaved(&colour, h, w, c as i64);
    let alpha = l.alpha.map(|_| lcm::imageio::from_interleaved(&alpha, h, w, 1));
    Ok((colour, alpha))
}

/// Writes `(3, H, W)` into an RGB-family frame (alpha set opaque); where `only` is given, just
/// the pixels whose entry is true are touched, everything else keeps its bytes.
pub fn write(frame: &mut VideoFrameRef<&mut gst::BufferRef>, image: &Tensor, only: Option<&[bool]>) -> Result<(), glib::BoolError> {
    let l = layout(frame);
    let pixels = lcm::imageio::to_interleaved(image);
    let data = frame.plane_data_mut(0)?;
    for y in 0..l.height {
        for x in 0..l.width {
            let i = y * l.width + x;
            if only.is_some_and(|o| !o[i]) {
                continue;
            }
            let px = &mut data[y * l.stride + x * l.pixel_stride..];
            for (k, &o) in l.colour.iter().enumerate() {
                px[o] = pixels[i * 3 + k];
            }
            if let Some(a) = l.alpha {
                px[a] = 255;
            }
        }
    }
    Ok(())
}
