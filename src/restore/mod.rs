//! The restoration engine: MAP over φ with g frozen, on images of any size.
//!
//! A frame is cut into model-size tiles with overlap; every tile gets its own φ row and all tiles
//! are optimised as one batch. Tiles are blended back with a smooth window. The per-tile φ of the
//! last frame is kept so the next frame can warm-start tile by tile.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tch::{Kind, Tensor};

mod hints;
mod map;
mod temporal;
mod tiles;
mod video;

pub use hints::hints_from_rgba;
pub use map::{MapOptimizer, MapSetup};
use map::{optimise, optimise_unsettled};
use temporal::History;
pub(crate) use tiles::{crop, missing_region};
pub use tiles::TileGrid;
pub use video::{VIDEO_LOOKAHEAD, VideoOptions, VideoRestorer, video_steps};
use tiles::pad_to;

use crate::baselines;
use crate::degrade::{Downscale, Task};
use crate::device::Precision;
use crate::model::Model;
use crate::optim::Adam;

/// Default weight of the classical fill as soft evidence on missing pixels. On the 96×72 hole of a
/// clip held out from training (tree.avi, which then served for tuning; benches/NOTES.md):
/// 0 → hole PSNR 1.1 dB below OpenCV Telea, LPIPS better; 0.02 → within 0.2 dB, LPIPS still
/// better; 0.1 and up → PSNR above Telea, LPIPS worse than it.
pub const FILL_GUIDANCE: f64 = 0.02;

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
    /// colorization shifts colours so the result's luma is the input gray,
    /// super-resolution back-projects (10 iterations) towards a result whose downsampling (the task's
    /// filter) is the input.
    pub keep_known: bool,
    /// Seed of the cold-start φ.
    pub seed: u64,
    /// Stop stepping once this much time has been spent (the frame is still rendered).
    pub time_budget: Option<Duration>,
    /// Inpainting: weight (relative to known pixels) of the classical fill as soft evidence
    /// on the missing pixels; 0 leaves them to the prior alone.
    pub fill_guidance: f64,
    /// Stop stepping as soon as this is set (a pipeline shutting down or flushing); the frame
    /// is still rendered from the φ reached so far.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Let warm-started tiles that still fit the new evidence skip the frame's steps
    /// ([`settle_tolerance`]); off, every tile steps every frame.
    pub settle: bool,
    /// Number format of the generator's passes in the MAP steps; renders of the result are
    /// float32 whatever it is.
    pub precision: Precision,
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
            fill_guidance: FILL_GUIDANCE,
            cancel: None,
            settle: true,
            precision: Precision::Auto,
        }
    }
}

/// The evidence y of one image: what the degraded observation shows, and the task that lost
/// the rest.
pub struct Observation {
    pub task: Task,
    /// `(C, h, w)` in [0, 1]: RGB for inpainting and super-resolution, gray for colorization.
    pub evidence: Tensor,
    /// Inpainting: `(1, h, w)`, 1 where a pixel is known.
    pub mask: Option<Tensor>,
    /// Colorization: colour hints `(4, h, w)`, RGB and a weight that is 0 where a pixel gives
    /// no hint.
    pub hints: Option<Tensor>,
}

impl Observation {
    /// An RGB image `(3, H, W)` whose pixels are known where `known` `(1, H, W)` is 1.
    pub fn inpaint(image: Tensor, known: Tensor) -> Self {
        Self { task: Task::Inpaint, evidence: image, mask: Some(known), hints: None }
    }

    /// An RGB image `(3, h, w)` to enlarge `scale` times, made that much smaller by `downscale`.
    pub fn superres(small: Tensor, scale: i64, downscale: Downscale) -> Self {
        Self { task: Task::SuperRes { scale, downscale }, evidence: small, mask: None, hints: None }
    }

    /// A gray image `(1, H, W)`, with colour hints `(4, H, W)` if any.
    pub fn colorize(gray: Tensor, hints: Option<Tensor>) -> Self {
        Self { task: Task::Colorize, evidence: gray, mask: None, hints }
    }

    /// What `task` leaves of a clean frame `(3, H, W)`: the pixels `mask` `(1, H, W)` keeps
    /// (inpainting; 1 = known), the frame made smaller (by the task's filter), or its gray.
    pub fn of(task: Task, truth: &Tensor, mask: Option<Tensor>) -> Self {
        let truth = truth.to_kind(Kind::Float);
        let degraded = |t: &Tensor| task.degrade(&t.unsqueeze(0)).squeeze_dim(0).clamp(0.0, 1.0);
        match task {
            Task::Inpaint => match mask {
                Some(known) => Self::inpaint(&truth * &known, known),
                // Nothing missing: restoration fits the prior to the whole image.
                None => Self { task, evidence: truth, mask: None, hints: None },
            },
            Task::SuperRes { scale, downscale } => Self::superres(degraded(&truth), scale, downscale),
            Task::Colorize => Self::colorize(degraded(&truth), None),
        }
    }

    /// The same observation with colour hints `(4, h, w)` (colorization).
    pub fn with_hints(self, hints: Option<Tensor>) -> Self {
        Self { hints, ..self }
    }

