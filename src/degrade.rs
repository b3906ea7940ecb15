//! Degradation operators D for the three tasks, as differentiable tensor maps, and the
//! Lanczos resampling they share with the classical baselines.

use std::f64::consts::PI;

use tch::{Device, Kind, Tensor};

/// A restoration task: what was lost, and the operator that maps an image to the evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    /// Missing pixels; the evidence is the image itself where the mask is 1.
    Inpaint,
    /// The evidence is the image Lanczos-downsampled by `scale`.
    SuperRes { scale: i64 },
    /// The evidence is the mean of the three channels.
    Colorize,
}

impl Task {
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
            Self::SuperRes { scale } => *scale,
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
            Self::SuperRes { scale } => {
                let (_, _, h, w) = x.size4().expect("images are 4-d");
                lanczos_resize(x, h / scale, w / scale)
            }
            Self::Colorize => gray(x),
        }
    }
}

/// Channel mean, keeping a channel axis: `(n, 3, h, w)` → `(n, 1, h, w)`.
pub fn gray(x: &Tensor) -> Tensor {
    x.mean_dim(1, true, Kind::Float)
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 { 1.0 } else { (PI * x).sin() / (PI * x) }
}

fn lanczos3(x: f64) -> f64 {
    if x.abs() < 3.0 { sinc(x) * sinc(x / 3.0) } else { 0.0 }
}

/// The `(out, in)` matrix of PIL's antialiased Lanczos-3 resampling along one axis: the
/// kernel is stretched by the downscale factor and renormalised where it is cut by a border.
pub fn lanczos_matrix(in_size: i64, out_size: i64) -> Vec<f32> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 3.0 * filter_scale;
    let mut m = vec![0f32; (out_size * in_size) as usize];
    for i in 0..out_size {
        let center = (i as f64 + 0.5) * scale;
        let lo = ((center - support + 0.5).floor() as i64).max(0);
        let hi = ((center + support + 0.5).floor() as i64).min(in_size);
        let weights: Vec<f64> = (lo..hi).map(|j| lanczos3((j as f64 - center + 0.5) / filter_scale)).collect();
        let total: f64 = weights.iter().sum();
        for (j, w) in (lo..hi).zip(weights) {
            m[(i * in_size + j) as usize] = (w / total) as f32;
        }
    }
    m
}

fn lanczos_tensor(in_size: i64, out_size: i64, device: Device) -> Tensor {
    Tensor::from_slice(&lanczos_matrix(in_size, out_size)).view([out_size, in_size]).to_device(device)
}

/// Separable Lanczos-3 resize of `(n, c, h, w)` to `(n, c, out_h, out_w)`, differentiable.
pub fn lanczos_resize(x: &Tensor, out_h: i64, out_w: i64) -> Tensor {
    let (_, _, h, w) = x.size4().expect("images are 4-d");
    let rows = lanczos_tensor(h, out_h, x.device());
    let cols = lanczos_tensor(w, out_w, x.device());
    rows.matmul(&x.matmul(&cols.tr()))
}

/// A task's operator D with its resampling matrices built once for a tile size, for step loops.
pub struct Operator {
    task: Task,
    /// Super-resolution: the row and (transposed) column Lanczos matrices.
    lanczos: Option<(Tensor, Tensor)>,
}

impl Operator {
    pub fn new(task: Task, tile: i64, device: Device) -> Self {
        let lanczos = match task {
            Task::SuperRes { scale } => {
                let m = lanczos_tensor(tile, tile / scale, device);
                Some((m.shallow_clone(), m.tr().contiguous()))
            }
            _ => None,
        };
        Self { task, lanczos }
    }

    pub fn shallow_clone(&self) -> Self {
        Self { task: self.task, lanczos: self.lanczos.as_ref().map(|(r, c)| (r.shallow_clone(), c.shallow_clone())) }
    }

    /// D(x) for `(n, 3, tile, tile)` images.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        match &self.lanczos {
            Some((rows, cols_t)) => rows.matmul(&x.matmul(cols_t)),
            None => self.task.degrade(x),
        }
    }
}
