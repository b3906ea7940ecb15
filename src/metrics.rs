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

/// Where [`Perceptual::load_default`] looks: `$LCM_WEIGHTS`, else the file `scripts/setup.sh`
/// converts into the source tree.
pub fn default_weights_path() -> std::path::PathBuf {
    std::env::var_os("LCM_WEIGHTS").map(Into::into).unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/weights/vgg16_lpips.safetensors")
    })
}

/// Pretrained VGG16 features (ImageNet, torchvision layout) and the LPIPS v0.1 linear heads:
/// the paper's feature distance and LPIPS-VGG.
pub struct Perceptual {
    convs: Vec<(Tensor, Tensor)>,
    heads: Vec<Tensor>,
}

/// Conv indices after which a ReLU output is tapped (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3);
/// a 2×2 max-pool follows every tap but the last.
const VGG_TAPS: [usize; 5] = [1, 3, 6, 9, 12];

impl Perceptual {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let (mut t, _) = crate::tensor_file::load(path, tch::Device::Cpu)?;
        let mut take = |k: String| t.remove(&k).ok_or_else(|| anyhow::anyhow!("{}: tensor {k} missing", path.display()));
        let convs = (0..13).map(|i| Ok((take(format!("vgg.{i}.weight"))?, take(format!("vgg.{i}.bias"))?))).collect::<anyhow::Result<_>>()?;
        let heads = (0..5).map(|k| take(format!("lin.{k}.weight"))).collect::<anyhow::Result<_>>()?;
        Ok(Self { convs, heads })
    }

    pub fn load_default() -> anyhow::Result<Self> {
        let path = default_weights_path();
        Self::load(&path).map_err(|e| anyhow::anyhow!("{e:#} (run `scripts/setup.sh` to fetch the perceptual-metric weights)"))
    }

    /// The five tapped feature maps of `(n, 3, H, W)` inputs already normalised for VGG.
    fn features(&self, x: &Tensor) -> Vec<Tensor> {
        let mut taps = Vec::new();
        let mut x = x.shallow_clone();
        for (i, (w, b)) in self.convs.iter().enumerate() {
            x = x.conv2d(w, Some(b), 1, 1, 1, 1).relu();
            if VGG_TAPS.contains(&i) {
                taps.push(x.shallow_clone());
                if i != 12 {
                    x = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
                }
            }
        }
        taps
    }

    /// The paper's metric: mean squared distance of ImageNet-normalised VGG16 features at the five
    /// taps, equal weights; with `region` `(1, H, W)`, only over it (resized to each tap).
    pub fn vgg_distance(&self, a: &Tensor, b: &Tensor, region: Option<&Tensor>) -> f64 {
        let _guard = tch::no_grad_guard();
        let mean = Tensor::from_slice(&[0.485f32, 0.456, 0.406]).view([1, 3, 1, 1]);
        let std = Tensor::from_slice(&[0.229f32, 0.224, 0.225]).view([1, 3, 1, 1]);
        let norm = |t: &Tensor| (batched(&t.to_device(tch::Device::Cpu)) - &mean) / &std;
        let (fa, fb) = (self.features(&norm(a)), self.features(&norm(b)));
        let mut total = 0.0;
        for (x, y) in fa.iter().zip(&fb) {
            let d = (x - y).square().mean_dim(1, true, Kind::Float);
            let (h, w) = (d.size()[2], d.size()[3]);
            total += match region {
                Some(r) => {
                    let r = batched(&r.to_device(tch::Device::Cpu)).upsample_nearest2d([h, w], None, None);
                    f64::try_from((&d * &r).sum(Kind::Float) / r.sum(Kind::Float).clamp_min(1.0)).unwrap_or(f64::NAN)
                }
                None => f64::try_from(d.mean(Kind::Float)).unwrap_or(f64::NAN),
            };
        }
        total / fa.len() as f64
    }

    /// LPIPS-VGG v0.1 between images in [0, 1] (0 for identical images).
    pub fn lpips(&self, a: &Tensor, b: &Tensor) -> f64 {
        let _guard = tch::no_grad_guard();
        let shift = Tensor::from_slice(&[-0.030f32, -0.088, -0.188]).view([1, 3, 1, 1]);
        let scale = Tensor::from_slice(&[0.458f32, 0.448, 0.450]).view([1, 3, 1, 1]);
        let norm = |t: &Tensor| (batched(&t.to_device(tch::Device::Cpu)) * 2.0 - 1.0 - &shift) / &scale;
        let (fa, fb) = (self.features(&norm(a)), self.features(&norm(b)));
        let unit = |f: &Tensor| f / (f.square().sum_dim_intlist(1, true, Kind::Float).sqrt() + 1e-10);
        let mut total = Tensor::zeros([fa[0].size()[0]], (Kind::Float, tch::Device::Cpu));
        for ((x, y), head) in fa.iter().zip(&fb).zip(&self.heads) {
            let d = (unit(x) - unit(y)).square().conv2d(head, None::<Tensor>, 1, 0, 1, 1);
            total += d.mean_dim([1i64, 2, 3].as_slice(), false, Kind::Float);
        }
        f64::try_from(total.mean(Kind::Float)).unwrap_or(f64::NAN)
    }
}