    /// The classical answer: the hole filled ([`baselines::hole_fill`]), the Lanczos upscale, or
    /// the gray as RGB. Restoration falls back to it when MAP fails.
    pub fn fallback(&self) -> Tensor {
        baselines::classical(self.task, &self.evidence, self.mask.as_ref().map(|m| m.to_device(self.evidence.device())).as_ref())
    }

    /// The evidence as a viewer sees it beside a restoration: RGB at the restored size
    /// (nearest-neighbour enlarged, gray repeated).
    pub fn shown(&self) -> Tensor {
        let (_, h, w) = self.evidence.size3().expect("evidence is (C, h, w)");
        let s = self.task.scale();
        match self.task {
            Task::SuperRes { .. } => self.evidence.unsqueeze(0).upsample_nearest2d([h * s, w * s], None, None).squeeze_dim(0),
            Task::Colorize => self.evidence.expand([3, -1, -1], false).copy(),
            Task::Inpaint => self.evidence.shallow_clone(),
        }
    }
}

/// The outcome of restoring one image.
pub struct Restoration {
    /// `(3, H, W)` in [0, 1].
    pub image: Tensor,
    /// Final φ, one row per tile.
    pub phi: Tensor,
    /// Loss (sum over tiles) at every step taken; when every tile settled, no step was taken and
    /// the one entry is their fit.
    pub losses: Vec<f64>,
    /// Set when optimisation diverged and `image` is the evidence-based fallback instead. (A
    /// render that is not finite also gives way to the fallback image, with this left unset.)
    pub fallback: Option<String>,
    pub warm_started: bool,
    /// The tiles φ belongs to (colorization without hints: tiles of the gray at reduced size).
    pub grid: TileGrid,
    /// Adam's state at the end (none for SGD), so the next frame continues the same optimisation.
    pub adam: Option<Adam>,
    /// Missing pixels taken from earlier frames instead of the prior (video inpainting).
    pub temporal_pixels: i64,
    /// Each φ row's misfit to its evidence when it last took steps (what the next frame's
    /// tiles settle against).
    pub fit: Option<Tensor>,
    /// Each φ row's render `(N, 3, S, S)` for tasks whose tiles settle ([`settle_tolerance`]):
    /// the next frame checks its tiles against it without rendering them again.
    pub renders: Option<Tensor>,
    /// Inpainting: the surroundings' texture mirrored into the holes `(3, H, W)`, zero elsewhere;
    /// part of `image`, which a video holds on from frame to frame as it is.
    pub texture: Option<Tensor>,
}

/// What one restoration hands the next frame: its tiles and task, φ, and Adam's state.
pub struct WarmStart {
    pub grid: TileGrid,
    pub task: Task,
    pub phi: Tensor,
    pub adam: Option<Adam>,
    pub fit: Option<Tensor>,
    pub renders: Option<Tensor>,
}

impl WarmStart {
    fn of(task: Task, r: &Restoration) -> Self {
        Self {
            grid: r.grid.clone(),
            task,
            phi: r.phi.shallow_clone(),
            adam: r.adam.as_ref().map(Adam::shallow_clone),
            fit: r.fit.as_ref().map(Tensor::shallow_clone),
            renders: r.renders.as_ref().map(Tensor::shallow_clone),
        }
    }

    fn shallow_clone(&self) -> Self {
        Self {
            grid: self.grid.clone(),
            task: self.task,
            phi: self.phi.shallow_clone(),
            adam: self.adam.as_ref().map(Adam::shallow_clone),
            fit: self.fit.as_ref().map(Tensor::shallow_clone),
            renders: self.renders.as_ref().map(Tensor::shallow_clone),
        }
    }
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

    /// Whether a previous frame's state is held (the next restore may start warm).
    pub fn is_warm(&self) -> bool {
        self.warm.is_some()
    }

    /// Forgets the previous frame: the next restore starts from the seed φ.
    pub fn reset(&mut self) {
        self.warm = None;
    }

    /// MAP restoration of one observation; warm-starts from the previous call's φ when `warm`
    /// is set and the tile grid and task are unchanged.
    pub fn restore(&mut self, model: &Model, obs: &Observation, opts: &RestoreOptions, warm: bool) -> Restoration {
        let previous = self.warm.take().filter(|_| warm);
        let result = restore_with(model, obs, opts, previous);
        if result.fallback.is_none() {
            self.warm = Some(WarmStart::of(obs.task, &result));
        }
        result
    }
}

