//! The Latent Convolutional Model: fixed noise s, per-image latent net f_φ, shared generator g_θ.

pub mod config;
pub mod generator;
pub mod latent;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use tch::{Device, Kind, Tensor, nn};

pub use config::{LatentKind, ModelConfig};
pub use generator::{Generator, WeightInit};
pub use latent::Latent;

use crate::degrade::Task;
use crate::restore::MapSetup;
use crate::rng::SplitMix64;
use crate::tensor_file;
use crate::train::TrainingSummary;

/// Identifies lcm model files; bumped when the layout changes incompatibly.
pub const FORMAT: &str = "lcm-model";
pub const FORMAT_VERSION: u32 = 1;

const NOISE_SCALE: f64 = 0.1;

/// A trained (or freshly initialised) model: everything restoration needs.
pub struct Model {
    pub config: ModelConfig,
    pub latent: Latent,
    pub generator: Generator,
    /// θ, plus BatchNorm running statistics.
    pub vars: nn::VarStore,
    /// The fixed noise input s, `(1, C, H, W)`.
    pub noise: Tensor,
    /// What training recorded (data, holdout, recipe, loss); empty for a new model.
    pub summary: TrainingSummary,
    /// `(K, |φ|)`: φ fitted to K training patches (`lcm exemplars`). Restoration starts a tile
    /// from the one whose render fits its evidence best instead of from the seed φ.
    pub exemplars: Option<Tensor>,
    /// The MAP steps' constants per task, built on first use (see [`Model::map_setup`]).
    map_setups: RefCell<HashMap<Task, MapSetup>>,
}

impl Model {
    /// A freshly initialised model; `seed` fixes s and θ (it reseeds libtorch's global generator,
    /// so only training and benchmarks create models this way; loading never does).
    pub fn new(config: ModelConfig, device: Device, seed: u64) -> Result<Self> {
        tch::manual_seed(seed as i64);
        Self::build(config, device, seed, WeightInit::Random)
    }

    fn build(config: ModelConfig, device: Device, seed: u64, init: WeightInit) -> Result<Self> {
        config.validate().map_err(|e| anyhow::anyhow!("invalid model config: {e}"))?;
        let vars = nn::VarStore::new(device);
        let generator = Generator::new(&vars.root(), &config, init);
        let latent = Latent::new(&config);
        let n = config.noise_size();
        let mut rng = SplitMix64::new(seed ^ 0x5E_ED0F_5A17);
        let noise: Vec<f32> = (0..config.noise_channels * n * n).map(|_| (rng.next_f64() * NOISE_SCALE) as f32).collect();
        let noise = Tensor::from_slice(&noise).view([1, config.noise_channels, n, n]).to_device(device);
        Ok(Self { config, latent, generator, vars, noise, summary: TrainingSummary::default(), exemplars: None, map_setups: RefCell::default() })
    }

    pub fn device(&self) -> Device {
        self.vars.device()
    }

    /// What every MAP step of `task` needs besides φ and the evidence, built once per model and
    /// task on the model's device.
    pub fn map_setup(&self, task: Task) -> MapSetup {
        self.map_setups.borrow_mut().entry(task).or_insert_with(|| MapSetup::new(self, task)).shallow_clone()
    }

    /// Fixes θ for restoration: g gets no gradients, and eval-mode renders run with BatchNorm
    /// folded into the convs. Training never calls this.
    pub fn frozen(mut self) -> Self {
        self.vars.freeze();
        self.generator.fold_batch_norm();
        self
    }

    /// g(f_φ(s)) for every row of φ; `train` puts g's BatchNorm in batch-statistics mode.
    pub fn render(&self, phi: &Tensor, train: bool) -> Tensor {
        self.generator.forward_t(&self.latent.forward(&self.noise, phi), train)
    }

    /// [`Model::render`] in eval mode with the generator's passes in `kind` (float32, or bfloat16
    /// once [`Model::frozen`]; an unfrozen model renders in float32). The result is float32.
    pub fn render_in(&self, phi: &Tensor, kind: Kind) -> Tensor {
        let z = self.latent.forward(&self.noise, phi);
        let kind = if self.generator.is_folded() { kind } else { Kind::Float };
        self.generator.forward_t(&z.to_kind(kind), false)
    }

    /// Seeded φ rows, the starting point of restoration without exemplars.
    pub fn initial_phi(&self, n: i64, seed: u64) -> Tensor {
        self.latent.init(n, seed, self.device())
    }

