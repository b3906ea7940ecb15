//! Consecutive frames of one stream: warm start from the previous frame, a cold restart at
//! scene cuts, and (inpainting) evidence recovered from other frames before the prior is asked,
//! and what still had to be invented (inpainting's holes, colorization's colour,
//! super-resolution's detail) carried on from the last frame where the scene stays.

use tch::{Kind, Tensor};

use super::hints::{correct_to_hints, hint_places};
use super::temporal::{hold_mask, Addition, Carry, Invention, Neighbour, SteadyLevels};
use super::{Engine, History, Observation, RestoreOptions, Restoration};
use crate::degrade::Task;
use crate::model::Model;

/// MAP steps per frame of the elements: warm-started, 20 steps fit the evidence better than 60
/// cold ones, and what the evidence does not show stops improving well before that (benchmark 3,
/// benches/NOTES.md). Inpainting takes only the render's detail, which 10 steps already give
/// (four clip × damage cases: LPIPS within 0.004 of 20 steps, at 0.6–0.75× the time).
/// Colorization fits every tile from two starts ([`starts_per_tile`](super::starts_per_tile)),
/// 10 steps each: the work of 20 from one.
pub const fn video_steps(task: Task) -> usize {
    match task {
        Task::Inpaint | Task::Colorize => 10,
        _ => 20,
    }
}

/// How many times [`video_steps`] super-resolution takes on a frame that starts cold (a stream's
/// first, the first after a cut): the detail it finds there is carried through the scene, and
/// warm frames of a still shot take no steps at all ([`settle_tolerance`](super::settle_tolerance)).
/// On ×4, six frames through `gst-launch-1.0` (benches/NOTES.md, benchmark 37): PSNR, LPIPS and
/// temporal error better or equal on all five tuning clips and five held-out segments (bunny-9000
/// LPIPS 0.1926 → 0.1920, under Lanczos + back-projection's 0.1924; bunny-13500's temporal error
/// under bicubic's), for that one frame's time. Inpainting and colorization gain nothing from it
/// (the tuning faces' colour rose over the gray copy's LPIPS).
pub const COLD_SUPERRES_STEPS: usize = 2;

/// Later frames an inpainting element holds back by default: with them it sees what a temporal
/// dirt filter sees (t±1, t±2) for two frames of latency (moving dirt on a static shot: 65.5 →
/// 68.8 dB on the missing pixels against 56.9 dB with earlier frames only; benches/NOTES.md).
pub const VIDEO_LOOKAHEAD: usize = 2;

/// How a stream is restored beyond one frame.
#[derive(Clone, Debug)]
pub struct VideoOptions {
    /// Start each frame from the previous frame's φ and Adam state (tile by tile).
    pub warm_start: bool,
    /// Mean absolute evidence change (0–1) between frames that counts as a scene cut.
    pub reset_threshold: f64,
    /// Earlier frames searched for pixels the current one misses (inpainting; 0 = none); read
    /// when the restorer is built.
    pub temporal_frames: usize,
}

impl Default for VideoOptions {
    fn default() -> Self {
        Self { warm_start: true, reset_threshold: 0.08, temporal_frames: 2 }
    }
}

/// The state of one stream between its frames.
pub struct VideoRestorer {
    engine: Engine,
    history: History,
    previous_evidence: Option<Tensor>,
    /// Inpainting: what the last frame invented, carried on by this one.
    invention: Option<Invention>,
    /// Colorization and super-resolution: what the prior added to the last frame above its
    /// evidence (colour, detail), likewise.
    addition: Option<Addition>,
    /// Colorization: whether the held colour comes from hints (given on some frame since).
    hinted: bool,
    /// Colorization: where hints were given on earlier frames and the scene has stood since.
    hint_places: Option<Tensor>,
    /// Colorization and inpainting: the last frame's levels above the evidence.
    steady: SteadyLevels,
}

impl VideoRestorer {
    pub fn new(options: &VideoOptions) -> Self {
        Self {
            engine: Engine::new(),
            history: History::new(options.temporal_frames),
            previous_evidence: None,
            invention: None,
            addition: None,
            hinted: false,
            hint_places: None,
            steady: SteadyLevels::default(),
        }
    }

