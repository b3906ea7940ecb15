//! Joint training of θ and the per-image φ table (the paper's GLO-style objective).
//!
//! Every training image owns one row of a single `(N, |φ|)` table. A minibatch gathers its rows,
//! takes `steps_per_batch` joint steps on θ and those φ (the reference code takes 50), projects φ
//! after each step and writes the rows back. Batches follow seeded per-epoch permutations and all
//! optimiser state lives in the checkpoint, so a resumed run continues bit-compatibly.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::holdout::Holdout;
use crate::loss;
use crate::model::Model;
use crate::restore::Optimizer;
use crate::rng::SplitMix64;
use crate::tensor_file;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Total joint optimisation steps.
    pub steps: usize,
    pub batch: usize,
    /// Joint steps on one minibatch before moving to the next.
    pub steps_per_batch: usize,
    /// Optimiser of θ (φ always takes plain projected SGD steps, as in the paper).
    pub theta_optimizer: Optimizer,
    pub theta_lr: f64,
    pub phi_lr: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch: 10,
            steps_per_batch: 5,
            theta_optimizer: Optimizer::Adam,
            theta_lr: 2e-3,
            phi_lr: 1.0,
            seed: 0,
        }
    }
}

impl Serialize for Optimizer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Optimizer::Sgd => "sgd",
            Optimizer::Adam => "adam",
        })
    }
}

impl<'de> Deserialize<'de> for Optimizer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "sgd" => Ok(Optimizer::Sgd),
            "adam" => Ok(Optimizer::Adam),
            other => Err(serde::de::Error::custom(format!("unknown optimizer {other}"))),
        }
    }
}

/// What training records in a model file: its data, the holdout, the recipe and the outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingSummary {
    /// The inputs as given to `lcm train` (and to `lcm adapt`, after them).
    pub data: Vec<String>,
    /// The model `lcm adapt` started from.
    pub adapted_from: Option<String>,
    pub holdout: Holdout,
    /// The shorter side the frames were shrunk to before patches were cut (0: native size).
    pub frame_max_side: i64,
    pub patches: usize,
    /// Whether the patches were spread evenly over the inputs (`lcm train --balance-sources`).
    pub balanced_sources: bool,
    pub steps: usize,
    pub train_config: Option<TrainConfig>,
    /// Mean loss of the last 50 steps.
    pub final_loss: Option<f64>,
    pub wall_seconds_last_run: Option<f64>,
    pub images_per_second: Option<f64>,
    /// The health figures at the end, before and after BatchNorm recalibration.
    pub health_before_recalibration: Option<Health>,
    pub health: Option<Health>,
    /// The exemplars restoration starts from (`lcm exemplars`; none: the seed φ).
    pub exemplars: Option<ExemplarSummary>,
}

/// How a model's exemplars were made and what they buy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExemplarSummary {
    pub count: usize,
    /// MAP steps each exemplar was fitted with.
    pub steps: usize,
    pub seed: u64,
    pub wall_seconds: f64,
    /// Representation PSNR and LPIPS at [`HEALTH_STEPS`] on the health's held-out patches, MAP
    /// starting from the exemplars (the `health` figures start from the seed φ).
    pub representation: Option<f64>,
    pub representation_lpips: Option<f64>,
}

/// How healthy a prior is, measured on fixed samples (PSNR in dB, means over the samples).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Restoration-mode (eval BatchNorm) render of training φ against its train-mode render:
    /// the gap between how the prior was trained and how it is used.
    pub eval_vs_train: f64,
    /// Restoration-mode render of training φ against its training patch.
    pub eval_vs_target: f64,
    /// Train-mode render of training φ against its training patch (what the loss sees).
    pub train_vs_target: f64,
    /// MAP from where restoration starts (the seed φ, or the model's exemplars) on clean held-out
    /// patches, all pixels known: how well the prior can express footage it has not seen. No
    /// restoration of such footage can do better.
    pub representation: Option<f64>,
    /// LPIPS-VGG of those renders against their patches (when the metric's weights are
    /// installed).
    #[serde(default)]
    pub representation_lpips: Option<f64>,
    /// The same patches restored from ×4 Lanczos downsampling as the engine does (MAP, then
    /// back-projection): PSNR and LPIPS. A prior that expresses patches better can still
    /// restore worse, by bringing less detail of its own (benches/NOTES.md, benchmark 8).
    #[serde(default)]
    pub superres: Option<f64>,
    #[serde(default)]
    pub superres_lpips: Option<f64>,
    /// MAP steps behind `representation` (the elements' default).
    pub representation_steps: usize,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "restoration-mode vs train-mode {:.2} dB, vs target {:.2} dB (train-mode {:.2} dB)",
            self.eval_vs_train, self.eval_vs_target, self.train_vs_target
        )?;
        if let Some(r) = self.representation {
            write!(f, ", representation {r:.2} dB at {} steps", self.representation_steps)?;
        }
        if let Some(l) = self.representation_lpips {
            write!(f, ", LPIPS {l:.4}")?;
        }
        if let Some(p) = self.superres {
            write!(f, "; ×4 SR {p:.2} dB")?;
        }
        if let Some(l) = self.superres_lpips {
            write!(f, ", LPIPS {l:.4}")?;
        }
        Ok(())
    }
}

