//! The base of every lcm element: common settings, their validation, the stream's session,
//! statistics, and a restore step that turns every failure (panics included) into a bus message.
//!
//! An element supplies an [`ElementKind`]: its own properties, caps, what it prepares for a
//! stream and the observation a frame gives. [`LcmFilter`] does the rest, and
//! [`lcm_filter_impls!`](crate::lcm_filter_impls) writes the GObject glue around it.

use std::collections::{BTreeMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst_video::prelude::*;
use lcm::{Observation, Task};
use tch::Tensor;

use gst_video::VideoFormat;

use crate::frame::{self, RGB_FORMATS};
use crate::session::{CommonSettings, Session};

/// Locks a mutex even if a panic poisoned it: every state here stays valid between statements,
/// and a poisoned lock must never take a host application down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one frame asks of the engine.
pub struct Observed {
    pub observation: Observation,
    /// Keep the evidence exactly (inpainting: known pixels untouched).
    pub keep_known: bool,
}

impl Observed {
    /// Pixels to write (row-major, true = write): with the evidence kept, only the missing ones
    /// of a masked observation; `None` writes all of them.
    fn pixels_to_write(&self) -> Option<Vec<bool>> {
        let mask = self.observation.mask.as_ref().filter(|_| self.keep_known)?;
        Some(Vec::<f32>::try_from(mask.flatten(0, -1)).unwrap_or_default().iter().map(|&k| k < 0.5).collect())
    }
}

/// Reads the image file a property names, once in `start()`; a failure names `what` and the
/// file. `None` when the property is not set.
pub fn read_property_image(
    path: Option<&std::path::Path>,
    what: &str,
    load: fn(&std::path::Path) -> anyhow::Result<Tensor>,
) -> Result<Option<Tensor>, gst::ErrorMessage> {
    path.map(|path| {
        load(path).map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("Cannot read {what} {}: {e:#}", path.display())))
    })
    .transpose()
}

/// What makes one element: its own settings and caps, and the observation of a frame.
pub trait ElementKind: Send + Sync + 'static {
    /// Values of the element's own properties.
    type Settings: Default + Clone + Send + std::fmt::Debug;
    /// What `start()` reads for a stream from the settings (e.g. a mask image).
    type Prepared: Default + Send;
    /// The factory name, also the debug category's.
    const NAME: &'static str;
    const LONG_NAME: &'static str;
    const CLASSIFICATION: &'static str;
    const DESCRIPTION: &'static str;
    /// Restores in place (inpainting) or into a new buffer (size or format change).
    const IN_PLACE: bool;
    /// The task whose defaults the common properties take (MAP steps per frame).
    const TASK: Task;
    /// Appended to a fallback warning: what the frame became instead.
    const FALLBACK: &'static str;

    /// Formats accepted on the sink pad (the source pad always offers the RGB family).
    fn sink_formats() -> Vec<VideoFormat> {
        RGB_FORMATS.to_vec()
    }
    /// The element's own properties, after the common ones.
    fn properties() -> Vec<glib::ParamSpec> {
        Vec::new()
    }
    /// Applies one of the element's own properties; `Err` names what is wrong with the value.
    fn set(settings: &mut Self::Settings, value: &glib::Value, pspec: &glib::ParamSpec) -> Result<(), String> {
        let _ = (settings, value);
        Err(format!("{} has no property {}", Self::NAME, pspec.name()))
    }
    fn get(settings: &Self::Settings, pspec: &glib::ParamSpec) -> glib::Value {
        let _ = (settings, pspec);
        None::<String>.to_value()
    }
    /// Reads and checks what a stream needs, once, in `start()`.
    fn prepare(settings: &Self::Settings) -> Result<Self::Prepared, gst::ErrorMessage> {
        let _ = settings;
        Ok(Self::Prepared::default())
    }
    /// Adapts the prepared data to newly negotiated caps; `Err` names the problem.
    fn negotiated(
        settings: &Self::Settings,
        prepared: &mut Self::Prepared,
        in_info: &gst_video::VideoInfo,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), String> {
        let _ = (settings, prepared, in_info, out_info);
        Ok(())
    }
    /// Earlier frames searched for pixels the current frame misses (inpainting only).
    fn temporal_frames(settings: &Self::Settings) -> usize {
        let _ = settings;
        0
    }
    /// Later frames held back so their pixels can fill this frame's (inpainting only; adds
    /// that many frames of latency).
    fn lookahead(settings: &Self::Settings) -> usize {
        let _ = settings;
        0
    }
    /// Caps on the other side, for elements that change size or format (`None`: the same caps).
    fn transform_caps(settings: &Self::Settings, direction: gst::PadDirection, caps: &gst::Caps) -> Option<gst::Caps> {
        let _ = (settings, direction, caps);
        None
    }
    /// The frame's observation; `None` when the frame has nothing to restore.
    fn observe(settings: &Self::Settings, prepared: &Self::Prepared, pixels: Tensor, alpha: Option<Tensor>) -> Option<Observed>;
    /// A frame with nothing to restore as evidence for the frames around it (inpainting: all
    /// of it known); `None` for elements that take none from other frames.
    fn neighbour(pixels: Tensor) -> Option<Observation> {
        let _ = pixels;
        None
    }
}

