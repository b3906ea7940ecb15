//! What the three elements share: the common properties, the process-wide model cache and the
//! per-stream restoration session (warm start, scene cuts, fallbacks).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use lcm::{DeviceChoice, Model, Observation, Optimizer, Precision, Restoration, RestoreOptions, Task, VideoOptions, VideoRestorer};
use once_cell::sync::Lazy;

use crate::filter::lock;

pub const DEFAULT_MODEL_NAME: &str = "natural-small.safetensors";
pub const DEFAULT_DEVICE: &str = "auto";
pub const DEFAULT_PRECISION: &str = "auto";
pub const DEFAULT_LEARNING_RATE: f64 = 0.05;
pub const DEFAULT_WARM_START: bool = true;
pub const DEFAULT_TILE_OVERLAP: u32 = 16;
pub const DEFAULT_RESET_THRESHOLD: f64 = 0.08;
pub const DEFAULT_MAX_TIME_PER_FRAME: u64 = 0;
/// One hour: any budget a frame could sensibly get, and far inside `ClockTime`'s range.
pub const MAX_TIME_PER_FRAME_LIMIT: u64 = 3_600_000;
/// The largest overlap the property accepts; `start()` further limits it to half the model's tile.
pub const TILE_OVERLAP_LIMIT: u32 = 64;

/// Where the shipped model is looked for: `$LCM_MODEL_DIR`, the installed data dir, the source tree.
pub fn default_model_path() -> PathBuf {
    let dirs = [
        std::env::var_os("LCM_MODEL_DIR").map(PathBuf::from),
        option_env!("LCM_INSTALLED_MODELS_DIR").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")),
    ];
    let candidates: Vec<PathBuf> = dirs.into_iter().flatten().map(|d| d.join(DEFAULT_MODEL_NAME)).collect();
    candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| candidates.last().cloned().expect("one candidate"))
}

/// Properties of all three elements.
#[derive(Clone, Debug)]
pub struct CommonSettings {
    pub model: Option<PathBuf>,
    pub device: DeviceChoice,
    pub precision: Precision,
    pub iterations: u32,
    pub learning_rate: f64,
    pub warm_start: bool,
    pub tile_overlap: u32,
    pub reset_threshold: f64,
    /// Milliseconds; 0 = no budget.
    pub max_time_per_frame: u64,
}

impl CommonSettings {
    /// The defaults of an element restoring `task`.
    pub fn for_task(task: Task) -> Self {
        Self {
            model: None,
            device: DeviceChoice::Auto,
            precision: Precision::Auto,
            iterations: lcm::restore::video_steps(task) as u32,
            learning_rate: DEFAULT_LEARNING_RATE,
            warm_start: DEFAULT_WARM_START,
            tile_overlap: DEFAULT_TILE_OVERLAP,
            reset_threshold: DEFAULT_RESET_THRESHOLD,
            max_time_per_frame: DEFAULT_MAX_TIME_PER_FRAME,
        }
    }

    pub fn model_path(&self) -> PathBuf {
        self.model.clone().unwrap_or_else(default_model_path)
    }

    pub fn video_options(&self, temporal_frames: usize) -> VideoOptions {
        VideoOptions { warm_start: self.warm_start, reset_threshold: self.reset_threshold, temporal_frames }
    }

    pub fn restore_options(&self, keep_known: bool) -> RestoreOptions {
        RestoreOptions {
            keep_known,
            steps: self.iterations as usize,
            learning_rate: self.learning_rate,
            optimizer: Optimizer::Adam,
            tile_overlap: self.tile_overlap as i64,
            precision: self.precision,
            time_budget: (self.max_time_per_frame > 0).then(|| Duration::from_millis(self.max_time_per_frame)),
            ..RestoreOptions::default()
        }
    }