/// MAP steps of the representation PSNR: the elements' default.
pub const HEALTH_STEPS: usize = 20;

/// Mixed into the training seed to pick the held-out patches of the representation PSNR.
pub const HEALTH_PATCH_SEED: u64 = 0x4E1D;

/// Mean PSNR of `a` against `b`, both `(N, 3, S, S)` in [0, 1].
fn mean_psnr(a: &Tensor, b: &Tensor) -> f64 {
    let mse = (a - b).square().mean_dim([1i64, 2, 3].as_slice(), false, Kind::Float).clamp_min(1e-10);
    f64::try_from((mse.log10() * -10.0).mean(Kind::Float)).unwrap_or(f64::NAN)
}

/// How well a frozen prior restores `patches` `(N, 3, S, S)` from `task`'s degradation of them
/// (inpainting: every pixel known, so how well it can express them): MAP over φ (Adam at
/// `learning_rate`, seeded cold start), `steps` steps, then what the engine does to a render
/// (super-resolution back-projects it onto the evidence); the results' mean PSNR against the
/// patches and, given the metric, their LPIPS. Scoring the raw render instead ranked a prior
/// ahead that the engine's output ranks behind (benches/NOTES.md, benchmark 8).
pub fn restore_patches(
    frozen: &Model,
    task: crate::Task,
    patches: &Tensor,
    steps: usize,
    learning_rate: f64,
    perceptual: Option<&crate::metrics::Perceptual>,
) -> (f64, Option<f64>) {
    let device = frozen.device();
    let truth = patches.to_device(device).to_kind(Kind::Float);
    let y = tch::no_grad(|| task.degrade(&truth));
    let phi = fit_phi(frozen, task, &y, frozen.map_setup(task).start(frozen, &y, &y.ones_like(), 0), steps, learning_rate);
    let _guard = tch::no_grad_guard();
    let mut renders = frozen.render(&phi, false);
    if let crate::Task::SuperRes { .. } = task {
        renders = crate::restore::back_project(task, &renders, &y);
    }
    (mean_psnr(&renders, &truth), perceptual.map(|metric| metric.lpips(&renders, &truth)))
}

/// φ fitted to each of `patches` `(K, 3, S, S)` by MAP from the seed φ (`steps` Adam steps at
/// restoration's learning rate, every pixel known, 64 patches at a time): the exemplars a
/// restoration starts its tiles from ([`Model::exemplars`]). `progress` sees the patches done.
pub fn fit_exemplars(frozen: &Model, patches: &Tensor, steps: usize, mut progress: impl FnMut(i64)) -> Tensor {
    let device = frozen.device();
    let learning_rate = crate::restore::RestoreOptions::default().learning_rate;
    let mut done = 0;
    let fitted: Vec<Tensor> = patches
        .split(64, 0)
        .iter()
        .map(|chunk| {
            let y = chunk.to_device(device).to_kind(Kind::Float);
            let phi = fit_phi(frozen, crate::Task::Inpaint, &y, frozen.initial_phi(y.size()[0], 0), steps, learning_rate);
            done += y.size()[0];
            progress(done);
            phi
        })
        .collect();
    Tensor::cat(&fitted, 0)
}

/// `phi` after `steps` Adam MAP steps on `task`'s evidence `y`, every pixel weighing alike.
fn fit_phi(frozen: &Model, task: crate::Task, y: &Tensor, phi: Tensor, steps: usize, learning_rate: f64) -> Tensor {
    let mut map = crate::restore::MapOptimizer::new(frozen, task, y.shallow_clone(), y.ones_like(), phi, Optimizer::Adam, learning_rate);
    tch::with_grad(|| {
        for _ in 0..steps {
            let _ = map.step();
        }
    });
    map.phi.detach()
}