/// The element's debug category (GStreamer returns the existing one after the first call).
fn category<K: ElementKind>() -> gst::DebugCategory {
    gst::DebugCategory::new(K::NAME, gst::DebugColorFlags::empty(), Some(K::LONG_NAME))
}

/// Figures readable at any time, also while a frame restores.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    last_loss: Option<f64>,
    last_warm_started: bool,
    last_duration: Option<Duration>,
    /// The processing latency last reported in a latency query.
    reported_latency: Option<Duration>,
}

struct Settings<K: ElementKind> {
    common: CommonSettings,
    own: K::Settings,
    /// Properties last set to a value that cannot work, with the reason; `start()` refuses them.
    invalid: BTreeMap<String, String>,
}

impl<K: ElementKind> Default for Settings<K> {
    fn default() -> Self {
        Self { common: CommonSettings::for_task(K::TASK), own: K::Settings::default(), invalid: BTreeMap::new() }
    }
}

struct Stream<K: ElementKind> {
    session: Session,
    prepared: K::Prepared,
}

/// Frames held back by lookahead: how many, as set when the stream started (a change while it
/// plays would strand the frames held), the input caps they came with and the buffers, read.
#[derive(Default)]
struct Held {
    lookahead: usize,
    info: Option<gst_video::VideoInfo>,
    frames: VecDeque<(gst::Buffer, Frame)>,
}

/// One element's settings, stream and statistics; each lock is held only as long as its data is used.
pub struct LcmFilter<K: ElementKind> {
    settings: Mutex<Settings<K>>,
    stream: Mutex<Option<Stream<K>>>,
    stats: Mutex<Stats>,
    held: Mutex<Held>,
    /// Set while the element flushes or shuts down: a running MAP stops at its next step.
    cancel: Arc<AtomicBool>,
}

impl<K: ElementKind> Default for LcmFilter<K> {
    fn default() -> Self {
        Self {
            settings: Mutex::default(),
            stream: Mutex::new(None),
            stats: Mutex::default(),
            held: Mutex::default(),
            cancel: Arc::default(),
        }
    }
}

/// A panic's message, for the error that replaces it.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

impl<K: ElementKind> LcmFilter<K> {
    pub fn metadata() -> gst::subclass::ElementMetadata {
        gst::subclass::ElementMetadata::new(K::LONG_NAME, K::CLASSIFICATION, K::DESCRIPTION, "lcm developers")
    }

