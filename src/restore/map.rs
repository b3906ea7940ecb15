//! The MAP loop: render, degrade, loss, backward to φ, Adam, projection, step after step.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tch::{Kind, Tensor};

use super::{Optimizer, RestoreOptions, SettleCheck};
use crate::optim::Adam;
use crate::degrade::{Operator, Task};
use crate::device::Precision;
use crate::loss;
use crate::model::Model;
use crate::model::latent::Projection;

/// The constants of a (model, task)'s MAP steps: φ's step scale and projection bounds, the
/// degradation (super-resolution's resampling matrices), the objective's blur kernel and the
/// model's exemplars as the task sees them. A model builds them once per task
/// ([`Model::map_setup`]).
pub struct MapSetup {
    step_scale: Tensor,
    projection: Projection,
    operator: Operator,
    objective: loss::Reconstruction,
    /// The exemplar φ `(K, |φ|)` and their renders, degraded and flattened `(K, D)`.
    exemplars: Option<(Tensor, Tensor)>,
}

impl MapSetup {
    pub(crate) fn new(model: &Model, task: Task) -> Self {
        let device = model.device();
        let operator = Operator::new(task, model.config.image_size, device);
        // Not for super-resolution, whose evidence leaves the fine detail open: the nearest
        // exemplar's is one training patch's guess (×4 on the held-out bunny-late: LPIPS 0.159 →
        // 0.164, benches/NOTES.md, benchmark 16). An inpainting hole keeps only the detail that
        // agrees with the fill, and colour from an exemplar alone was further from the truth on
        // five clips of six, so colorization starts from it beside the seed φ (benchmark 17).
        let exemplars = model.exemplars.as_ref().filter(|_| !matches!(task, Task::SuperRes { .. })).map(|phi| {
            let _guard = tch::no_grad_guard();
            // In chunks: a render's activations for hundreds of tiles at once would take GBs.
            let degraded: Vec<Tensor> = phi.split(64, 0).iter().map(|chunk| operator.apply(&model.render(chunk, false)).flatten(1, -1)).collect();
            (phi.shallow_clone(), Tensor::cat(&degraded, 0))
        });
        Self {
            step_scale: model.latent.step_scale(device),
            projection: model.latent.projection(device),
            operator,
            objective: loss::Reconstruction::new(task.evidence_channels(), device),
            exemplars,
        }
    }

    pub fn shallow_clone(&self) -> Self {
        Self {
            step_scale: self.step_scale.shallow_clone(),
            projection: self.projection.shallow_clone(),
            operator: self.operator.shallow_clone(),
            objective: self.objective.shallow_clone(),
            exemplars: self.exemplars.as_ref().map(|(p, d)| (p.shallow_clone(), d.shallow_clone())),
        }
    }

    /// How far each tile's render `(N, 3, H, W)` is from its evidence `y` weighted by `w`: MAP's
    /// objective, one value per tile `(N,)`.
    pub fn misfit(&self, renders: &Tensor, y: &Tensor, w: &Tensor) -> Tensor {
        self.objective.apply(&((self.operator.apply(renders) - y) * w))
    }

    /// Whether this task's starts can come from the model's exemplars.
    pub fn has_exemplars(&self) -> bool {
        self.exemplars.is_some()
    }

    /// Where MAP starts for tiles with evidence `y` `(N, C, h, w)` weighted by `w` `(N, 1, h, w)`:
    /// for each tile the exemplar whose degraded render is nearest in weighted squared error, or
    /// without exemplars (or for super-resolution) the seed φ. From the nearest of
    /// 512 exemplars, 20 steps express clean held-out patches 3 dB better than from the seed
    /// (benches/NOTES.md, benchmark 16).
    pub fn start(&self, model: &Model, y: &Tensor, w: &Tensor, seed: u64) -> Tensor {
        let n = y.size()[0];
        let Some((phi, degraded)) = &self.exemplars else { return model.initial_phi(n, seed) };
        let _guard = tch::no_grad_guard();
        let w = w.expand(y.size().as_slice(), false).flatten(1, -1);
        let y = y.flatten(1, -1);
        // Σ w (r − y)² over pixels, without the Σ w y² every exemplar shares: (N, K).
        let error = w.matmul(&degraded.square().transpose(0, 1)) - (&w * &y).matmul(&degraded.transpose(0, 1)) * 2.0;
        phi.index_select(0, &error.argmin(1, false)).copy()
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
    /// The kind the generator's passes run in ([`MapOptimizer::with_precision`]).
    kind: Kind,
}

impl<'a> MapOptimizer<'a> {
    /// `y`: evidence tiles, `w`: their weights (mask × validity), `phi`: one row per tile.
    pub fn new(model: &'a Model, task: Task, y: Tensor, w: Tensor, phi: Tensor, optimizer: Optimizer, learning_rate: f64) -> Self {
        let phi = phi.set_requires_grad(true);
        Self { model, setup: model.map_setup(task), y, w, phi, optimizer, learning_rate, adam: None, kind: Kind::Float }
    }

