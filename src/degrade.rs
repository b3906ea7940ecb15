//! Degradation operators D for the three tasks, as differentiable tensor maps, and the
//! resampling (Lanczos, and the downscales footage may have been made with) they share with the
//! classical baselines.

use std::f64::consts::PI;

use tch::{Device, Tensor};

/// A restoration task: what was lost, and the operator that maps an image to the evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    /// Missing pixels; the evidence is the image itself where the mask is 1.
    Inpaint,
    /// The evidence is the image made `scale` times smaller by `downscale`.
    SuperRes { scale: i64, downscale: Downscale },
    /// The evidence is the image's luma ([`LUMA`]).
    Colorize,
}

impl Task {
    /// Super-resolution of evidence made smaller with Lanczos, the paper's degradation.
    pub const fn superres(scale: i64) -> Self {
        Self::SuperRes { scale, downscale: Downscale::Lanczos }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Inpaint => "inpaint",
            Self::SuperRes { .. } => "superres",
            Self::Colorize => "colorize",
        }
    }

    /// Ratio between the restored image's size and the evidence's.
    pub fn scale(&self) -> i64 {
        match self {
            Self::SuperRes { scale, .. } => *scale,
            _ => 1,
        }
    }

    /// Channels of the evidence.
    pub fn evidence_channels(&self) -> i64 {
        if *self == Self::Colorize { 1 } else { 3 }
    }

    /// D(x) for images `(n, 3, h, w)`.
    pub fn degrade(&self, x: &Tensor) -> Tensor {
        match self {
            Self::Inpaint => x.shallow_clone(),
            Self::SuperRes { scale, downscale } => {
                let (_, _, h, w) = x.size4().expect("images are 4-d");
                resize(x, h / scale, w / scale, *downscale)
            }
            Self::Colorize => gray(x),
        }
    }
}

/// BT.601 luma weights of R, G and B: the gray users hold (videoconvert's GRAY8, OpenCV's
/// `RGB2GRAY`, what a B/W scan records, to rounding), so the gray colorization keeps exact. The
/// paper's channel mean differs from it by up to 0.25 on saturated colours (a blue sky: 0.06),
/// which a hint's colour then carried into the output as a shift in brightness.
pub const LUMA: [f64; 3] = [0.299, 0.587, 0.114];

/// Luma ([`LUMA`]) along `channel_dim` of RGB, keeping that axis with size 1; a gray image
/// (one channel) is its own.
pub fn luma(x: &Tensor, channel_dim: i64) -> Tensor {
    if x.size()[channel_dim as usize] == 1 {
        return x.shallow_clone();
    }
    let mut shape = vec![1i64; x.dim()];
    shape[channel_dim as usize] = 3;
    let weights = Tensor::from_slice(&LUMA).to_kind(x.kind()).to_device(x.device()).view(shape.as_slice());
    (x * weights).sum_dim_intlist(channel_dim, true, x.kind())
}

/// Gray of images, colorization's degradation: `(n, 3, h, w)` → `(n, 1, h, w)` luma.
pub fn gray(x: &Tensor) -> Tensor {
    luma(x, 1)
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 { 1.0 } else { (PI * x).sin() / (PI * x) }
}

fn lanczos3(x: f64) -> f64 {
    if x.abs() < 3.0 { sinc(x) * sinc(x / 3.0) } else { 0.0 }
}

/// How super-resolution's evidence was made smaller: the filter of an antialiased (PIL-style)
/// downscale. Footage made smaller otherwise than the operator assumes comes back worse than
/// plain Lanczos (benches/NOTES.md, benchmark 18); upscaling is Lanczos whatever this is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Downscale {
    /// Lanczos-3, the paper's degradation (PIL's `LANCZOS`).
    #[default]
    Lanczos,
    /// Keys' cubic with a = −0.5 (PIL's `BICUBIC`).
    Bicubic,
    /// The mean of each output pixel's footprint (PIL's `BOX`, OpenCV's `INTER_AREA` at whole
    /// factors, a sensor's binning).
    Area,
}

impl Downscale {
    pub const ALL: [Self; 3] = [Self::Lanczos, Self::Bicubic, Self::Area];

