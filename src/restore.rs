//! The restoration engine: MAP over φ with g frozen, on images of any size.
//!
//! A frame is cut into model-size tiles with overlap; every tile gets its own φ row and all tiles
//! are optimised as one batch. Tiles are blended back with a smooth window. The per-tile φ of the
//! last frame is kept so the next frame can warm-start tile by tile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tch::{Kind, Tensor};

use crate::baselines;
use crate::degrade::Task;
use crate::loss;
use crate::model::Model;

/// How φ is updated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Sgd,
    Adam,
}

#[derive(Clone, Debug)]
pub struct RestoreOptions {
    pub steps: usize,
    pub learning_rate: f64,
    pub optimizer: Optimizer,
    /// Overlap between neighbouring tiles, in output pixels.
    pub tile_overlap: i64,
    /// Keep the evidence exactly: inpainting copies known pixels into the result unchanged,
    /// colorization shifts colours so the result's channel mean is the input gray,
    /// super-resolution back-projects until the result's Lanczos downsampling is the input.
    pub keep_known: bool,
    /// Seed of the cold-start φ.
    pub seed: u64,
    /// Stop stepping once this much time has been spent (the frame is still rendered).
    pub time_budget: Option<Duration>,
    /// Stop stepping as soon as this is set (a pipeline shutting down or flushing); the frame
    /// is still rendered from the φ reached so far.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            steps: 100,
            learning_rate: 0.05,
            optimizer: Optimizer::Adam,
            tile_overlap: 16,
            keep_known: true,
            seed: 0,
            time_budget: None,
            cancel: None,
        }
    }
}

/// The evidence y of one image: what the degraded observation shows.
pub struct Observation {
    /// `(C, h, w)` in [0, 1]: RGB for inpainting and super-resolution, gray for colorization.
    pub evidence: Tensor,
    /// Inpainting: `(1, h, w)`, 1 where a pixel is known.
    pub mask: Option<Tensor>,
}

/// The outcome of restoring one image.
pub struct Restoration {
    /// `(3, H, W)` in [0, 1].
    pub image: Tensor,
    /// Final φ, one row per tile.
    pub phi: Tensor,
    /// Loss (sum over tiles) at every step taken.
    pub losses: Vec<f64>,
    /// Set when optimisation diverged and `image` is the evidence-based fallback instead.
    pub fallback: Option<String>,
    pub warm_started: bool,
    /// The tiles φ belongs to.
    pub grid: TileGrid,
    /// Adam's state at the end (none for SGD), so the next frame continues the same optimisation.
    pub adam: Option<AdamState>,
}

/// Adam's moments of φ and the steps they have seen.
pub struct AdamState {
    pub first: Tensor,
    pub second: Tensor,
    pub steps: usize,
}

impl AdamState {
    fn shallow_clone(&self) -> Self {
        Self { first: self.first.shallow_clone(), second: self.second.shallow_clone(), steps: self.steps }
    }
}

/// What one restoration hands the next frame: its tiles and task, φ, and Adam's state.
pub struct WarmStart {
    pub grid: TileGrid,
    pub task: Task,
    pub phi: Tensor,
    pub adam: Option<AdamState>,
}

impl WarmStart {
    fn of(task: Task, r: &Restoration) -> Self {
        Self { grid: r.grid.clone(), task, phi: r.phi.shallow_clone(), adam: r.adam.as_ref().map(AdamState::shallow_clone) }
    }

    fn shallow_clone(&self) -> Self {
        Self {
            grid: self.grid.clone(),
            task: self.task,
            phi: self.phi.shallow_clone(),
            adam: self.adam.as_ref().map(AdamState::shallow_clone),
        }
    }
}

/// Tile positions over a canvas, in output pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileGrid {
    pub height: i64,
    pub width: i64,
    pub canvas_height: i64,
    pub canvas_width: i64,
    pub tile: i64,
    pub ys: Vec<i64>,
    pub xs: Vec<i64>,
    /// Top-left corners of the tiles in use (all of `ys × xs` unless some were dropped).
    pub tiles: Vec<(i64, i64)>,
}

fn axis_positions(len: i64, tile: i64, overlap: i64, align: i64) -> Vec<i64> {
    if len <= tile {
        return vec![0];
    }
    // At most half a tile of overlap: beyond that tiles multiply without adding context.
    let stride = ((tile - overlap.clamp(0, tile / 2)) / align * align).max(align);
    let last = len - tile;
    let mut p: Vec<i64> = (0..).map(|i| i * stride).take_while(|&p| p < last).collect();
    p.push(last);
    p
}