/// The clean held-out patches a model's health is scored on after training (`lcm bench health`,
/// `lcm exemplars`): `count` tile-sized patches of `inputs`' frames fair to evaluate it on (the
/// held-out part of its training sources, all of other footage), seeded as training seeds them.
pub fn held_out_patches(model: &Model, inputs: &[std::path::PathBuf], count: usize) -> anyhow::Result<Tensor> {
    let default = crate::holdout::Sampling { frames_per_video: 100, frame_every: 5, max_side: 0, fraction: 0.0 };
    let frames = crate::holdout::evaluation_frames(inputs, &model.summary.data, &model.summary.holdout, &default)?;
    let seed = model.summary.train_config.as_ref().map_or(0, |c| c.seed);
    crate::data::random_patches(&frames, model.config.image_size, count, seed ^ HEALTH_PATCH_SEED)
}

pub struct Trainer {
    pub model: Model,
    pub config: TrainConfig,
    /// `(N, 3, S, S)` training images in [0, 1], on the model's device.
    images: Tensor,
    /// `(N, 1, S, S)`: 1 where a training pixel is known; the loss ignores the others
    /// (adapting to damaged footage). None: every pixel is known.
    known: Option<Tensor>,
    /// `(N, |φ|)`: one φ row per training image.
    pub phi_table: Tensor,
    theta: Vec<(String, Tensor)>,
    projection: crate::model::latent::Projection,
    objective: loss::Reconstruction,
    /// Adam's state of θ, by variable name.
    moments: HashMap<String, crate::optim::Adam>,
    pub step: usize,
    /// Mean training loss of every step taken (this run and, after a resume, earlier ones).
    pub losses: Vec<f64>,
}

impl Trainer {
    /// A fresh run on `images` `(N, 3, S, S)`.
    pub fn new(model: Model, images: Tensor, config: TrainConfig) -> Result<Self> {
        let s = model.config.image_size;
        match images.size().as_slice() {
            [n, 3, h, w] if *n > 0 && *h == s && *w == s => {}
            other => bail!("training images must be (N, 3, {s}, {s}), got {other:?}"),
        }
        if config.batch == 0 || config.steps_per_batch == 0 {
            bail!("batch and steps_per_batch must be at least 1");
        }
        let n = images.size()[0];
        let phi_table = model.initial_phi(n, config.seed);
        let images = images.to_device(model.device()).to_kind(Kind::Float);
        let mut theta: Vec<(String, Tensor)> =
            model.vars.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        theta.sort_by(|a, b| a.0.cmp(&b.0));
        let projection = model.latent.projection(model.device());
        let objective = loss::Reconstruction::new(3, model.device());
        Ok(Self {
            model,
            config,
            images,
            known: None,
            phi_table,
            theta,
            projection,
            objective,
            moments: HashMap::new(),
            step: 0,
            losses: Vec::new(),
        })
    }

    /// Trains on the known pixels only: `known` `(N, 1, S, S)`, 1 where a pixel is known.
    pub fn with_known_pixels(mut self, known: Tensor) -> Result<Self> {
        let [n, _, s, _] = self.images.size()[..] else { unreachable!("checked in new") };
        if known.size() != [n, 1, s, s] {
            bail!("known-pixel masks must be ({n}, 1, {s}, {s}), got {:?}", known.size());
        }
        self.known = Some(known.to_device(self.model.device()).to_kind(Kind::Float));
        Ok(self)
    }

    pub fn image_count(&self) -> i64 {
        self.images.size()[0]
    }