    pub fn name(self) -> &'static str {
        match self {
            Self::Lanczos => "lanczos",
            Self::Bicubic => "bicubic",
            Self::Area => "area",
        }
    }

    /// The filter's half-width in input pixels at scale 1.
    fn support(self) -> f64 {
        match self {
            Self::Lanczos => 3.0,
            Self::Bicubic => 2.0,
            Self::Area => 0.5,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Self::Lanczos => lanczos3(x),
            Self::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Self::Area => {
                if (-0.5..0.5).contains(&x) {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

impl std::str::FromStr for Downscale {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| format!("downscale '{s}' is not lanczos, bicubic or area"))
    }
}

/// The `(out, in)` matrix of PIL's antialiased resampling along one axis, Lanczos-3 up and
/// `downscale` down: the kernel is stretched by the downscale factor and renormalised where it
/// is cut by a border.
fn resampling_matrix(in_size: i64, out_size: i64, downscale: Downscale) -> Vec<f32> {
    let scale = in_size as f64 / out_size as f64;
    let filter = if scale > 1.0 { downscale } else { Downscale::Lanczos };
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    let mut m = vec![0f32; (out_size * in_size) as usize];
    for i in 0..out_size {
        let center = (i as f64 + 0.5) * scale;
        let lo = ((center - support + 0.5).floor() as i64).max(0);
        let hi = ((center + support + 0.5).floor() as i64).min(in_size);
        let weights: Vec<f64> = (lo..hi).map(|j| filter.weight((j as f64 - center + 0.5) / filter_scale)).collect();
        let total: f64 = weights.iter().sum();
        for (j, w) in (lo..hi).zip(weights) {
            m[(i * in_size + j) as usize] = (w / total) as f32;
        }
    }
    m
}

fn resampling_tensor(in_size: i64, out_size: i64, downscale: Downscale, device: Device) -> Tensor {
    Tensor::from_slice(&resampling_matrix(in_size, out_size, downscale)).view([out_size, in_size]).to_device(device)
}

/// Separable Lanczos-3 resize of `(n, c, h, w)` to `(n, c, out_h, out_w)`, differentiable.
pub fn lanczos_resize(x: &Tensor, out_h: i64, out_w: i64) -> Tensor {
    resize(x, out_h, out_w, Downscale::Lanczos)
}

/// [`lanczos_resize`] whose downscales filter with `downscale`.
pub fn resize(x: &Tensor, out_h: i64, out_w: i64, downscale: Downscale) -> Tensor {
    let (_, _, h, w) = x.size4().expect("images are 4-d");
    let rows = resampling_tensor(h, out_h, downscale, x.device());
    let cols = resampling_tensor(w, out_w, downscale, x.device());
    rows.matmul(&x.matmul(&cols.tr()))
}

/// The operator MAP fits renders through, with its resampling matrices built once for a tile
/// size, for step loops. It is the task's D except for colorization, where renders are compared
/// with the gray through their channel mean (the paper's D) rather than the luma that made it:
/// luma weighs blue at a fifth of green and leaves the prior's colour freer, and on the four
/// tuning clips its calmed colour moved away from the truth (LPIPS through `gst-launch-1.0`
/// tree 0.2855 → 0.2883, street 0.2895 → 0.3073, faces 0.2699 → 0.2716, bunny 0.2671 → 0.2712;
/// benches/NOTES.md, benchmark 23). The output's luma is made exact afterwards either way.
pub struct Operator {
    task: Task,
    /// Super-resolution: the row and (transposed) column downscaling matrices.
    resampling: Option<(Tensor, Tensor)>,
}

impl Operator {
    pub fn new(task: Task, tile: i64, device: Device) -> Self {
        let resampling = match task {
            Task::SuperRes { scale, downscale } => {
                let m = resampling_tensor(tile, tile / scale, downscale, device);
                Some((m.shallow_clone(), m.tr().contiguous()))
            }
            _ => None,
        };
        Self { task, resampling }
    }

    pub fn shallow_clone(&self) -> Self {
        Self { task: self.task, resampling: self.resampling.as_ref().map(|(r, c)| (r.shallow_clone(), c.shallow_clone())) }
    }

    /// The operator on `(n, 3, tile, tile)` images.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        match &self.resampling {
            Some((rows, cols_t)) => rows.matmul(&x.matmul(cols_t)),
            None if self.task == Task::Colorize => x.mean_dim(1, true, x.kind()),
            None => self.task.degrade(x),
        }
    }
}