/// The tile grid of an observation. Inpainting that keeps known pixels only needs the tiles
/// that touch a missing pixel: everything else is the evidence itself.
fn grid_for(model: &Model, obs: &Observation, opts: &RestoreOptions) -> TileGrid {
    let (_, h, w) = obs.evidence.size3().expect("evidence is (C, h, w)");
    let task = obs.task;
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
pub fn restore_with(model: &Model, obs: &Observation, opts: &RestoreOptions, previous: Option<WarmStart>) -> Restoration {
    let started = Instant::now();
    match colour_at_reduced_size(model, obs, opts) {
        Some(small) => {
            let mut restored = restore_direct(model, &small, opts, previous, started);
            restored.image = match restored.fallback {
                None => colour_to_full_size(&restored.image, &obs.evidence.to_device(model.device()).to_kind(Kind::Float)),
                Some(_) => obs.fallback().to_device(model.device()),
            };
            restored
        }
        None => restore_direct(model, obs, opts, previous, started),
    }
}

/// Colorization without hints (keeping the gray) restores the gray at 1/[`COLOUR_REDUCTION`] of
/// its size when that still covers a tile: the colour it keeps is smoothed over σ =
/// [`CHROMA_SIGMA`] px anyway, so the finer tiles only cost time. Held-out clips through
/// `lcmcolorize` (benches/NOTES.md, benchmark 25): 1.4–3.4× faster on 176×144 to 640×480, LPIPS
/// lower on 8 of 9 (street 0.2997 → 0.2913, the face 0.2834 → 0.2796, now under the gray copy's
/// 0.2821), Big Buck Bunny at 12000 0.3743 → 0.3784 (the gray copy 0.3720 either way).
const COLOUR_REDUCTION: i64 = 2;

/// The reduced observation [`restore_with`] colorizes instead of `obs`, if any.
fn colour_at_reduced_size(model: &Model, obs: &Observation, opts: &RestoreOptions) -> Option<Observation> {
    if obs.task != Task::Colorize || obs.hints.is_some() || !opts.keep_known {
        return None;
    }
    let (_, h, w) = obs.evidence.size3().expect("evidence is (C, h, w)");
    let (h, w) = ((h + COLOUR_REDUCTION - 1) / COLOUR_REDUCTION, (w + COLOUR_REDUCTION - 1) / COLOUR_REDUCTION);
    if h.min(w) < model.config.image_size {
        return None;
    }
    let gray = obs.evidence.to_device(model.device()).to_kind(Kind::Float);
    Some(Observation::colorize(gray.unsqueeze(0).adaptive_avg_pool2d([h, w]).squeeze_dim(0), None))
}

/// A reduced colorization's chroma, upsampled onto the full-size `gray` `(1, H, W)`, whose luma
/// stays exact.
fn colour_to_full_size(small: &Tensor, gray: &Tensor) -> Tensor {
    let (_, h, w) = gray.size3().expect("gray is (1, H, W)");
    let colour = chroma(small).unsqueeze(0).upsample_bilinear2d([h, w], false, None, None).squeeze_dim(0);
    match_gray(&(gray + colour), gray)
}

/// [`restore_with`] at the observation's own size.
fn restore_direct(model: &Model, obs: &Observation, opts: &RestoreOptions, previous: Option<WarmStart>, started: Instant) -> Restoration {
    let device = model.device();
    let task = obs.task;
    let scale = task.scale();
    let grid = grid_for(model, obs, opts);
    let evidence = obs.evidence.to_device(device).to_kind(Kind::Float);
    let rows = grid.len() as i64 * starts_per_tile(task);
    if let (Task::Colorize, Some(hints)) = (task, &obs.hints) {
        // Colour from hints is their spread along the gray's edges. Fitting the prior to that
        // guide (as RGB evidence) and keeping its colour scored worse than the guide itself
        // (10 hints a frame on a face: LPIPS 0.233 against 0.107; benches/NOTES.md). φ, its
        // tiles and Adam's state pass on unchanged for the next frame, also when an unhinted
        // frame fitted them at reduced size.
        let image = colour_guide(&evidence, &hints.to_device(device).to_kind(Kind::Float));
        let (grid, phi, adam) = match previous.filter(|p| p.task == task) {
            Some(p) => (p.grid, p.phi, p.adam),
            None => (grid, model.initial_phi(rows, opts.seed), None),
        };
        return Restoration {
            image,
            phi,
            losses: Vec::new(),
            fallback: None,
            warm_started: false,
            grid,
            adam,
            temporal_pixels: 0,
            fit: None,
            renders: None,
            texture: None,
        };
    }
    let previous = previous.filter(|p| p.grid == grid && p.task == task && p.phi.size()[0] == rows);
    let warm_started = previous.is_some();
    let (values, weights, mut fill) = weighted_evidence(obs, &evidence, opts);
    let (padded, valid) = pad_to(&values, grid.canvas_height / scale, grid.canvas_width / scale);
    let (weights, _) = pad_to(&weights, grid.canvas_height / scale, grid.canvas_width / scale);
    let y = grid.cut(&padded, scale);
    let w = grid.cut(&(valid * weights), scale);

    let (phi, adam, last_fit, last_renders) = match previous {
        Some(p) => (p.phi.detach().copy(), p.adam.filter(|_| opts.optimizer == Optimizer::Adam), p.fit, p.renders),
        None => (cold_start(model, task, &y, &w, opts.seed), None, None, None),
    };
    let starts = starts_per_tile(task);
    let (y, w) = (y.repeat([starts, 1, 1, 1]), w.repeat([starts, 1, 1, 1]));
    let setup = model.map_setup(task);
    // Warm-started tiles whose φ still fits this frame's evidence take no steps.
    let check = match (last_fit, settle_tolerance(task)) {
        (Some(last_fit), Some(tolerance)) if opts.settle => {
            // φ is where the last frame left it, and so are its renders.
            let renders = last_renders.unwrap_or_else(|| tch::no_grad(|| map::render_tiles(model, &phi)));
            let fit = tch::no_grad(|| setup.misfit(&renders, &y, &w));
            let settled = fit.le_tensor(&(&last_fit * (1.0 + tolerance)));
            let stepped = settled.logical_not().nonzero().squeeze_dim(1);
            Some(SettleCheck { settled, stepped, fit, last_fit, renders })
        }
        _ => None,
    };

    // Grad mode is per thread: turn it on here whatever the calling thread had.
    let (phi, adam, losses) = tch::with_grad(|| match &check {
        None => optimise(model, task, &y, &w, phi, adam, opts, started),
        Some(c) => optimise_unsettled(model, task, &y, &w, phi, adam, c, opts, started),
    });

    let _guard = tch::no_grad_guard();
    let final_loss = losses.last().copied().unwrap_or(0.0);
    let diverged = !final_loss.is_finite() || losses.first().is_some_and(|&l0| final_loss > 10.0 * l0 + 1e-6);
    let fallback_image = || obs.fallback().to_device(device);
    if diverged {
        return Restoration {
            image: fallback_image(),
            phi,
            losses,
            fallback: Some(format!("restoration diverged (final loss {final_loss})")),
            warm_started,
            grid,
            adam: None,
            temporal_pixels: 0,
            fit: None,
            renders: None,
            texture: None,
        };
    }
    // Settled tiles render as they did when checked.
    let renders = match &check {
        Some(c) if c.stepped.size()[0] == 0 => c.renders.shallow_clone(),
        Some(c) => c.renders.index_copy(0, &c.stepped, &map::render_tiles(model, &phi.index_select(0, &c.stepped))),
        None => map::render_tiles(model, &phi),
    };
    let fit = setup.misfit(&renders, &y, &w);
    // A settled tile keeps the fit it had when it last stepped, so slow drift adds up until it steps.
    let fit = match check {
        Some(c) => c.last_fit.where_self(&c.settled, &fit),
        None => fit,
    };
    // Each tile's renders from its starts, averaged.
    let rendered = renders.view([starts, grid.len() as i64, 3, grid.tile, grid.tile]).mean_dim(0, false, Kind::Float);
    // Only inpainting can leave pixels uncovered (tiles without missing pixels are skipped).
    let background = match task {
        Task::Inpaint => padded.shallow_clone(),
        _ => Tensor::zeros([3, grid.canvas_height, grid.canvas_width], (Kind::Float, device)),
    };
    let image = grid.blend(&rendered, &background);
    let (image, texture) = keep_evidence(obs, &evidence, image, &mut fill, opts);
    let (image, texture) = if bool::try_from(image.isfinite().all()).unwrap_or(false) { (image, texture) } else { (fallback_image(), None) };
    let renders = settle_tolerance(task).map(|_| renders);
    Restoration { image, phi, losses, fallback: None, warm_started, grid, adam, temporal_pixels: 0, fit: Some(fit), renders, texture }
}

/// A warm frame's check of its φ rows against the new evidence, before any step.
struct SettleCheck {
    /// `(N,)` bool: the rows that take no steps; and the indices of the others.
    settled: Tensor,
    stepped: Tensor,
    /// Each row's misfit now, its misfit when it last took steps, and its render now.
    fit: Tensor,
    last_fit: Tensor,
    renders: Tensor,
}

/// How much worse (relative) than when it last took steps a warm-started tile may fit a new
/// frame's evidence and still take none: its φ, and so its render, stay as they were. On a still
/// shot MAP otherwise keeps drawing detail and colour the evidence cannot check, a little
/// different every frame. Six frames of up to 13 clips and held-out segments (benches/NOTES.md,
/// benchmark 19): colour 0.3–0.55× the seconds per frame at equal figures (0.05 and 0.2 alike);
/// ×4 0.3–1× the time, temporal error lower on still shots (bunny-9000 0.00051 → 0.00045), PSNR
/// within 0.05 dB and LPIPS within 0.0025 at 0.05, while 0.2 cost the 176×144 face 0.13 dB.
/// Inpainting steps every tile: a hole's detail gains from the steps it accumulates (0.05 put a
/// face's rect LPIPS from 0.3239 to 0.3258).
pub fn settle_tolerance(task: Task) -> Option<f64> {
    match task {
        Task::Inpaint => None,
        Task::SuperRes { .. } => Some(0.05),
        Task::Colorize => Some(0.2),
    }
}

/// Starts MAP fits each tile from: two for colorization, one otherwise. Colour is what the
/// gray leaves most open, and a tile fitted from the seed φ and from its nearest exemplar
/// guesses it two ways; their mean is nearer the truth than either guess (chroma correlation
/// with the truth on seven clips' frames 0.25 from the seed alone, 0.33 from both); its LPIPS
/// is at or below the gray copy's on all nine colour clips measured, where the seed alone was
/// above it on two (benches/NOTES.md, benchmark 17). The elements give each start half the
/// steps of one ([`video_steps`]).
pub(crate) fn starts_per_tile(task: Task) -> i64 {
    if task == Task::Colorize { 2 } else { 1 }
}

/// φ `(starts × N, |φ|)` for a cold frame's N tiles with evidence `y` weighted by `w`, a block of
/// N rows per start ([`starts_per_tile`]): the model's choice ([`MapSetup::start`](map::MapSetup::start)),
/// after the seed φ for colorization.
fn cold_start(model: &Model, task: Task, y: &Tensor, w: &Tensor, seed: u64) -> Tensor {
    let n = y.size()[0];
    let setup = model.map_setup(task);
    match starts_per_tile(task) {
        1 => setup.start(model, y, w, seed),
        // Without exemplars, two seeded starts.
        _ if !setup.has_exemplars() => model.initial_phi(2 * n, seed),
        _ => Tensor::cat(&[model.initial_phi(n, seed), setup.start(model, y, w, seed)], 0),
    }
}

/// What MAP fits, over the whole image: the evidence and its per-pixel weights. Inpainting's
/// missing pixels lean (weight `opts.fill_guidance`) towards the classical fill, returned too: every
/// tile has evidence, and the prior adds detail around the classical answer instead of inventing
/// from nothing.
pub(crate) fn weighted_evidence(obs: &Observation, evidence: &Tensor, opts: &RestoreOptions) -> (Tensor, Tensor, Option<Tensor>) {
    match (obs.task, &obs.mask) {
        (Task::Inpaint, Some(mask)) => {
            let mask = mask.to_device(evidence.device()).to_kind(Kind::Float);
            let guidance = opts.fill_guidance.max(0.0);
            let weights = &mask + (1.0 - &mask) * guidance;
            if guidance > 0.0 {
                let fill = baselines::hole_fill(evidence, &mask);
                (fill.shallow_clone(), weights, Some(fill))
            } else {
                (evidence.shallow_clone(), weights, None)
            }
        }
        _ => {
            let (_, h, w) = evidence.size3().expect("evidence is (C, h, w)");
            (evidence.shallow_clone(), Tensor::ones([1, h, w], (Kind::Float, evidence.device())), None)
        }
    }
}

/// A prior's rendered image made to agree with the evidence (`opts.keep_known`): inpainting
/// keeps known pixels and gives the hole the classical fill plus the render's detail (`fill`
/// is computed if not yet) and, deep inside, the surroundings' texture
/// ([`baselines::mirrored_texture`], returned too), colorization keeps the gray under calmed
/// colour, super-resolution back-projects.
pub(crate) fn keep_evidence(obs: &Observation, evidence: &Tensor, image: Tensor, fill: &mut Option<Tensor>, opts: &RestoreOptions) -> (Tensor, Option<Tensor>) {
    if !opts.keep_known {
        return (image, None);
    }
    let image = match (obs.task, &obs.mask) {
        (Task::Inpaint, Some(mask)) => {
            let mask = mask.to_device(evidence.device()).to_kind(Kind::Float);
            let fill = fill.get_or_insert_with(|| baselines::hole_fill(evidence, &mask));
            let kept = evidence * &mask;
            // Only the damage, and what reaches it through the blurs, is worked on.
            let Some(region) = missing_region(&mask, DETAIL_REACH) else { return (kept, None) };
            let contrast = surroundings_contrast(&crop(evidence, region), &crop(&mask, region));
            let invented = fill_with_detail(&crop(&image, region), &crop(fill, region), &contrast);
            let mirrored = baselines::mirrored_texture(evidence, &mask) * (1.0 - &mask);
            let (invented, mirrored) = if has_no_colour(&kept) { (gray_of(&invented), gray_of(&mirrored)) } else { (invented, mirrored) };
            let mut hole = crop(&kept, region);
            hole.copy_(&(&hole + invented * (1.0 - crop(&mask, region))));
            return (kept + &mirrored, Some(mirrored));
        }
        (Task::Colorize, _) => match_gray(&calm_colour(&image, evidence), evidence),
        (task @ Task::SuperRes { .. }, _) => {
            let image = back_project(task, &detail_where_evidence_varies(&image, evidence).unsqueeze(0), &evidence.unsqueeze(0)).squeeze_dim(0);
            if has_no_colour(evidence) { gray_of(&image) } else { image }
        }
        _ => image,
    };
    (image, None)
}

/// Whether `(3, h, w)` evidence (known pixels; missing ones zeroed) is black and white: every
/// pixel's channels within [`GRAY_SPREAD`] of each other (decoded and compressed monochrome
/// footage is rarely exact). What the prior adds to such footage is kept black and white too:
/// its renders carry a faint colour (the B/W cube clip, ×4: mean |chroma| 0.0004, up to 0.012).
fn has_no_colour(evidence: &Tensor) -> bool {
    evidence.size()[0] == 3 && f64::try_from((evidence.amax([0], false) - evidence.amin([0], false)).max()).is_ok_and(|spread| spread <= GRAY_SPREAD)
}

/// Largest channel spread (0–1) of a pixel that still counts as gray: three 8-bit levels.
const GRAY_SPREAD: f64 = 3.0 / 255.0;

/// `(3, H, W)` with each pixel's channels set to their mean.
fn gray_of(image: &Tensor) -> Tensor {
    image.mean_dim(0, true, Kind::Float).expand_as(image).copy()
}

/// A super-resolved render whose detail above the Lanczos upscale of the evidence `(3, h, w)` is
/// kept in proportion to the evidence's local contrast (gray standard deviation over 5×5 pixels,
/// full weight from [`DETAIL_CONTRAST`]): where the evidence is flat the truth is almost surely
/// flat too, since detail strong enough to matter leaves a trace at low resolution, and the
/// prior's texture there is noise. On the flat sky of Big Buck Bunny (×4, 6 frames) PSNR 51.33
/// → 52.40 dB; textured clips within 0.0002 LPIPS (benches/NOTES.md, benchmark 13).
fn detail_where_evidence_varies(image: &Tensor, evidence: &Tensor) -> Tensor {
    let (_, h, w) = image.size3().expect("(3, H, W)");
    let upscaled = crate::degrade::lanczos_resize(&evidence.unsqueeze(0), h, w).squeeze_dim(0);
    let gray = evidence.mean_dim(0, true, Kind::Float).unsqueeze(0);
    let local_mean = |t: &Tensor| t.avg_pool2d([5, 5], [1, 1], [2, 2], false, false, None::<i64>);
    let contrast = (local_mean(&gray.square()) - local_mean(&gray).square()).clamp_min(0.0).sqrt();
    let weight = (contrast / DETAIL_CONTRAST).clamp_max(1.0).upsample_bilinear2d([h, w], false, None, None).squeeze_dim(0);
    &upscaled + (image - &upscaled) * weight
}

/// Local contrast of the evidence at which super-resolution keeps all of the prior's detail,
/// chosen on the tuning clips among 0.005, 0.02, 0.04 and 0.08 (and the square of the weight).
const DETAIL_CONTRAST: f64 = 0.02;

/// The prior's colour, calmed: its chroma (colour minus gray) smoothed with a Gaussian of
/// σ = [`CHROMA_SIGMA`] px, which removes per-tile colour choices and mottling while colour
/// edges follow the exact gray, and scaled by [`CHROMA_GAIN`], which leans uncertain colour
/// towards gray rather than inventing it.
fn calm_colour(image: &Tensor, gray: &Tensor) -> Tensor {
    gray + gaussian_blur(&chroma(&image.clamp(0.0, 1.0)), CHROMA_SIGMA) * CHROMA_GAIN
}

/// An RGB image's `(3, H, W)` colour without its gray: each pixel minus its luma, so adding it
/// to a gray leaves that gray's luma unchanged.
pub(super) fn chroma(image: &Tensor) -> Tensor {
    image - crate::degrade::luma(image, 0)
}

/// The colour the hints `(4, h, w)` give a gray frame `(1, h, w)`: their chroma spread along the
/// gray's edges, added to the gray, the gray kept exact.
pub(crate) fn colour_guide(gray: &Tensor, hints: &Tensor) -> Tensor {
    match_gray(&(gray + hints::spread_chroma(gray, hints)), gray)
}

/// Chroma smoothing and gain of colorization (see [`calm_colour`]). σ 4 px was chosen on
/// tree.avi (LPIPS 0.278 unsmoothed → 0.259). The gain is the largest that leaves every tuning
/// clip closer to the truth than the gray copy (benches/NOTES.md, benchmark 11): faces, the clip
/// where the prior's colour is wrong, over 3 frames LPIPS 0.3420 at 0.3, 0.3302 at 0.2, 0.3218
/// at 0.1 (the gray copy 0.3218), and over 6 frames 0.3243 at 0.1, 0.3223 at 0.07, 0.3216 at
/// 0.05 (gray 0.3223).
const CHROMA_SIGMA: f64 = 4.0;
const CHROMA_GAIN: f64 = 0.05;

/// Separable Gaussian blur of `(C, H, W)` with edge replication.
fn gaussian_blur(t: &Tensor, sigma: f64) -> Tensor {
    let radius = (3.0 * sigma).ceil() as i64;
    let taps: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32).collect();
    let sum: f32 = taps.iter().sum();
    let kernel = Tensor::from_slice(&taps.iter().map(|v| v / sum).collect::<Vec<_>>()).to_device(t.device());
    let channels = t.size()[0];
    let x = t.unsqueeze(0).pad([radius, radius, radius, radius], "replicate", None);
    let x = x.conv2d(&kernel.view([1, 1, 1, -1]).repeat([channels, 1, 1, 1]), None::<Tensor>, 1, 0, 1, channels);
    x.conv2d(&kernel.view([1, 1, -1, 1]).repeat([channels, 1, 1, 1]), None::<Tensor>, 1, 0, 1, channels).squeeze_dim(0)
}