    /// Trainable generator parameters (BatchNorm running statistics excluded).
    pub fn generator_param_count(&self) -> i64 {
        self.vars.trainable_variables().iter().map(|t| t.numel() as i64).sum()
    }

    /// Multiply-accumulates of one generator forward pass for one image, measured by shapes.
    pub fn generator_macs(&self) -> i64 {
        crate::flops::generator_macs(&self.config)
    }

    /// θ (with BatchNorm statistics) and s under their file names.
    pub(crate) fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> =
            self.vars.variables().into_iter().map(|(k, v)| (format!("generator.{k}"), v)).collect();
        named.push(("noise".into(), self.noise.shallow_clone()));
        if let Some(exemplars) = &self.exemplars {
            named.push(("exemplars".into(), exemplars.shallow_clone()));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// The self-describing metadata every model file and checkpoint carries.
    pub(crate) fn metadata(&self) -> HashMap<String, String> {
        let mut meta = tensor_file::format_metadata(FORMAT, FORMAT_VERSION);
        meta.insert("config".into(), serde_json::to_string(&self.config).expect("config serialises"));
        meta.insert("summary".into(), serde_json::to_string(&self.summary).expect("summary serialises"));
        meta
    }

    /// Writes a self-describing model file (weights + config + summary in the metadata).
    /// `half` stores the weights as f16; loading restores f32.
    pub fn save(&self, path: &Path, half: bool) -> Result<()> {
        tensor_file::save(path, &self.named_tensors(), self.metadata(), half)
    }

    /// Loads and validates a model file written by [`Model::save`].
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_bytes(&bytes, path, device)
    }

    /// [`Model::load`] from the bytes of a model file; `path` names them in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, device: Device) -> Result<Self> {
        let (tensors, meta) = tensor_file::parse(bytes, path, Device::Cpu)?;
        Self::from_parts(tensors, &meta, device).with_context(|| format!("{} is not a usable lcm model", path.display()))
    }

    pub(crate) fn from_parts(
        mut tensors: HashMap<String, Tensor>,
        meta: &HashMap<String, String>,
        device: Device,
    ) -> Result<Self> {
        tensor_file::check_format(meta, FORMAT, FORMAT_VERSION)?;
        let config = parse_config(meta)?;
        // Every weight is overwritten below: start from zeros and leave libtorch's RNG alone.
        let mut model = Self::build(config, device, 0, WeightInit::Zeros)?;
        if let Some(summary) = meta.get("summary") {
            model.summary = serde_json::from_str(summary).context("summary metadata is malformed")?;
        }
        let _guard = tch::no_grad_guard();
        let mut variables: Vec<(String, Tensor)> = model.vars.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0)); // the first problem reported is always the same
        for (name, mut var) in variables {
            let key = format!("generator.{name}");
            let stored = tensors.remove(&key).with_context(|| format!("tensor {key} is missing"))?;
            if stored.size() != var.size() {
                bail!("tensor {key} has shape {:?}, the config needs {:?}", stored.size(), var.size());
            }
            var.copy_(&stored.to_kind(Kind::Float));
        }
        let noise = tensors.remove("noise").context("tensor noise is missing")?;
        if noise.size() != model.noise.size() {
            bail!("noise has shape {:?}, the config needs {:?}", noise.size(), model.noise.size());
        }
        model.noise = noise.to_device(device);
        if let Some(exemplars) = tensors.remove("exemplars") {
            if exemplars.dim() != 2 || exemplars.size()[1] != model.latent.param_count() {
                bail!("exemplars have shape {:?}, the config needs (K, {})", exemplars.size(), model.latent.param_count());
            }
            model.exemplars = Some(exemplars.to_kind(Kind::Float).to_device(device));
        }
        if let Some(extra) = tensors.keys().find(|k| k.starts_with("generator.")) {
            bail!("unexpected tensor {extra}: the file and its config disagree");
        }
        Ok(model)
    }
}

fn parse_config(meta: &HashMap<String, String>) -> Result<ModelConfig> {
    let config: ModelConfig = serde_json::from_str(meta.get("config").context("config metadata is missing")?)
        .context("config metadata is malformed")?;
    config.validate().map_err(|e| anyhow::anyhow!("config is invalid: {e}"))?;
    Ok(config)
}