impl TileGrid {
    /// Grid over an `height × width` output; `align` keeps tile corners on the evidence grid.
    pub fn new(height: i64, width: i64, tile: i64, overlap: i64, align: i64) -> Self {
        let canvas_height = height.max(tile);
        let canvas_width = width.max(tile);
        let ys = axis_positions(canvas_height, tile, overlap, align);
        let xs = axis_positions(canvas_width, tile, overlap, align);
        let tiles = ys.iter().flat_map(|&y| xs.iter().map(move |&x| (y, x))).collect();
        Self { height, width, canvas_height, canvas_width, tile, ys, xs, tiles }
    }

    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn positions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.tiles.iter().copied()
    }

    /// Keeps only the tiles where `needed` (a `(1, H, W)` canvas mask) has a non-zero pixel.
    fn keep_needed(&mut self, needed: &Tensor) {
        let t = self.tile;
        self.tiles.retain(|&(y, x)| bool::try_from(needed.narrow(1, y, t).narrow(2, x, t).any()).unwrap_or(true));
    }

    /// Cuts `(C, h, w)` (on a grid `scale` times coarser) into `(T, C, tile/scale, tile/scale)`.
    fn cut(&self, t: &Tensor, scale: i64) -> Tensor {
        let s = self.tile / scale;
        let tiles: Vec<Tensor> =
            self.positions().map(|(y, x)| t.narrow(1, y / scale, s).narrow(2, x / scale, s)).collect();
        Tensor::stack(&tiles, 0)
    }

    /// Blends `(T, 3, tile, tile)` into `(3, height, width)` with a raised-cosine window;
    /// pixels no tile covers come from `background` `(3, canvas_height, canvas_width)`.
    fn blend(&self, tiles: &Tensor, background: &Tensor) -> Tensor {
        let (kind, device) = (Kind::Float, tiles.device());
        let ramp = (Tensor::arange(self.tile, (kind, device)) + 0.5) * (std::f64::consts::PI / self.tile as f64);
        let ramp = ramp.sin().square() + 1e-3;
        let window = ramp.outer(&ramp).unsqueeze(0);
        let sum = Tensor::zeros([3, self.canvas_height, self.canvas_width], (kind, device));
        let weight = Tensor::zeros([1, self.canvas_height, self.canvas_width], (kind, device));
        for (i, (y, x)) in self.positions().enumerate() {
            let _ = sum.narrow(1, y, self.tile).narrow(2, x, self.tile).g_add_(&(tiles.get(i as i64) * &window));
            let _ = weight.narrow(1, y, self.tile).narrow(2, x, self.tile).g_add_(&window);
        }
        let covered = weight.gt(0.0);
        let blended = (sum / weight.clamp_min(1e-12)).where_self(&covered, background);
        blended.narrow(1, 0, self.height).narrow(2, 0, self.width)
    }
}

/// Pads `(C, h, w)` to `(C, ch, cw)` by edge replication; returns it with a validity mask.
fn pad_to(t: &Tensor, ch: i64, cw: i64) -> (Tensor, Tensor) {
    let (_, h, w) = t.size3().expect("evidence is 3-d");
    let valid = Tensor::ones([1, h, w], (Kind::Float, t.device()));
    if (h, w) == (ch, cw) {
        return (t.shallow_clone(), valid);
    }
    let pad = [0, cw - w, 0, ch - h];
    let padded = t.unsqueeze(0).pad(pad, "replicate", None).squeeze_dim(0);
    (padded, valid.constant_pad_nd(pad))
}

/// Restores images with one model; remembers the last frame's φ and optimiser state for warm starts.
#[derive(Default)]
pub struct Engine {
    warm: Option<WarmStart>,
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// The previous frame's state, for a one-off warm restore that leaves this engine as it is.
    pub fn previous(&self) -> Option<WarmStart> {
        self.warm.as_ref().map(WarmStart::shallow_clone)
    }

    /// Forgets the previous frame: the next restore starts from the seed φ.
    pub fn reset(&mut self) {
        self.warm = None;
    }

    /// MAP restoration of one observation; warm-starts from the previous call's φ when `warm`
    /// is set and the tile grid and task are unchanged.
    pub fn restore(&mut self, model: &Model, task: Task, obs: &Observation, opts: &RestoreOptions, warm: bool) -> Restoration {
        let previous = self.warm.take().filter(|_| warm);
        let result = restore_with(model, task, obs, opts, previous);
        if result.fallback.is_none() {
            self.warm = Some(WarmStart::of(task, &result));
        }
        result
    }
}