    /// Forgets every earlier frame (flush, seek, discontinuity, caps change).
    pub fn reset(&mut self) {
        self.engine.reset();
        self.history.clear();
        self.previous_evidence = None;
        self.invention = None;
        self.addition = None;
        self.hint_places = None;
        self.steady = SteadyLevels::default();
    }

    /// Restores the next frame of the stream.
    pub fn restore(&mut self, model: &Model, obs: &Observation, opts: &RestoreOptions, video: &VideoOptions) -> Restoration {
        self.restore_with_upcoming(model, obs, &[], opts, video)
    }

    /// Takes a frame with nothing to restore (inpainting: no pixel missing) as an earlier frame
    /// for the ones after it: its pixels are the best evidence for their damage.
    pub fn remember(&mut self, obs: &Observation, video: &VideoOptions) {
        let evidence = obs.evidence.to_kind(Kind::Float);
        self.reset_at_cut(&evidence, video);
        self.previous_evidence = Some(evidence.shallow_clone());
        if let Some(known) = &obs.mask {
            self.history.remember(Neighbour::new(&evidence, known));
        }
        // Nothing was invented here to carry on, and its levels are the evidence's own.
        self.invention = None;
        self.steady = SteadyLevels::default();
    }

    /// Forgets the earlier frames when `evidence` starts a new scene.
    fn reset_at_cut(&mut self, evidence: &Tensor, video: &VideoOptions) {
        if self.previous_evidence.as_ref().is_some_and(|previous| is_cut(previous, evidence, video)) {
            self.reset();
        }
    }

    /// [`VideoRestorer::restore`] that may also take missing pixels from `upcoming` frames
    /// (the next ones, nearest first), as an element with lookahead can.
    pub fn restore_with_upcoming(
        &mut self,
        model: &Model,
        obs: &Observation,
        upcoming: &[Observation],
        opts: &RestoreOptions,
        video: &VideoOptions,
    ) -> Restoration {
        let evidence = obs.evidence.to_kind(Kind::Float);
        self.reset_at_cut(&evidence, video);
        // Later frames count only up to the next scene cut.
        let mut same_scene = 0;
        let mut last = &evidence;
        for o in upcoming {
            let next = o.evidence.to_kind(Kind::Float);
            if is_cut(last, &next, video) {
                break;
            }
            same_scene += 1;
            last = &o.evidence;
        }
        let upcoming = &upcoming[..same_scene];
        self.previous_evidence = Some(evidence.shallow_clone());
        let (recovered, temporal_pixels) = match (obs.task, &obs.mask) {
            (Task::Inpaint, Some(mask)) => {
                let upcoming: Vec<Neighbour> = upcoming.iter().filter_map(|o| Some(Neighbour::new(&o.evidence, o.mask.as_ref()?))).collect();
                let (evidence, known, count) = self.history.recover_with_upcoming(&obs.evidence, mask, &upcoming);
                (Some(Observation::inpaint(evidence, known)), count)
            }
            _ => (None, 0),
        };
        let cold_opts;
        let opts = match obs.task {
            Task::SuperRes { .. } if video.warm_start && !self.engine.is_warm() => {
                cold_opts = RestoreOptions { steps: opts.steps * COLD_SUPERRES_STEPS, ..opts.clone() };
                &cold_opts
            }
            _ => opts,
        };
        let mut restored = self.engine.restore(model, recovered.as_ref().unwrap_or(obs), opts, video.warm_start);
        restored.temporal_pixels = temporal_pixels;
        if let (Some(known), None) = (recovered.as_ref().and_then(|o| o.mask.as_ref()), &restored.fallback) {
            let mut texture = restored.texture.take();
            if let Some(invention) = &self.invention {
                (restored.image, texture) = invention.carry(&restored.image, known, texture.as_ref());
            }
            let missing = known.ones_like() - known;
            restored.image = self.steady.settle(&restored.image, &restored.image.zeros_like(), Some(&missing));
            self.invention = Some(Invention::new(&restored.image, known, texture.as_ref()));
            restored.texture = texture;
        }
        // What the prior added is carried over what the evidence gives, so only when the
        // output is made to agree with the evidence again.
        if let (None, true) = (&restored.fallback, opts.keep_known) {
            let evidence = evidence.to_device(restored.image.device());
            let base = match obs.task {
                Task::Colorize => Some((evidence.shallow_clone(), Carry::Hold)),
                // Detail is carried over the smoothest upscale: where the scene stands still,
                // the evidence's change between frames then enters as bicubic's change.
                Task::SuperRes { scale, .. } => Some((crate::baselines::bicubic_upscale(&evidence, scale), Carry::Lean)),
                _ => None,
            };
            if let Some((base, carry)) = base {
                // Colour from hints is evidence: colour held from frames without any (the gray
                // before a shot's first hints) does not cover it.
                let hinted = obs.hints.as_ref().is_some_and(|hints| f64::try_from(hint_places(hints).max()).is_ok_and(|most| most > 0.0));
                let held = self.addition.as_ref().filter(|_| self.hinted || !hinted);
                self.hinted = hinted || (self.hinted && held.is_some());
                let hints_now = obs.hints.as_ref().filter(|_| hinted).map(|h| h.to_device(restored.image.device()).to_kind(Kind::Float));
                let mut anchors = None;
                if let Some(addition) = held {
                    let (carried, still) = addition.carry(&restored.image, &base);
                    // Earlier hints' places where the scene has stood since: the colour held
                    // there is theirs.
                    anchors = self.hint_places.as_ref().filter(|p| p.size() == still.size()).map(|p| p * hold_mask(&still));
                    restored.image = match (obs.task, &hints_now) {
                        // Hints given now correct the held colour where it differs from theirs,
                        // as far as no earlier hint is nearer.
                        (Task::Colorize, Some(hints)) => super::match_gray(&correct_to_hints(&carried, &evidence, hints, anchors.as_ref()), &evidence),
                        (Task::Colorize, None) => super::match_gray(&carried, &evidence),
                        (task, _) => back_project_where_moved(task, &carried, &still, &evidence),
                    };
                }
                if obs.task == Task::Colorize {
                    self.hint_places = match (anchors, hints_now.as_ref().map(hint_places)) {
                        (Some(earlier), Some(now)) => Some(earlier.maximum(&now)),
                        (earlier, now) => earlier.or(now),
                    };
                }
                if obs.task == Task::Colorize {
                    restored.image = self.steady.settle(&restored.image, &base, None);
                }
                self.addition = Some(Addition::new(&restored.image, &base, carry));
            }
        }
        restored
    }
}

