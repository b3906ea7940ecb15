//! The MAP loop: render, degrade, loss, backward to φ, Adam, projection, step after step.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tch::{Kind, Tensor};

use super::{Optimizer, RestoreOptions};
use crate::optim::Adam;
use crate::degrade::{Operator, Task};
use crate::loss;
use crate::model::Model;
use crate::model::latent::Projection;

/// The constants of a (model, task)'s MAP steps: φ's step scale and projection bounds, the
/// degradation (super-resolution's Lanczos matrices) and the objective's blur kernel. A model
/// builds them once per task ([`Model::map_setup`]).
pub struct MapSetup {
    step_scale: Tensor,
    projection: Projection,
    operator: Operator,
    objective: loss::Reconstruction,
}

impl MapSetup {
    pub(crate) fn new(model: &Model, task: Task) -> Self {
        let device = model.device();
        Self {
            step_scale: model.latent.step_scale(device),
            projection: model.latent.projection(device),
            operator: Operator::new(task, model.config.image_size, device),
            objective: loss::Reconstruction::new(task.evidence_channels(), device),
        }
    }

    pub fn shallow_clone(&self) -> Self {
        Self {
            step_scale: self.step_scale.shallow_clone(),
            projection: self.projection.shallow_clone(),
            operator: self.operator.shallow_clone(),
            objective: self.objective.shallow_clone(),
        }
    }
}

/// The MAP step loop's state over one batch of tiles: φ, its optimiser and the evidence. Public
/// so benchmarks time exactly the step restoration runs.
pub struct MapOptimizer<'a> {
    model: &'a Model,
    setup: MapSetup,
    y: Tensor,
    w: Tensor,
    pub phi: Tensor,
    optimizer: Optimizer,
    learning_rate: f64,
    adam: Option<Adam>,
}

impl<'a> MapOptimizer<'a> {
    /// `y`: evidence tiles, `w`: their weights (mask × validity), `phi`: one row per tile.
    pub fn new(model: &'a Model, task: Task, y: Tensor, w: Tensor, phi: Tensor, optimizer: Optimizer, learning_rate: f64) -> Self {
        Self { model, setup: model.map_setup(task), y, w, phi: phi.set_requires_grad(true), optimizer, learning_rate, adam: None }
    }

    /// Continues an earlier optimisation of the same tiles: Adam keeps its moments and step count,
    /// so a warm-started frame takes steps sized by the history, not Adam's full first steps.
    pub fn with_adam_state(mut self, state: Option<Adam>) -> Self {
        // A copy: Adam updates its moments in place, and the caller's state may be reused.
        self.adam = state.map(|s| s.copy());
        self
    }

    /// Adam's state now (none for SGD or before the first step).
    pub fn adam_state(&self) -> Option<Adam> {
        self.adam.as_ref().map(Adam::copy)
    }

    /// One step: render, degrade, loss, backward to φ, update, project. Returns the loss (summed
    /// over tiles) as a device tensor, so the loop never waits on the host.
    pub fn step(&mut self) -> Tensor {
        let x = self.model.render(&self.phi, false);
        let residual = (self.setup.operator.apply(&x) - &self.y) * &self.w;
        let total = self.setup.objective.apply(&residual).sum(Kind::Float);
        let grad = Tensor::run_backward(&[&total], &[&self.phi], false, false).pop().expect("one input, one gradient");
        tch::no_grad(|| {
            let update = match self.optimizer {
                Optimizer::Sgd => grad * self.learning_rate,
                Optimizer::Adam => self.adam.get_or_insert_with(|| Adam::new(&grad)).update(&grad, self.learning_rate) * &self.setup.step_scale,
            };
            let _ = self.phi.shallow_clone().g_sub_(&update);
            self.setup.projection.apply_(&self.phi);
        });
        total.detach()
    }
}

/// The step loop. Losses are read back to the host only every few steps.
#[allow(clippy::too_many_arguments)]
pub(super) fn optimise(
    model: &Model,
    task: Task,
    y: &Tensor,
    w: &Tensor,
    phi: Tensor,
    adam: Option<Adam>,
    opts: &RestoreOptions,
    started: Instant,
) -> (Tensor, Option<Adam>, Vec<f64>) {
    const READBACK_EVERY: usize = 10;
    let mut map = MapOptimizer::new(model, task, y.shallow_clone(), w.shallow_clone(), phi, opts.optimizer, opts.learning_rate)
        .with_adam_state(adam);
    let mut pending: Vec<Tensor> = Vec::new();
    let mut losses: Vec<f64> = Vec::new();
    let cancelled = || opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
    for step in 1..=opts.steps {
        if cancelled() {
            break;
        }
        pending.push(map.step());
        if step % READBACK_EVERY == 0 || step == opts.steps {
            losses.extend(Vec::<f64>::try_from(Tensor::stack(&pending, 0).to_kind(Kind::Double)).unwrap_or_default());
            pending.clear();
            let diverged = !losses.last().is_some_and(|l| l.is_finite());
            if diverged || opts.time_budget.is_some_and(|b| started.elapsed() >= b) {
                break;
            }
        }
    }
    if !pending.is_empty() {
        losses.extend(Vec::<f64>::try_from(Tensor::stack(&pending, 0).to_kind(Kind::Double)).unwrap_or_default());
    }
    (map.phi.detach(), map.adam_state(), losses)
}