    pub fn pad_templates() -> Vec<gst::PadTemplate> {
        let src = gst_video::VideoCapsBuilder::new().format_list(RGB_FORMATS).build();
        let sink = gst_video::VideoCapsBuilder::new().format_list(K::sink_formats()).build();
        vec![
            gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &src).expect("valid src template"),
            gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &sink).expect("valid sink template"),
        ]
    }

    /// Registers the element type under its factory name.
    pub fn register(plugin: &gst::Plugin, element_type: glib::Type) -> Result<(), glib::BoolError> {
        gst::Element::register(Some(plugin), K::NAME, gst::Rank::NONE, element_type)
    }

    pub fn properties() -> Vec<glib::ParamSpec> {
        let mut props = CommonSettings::properties(K::TASK);
        props.extend(K::properties());
        props
    }

    /// Applies a property. A bad value is logged and posted now, and remembered so that
    /// `start()` fails with the same message (under gst-launch no bus exists yet at this point).
    pub fn set_property(&self, element: &gst::Element, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        let outcome = match settings.common.set(value, pspec) {
            Some(result) => result,
            None => K::set(&mut settings.own, value, pspec),
        };
        let name = pspec.name().to_string();
        match outcome {
            Ok(()) => {
                settings.invalid.remove(&name);
                gst::info!(category::<K>(), obj = element, "{name} set to {value:?}");
            }
            Err(reason) => {
                settings.invalid.insert(name, reason.clone());
                // Posted unlocked: a synchronous bus handler may read the element's properties.
                drop(settings);
                gst::warning!(category::<K>(), obj = element, "{reason}");
                gst::element_warning!(element, gst::LibraryError::Settings, ("{reason}"));
            }
        }
    }

    pub fn property(&self, pspec: &glib::ParamSpec) -> glib::Value {
        let stats = *lock(&self.stats);
        match pspec.name() {
            "last-loss" => return stats.last_loss.unwrap_or(-1.0).to_value(),
            "last-warm-started" => return stats.last_warm_started.to_value(),
            _ => {}
        }
        let settings = lock(&self.settings);
        settings.common.get(pspec).unwrap_or_else(|| K::get(&settings.own, pspec))
    }

    fn own_settings(&self) -> K::Settings {
        lock(&self.settings).own.clone()
    }

    /// Refuses remembered bad values, loads the model, prepares the stream.
    pub fn start(&self, element: &gst::Element) -> Result<(), gst::ErrorMessage> {
        let (common, own) = {
            let settings = lock(&self.settings);
            if let Some((name, reason)) = settings.invalid.iter().next() {
                return Err(gst::error_msg!(gst::LibraryError::Settings, ("Invalid {name}: {reason}")));
            }
            (settings.common.clone(), settings.own.clone())
        };
        let session = Session::open(&common, K::temporal_frames(&own))?;
        let prepared = K::prepare(&own)?;
        gst::info!(category::<K>(), obj = element, "model {} loaded", common.model_path().display());
        *lock(&self.stream) = Some(Stream { session, prepared });
        *lock(&self.held) = Held { lookahead: if K::IN_PLACE { K::lookahead(&own) } else { 0 }, ..Held::default() };
        *lock(&self.stats) = Stats::default();
        Ok(())
    }

    pub fn stop(&self) {
        *lock(&self.stream) = None;
        *lock(&self.held) = Held::default();
    }

    /// Frames of lookahead this stream holds back (0: every frame leaves as it arrives).
    pub fn lookahead(&self) -> usize {
        lock(&self.held).lookahead
    }

    /// Lookahead keeps that many upstream buffers between calls: the pools proposed upstream
    /// ask for them on top of their minimum, so a pool of fixed size (a capture device's, a
    /// hardware decoder's) does not run dry waiting for them.
    pub fn propose_held_buffers(&self, query: &mut gst::query::Allocation) {
        let held = self.lookahead() as u32;
        if held == 0 {
            return;
        }
        let Some(size) = query.caps().and_then(|caps| gst_video::VideoInfo::from_caps(caps).ok()).map(|info| info.size() as u32) else { return };
        let pools: Vec<_> = query.allocation_pools().collect();
        if pools.is_empty() {
            query.add_allocation_pool(None::<&gst::BufferPool>, size, held, 0);
        }
        for (index, (pool, size, min, max)) in pools.into_iter().enumerate() {
            let max = if max == 0 { 0 } else { max.max(min + held) };
            query.set_nth_allocation_pool(index as u32, pool.as_ref(), size, min + held, max);
        }
    }

    /// Lookahead: reads an incoming buffer and holds it until enough later frames arrived.
    pub fn hold(&self, element: &gst::Element, buffer: gst::Buffer) -> Result<(), gst::FlowError> {
        let mut held = lock(&self.held);
        let info = held.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &info).map_err(|_| {
            gst::element_error!(element, gst::CoreError::Failed, ("cannot map a {}×{} frame", info.width(), info.height()));
            gst::FlowError::Error
        })?;
        let read = self.read(element, &frame)?;
        drop(frame);
        held.frames.push_back((buffer, read));
        Ok(())
    }

    /// Lookahead: the oldest held frame, restored with the later ones as evidence, once
    /// `lookahead` later frames are held (or, `draining`, whenever one is held).
    pub fn release(&self, element: &gst::Element, draining: bool) -> Result<Option<gst::Buffer>, gst::FlowError> {
        let lookahead = self.lookahead();
        let (mut buffer, frame, upcoming, info) = {
            let mut held = lock(&self.held);
            if held.frames.is_empty() || (!draining && held.frames.len() <= lookahead) {
                return Ok(None);
            }
            let (buffer, frame) = held.frames.pop_front().expect("checked");
            // Later frames up to the next discontinuity: nothing across a seek or gap.
            let upcoming: Vec<Frame> =
                held.frames.iter().take(lookahead).take_while(|(_, f)| !f.discont).map(|(_, f)| f.shallow_clone()).collect();
            (buffer, frame, upcoming, held.info.clone().ok_or(gst::FlowError::NotNegotiated)?)
        };
        let restored = self.restore(element, frame, &upcoming)?;
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer.make_mut(), &info).map_err(|_| {
            gst::element_error!(element, gst::CoreError::Failed, ("cannot map a {}×{} frame for writing", info.width(), info.height()));
            gst::FlowError::Error
        })?;
        self.write(element, &mut frame, restored)?;
        drop(frame);
        Ok(Some(buffer))
    }

    /// Lookahead: restores and returns every held frame (before EOS, new caps or a new segment).
    pub fn drain(&self, element: &gst::Element) -> Result<Vec<gst::Buffer>, gst::FlowError> {
        let mut out = Vec::new();
        while let Some(buffer) = self.release(element, true)? {
            out.push(buffer);
        }
        Ok(out)
    }

    /// Drops every held frame (flush).
    pub fn drop_held(&self) {
        lock(&self.held).frames.clear();
    }

    pub fn transform_caps(&self, direction: gst::PadDirection, caps: &gst::Caps, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let other = K::transform_caps(&self.own_settings(), direction, caps)?;
        gst::debug!(category::<K>(), "transformed {caps} to {other} ({direction:?})");
        Some(match filter {
            Some(f) => f.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        })
    }

    /// Adds this element's latency to an answered latency query: the larger of the per-frame
    /// budget and the last frame's measured time, plus the frames held back by lookahead.
    /// Never waits for a frame being restored.
    pub fn add_latency(&self, element: &gst::Element, query: &mut gst::QueryRef) {
        let budget = Duration::from_millis(lock(&self.settings).common.max_time_per_frame);
        let mut stats = lock(&self.stats);
        let latency = stats.last_duration.unwrap_or_default().max(budget);
        stats.reported_latency = Some(latency);
        drop(stats);
        let held = match (self.lookahead(), lock(&self.held).info.as_ref().map(|i| i.fps())) {
            (0, _) => gst::ClockTime::ZERO,
            (frames, Some(fps)) if fps.numer() > 0 && fps.denom() > 0 => {
                gst::ClockTime::SECOND.mul_div_ceil(frames as u64 * fps.denom() as u64, fps.numer() as u64).unwrap_or(gst::ClockTime::ZERO)
            }
            (frames, _) => {
                gst::warning!(category::<K>(), obj = element, "stream has no frame rate: {frames} frames of lookahead left out of the latency");
                gst::ClockTime::ZERO
            }
        };
        let processing = gst::ClockTime::from_nseconds(latency.as_nanos() as u64) + held;
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let (live, min, max) = q.result();
            q.set(live, min + processing, max.map(|m| m + processing));
        }
    }

    /// Makes a running restoration stop at its next step (flush start, shutdown) or lets
    /// restorations run again (flush stop, start-up).
    pub fn set_cancelled(&self, cancelled: bool) {
        self.cancel.store(cancelled, Ordering::SeqCst);
    }

    /// Forgets the previous frame (flush; a caps change resets the stream it rebuilds).
    pub fn reset(&self) {
        if let Some(stream) = lock(&self.stream).as_mut() {
            stream.session.reset();
        }
    }

    /// New caps: adapts the prepared data; a failure is posted naming the problem.
    pub fn set_info(
        &self,
        element: &gst::Element,
        in_info: &gst_video::VideoInfo,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let own = self.own_settings();
        let mut stream = lock(&self.stream);
        lock(&self.held).info = Some(in_info.clone());
        let Some(stream) = stream.as_mut() else { return Ok(()) };
        stream.session.reset();
        K::negotiated(&own, &mut stream.prepared, in_info, out_info).map_err(|reason| {
            gst::element_error!(element, gst::StreamError::Format, ("{reason}"));
            gst::loggable_error!(category::<K>(), "{reason}")
        })
    }

    /// The frame's pixels and alpha, and whether it follows a discontinuity.
    pub fn read<T>(&self, element: &gst::Element, frame: &gst_video::VideoFrameRef<T>) -> Result<Frame, gst::FlowError> {
        let discont = frame.buffer().flags().contains(gst::BufferFlags::DISCONT);
        let (pixels, alpha) = frame::read(frame).map_err(|e| {
            gst::element_error!(element, gst::CoreError::Failed, ("cannot read frame: {e}"));
            gst::FlowError::Error
        })?;
        Ok(Frame { pixels, alpha, discont })
    }

    /// Restores a frame (`upcoming`: later frames held by lookahead, nearest first): the image
    /// and the pixels to write, or `None` when nothing is missing.
    /// Panics (libtorch out of memory, a bug) become an element error; the element stays usable.
    pub fn restore(&self, element: &gst::Element, frame: Frame, upcoming: &[Frame]) -> Result<Option<Restored>, gst::FlowError> {
        let (common, own) = {
            let settings = lock(&self.settings);
            (settings.common.clone(), settings.own.clone())
        };
        let mut stream_guard = lock(&self.stream);
        let stream = stream_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        if frame.discont {
            stream.session.reset();
        }
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let pixels = frame.pixels.shallow_clone();
            let Some(observed) = K::observe(&own, &stream.prepared, frame.pixels, frame.alpha) else {
                if let Some(clean) = K::neighbour(pixels) {
                    stream.session.remember(&clean, &common);
                }
                return None;
            };
            let mut opts = common.restore_options(observed.keep_known);
            opts.cancel = Some(self.cancel.clone());
            // Every held frame in order, a clean one as a neighbour: `upcoming[i]` is frame t + i + 1.
            let upcoming: Vec<Observation> = upcoming
                .iter()
                .map_while(|f| {
                    K::observe(&own, &stream.prepared, f.pixels.shallow_clone(), f.alpha.as_ref().map(Tensor::shallow_clone))
                        .map(|o| o.observation)
                        .or_else(|| K::neighbour(f.pixels.shallow_clone()))
                })
                .collect();
            let restored = stream.session.restore(&observed.observation, &upcoming, &common, &opts);
            Some((restored, observed.pixels_to_write()))
        }));
        let (restored, only) = match outcome {
            Ok(Some(done)) => done,
            Ok(None) => return Ok(None),
            Err(payload) => {
                stream.session.reset();
                gst::element_error!(element, gst::CoreError::Failed, ("Restoring a frame failed: {}", panic_text(payload.as_ref())));
                return Err(gst::FlowError::Error);
            }
        };
        drop(stream_guard);
        let took = started.elapsed();
        let mut stats = lock(&self.stats);
        // Frames now take clearly longer than the pipeline was told: ask it to query again.
        let outgrown = stats.reported_latency.is_some_and(|r| took > r + r / 4 + Duration::from_millis(5));
        *stats = Stats {
            last_loss: Some(restored.losses.last().copied().unwrap_or(-1.0)),
            last_warm_started: restored.warm_started,
            last_duration: Some(took),
            reported_latency: stats.reported_latency,
        };
        drop(stats);
        if outgrown {
            let _ = element.post_message(gst::message::Latency::builder().src(element).build());
        }
        if let Some(reason) = &restored.fallback {
            gst::element_warning!(element, gst::StreamError::Decode, ("{reason}; {}", K::FALLBACK));
        }
        Ok(Some((restored.image, only)))
    }

    /// Writes a restored image into an output (or the in-place) frame.
    pub fn write(
        &self,
        element: &gst::Element,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
        restored: Option<Restored>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some((image, only)) = restored else { return Ok(gst::FlowSuccess::Ok) };
        match catch_unwind(AssertUnwindSafe(|| frame::write(frame, &image, only.as_deref()))) {
            Ok(Ok(())) => Ok(gst::FlowSuccess::Ok),
            Ok(Err(e)) => {
                gst::element_error!(element, gst::CoreError::Failed, ("cannot write frame: {e}"));
                Err(gst::FlowError::Error)
            }
            Err(payload) => {
                gst::element_error!(element, gst::CoreError::Failed, ("cannot write frame: {}", panic_text(payload.as_ref())));
                Err(gst::FlowError::Error)
            }
        }
    }
}