/// Whether `next` starts a new scene after `previous`: another size, or a mean absolute
/// difference over the reset threshold.
fn is_cut(previous: &Tensor, next: &Tensor, video: &VideoOptions) -> bool {
    previous.size() != next.size() || f64::try_from((previous - next).abs().mean(Kind::Float)).unwrap_or(1.0) > video.reset_threshold
}

/// Super-resolution's carried frame `(3, H, W)` back-projected onto `evidence` where the scene
/// moved, and left as carried where it stands still (`still`, the likeness to the last frame,
/// raised to [`still_power`]). A still shot's evidence changes by noise and compression only,
/// which back-projection would draw into the detail as flicker bicubic does not have.
fn back_project_where_moved(task: Task, carried: &Tensor, still: &Tensor, evidence: &Tensor) -> Tensor {
    let corrected = super::back_project(task, &carried.unsqueeze(0), &evidence.unsqueeze(0)).squeeze_dim(0);
    let kept = still.pow_tensor_scalar(still_power(task));
    (carried + (corrected - carried) * (kept.ones_like() - kept)).clamp(0.0, 1.0)
}

/// Likeness is exp(−d / 0.05) of the local difference d between frames; its fourth power keeps
/// the carried frame where d is under about 0.01, chosen among 1, 2 and 4 on the tuning clips at
/// ×4 (benches/NOTES.md, benchmark 20). At ×2 the evidence holds a quarter of the output's
/// samples, not a sixteenth, and what the carried frame gets wrong there costs more: the 16th
/// power (back-projected unless d is under about 0.002) lowered LPIPS on four of the five tuning
/// clips and thirteen of the sixteen held-out segments (one higher), PSNR nowhere lower,
/// temporal error up by 0–3 % (benchmark 42); at ×4 it raised the tuning tree's and street's
/// temporal error.
fn still_power(task: Task) -> f64 {
    if task.scale() == 2 { 16.0 } else { 4.0 }
}