/// A hole's content: the classical `fill` carries its colours and shading, the prior's
/// render adds only its detail (its difference from a blurred copy), and only where the render
/// agrees with the fill at a coarse scale: where it does not, it has drawn something other than
/// what the fill holds, and its detail belongs to that (on a face, the dark background's edge
/// drawn as grainy streaks across the cheek). The render's own low frequencies inside a hole are
/// the weakest thing it has: on moving dirt (3 frames of two clips, benches/NOTES.md) trusting
/// the render near the hole's edge gave LPIPS 0.0291 / 0.0081 where the fill plus its detail
/// gives 0.0023 / 0.0047, and on 128×96 holes rendering a half-resolution restoration instead of
/// the fill was worse still. The detail is kept in proportion to the surroundings' `contrast`
/// ([`surroundings_contrast`], full from [`TEXTURE_CONTRAST`]), as super-resolution keeps it where
/// the evidence varies: in a hole in clear sky the prior's texture is mottling (a 256×192 crop of
/// Big Buck Bunny's sky, LPIPS 0.0278 → 0.0162; benches/NOTES.md, benchmark 32).
fn fill_with_detail(render: &Tensor, fill: &Tensor, contrast: &Tensor) -> Tensor {
    let disagreement = (gaussian_blur(render, AGREEMENT_SIGMA) - gaussian_blur(fill, AGREEMENT_SIGMA)).abs().mean_dim(0, true, Kind::Float);
    let trust = 1.0 / (1.0 + (disagreement / DETAIL_AGREEMENT).square());
    fill + (render - gaussian_blur(render, 2.0)) * trust * (contrast / TEXTURE_CONTRAST).clamp_max(1.0)
}