/// A restored frame `(C, H, W)` and which of its pixels to write (`None`: all of them).
pub type Restored = (Tensor, Option<Vec<bool>>);

/// A frame as read: `(C, H, W)` pixels, alpha when the format has one, and the DISCONT flag.
pub struct Frame {
    pixels: Tensor,
    alpha: Option<Tensor>,
    discont: bool,
}

impl Frame {
    fn shallow_clone(&self) -> Self {
        Self { pixels: self.pixels.shallow_clone(), alpha: self.alpha.as_ref().map(Tensor::shallow_clone), discont: self.discont }
    }
}

/// The GObject and GStreamer glue of an element whose implementation struct is
/// `$imp { filter: LcmFilter<$kind> }`, registered as `$type_name` with parent `VideoFilter`.
#[macro_export]
macro_rules! lcm_filter_impls {
    ($imp:ident, $kind:ty, $type_name:literal) => {
        use gst::subclass::prelude::ObjectSubclassExt as _;

        #[gst::glib::object_subclass]
        impl gst::glib::subclass::types::ObjectSubclass for $imp {
            const NAME: &'static str = $type_name;
            type Type = super::$imp;
            type ParentType = gst_video::VideoFilter;
        }

        impl gst::glib::subclass::object::ObjectImpl for $imp {
            fn constructed(&self) {
                use gst::glib::subclass::object::ObjectImplExt;
                self.parent_constructed();
                // Restoration keeps every frame: QoS would drop frames a slow restoration made
                // late. Real-time pipelines opt in with qos=true (see the README).
                gst::prelude::ObjectExt::set_property(&*self.obj(), "qos", false);
            }

            fn properties() -> &'static [gst::glib::ParamSpec] {
                static PROPERTIES: std::sync::LazyLock<Vec<gst::glib::ParamSpec>> =
                    std::sync::LazyLock::new($crate::filter::LcmFilter::<$kind>::properties);
                PROPERTIES.as_ref()
            }

            fn set_property(&self, _id: usize, value: &gst::glib::Value, pspec: &gst::glib::ParamSpec) {
                use gst::prelude::*;
                self.filter.set_property(self.obj().upcast_ref(), value, pspec);
            }

            fn property(&self, _id: usize, pspec: &gst::glib::ParamSpec) -> gst::glib::Value {
                self.filter.property(pspec)
            }
        }

        impl gst::subclass::prelude::GstObjectImpl for $imp {}

        impl gst::subclass::prelude::ElementImpl for $imp {
            fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
                use gst::subclass::prelude::ElementImplExt;
                match transition {
                    gst::StateChange::ReadyToPaused => self.filter.set_cancelled(false),
                    gst::StateChange::PausedToReady => self.filter.set_cancelled(true),
                    _ => {}
                }
                self.parent_change_state(transition)
            }

            fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
                static METADATA: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                    std::sync::LazyLock::new($crate::filter::LcmFilter::<$kind>::metadata);
                Some(&*METADATA)
            }

            fn pad_templates() -> &'static [gst::PadTemplate] {
                static TEMPLATES: std::sync::LazyLock<Vec<gst::PadTemplate>> =
                    std::sync::LazyLock::new($crate::filter::LcmFilter::<$kind>::pad_templates);
                TEMPLATES.as_ref()
            }
        }

        impl gst_base::subclass::prelude::BaseTransformImpl for $imp {
            const MODE: gst_base::subclass::BaseTransformMode = if <$kind as $crate::filter::ElementKind>::IN_PLACE {
                gst_base::subclass::BaseTransformMode::AlwaysInPlace
            } else {
                gst_base::subclass::BaseTransformMode::NeverInPlace
            };
            const PASSTHROUGH_ON_SAME_CAPS: bool = false;
            const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

            fn start(&self) -> Result<(), gst::ErrorMessage> {
                use gst::prelude::*;
                self.filter.start(self.obj().upcast_ref())
            }

            fn stop(&self) -> Result<(), gst::ErrorMessage> {
                self.filter.stop();
                Ok(())
            }

            fn transform_caps(&self, direction: gst::PadDirection, caps: &gst::Caps, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
                use gst_base::subclass::prelude::BaseTransformImplExt;
                self.filter
                    .transform_caps(direction, caps, filter)
                    .or_else(|| self.parent_transform_caps(direction, caps, filter))
            }

            fn propose_allocation(&self, decide_query: Option<&gst::query::Allocation>, query: &mut gst::query::Allocation) -> Result<(), gst::LoggableError> {
                use gst_base::subclass::prelude::BaseTransformImplExt;
                self.parent_propose_allocation(decide_query, query)?;
                self.filter.propose_held_buffers(query);
                Ok(())
            }

            fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
                use gst::prelude::*;
                use gst_base::subclass::prelude::BaseTransformImplExt;
                let handled = self.parent_query(direction, query);
                if handled && direction == gst::PadDirection::Src && matches!(query.view(), gst::QueryView::Latency(_)) {
                    self.filter.add_latency(self.obj().upcast_ref(), query);
                }
                handled
            }

            fn sink_event(&self, event: gst::Event) -> bool {
                use gst::prelude::*;
                use gst_base::prelude::BaseTransformExtManual;
                use gst_base::subclass::prelude::BaseTransformImplExt;
                match event.view() {
                    gst::EventView::FlushStart(_) => self.filter.set_cancelled(true),
                    gst::EventView::FlushStop(_) => {
                        self.filter.set_cancelled(false);
                        self.filter.drop_held();
                        self.filter.reset();
                    }
                    // Held frames belong to the caps and segment before this event, and come
                    // before a gap.
                    gst::EventView::Eos(_) | gst::EventView::Caps(_) | gst::EventView::Segment(_) | gst::EventView::Gap(_) => {
                        let obj = self.obj();
                        match self.filter.drain(obj.upcast_ref()) {
                            Ok(buffers) => {
                                for buffer in buffers {
                                    if obj.src_pad().push(buffer).is_err() {
                                        break;
                                    }
                                }
                            }
                            Err(_) => return false,
                        }
                    }
                    _ => {}
                }
                self.parent_sink_event(event)
            }

            fn submit_input_buffer(&self, is_discont: bool, inbuf: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
                use gst::prelude::*;
                use gst_base::subclass::prelude::BaseTransformImplExt;
                if self.filter.lookahead() == 0 {
                    return self.parent_submit_input_buffer(is_discont, inbuf);
                }
                self.filter.hold(self.obj().upcast_ref(), inbuf)?;
                Ok(gst::FlowSuccess::Ok)
            }

            fn generate_output(&self) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
                use gst::prelude::*;
                use gst_base::subclass::base_transform::GenerateOutputSuccess;
                use gst_base::subclass::prelude::BaseTransformImplExt;
                if self.filter.lookahead() == 0 {
                    return self.parent_generate_output();
                }
                Ok(match self.filter.release(self.obj().upcast_ref(), false)? {
                    Some(buffer) => GenerateOutputSuccess::Buffer(buffer),
                    None => GenerateOutputSuccess::NoOutput,
                })
            }
        }

        impl gst_video::subclass::prelude::VideoFilterImpl for $imp {
            fn set_info(
                &self,
                incaps: &gst::Caps,
                in_info: &gst_video::VideoInfo,
                outcaps: &gst::Caps,
                out_info: &gst_video::VideoInfo,
            ) -> Result<(), gst::LoggableError> {
                use gst::prelude::*;
                use gst_video::subclass::prelude::VideoFilterImplExt;
                self.filter.set_info(self.obj().upcast_ref(), in_info, out_info)?;
                self.parent_set_info(incaps, in_info, outcaps, out_info)
            }

            fn transform_frame(
                &self,
                inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
                outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
            ) -> Result<gst::FlowSuccess, gst::FlowError> {
                use gst::prelude::*;
                let obj = self.obj();
                let frame = self.filter.read(obj.upcast_ref(), inframe)?;
                let restored = self.filter.restore(obj.upcast_ref(), frame, &[])?;
                self.filter.write(obj.upcast_ref(), outframe, restored)
            }

            fn transform_frame_ip(
                &self,
                frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
            ) -> Result<gst::FlowSuccess, gst::FlowError> {
                use gst::prelude::*;
                let obj = self.obj();
                let input = self.filter.read(obj.upcast_ref(), &*frame)?;
                let restored = self.filter.restore(obj.upcast_ref(), input, &[])?;
                self.filter.write(obj.upcast_ref(), frame, restored)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    /// An element whose every frame panics inside the restoration, as a libtorch error would.
    mod panicking {
        use gst::glib;

        use crate::filter::{ElementKind, Observed};


        pub struct Panics;

        impl ElementKind for Panics {
            type Settings = ();
            type Prepared = ();
            const NAME: &'static str = "lcmtestpanic";
            const LONG_NAME: &'static str = "panics";
            const CLASSIFICATION: &'static str = "Filter/Video";
            const DESCRIPTION: &'static str = "panics on every frame";
            const IN_PLACE: bool = true;
            const TASK: lcm::Task = lcm::Task::Inpaint;
            const FALLBACK: &'static str = "never";

            fn observe(_: &(), _: &(), _: tch::Tensor, _: Option<tch::Tensor>) -> Option<Observed> {
                panic!("deliberate failure inside a frame")
            }
        }

        pub mod imp {
            #[derive(Default)]
            pub struct LcmTestPanic {
                filter: crate::filter::LcmFilter<super::Panics>,
            }

            crate::lcm_filter_impls!(LcmTestPanic, super::Panics, "GstLcmTestPanic");
        }

        glib::wrapper! {
            pub struct LcmTestPanic(ObjectSubclass<imp::LcmTestPanic>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
        }
    }

    use gst::prelude::*;

    fn run(pipeline: &gst::Element) -> Option<String> {
        pipeline.set_state(gst::State::Playing).unwrap();
        let message = pipeline.bus().unwrap().timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        pipeline.set_state(gst::State::Null).unwrap();
        match message?.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        }
    }

    #[test]
    fn a_panic_inside_a_frame_becomes_an_element_error_and_the_element_stays_usable() {
        gst::init().unwrap();
        gst::Element::register(None, "lcmtestpanic", gst::Rank::NONE, panicking::LcmTestPanic::static_type()).unwrap();
        let pipeline = gst::parse::launch(
            "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=16,height=16 ! lcmtestpanic name=p device=cpu ! fakesink",
        )
        .unwrap();
        let element = pipeline.clone().downcast::<gst::Bin>().unwrap().by_name("p").unwrap();
        for round in 0..2 {
            let error = run(&pipeline).unwrap_or_else(|| panic!("round {round}: no error reached the bus"));
            assert!(error.contains("deliberate failure inside a frame"), "round {round}: error '{error}'");
            // Every lock still works: properties read, and the next round starts again.
            assert_eq!(element.property::<f64>("last-loss"), -1.0);
            assert_eq!(element.property::<u32>("iterations"), lcm::restore::video_steps(lcm::Task::Inpaint) as u32);
        }
    }
}