    /// Indices of the minibatch that starts at joint step `step`.
    fn batch_indices(&self, step: usize) -> Vec<i64> {
        let n = self.image_count() as usize;
        let batch = self.config.batch.min(n);
        let batch_no = step / self.config.steps_per_batch;
        let per_epoch = n / batch;
        let (epoch, k) = (batch_no / per_epoch, batch_no % per_epoch);
        let order = SplitMix64::new(self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9)).permutation(n);
        order[k * batch..(k + 1) * batch].to_vec()
    }

    /// Runs until `config.steps` joint steps have been taken or `should_stop` (called with each
    /// step's number and loss) returns true. Returns the number of steps taken now.
    pub fn run(&mut self, mut should_stop: impl FnMut(usize, f64) -> bool) -> Result<usize> {
        let device = self.model.device();
        let start = self.step;
        while self.step < self.config.steps {
            let idx = Tensor::from_slice(&self.batch_indices(self.step)).to_device(device);
            let target = self.images.index_select(0, &idx);
            let known = self.known.as_ref().map(|k| k.index_select(0, &idx));
            let phi = self.phi_table.index_select(0, &idx).detach().set_requires_grad(true);
            let end = ((self.step / self.config.steps_per_batch + 1) * self.config.steps_per_batch).min(self.config.steps);
            let mut stop = false;
            while self.step < end && !stop {
                let loss = self.joint_step(&phi, &target, known.as_ref())?;
                self.step += 1;
                self.losses.push(loss);
                stop = should_stop(self.step, loss);
            }
            tch::no_grad(|| {
                let _ = self.phi_table.index_copy_(0, &idx, &phi.detach());
            });
            if stop {
                break;
            }
        }
        Ok(self.step - start)
    }

    fn joint_step(&mut self, phi: &Tensor, target: &Tensor, known: Option<&Tensor>) -> Result<f64> {
        let residual = self.model.render(phi, true) - target;
        let residual = match known {
            Some(known) => residual * known,
            None => residual,
        };
        let loss = self.objective.apply(&residual).mean(Kind::Float);
        let mut inputs: Vec<&Tensor> = self.theta.iter().map(|(_, t)| t).collect();
        inputs.push(phi);
        let mut grads = Tensor::run_backward(&[&loss], &inputs, false, false);
        let phi_grad = grads.pop().expect("φ gradient");
        let value = f64::try_from(&loss)?;
        if !value.is_finite() {
            bail!("training diverged at step {} (loss {value}); lower the learning rates", self.step);
        }
        tch::no_grad(|| {
            for ((name, var), grad) in self.theta.iter().zip(&grads) {
                let update = match self.config.theta_optimizer {
                    Optimizer::Sgd => grad * self.config.theta_lr,
                    Optimizer::Adam => {
                        self.moments.entry(name.clone()).or_insert_with(|| crate::optim::Adam::new(grad)).update(grad, self.config.theta_lr)
                    }
                };
                let _ = var.shallow_clone().g_sub_(&update);
            }
            let _ = phi.shallow_clone().g_sub_(&(phi_grad * self.config.phi_lr));
            self.projection.apply_(phi);
        });
        Ok(value)
    }

    /// BatchNorm's running statistics (the only non-trained variables), to restore after a
    /// train-mode forward that must not move them.
    fn batch_norm_state(&self) -> Vec<(Tensor, Tensor)> {
        let _guard = tch::no_grad_guard();
        self.model.vars.variables().into_values().filter(|t| !t.requires_grad()).map(|t| (t.copy(), t)).collect()
    }

    fn restore_batch_norm_state(state: Vec<(Tensor, Tensor)>) {
        let _guard = tch::no_grad_guard();
        for (saved, mut live) in state {
            live.copy_(&saved);
        }
    }

    /// Re-estimates every BatchNorm's running statistics for the final θ: train-mode forwards
    /// over the whole φ table in `batch`-sized chunks, in a seeded order, `passes` times. During
    /// training the statistics trail a moving θ; afterwards restoration-mode renders of training
    /// φ then match their train-mode renders.
    pub fn recalibrate_batch_norm(&mut self, batch: usize, passes: usize) {
        let _guard = tch::no_grad_guard();
        let n = self.image_count();
        let batch = (batch as i64).clamp(1, n);
        let mut rng = SplitMix64::new(self.config.seed ^ 0xB_A7C4_0A11);
        for _ in 0..passes {
            let order = rng.permutation(n as usize);
            for chunk in order.chunks(batch as usize).filter(|c| c.len() as i64 == batch) {
                let idx = Tensor::from_slice(chunk).to_device(self.model.device());
                let _ = self.model.render(&self.phi_table.index_select(0, &idx), true);
            }
        }
    }

    /// Up to `rows` indices of the images trained most recently (newest batch first): early in
    /// a run most φ rows still hold their seed, so rows 0..n would score untrained φ.
    fn recently_trained(&self, rows: i64) -> Vec<i64> {
        let visits = self.step.div_ceil(self.config.steps_per_batch);
        let mut seen = std::collections::HashSet::new();
        let mut picked = Vec::new();
        for visit in (0..visits).rev() {
            for i in self.batch_indices(visit * self.config.steps_per_batch) {
                if picked.len() as i64 == rows {
                    return picked;
                }
                if seen.insert(i) {
                    picked.push(i);
                }
            }
        }
        if picked.is_empty() {
            picked = (0..rows.min(self.image_count())).collect();
        }
        picked
    }

    /// The health figures on up to `rows` recently trained φ (rendered as one training batch)
    /// and, when given, `held_out` clean patches at `steps` MAP steps.
    pub fn health(&self, rows: i64, held_out: Option<&Tensor>, steps: usize, perceptual: Option<&crate::metrics::Perceptual>) -> Health {
        let idx = Tensor::from_slice(&self.recently_trained(rows)).to_device(self.model.device());
        let phi = self.phi_table.index_select(0, &idx);
        let target = self.images.index_select(0, &idx);
        let state = self.batch_norm_state();
        let (train, eval) = tch::no_grad(|| (self.model.render(&phi, true), self.model.render(&phi, false)));
        Self::restore_batch_norm_state(state);
        let frozen = held_out.map(|_| self.frozen_copy());
        let score = |task| {
            let learning_rate = crate::restore::RestoreOptions::default().learning_rate;
            held_out.zip(frozen.as_ref()).map(|(patches, frozen)| restore_patches(frozen, task, patches, steps, learning_rate, perceptual))
        };
        let (representation, superres) = (score(crate::Task::Inpaint), score(crate::Task::superres(4)));
        Health {
            eval_vs_train: mean_psnr(&eval, &train),
            eval_vs_target: mean_psnr(&eval, &target),
            train_vs_target: mean_psnr(&train, &target),
            representation: representation.map(|(psnr, _)| psnr),
            representation_lpips: representation.and_then(|(_, lpips)| lpips),
            superres: superres.map(|(psnr, _)| psnr),
            superres_lpips: superres.and_then(|(_, lpips)| lpips),
            representation_steps: steps,
        }
    }

    /// The model as restoration uses it (θ frozen, BatchNorm folded), leaving training's untouched.
    fn frozen_copy(&self) -> Model {
        let tensors: HashMap<String, Tensor> = self.model.named_tensors().into_iter().map(|(k, v)| (k, v.detach().copy())).collect();
        Model::from_parts(tensors, &self.model.metadata(), self.model.device()).expect("a model's own tensors fit it").frozen()
    }

    /// Restores every training image from its own φ row (eval-mode g), `(N, 3, S, S)`.
    pub fn reconstructions(&self, rows: i64) -> (Tensor, Tensor) {
        let _guard = tch::no_grad_guard();
        let n = rows.min(self.image_count());
        (self.model.render(&self.phi_table.narrow(0, 0, n), false), self.images.narrow(0, 0, n))
    }

    /// Writes a checkpoint (model + φ table + optimiser state + progress) atomically.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut tensors = self.model.named_tensors();
        tensors.push(("phi_table".into(), self.phi_table.shallow_clone()));
        for (name, adam) in &self.moments {
            tensors.push((format!("adam_m.{name}"), adam.first.shallow_clone()));
            tensors.push((format!("adam_v.{name}"), adam.second.shallow_clone()));
        }
        tensors.push(("losses".into(), Tensor::from_slice(&self.losses)));
        let mut meta = self.model.metadata();
        meta.insert("train_config".into(), serde_json::to_string(&self.config)?);
        meta.insert("step".into(), self.step.to_string());
        meta.insert("kind".into(), "checkpoint".into());
        tensor_file::save(path, &tensors, meta, false)
    }

    /// Resumes from a checkpoint written by [`Trainer::save_checkpoint`] on the same images.
    /// `steps` may extend the run; everything else comes from the checkpoint.
    pub fn resume(path: &Path, images: Tensor, device: Device, steps: Option<usize>) -> Result<Self> {
        let (mut tensors, meta) = tensor_file::load(path, device)?;
        let mut config: TrainConfig =
            serde_json::from_str(meta.get("train_config").context("not a training checkpoint")?)?;
        if let Some(steps) = steps {
            config.steps = steps;
        }
        let step: usize = meta.get("step").context("checkpoint has no step")?.parse()?;
        let phi_table = tensors.remove("phi_table").context("checkpoint has no phi_table")?;
        let losses = tensors.remove("losses").map(|t| Vec::<f64>::try_from(t.to_kind(Kind::Double)).unwrap_or_default());
        let mut moments = HashMap::new();
        let names: Vec<String> = tensors.keys().filter_map(|k| k.strip_prefix("adam_m.").map(String::from)).collect();
        for name in names {
            let m = tensors.remove(&format!("adam_m.{name}")).expect("listed");
            let v = tensors.remove(&format!("adam_v.{name}")).context("adam state incomplete")?;
            moments.insert(name, crate::optim::Adam::resumed(m, v, step));
        }
        let model = Model::from_parts(tensors, &meta, device).with_context(|| format!("checkpoint {}", path.display()))?;
        let mut trainer = Self::new(model, images, config)?;
        if phi_table.size() != trainer.phi_table.size() {
            bail!(
                "checkpoint {} holds φ for {} images but the data gives {}: resume with the same --data",
                path.display(),
                phi_table.size()[0],
                trainer.image_count()
            );
        }
        trainer.phi_table = phi_table.to_device(device);
        trainer.moments = moments;
        trainer.step = step;
        trainer.losses = losses.unwrap_or_default();
        Ok(trainer)
    }
}