/// `(1, H, W)`: the known pixels' local contrast (gray standard deviation over the known ones
/// among [`TEXTURE_WINDOW`]² around each), spread smoothly into the damage from where enough
/// of a window is known. `evidence` `(3, H, W)`, `mask` `(1, H, W)`, 1 = known.
fn surroundings_contrast(evidence: &Tensor, mask: &Tensor) -> Tensor {
    let gray = evidence.to_kind(Kind::Float).mean_dim(0, true, Kind::Float);
    let known = mask.ge(0.5).to_kind(Kind::Float);
    let count = baselines::box_sum(&known, TEXTURE_WINDOW);
    let local_mean = |t: &Tensor| baselines::box_sum(&(t * &known), TEXTURE_WINDOW) / count.clamp_min(1.0);
    let contrast = (local_mean(&gray.square()) - local_mean(&gray).square()).clamp_min(0.0).sqrt();
    let judged = &known * count.ge((TEXTURE_WINDOW * TEXTURE_WINDOW / 4) as f64).to_kind(Kind::Float);
    baselines::smooth_fill(&(contrast * &judged), &judged)
}

/// Window of [`surroundings_contrast`], and the contrast from which a hole keeps all of the
/// render's detail: 0.02, chosen among 0.01 (with none under 0.005) and 0.02 on the tuning
/// clips' rectangles (benchmark 32).
const TEXTURE_WINDOW: i64 = 7;
const TEXTURE_CONTRAST: f64 = 0.02;

