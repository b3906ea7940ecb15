//! The paper's vector-latent baselines beside LCM and GLO: an autoencoder (1024-d code, trained
//! with Lap-L1 + MSE) and WGAN-GP (256-d code, gradient penalty). Both decode with a DCGAN-style
//! generator of transposed convs; restoration is MAP over the code with the decoder frozen, fitted
//! to the same weighted evidence and finished the same way as LCM's ([`crate::restore`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::degrade::Operator;
use crate::loss::Reconstruction;
use crate::optim::Adam;
use crate::restore::{Observation, RestoreOptions, keep_evidence, weighted_evidence};
use crate::rng::SplitMix64;
use crate::tensor_file;
use crate::train::TrainingSummary;

const FORMAT: &str = "lcm-vector-prior";
const FORMAT_VERSION: u32 = 1;

/// Which baseline, and so how its decoder is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VectorKind {
    /// Encoder and decoder trained to reconstruct patches.
    Autoencoder,
    /// Generator trained against a critic with gradient penalty (Gulrajani et al.).
    WganGp,
}

impl VectorKind {
    /// The paper's code sizes.
    pub fn code_size(self) -> i64 {
        match self {
            Self::Autoencoder => 1024,
            Self::WganGp => 256,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Autoencoder => "ae",
            Self::WganGp => "wgan-gp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorConfig {
    pub kind: VectorKind,
    /// Side of the square images (64: four ×2 steps up from 4×4).
    pub image_size: i64,
    pub code_size: i64,
    /// Channels of the decoder's last hidden layer; they double at each coarser level.
    pub width: i64,
}

impl VectorConfig {
    pub fn new(kind: VectorKind, width: i64) -> Self {
        Self { kind, image_size: 64, code_size: kind.code_size(), width }
    }
}

/// `z (n, code)` → images `(n, 3, 64, 64)`: 4×4 from the code, then four ×2 transposed convs,
/// leaky ReLU between, a sigmoid at the end. DCGAN's BatchNorm and plain ReLU are left out: both
/// left the decoder of a briefly trained autoencoder insensitive to its code (eval-mode running
/// statistics; units that never fire), so MAP over the code had no gradient.
fn decoder(vs: nn::Path, config: &VectorConfig) -> nn::Sequential {
    let c = config.width;
    let widths = [8 * c, 4 * c, 2 * c, c];
    let up = nn::ConvTransposeConfig { stride: 2, padding: 1, ..Default::default() };
    let mut seq = nn::seq()
        .add_fn(|z| z.view([z.size()[0], -1, 1, 1]))
        .add(nn::conv_transpose2d(&vs / "in", config.code_size, widths[0], 4, Default::default()))
        .add_fn(Tensor::leaky_relu);
    for i in 1..widths.len() {
        seq = seq
            .add(nn::conv_transpose2d(&vs / format!("up{i}"), widths[i - 1], widths[i], 4, up))
            .add_fn(Tensor::leaky_relu);
    }
    seq.add(nn::conv_transpose2d(&vs / "out", c, 3, 4, up)).add_fn(Tensor::sigmoid)
}

/// Images → `(n, outputs)`: four stride-2 convs with leaky ReLU down to 4×4, then a linear map
/// (the autoencoder's encoder, `outputs` = code size; WGAN-GP's critic, 1). No normalisation:
/// the gradient penalty is per sample.
fn encoder(vs: nn::Path, config: &VectorConfig, outputs: i64) -> nn::Sequential {
    let c = config.width;
    let widths = [3, c, 2 * c, 4 * c, 8 * c];
    let down = nn::ConvConfig { stride: 2, padding: 1, ..Default::default() };
    let mut seq = nn::seq();
    for i in 1..widths.len() {
        seq = seq.add(nn::conv2d(&vs / format!("down{i}"), widths[i - 1], widths[i], 4, down)).add_fn(|x| x.leaky_relu());
    }
    seq.add_fn(|x| x.flatten(1, -1)).add(nn::linear(&vs / "out", 8 * c * 16, outputs, Default::default()))
}

/// A trained (or new) baseline: its decoder, and the autoencoder's encoder or WGAN-GP's critic.
pub struct VectorPrior {
    pub config: VectorConfig,
    pub decoder_vars: nn::VarStore,
    decoder: nn::Sequential,
    /// Autoencoder: the encoder (kept in the model file, it starts restoration). WGAN-GP: the
    /// critic (kept only in checkpoints).
    pub other_vars: nn::VarStore,
    other: nn::Sequential,
    pub summary: TrainingSummary,
}

impl VectorPrior {
    /// A freshly initialised baseline; `seed` reseeds libtorch's global generator (training only;
    /// loading never does).
    pub fn new(config: VectorConfig, device: Device, seed: u64) -> Self {
        tch::manual_seed(seed as i64);
        Self::build(config, device)
    }

    fn build(config: VectorConfig, device: Device) -> Self {
        let decoder_vars = nn::VarStore::new(device);
        let other_vars = nn::VarStore::new(device);
        let decoder = decoder(decoder_vars.root(), &config);
        let outputs = if config.kind == VectorKind::Autoencoder { config.code_size } else { 1 };
        let other = encoder(other_vars.root(), &config, outputs);
        Self { config, decoder_vars, decoder, other_vars, other, summary: TrainingSummary::default() }
    }

    pub fn device(&self) -> Device {
        self.decoder_vars.device()
    }

    /// Images for codes `(n, code)`.
    pub fn decode(&self, z: &Tensor) -> Tensor {
        self.decoder.forward(z)
    }

    /// The autoencoder's code for images `(n, 3, 64, 64)`.
    pub fn encode(&self, images: &Tensor) -> Tensor {
        assert_eq!(self.config.kind, VectorKind::Autoencoder, "only the autoencoder encodes");
        self.other.forward(images)
    }

    fn critic(&self, images: &Tensor) -> Tensor {
        self.other.forward(images)
    }

    /// MAP restoration of one `image_size`² observation: the code that minimises the weighted
    /// Lap-L1 + MSE of its degraded decoding against the evidence, by `opts.steps` Adam steps of
    /// `opts.learning_rate` — from the encoding of the classical fallback (autoencoder) or the
    /// prior's mean, zero (WGAN-GP) — then kept to the evidence as LCM's render is.
    pub fn restore(&self, obs: &Observation, opts: &RestoreOptions) -> Result<Tensor> {
        let device = self.device();
        let size = self.config.image_size;
        let task = obs.task;
        let evidence = obs.evidence.to_device(device).to_kind(Kind::Float);
        let (_, h, w) = evidence.size3()?;
        if (h * task.scale(), w * task.scale()) != (size, size) {
            bail!("the {} baseline restores one {size}×{size} image, got {}×{}", self.config.kind.name(), h * task.scale(), w * task.scale());
        }
        let (values, weights, mut fill) = weighted_evidence(obs, &evidence, opts);
        let (y, w) = (values.unsqueeze(0), weights.unsqueeze(0));
        let operator = Operator::new(task, size, device);
        let objective = Reconstruction::new(task.evidence_channels(), device);
        let mut z = tch::no_grad(|| match self.config.kind {
            VectorKind::Autoencoder => self.encode(&obs.fallback().to_device(device).unsqueeze(0)),
            VectorKind::WganGp => Tensor::zeros([1, self.config.code_size], (Kind::Float, device)),
        });
        let mut adam = Adam::new(&z);
        for _ in 0..opts.steps {
            let z_var = z.detach().set_requires_grad(true);
            let loss = tch::with_grad(|| objective.apply(&((operator.apply(&self.decode(&z_var)) - &y) * &w)).sum(Kind::Float));
            let grad = Tensor::run_backward(&[&loss], &[&z_var], false, false).pop().expect("one gradient");
            z = tch::no_grad(|| z_var.detach() - adam.update(&grad, opts.learning_rate));
        }
        let _guard = tch::no_grad_guard();
        let image = self.decode(&z).squeeze_dim(0);
        Ok(keep_evidence(obs, &evidence, image, &mut fill, opts).0)
    }

    fn metadata(&self) -> HashMap<String, String> {
        let mut meta = tensor_file::format_metadata(FORMAT, FORMAT_VERSION);
        meta.insert("config".into(), serde_json::to_string(&self.config).expect("config serialises"));
        meta.insert("summary".into(), serde_json::to_string(&self.summary).expect("summary serialises"));
        meta
    }

    fn named(&self, with_critic: bool) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> = self.decoder_vars.variables().into_iter().map(|(k, v)| (format!("decoder.{k}"), v)).collect();
        if with_critic || self.config.kind == VectorKind::Autoencoder {
            named.extend(self.other_vars.variables().into_iter().map(|(k, v)| (format!("other.{k}"), v)));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// Writes the model file: the decoder (and the autoencoder's encoder), config and summary.
    pub fn save(&self, path: &Path, half: bool) -> Result<()> {
        tensor_file::save(path, &self.named(false), self.metadata(), half)
    }

    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let (tensors, meta) = tensor_file::load(path, Device::Cpu)?;
        Self::from_parts(tensors, &meta, device).with_context(|| format!("{} is not a usable lcm baseline model", path.display()))
    }

    fn from_parts(mut tensors: HashMap<String, Tensor>, meta: &HashMap<String, String>, device: Device) -> Result<Self> {
        tensor_file::check_format(meta, FORMAT, FORMAT_VERSION)?;
        let config: VectorConfig = serde_json::from_str(meta.get("config").context("config metadata is missing")?)?;
        let mut prior = Self::build(config, device);
        if let Some(summary) = meta.get("summary") {
            prior.summary = serde_json::from_str(summary).context("summary metadata is malformed")?;
        }
        let _guard = tch::no_grad_guard();
        let stored_critic = tensors.keys().any(|k| k.starts_with("other."));
        for (name, mut var) in prior.named(stored_critic) {
            let stored = tensors.remove(&name).with_context(|| format!("tensor {name} is missing"))?;
            if stored.size() != var.size() {
                bail!("tensor {name} has shape {:?}, the config needs {:?}", stored.size(), var.size());
            }
            var.copy_(&stored.to_kind(Kind::Float));
        }
        Ok(prior)
    }
}

/// Training of either baseline on a fixed set of patches, one minibatch per step.
pub struct VectorTrainer {
    pub prior: VectorPrior,
    patches: Tensor,
    pub batch: i64,
    pub step: usize,
    pub losses: Vec<f64>,
    decoder_optimizer: nn::Optimizer,
    other_optimizer: nn::Optimizer,
    objective: Reconstruction,
    rng: SplitMix64,
}

/// WGAN-GP's recipe (Gulrajani et al.): critic steps per generator step, penalty weight, Adam
/// lr 1e-4 with β = (0, 0.9). The autoencoder takes Adam lr 1e-3 with the default β.
const CRITIC_STEPS: usize = 5;
const GRADIENT_PENALTY: f64 = 10.0;

impl VectorTrainer {
    pub fn new(prior: VectorPrior, patches: Tensor, batch: i64, seed: u64) -> Result<Self> {
        let adam = match prior.config.kind {
            VectorKind::Autoencoder => (nn::Adam::default(), 1e-3),
            VectorKind::WganGp => (nn::Adam { beta1: 0.0, beta2: 0.9, ..Default::default() }, 1e-4),
        };
        let decoder_optimizer = adam.0.build(&prior.decoder_vars, adam.1)?;
        let other_optimizer = adam.0.build(&prior.other_vars, adam.1)?;
        let objective = Reconstruction::new(3, prior.device());
        let patches = patches.to_device(prior.device()).to_kind(Kind::Float);
        Ok(Self { prior, patches, batch, step: 0, losses: Vec::new(), decoder_optimizer, other_optimizer, objective, rng: SplitMix64::new(seed) })
    }

    fn sample(&mut self) -> Tensor {
        let n = self.patches.size()[0] as u64;
        let rows: Vec<i64> = (0..self.batch).map(|_| self.rng.below(n) as i64).collect();
        self.patches.index_select(0, &Tensor::from_slice(&rows).to_device(self.patches.device()))
    }

    /// One training step; returns its loss (autoencoder: Lap-L1 + MSE; WGAN-GP: the critic's
    /// Wasserstein estimate, E[D(real)] − E[D(fake)], of the last critic step).
    pub fn train_step(&mut self) -> f64 {
        let loss = match self.prior.config.kind {
            VectorKind::Autoencoder => {
                let x = self.sample();
                let recon = self.prior.decode(&self.prior.encode(&x));
                let loss = self.objective.apply(&(recon - &x)).mean(Kind::Float);
                self.decoder_optimizer.zero_grad();
                self.other_optimizer.zero_grad();
                loss.backward();
                self.decoder_optimizer.step();
                self.other_optimizer.step();
                f64::try_from(loss).unwrap_or(f64::NAN)
            }
            VectorKind::WganGp => self.wgan_step(),
        };
        self.step += 1;
        self.losses.push(loss);
        loss
    }

    fn codes(&self) -> Tensor {
        Tensor::randn([self.batch, self.prior.config.code_size], (Kind::Float, self.prior.device()))
    }

    fn wgan_step(&mut self) -> f64 {
        let mut distance = 0.0;
        for _ in 0..CRITIC_STEPS {
            let real = self.sample();
            let fake = tch::no_grad(|| self.prior.decode(&self.codes()));
            let mix = Tensor::rand([self.batch, 1, 1, 1], (Kind::Float, real.device()));
            let between = (&real * &mix + &fake * (mix.ones_like() - &mix)).set_requires_grad(true);
            let slope = Tensor::run_backward(&[self.prior.critic(&between).sum(Kind::Float)], &[&between], true, true).pop().expect("one gradient");
            let penalty = (slope.flatten(1, -1).square().sum_dim_intlist(1, false, Kind::Float).clamp_min(1e-12).sqrt() - 1.0).square().mean(Kind::Float);
            let gap = self.prior.critic(&real).mean(Kind::Float) - self.prior.critic(&fake).mean(Kind::Float);
            let loss = -&gap + penalty * GRADIENT_PENALTY;
            self.other_optimizer.zero_grad();
            loss.backward();
            self.other_optimizer.step();
            distance = f64::try_from(gap).unwrap_or(f64::NAN);
        }
        let loss = -self.prior.critic(&self.prior.decode(&self.codes())).mean(Kind::Float);
        self.decoder_optimizer.zero_grad();
        self.other_optimizer.zero_grad();
        loss.backward();
        self.decoder_optimizer.step();
        distance
    }

    /// Weights (the critic too) and the step count; optimiser moments restart on resume.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut meta = self.prior.metadata();
        meta.insert("step".into(), self.step.to_string());
        tensor_file::save(path, &self.prior.named(true), meta, false)
    }

    /// Continues from a checkpoint written by [`VectorTrainer::save_checkpoint`].
    pub fn resume(path: &Path, patches: Tensor, batch: i64, seed: u64, device: Device) -> Result<Self> {
        let (tensors, meta) = tensor_file::load(path, Device::Cpu)?;
        let step: usize = meta.get("step").and_then(|s| s.parse().ok()).context("checkpoint has no step")?;
        let prior = VectorPrior::from_parts(tensors, &meta, device)?;
        let mut trainer = Self::new(prior, patches, batch, seed ^ step as u64)?;
        trainer.step = step;
        Ok(trainer)
    }
}