    /// The common properties, with the defaults of an element restoring `task`.
    pub fn properties(task: Task) -> Vec<glib::ParamSpec> {
        let defaults = Self::for_task(task);
        vec![
            glib::ParamSpecString::builder("model")
                .nick("Model")
                .blurb("Path of the lcm model file (.safetensors); default: the shipped natural-small model")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("device")
                .nick("Device")
                .blurb("Where to run: auto (CUDA when available), cpu, cuda or cuda:N")
                .default_value(Some(DEFAULT_DEVICE))
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("precision")
                .nick("Precision")
                .blurb("Number format of the MAP steps: auto (bfloat16 on CPUs with AMX or AVX-512 BF16, else float32), float32 or bfloat16; the output is rendered in float32")
                .default_value(Some(DEFAULT_PRECISION))
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("iterations")
                .nick("Iterations")
                .blurb("MAP optimisation steps per frame (super-resolution: twice as many on a frame that starts cold, a stream's first or the first after a cut)")
                .minimum(0)
                .maximum(100_000)
                .default_value(defaults.iterations)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("learning-rate")
                .nick("Learning rate")
                .blurb("Adam step size of φ, relative to its box constraint")
                .minimum(0.0)
                .maximum(10.0)
                .default_value(DEFAULT_LEARNING_RATE)
                .mutable_playing()
                .build(),
            glib::ParamSpecBoolean::builder("warm-start")
                .nick("Warm start")
                .blurb("Start each frame's optimisation from the previous frame's φ (tile by tile)")
                .default_value(DEFAULT_WARM_START)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("tile-overlap")
                .nick("Tile overlap")
                .blurb("Overlap in output pixels between neighbouring model-size tiles (at most half a tile)")
                .maximum(TILE_OVERLAP_LIMIT)
                .default_value(DEFAULT_TILE_OVERLAP)
                .mutable_ready()
                .build(),
            glib::ParamSpecDouble::builder("reset-threshold")
                .nick("Reset threshold")
                .blurb("Mean absolute evidence change (0–1) between frames that counts as a scene cut and restarts from the seed φ; 1 disables")
                .minimum(0.0)
                .maximum(1.0)
                .default_value(DEFAULT_RESET_THRESHOLD)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt64::builder("max-time-per-frame")
                .nick("Max time per frame")
                .blurb("Budget in milliseconds for one frame's optimisation (caps the steps); 0 = no budget")
                .maximum(MAX_TIME_PER_FRAME_LIMIT)
                .default_value(DEFAULT_MAX_TIME_PER_FRAME)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("last-loss")
                .nick("Last loss")
                .blurb("Final MAP loss of the last restored frame (-1 before the first)")
                .minimum(-1.0)
                .default_value(-1.0)
                .read_only()
                .build(),
            glib::ParamSpecBoolean::builder("last-warm-started")
                .nick("Last frame warm-started")
                .blurb("Whether the last restored frame started from the previous frame's φ")
                .read_only()
                .build(),
        ]
    }

    /// Applies a common property: `None` for names that are not common, `Err` naming what is
    /// wrong with a value that cannot work.
    pub fn set(&mut self, value: &glib::Value, pspec: &glib::ParamSpec) -> Option<Result<(), String>> {
        let text = || value.get::<Option<String>>().ok().flatten().filter(|s| !s.is_empty());
        match pspec.name() {
            "model" => self.model = text().map(PathBuf::from),
            "device" => match text().unwrap_or_else(|| DEFAULT_DEVICE.into()).parse() {
                Ok(d) => self.device = d,
                Err(e) => return Some(Err(format!("device: {e}"))),
            },
            "precision" => match text().unwrap_or_else(|| DEFAULT_PRECISION.into()).parse() {
                Ok(p) => self.precision = p,
                Err(e) => return Some(Err(format!("precision: {e}"))),
            },
            "iterations" => self.iterations = value.get().ok()?,
            "learning-rate" => self.learning_rate = value.get().ok()?,
            "warm-start" => self.warm_start = value.get().ok()?,
            "tile-overlap" => self.tile_overlap = value.get().ok()?,
            "reset-threshold" => self.reset_threshold = value.get().ok()?,
            "max-time-per-frame" => self.max_time_per_frame = value.get().ok()?,
            _ => return None,
        }
        Some(Ok(()))
    }

    pub fn get(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        Some(match pspec.name() {
            "model" => self.model_path().to_string_lossy().to_string().to_value(),
            "device" => self.device.to_string().to_value(),
            "precision" => self.precision.to_string().to_value(),
            "iterations" => self.iterations.to_value(),
            "learning-rate" => self.learning_rate.to_value(),
            "warm-start" => self.warm_start.to_value(),
            "tile-overlap" => self.tile_overlap.to_value(),
            "reset-threshold" => self.reset_threshold.to_value(),
            "max-time-per-frame" => self.max_time_per_frame.to_value(),
            _ => return None,
        })
    }
}

/// A generator shared by every element and stream that uses the same file on the same device.
pub type SharedModel = Arc<Mutex<Model>>;