/// Blur at which [`fill_with_detail`] compares the render with the fill, and how far from the
/// damage its blurs reach (at least their radius, 3σ rounded up).
const AGREEMENT_SIGMA: f64 = 4.0;
const DETAIL_REACH: i64 = (3.0 * AGREEMENT_SIGMA) as i64 + 1;

/// Mean channel difference between the render and the fill (both blurred with σ = 4 px) at which
/// a hole keeps half of the render's detail. Chosen among 0.03, 0.05, 0.1 and no limit on the
/// tuning clips' holes and a 720×528 face's 180×132 hole, where the full detail had lost to
/// OpenCV's Telea (LPIPS 0.391 against 0.374; benches/NOTES.md, benchmark 15).
const DETAIL_AGREEMENT: f64 = 0.05;

/// Moves each pixel's colour so its luma is exactly the evidence gray while staying in [0, 1]:
/// darker pixels are scaled towards black, brighter ones towards white.
pub(super) fn match_gray(image: &Tensor, gray: &Tensor) -> Tensor {
    let x = image.clamp(0.0, 1.0);
    let luma = crate::degrade::luma(&x, 0);
    let darker = &x * (gray / luma.clamp_min(1e-6));
    let headroom = (gray.ones_like() - gray) / (luma.ones_like() - &luma).clamp_min(1e-6);
    let brighter = x.ones_like() - (x.ones_like() - &x) * headroom;
    darker.where_self(&luma.ge_tensor(gray), &brighter).clamp(0.0, 1.0)
}