/// The tile grid of an observation. Inpainting that keeps known pixels only needs the tiles
/// that touch a missing pixel: everything else is the evidence itself.
fn grid_for(model: &Model, task: Task, obs: &Observation, opts: &RestoreOptions) -> TileGrid {
    let (_, h, w) = obs.evidence.size3().expect("evidence is (C, h, w)");
    let scale = task.scale();
    let mut grid = TileGrid::new(h * scale, w * scale, model.config.image_size, opts.tile_overlap, scale);
    if let (Task::Inpaint, true, Some(mask)) = (task, opts.keep_known, &obs.mask) {
        let (known, _) = pad_to(&mask.to_kind(Kind::Float), grid.canvas_height, grid.canvas_width);
        grid.keep_needed(&known.lt(0.5));
        if grid.is_empty() {
            grid.tiles.push((0, 0)); // nothing missing: one tile keeps the machinery uniform
        }
    }
    grid
}

/// One MAP restoration; `previous` is an earlier frame's state to warm-start from (used when its
/// tiles and task match this one's).
pub fn restore_with(
    model: &Model,
    task: Task,
    obs: &Observation,
    opts: &RestoreOptions,
    previous: Option<WarmStart>,
) -> Restoration {
    let started = Instant::now();
    let device = model.device();
    let scale = task.scale();
    let grid = grid_for(model, task, obs, opts);
    let evidence = obs.evidence.to_device(device).to_kind(Kind::Float);
    let (padded, mut weight) = pad_to(&evidence, grid.canvas_height / scale, grid.canvas_width / scale);
    if let (Task::Inpaint, Some(mask)) = (task, &obs.mask) {
        let (mask, _) = pad_to(&mask.to_device(device).to_kind(Kind::Float), grid.canvas_height, grid.canvas_width);
        weight = weight * mask;
    }
    let y = grid.cut(&padded, scale);
    let w = grid.cut(&weight, scale);

    let tiles = grid.len() as i64;
    let previous = previous.filter(|p| p.grid == grid && p.task == task);
    let warm_started = previous.is_some();
    let (phi, adam) = match previous {
        Some(p) => (p.phi, p.adam.filter(|_| opts.optimizer == Optimizer::Adam)),
        None => (model.initial_phi(tiles, opts.seed), None),
    };
    let phi = phi.detach().copy();

    // Grad mode is per thread: turn it on here whatever the calling thread had.
    let (phi, adam, losses) = tch::with_grad(|| optimise(model, task, &y, &w, phi, adam, opts, started));

    let _guard = tch::no_grad_guard();
    let final_loss = losses.last().copied().unwrap_or(0.0);
    let diverged = !final_loss.is_finite() || losses.first().is_some_and(|&l0| final_loss > 10.0 * l0 + 1e-6);
    let fallback_image = || baselines::classical(task, &evidence, obs.mask.as_ref().map(|m| m.to_device(device)).as_ref());
    if diverged {
        return Restoration {
            image: fallback_image(),
            phi,
            losses,
            fallback: Some(format!("restoration diverged (final loss {final_loss})")),
            warm_started,
            grid,
            adam: None,
        };
    }
    let rendered = model.render(&phi, false);
    // Only inpainting can leave pixels uncovered (tiles without missing pixels are skipped).
    let background = match task {
        Task::Inpaint => padded.shallow_clone(),
        _ => Tensor::zeros([3, grid.canvas_height, grid.canvas_width], (Kind::Float, device)),
    };
    let mut image = grid.blend(&rendered, &background);
    if let (Task::Inpaint, true, Some(mask)) = (task, opts.keep_known, &obs.mask) {
        let mask = mask.to_device(device).to_kind(Kind::Float);
        image = &evidence * &mask + image * (1.0 - &mask);
    }
    match (task, opts.keep_known) {
        (Task::Colorize, true) => image = match_gray(&image, &evidence),
        (Task::SuperRes { .. }, true) => image = back_project(task, &image, &evidence),
        _ => {}
    }
    let image = if bool::try_from(image.isfinite().all()).unwrap_or(false) { image } else { fallback_image() };
    Restoration { image, phi, losses, fallback: None, warm_started, grid, adam }
}

/// Moves each pixel's colour so its channel mean is exactly the evidence gray while staying in
/// [0, 1]: darker pixels are scaled towards black, brighter ones towards white.
fn match_gray(image: &Tensor, gray: &Tensor) -> Tensor {
    let x = image.clamp(0.0, 1.0);
    let mean = x.mean_dim(0, true, Kind::Float);
    let darker = &x * (gray / mean.clamp_min(1e-6));
    let headroom = (gray.ones_like() - gray) / (mean.ones_like() - &mean).clamp_min(1e-6);
    let brighter = x.ones_like() - (x.ones_like() - &x) * headroom;
    darker.where_self(&mean.ge_tensor(gray), &brighter).clamp(0.0, 1.0)
}