/// Loaded generators by (file, device), held only while some element uses them.
type ModelCache = HashMap<(PathBuf, String), Weak<Mutex<Model>>>;
static MODELS: Lazy<Mutex<ModelCache>> = Lazy::new(Default::default);
/// Loads a model once per (file, device); later callers get the same generator.
pub fn shared_model(path: &Path, device: tch::Device) -> anyhow::Result<SharedModel> {
    let key = (path.canonicalize().unwrap_or_else(|_| path.to_path_buf()), format!("{device:?}"));
    let mut cache = lock(&MODELS);
    if let Some(model) = cache.get(&key).and_then(Weak::upgrade) {
        return Ok(model);
    }
    lcm::device::retain_host_memory();
    // Loaded on a thread of its own: libtorch's OpenMP keeps a team of worker threads for each
    // thread that ran parallel work, and once it manages more threads than there are CPUs its
    // workers sleep between parallel regions instead of spinning. A team left on the thread that
    // started the pipeline made every frame on the streaming thread pay for that (the demo took
    // 1.7–2× as long on 2 cores; benches/NOTES.md, benchmark 22); this one leaves with its thread.
    let model = std::thread::scope(|s| s.spawn(|| Model::load(path, device).map(Model::frozen)).join())
        .map_err(|_| anyhow::anyhow!("loading the model panicked"))??;
    let model = Arc::new(Mutex::new(model));
    cache.retain(|_, weak| weak.strong_count() > 0);
    cache.insert(key, Arc::downgrade(&model));
    Ok(model)
}

/// One stream's restoration state, built in `start()` and dropped in `stop()`.
pub struct Session {
    pub model: SharedModel,
    video: VideoRestorer,
    /// Earlier frames that lend missing pixels, fixed when the session opens.
    temporal_frames: usize,
}

impl Session {
    /// Resolves the device and loads (or shares) the model; errors name the file, the property
    /// and the reason. `temporal_frames` earlier frames lend missing pixels (inpainting).
    pub fn open(settings: &CommonSettings, temporal_frames: usize) -> Result<Self, gst::ErrorMessage> {
        let path = settings.model_path();
        let device = settings
            .device
            .resolve()
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("Invalid device {}: {e}", settings.device)))?;
        let model = shared_model(&path, device).map_err(|e| {
            gst::error_msg!(gst::ResourceError::OpenRead, ("Cannot load model {}: {e:#}", path.display()))
        })?;
        let tile = lock(&model).config.image_size;
        if i64::from(settings.tile_overlap) > tile / 2 {
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                ("Invalid tile-overlap {}: at most half the model's {tile}-pixel tile ({})", settings.tile_overlap, tile / 2)
            ));
        }
        let video = VideoRestorer::new(&settings.video_options(temporal_frames));
        Ok(Self { model, video, temporal_frames })
    }

    /// Forgets the previous frames (flush, seek, discontinuity, caps change).
    pub fn reset(&mut self) {
        self.video.reset();
    }

    /// Takes the stream's next frame, which has nothing to restore, as evidence for the frames
    /// after it.
    pub fn remember(&mut self, frame: &Observation, settings: &CommonSettings) {
        self.video.remember(frame, &settings.video_options(self.temporal_frames));
    }

    /// Restores the stream's next frame; `upcoming` are the frames after it that the element
    /// already holds (lookahead), nearest first.
    pub fn restore(
        &mut self,
        obs: &Observation,
        upcoming: &[Observation],
        settings: &CommonSettings,
        opts: &RestoreOptions,
    ) -> Restoration {
        let model = lock(&self.model);
        self.video.restore_with_upcoming(&model, obs, upcoming, opts, &settings.video_options(self.temporal_frames))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::{Duration, Instant};

    /// Threads of this process named as the calling one (a new thread takes its creator's name).
    fn namesakes() -> usize {
        let own = std::fs::read_to_string("/proc/thread-self/comm").expect("Linux names its threads");
        let tasks = std::fs::read_dir("/proc/self/task").expect("Linux lists a process's threads");
        tasks.filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok()).filter(|name| *name == own).count()
    }

    #[test]
    fn loading_a_model_leaves_no_libtorch_workers_behind_on_the_calling_thread() {
        let before = namesakes();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/natural-small.safetensors");
        let model = super::shared_model(&path, tch::Device::Cpu).expect("the shipped model loads");
        // The loading thread's workers leave shortly after it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while namesakes() > before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(namesakes(), before, "threads started by loading outlived it (libtorch threads: {})", tch::get_num_threads());
        drop(model);
    }
}