/// Iterative back-projection: corrects the upscaled images, ten times, towards a downsampling (the
/// task's filter) that matches the evidence, keeping the prior's detail in what the evidence cannot see.
/// `images` `(N, 3, H, W)`, `evidence` `(N, 3, h, w)`.
pub(crate) fn back_project(task: Task, images: &Tensor, evidence: &Tensor) -> Tensor {
    const ITERATIONS: usize = 10;
    let (_, _, h, w) = images.size4().expect("(N, 3, H, W)");
    let mut x = images.shallow_clone();
    for _ in 0..ITERATIONS {
        x = &x + crate::degrade::lanczos_resize(&(evidence - task.degrade(&x)), h, w);
    }
    x.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn super_resolution_adds_no_texture_where_the_evidence_is_flat() {
        tch::manual_seed(3);
        // Left half flat, right half striped with a contrast well above DETAIL_CONTRAST.
        let stripes = Tensor::arange(32, (Kind::Float, Device::Cpu)).remainder(2.0) * 0.2 + 0.4;
        let right = stripes.view([1, 1, 32]).expand([3, 32, 32], false);
        let evidence = Tensor::cat(&[Tensor::full([3, 32, 32], 0.5, (Kind::Float, Device::Cpu)), right], 2);
        let upscaled = crate::degrade::lanczos_resize(&evidence.unsqueeze(0), 128, 256).squeeze_dim(0);
        let texture = Tensor::randn([3, 128, 256], (Kind::Float, Device::Cpu)) * 0.05;
        let kept = detail_where_evidence_varies(&(&upscaled + &texture), &evidence) - &upscaled;
        let part = |t: &Tensor, x: i64| f64::try_from(t.narrow(2, x, 96).abs().mean(Kind::Float)).unwrap();
        assert!(part(&kept, 0) < 1e-4, "texture added on flat evidence: {}", part(&kept, 0));
        assert!((part(&kept, 160) - part(&texture, 160)).abs() < 1e-4, "texture on varying evidence not kept");
    }

    #[test]
    fn black_and_white_footage_gets_no_colour_from_the_prior() {
        tch::manual_seed(4);
        let spread = |t: &Tensor| f64::try_from((t.amax([0], false) - t.amin([0], false)).max()).unwrap();
        let tinted = |h: i64, w: i64| Tensor::rand([3, h, w], (Kind::Float, Device::Cpu)) * 0.6 + 0.2;
        let opts = RestoreOptions::default();
        // A gray frame one level of noise apart per channel, with a hole filled with colour.
        let gray = Tensor::rand([1, 64, 96], (Kind::Float, Device::Cpu)).expand([3, 64, 96], false)
            + Tensor::rand([3, 64, 96], (Kind::Float, Device::Cpu)) / 255.0;
        let known = crate::mask::rect(64, 96, 30, 20, 36, 24);
        let red = Tensor::from_slice(&[1.0f32, 0.0, 0.0]).view([3, 1, 1]);
        let damaged: Tensor = &gray * &known + (1.0 - &known) * red;
        let obs = Observation::inpaint(damaged.shallow_clone(), known.shallow_clone());
        let (restored, _) = keep_evidence(&obs, &(&damaged * &known), tinted(64, 96), &mut None, &opts);
        assert!(spread(&(&restored * (1.0 - &known))) < 1e-6, "the hole of a gray frame came back coloured");
        assert!(restored.equal(&(&restored * (1.0 - &known) + &damaged * &known)), "known pixels changed");
        let small = gray.narrow(1, 0, 16).narrow(2, 0, 24);
        let (restored, _) = keep_evidence(&Observation::superres(small.shallow_clone(), 4, Downscale::Lanczos), &small, tinted(64, 96), &mut None, &opts);
        assert!(spread(&restored) < 1e-6, "a gray frame was enlarged in colour");
        // Colour footage keeps the prior's colour.
        let colour = tinted(16, 24);
        let (restored, _) = keep_evidence(&Observation::superres(colour.shallow_clone(), 4, Downscale::Lanczos), &colour, tinted(64, 96), &mut None, &opts);
        assert!(spread(&restored) > 0.1, "colour footage lost its colour");
    }

    #[test]
    fn a_hole_takes_the_renders_detail_only_where_the_render_agrees_with_the_fill() {
        tch::manual_seed(5);
        let fill = Tensor::full([3, 64, 128], 0.5, (Kind::Float, Device::Cpu));
        let texture = (Tensor::rand([1, 64, 128], (Kind::Float, Device::Cpu)) - 0.5).expand([3, 64, 128], false) * 0.2;
        // The left half renders the fill's shading with texture on it, the right half something
        // 0.3 darker: a different content, whose texture is not the hole's.
        let offset = Tensor::cat(&[Tensor::zeros([3, 64, 64], (Kind::Float, Device::Cpu)), Tensor::full([3, 64, 64], -0.3, (Kind::Float, Device::Cpu))], 2);
        let render = &fill + &texture + offset;
        let detail = fill_with_detail(&render, &fill, &Tensor::ones([1, 64, 128], (Kind::Float, Device::Cpu))) - &fill;
        let wanted = &texture - gaussian_blur(&texture, 2.0);
        let part = |t: &Tensor, x: i64| f64::try_from(t.narrow(1, 16, 32).narrow(2, x, 32).abs().mean(Kind::Float)).unwrap();
        assert!(part(&(&detail - &wanted), 16) < 0.05 * part(&wanted, 16), "the agreeing render's detail was not kept");
        assert!(part(&detail, 80) < 0.05 * part(&wanted, 80), "the disagreeing render's detail was kept: {}", part(&detail, 80));
    }

    #[test]
    fn a_hole_in_flat_surroundings_takes_none_of_the_renders_texture() {
        tch::manual_seed(6);
        let cpu = (Kind::Float, Device::Cpu);
        // Left half a sky's gentle gradient, right half stripes of contrast 0.2; a 16 × 16 hole
        // in each, the fill exact and the render the truth with texture on it.
        let sky = (Tensor::arange(64, cpu).view([1, 64, 1]) * 0.0005 + 0.6).expand([3, 64, 64], false);
        let stripes = (Tensor::arange(64, cpu).remainder(2.0) * 0.2 + 0.4).view([1, 1, 64]).expand([3, 64, 64], false);
        let truth = Tensor::cat(&[sky, stripes], 2);
        let known = crate::mask::rect(64, 128, 24, 24, 16, 16) * crate::mask::rect(64, 128, 88, 24, 16, 16);
        let render = &truth + (Tensor::rand([1, 64, 128], cpu) - 0.5).expand([3, 64, 128], false) * 0.2;
        let detail = fill_with_detail(&render, &truth, &surroundings_contrast(&truth, &known)) - &truth;
        let full = &render - gaussian_blur(&render, 2.0);
        let hole = |t: &Tensor, x: i64| f64::try_from(t.narrow(1, 24, 16).narrow(2, x, 16).abs().mean(Kind::Float)).unwrap();
        assert!(hole(&detail, 24) < 0.1 * hole(&full, 24), "texture drawn into the sky: {} of {}", hole(&detail, 24), hole(&full, 24));
        assert!(hole(&(&detail - &full), 88) < 0.05 * hole(&full, 88), "the striped hole lost its texture");
    }
}