    /// Runs the generator's passes at `precision` (float32 unless called).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.kind = precision.kind(self.model.device());
        self
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
    /// over tiles) as a device tensor, so the loop never waits on the host. Tiles are rendered
    /// and differentiated [`STEP_CHUNK`] at a time: each tile's misfit depends on its own φ
    /// only, so the gradient is the same, and memory stays bounded whatever the frame's size.
    pub fn step(&mut self) -> Tensor {
        let n = self.phi.size()[0];
        let rows = |t: &Tensor, start: i64, len: i64| if t.size()[0] == n { t.narrow(0, start, len) } else { t.shallow_clone() };
        let (mut losses, mut grads) = (Vec::new(), Vec::new());
        for start in (0..n).step_by(STEP_CHUNK as usize) {
            let len = STEP_CHUNK.min(n - start);
            let phi = self.phi.narrow(0, start, len).detach().set_requires_grad(true);
            let loss = self.setup.misfit(&self.model.render_in(&phi, self.kind), &rows(&self.y, start, len), &rows(&self.w, start, len)).sum(Kind::Float);
            grads.push(Tensor::run_backward(&[&loss], &[&phi], false, false).pop().expect("one input, one gradient"));
            losses.push(loss.detach());
        }
        let total = Tensor::stack(&losses, 0).sum(Kind::Float);
        let grad = Tensor::cat(&grads, 0);
        tch::no_grad(|| {
            let update = match self.optimizer {
                Optimizer::Sgd => grad * self.learning_rate,
                Optimizer::Adam => self.adam.get_or_insert_with(|| Adam::new(&grad)).update(&grad, self.learning_rate) * &self.setup.step_scale,
            };
            let _ = self.phi.shallow_clone().g_sub_(&update);
            self.setup.projection.apply_(&self.phi);
        });
        total
    }
}

/// Tiles per forward and backward pass of a MAP step: about 1 GB of activations on the
/// shipped model (×4 of a 360×288 frame, 720 tiles, peaked at 3.4 GB in one pass).
const STEP_CHUNK: i64 = 256;

/// The renders `(N, 3, H, W)` of φ's rows in eval mode, [`STEP_CHUNK`] tiles at a time.
pub(super) fn render_tiles(model: &Model, phi: &Tensor) -> Tensor {
    let renders: Vec<Tensor> = phi.split(STEP_CHUNK, 0).iter().map(|rows| model.render(rows, false)).collect();
    Tensor::cat(&renders, 0)
}

/// The step loop. Losses are read back to the host only every few steps; the time budget is
/// checked before every step but the first (a 10-step frame checked only with the readback
/// never stopped early).
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
        .with_adam_state(adam)
        .with_precision(opts.precision);
    let mut pending: Vec<Tensor> = Vec::new();
    let mut losses: Vec<f64> = Vec::new();
    let cancelled = || opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
    let out_of_time = || opts.time_budget.is_some_and(|b| started.elapsed() >= b);
    for step in 1..=opts.steps {
        if cancelled() || (step > 1 && out_of_time()) {
            break;
        }
        pending.push(map.step());
        if step % READBACK_EVERY == 0 || step == opts.steps {
            losses.extend(Vec::<f64>::try_from(Tensor::stack(&pending, 0).to_kind(Kind::Double)).unwrap_or_default());
            pending.clear();
            if !losses.last().is_some_and(|l| l.is_finite()) {
                break;
            }
        }
    }
    if !pending.is_empty() {
        losses.extend(Vec::<f64>::try_from(Tensor::stack(&pending, 0).to_kind(Kind::Double)).unwrap_or_default());
    }
    (map.phi.detach(), map.adam_state(), losses)
}

/// [`optimise`] over the rows of φ that `check` found unsettled: settled rows keep their φ and
/// Adam moments. Losses are summed over every row, a settled one at its checked fit.
#[allow(clippy::too_many_arguments)]
pub(super) fn optimise_unsettled(
    model: &Model,
    task: Task,
    y: &Tensor,
    w: &Tensor,
    phi: Tensor,
    adam: Option<Adam>,
    check: &SettleCheck,
    opts: &RestoreOptions,
    started: Instant,
) -> (Tensor, Option<Adam>, Vec<f64>) {
    let rows = &check.stepped;
    let settled_loss = f64::try_from(check.fit.masked_select(&check.settled).sum(Kind::Double)).unwrap_or(0.0);
    if rows.size()[0] == 0 {
        return (phi, adam, vec![settled_loss]);
    }
    let pick = |t: &Tensor| t.index_select(0, rows);
    let put = |all: &Tensor, part: &Tensor| all.index_copy(0, rows, part);
    let part_adam = adam.as_ref().map(|a| Adam::resumed(pick(&a.first), pick(&a.second), a.steps));
    let (part_phi, part_adam, losses) = optimise(model, task, &pick(y), &pick(w), pick(&phi), part_adam, opts, started);
    let adam = part_adam.map(|part| {
        let (first, second) = adam.map_or_else(|| (phi.zeros_like(), phi.zeros_like()), |a| (a.first, a.second));
        Adam::resumed(put(&first, &part.first), put(&second, &part.second), part.steps)
    });
    (put(&phi, &part_phi), adam, losses.into_iter().map(|loss| loss + settled_loss).collect())
}