/// The MAP step loop's state over one batch of tiles: φ, its optimiser and the evidence. Public
/// so benchmarks time exactly the step restoration runs.
pub struct MapOptimizer<'a> {
    model: &'a Model,
    y: Tensor,
    w: Tensor,
    pub phi: Tensor,
    optimizer: Optimizer,
    learning_rate: f64,
    step_scale: Tensor,
    projection: crate::model::latent::Projection,
    operator: crate::degrade::Operator,
    objective: loss::Reconstruction,
    moments: Option<(Tensor, Tensor)>,
    steps_taken: usize,
}

impl<'a> MapOptimizer<'a> {
    /// `y`: evidence tiles, `w`: their weights (mask × validity), `phi`: one row per tile.
    pub fn new(model: &'a Model, task: Task, y: Tensor, w: Tensor, phi: Tensor, optimizer: Optimizer, learning_rate: f64) -> Self {
        let device = phi.device();
        Self {
            model,
            y,
            w,
            phi: phi.set_requires_grad(true),
            optimizer,
            learning_rate,
            step_scale: model.latent.step_scale(device),
            projection: model.latent.projection(device),
            operator: crate::degrade::Operator::new(task, model.config.image_size, device),
            objective: loss::Reconstruction::new(task.evidence_channels(), device),
            moments: None,
            steps_taken: 0,
        }
    }

    /// Continues an earlier optimisation of the same tiles: Adam keeps its moments and step count,
    /// so a warm-started frame takes steps sized by the history, not Adam's full first steps.
    pub fn with_adam_state(mut self, state: Option<AdamState>) -> Self {
        if let Some(s) = state {
            // Copies: Adam updates its moments in place, and the caller's state may be reused.
            self.moments = Some((s.first.copy(), s.second.copy()));
            self.steps_taken = s.steps;
        }
        self
    }

    /// Adam's state now (none for SGD or before the first step).
    pub fn adam_state(&self) -> Option<AdamState> {
        self.moments.as_ref().map(|(m, v)| AdamState { first: m.detach(), second: v.detach(), steps: self.steps_taken })
    }

    /// One step: render, degrade, loss, backward to φ, update, project. Returns the loss (summed
    /// over tiles) as a device tensor, so the loop never waits on the host.
    pub fn step(&mut self) -> Tensor {
        self.steps_taken += 1;
        let x = self.model.render(&self.phi, false);
        let residual = (self.operator.apply(&x) - &self.y) * &self.w;
        let total = self.objective.apply(&residual).sum(Kind::Float);
        let grad = Tensor::run_backward(&[&total], &[&self.phi], false, false).pop().expect("one input, one gradient");
        tch::no_grad(|| {
            let update = match self.optimizer {
                Optimizer::Sgd => grad * self.learning_rate,
                Optimizer::Adam => adam_update(&mut self.moments, &grad, self.steps_taken, self.learning_rate) * &self.step_scale,
            };
            let _ = self.phi.shallow_clone().g_sub_(&update);
            self.projection.apply_(&self.phi);
        });
        total.detach()
    }
}

/// Iterative back-projection: corrects the upscaled image until its Lanczos downsampling
/// matches the evidence, keeping the prior's detail in what the evidence cannot see.
fn back_project(task: Task, image: &Tensor, evidence: &Tensor) -> Tensor {
    const ITERATIONS: usize = 10;
    let (_, h, w) = image.size3().expect("(3, H, W)");
    let mut x = image.unsqueeze(0);
    let y = evidence.unsqueeze(0);
    for _ in 0..ITERATIONS {
        x = &x + crate::degrade::lanczos_resize(&(&y - task.degrade(&x)), h, w);
    }
    x.squeeze_dim(0).clamp(0.0, 1.0)
}

/// The step loop. Losses are read back to the host only every few steps.
#[allow(clippy::too_many_arguments)]
fn optimise(
    model: &Model,
    task: Task,
    y: &Tensor,
    w: &Tensor,
    phi: Tensor,
    adam: Option<AdamState>,
    opts: &RestoreOptions,
    started: Instant,
) -> (Tensor, Option<AdamState>, Vec<f64>) {
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

pub(crate) fn adam_update(moments: &mut Option<(Tensor, Tensor)>, grad: &Tensor, step: usize, lr: f64) -> Tensor {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;
    let (m, v) = moments.get_or_insert_with(|| (grad.zeros_like(), grad.zeros_like()));
    let _ = m.g_mul_scalar_(BETA1).g_add_(&(grad * (1.0 - BETA1)));
    let _ = v.g_mul_scalar_(BETA2).g_add_(&(grad.square() * (1.0 - BETA2)));
    let m_hat = &*m / (1.0 - BETA1.powi(step as i32));
    let v_hat = &*v / (1.0 - BETA2.powi(step as i32));
    m_hat / (v_hat.sqrt() + EPS) * lr
}
