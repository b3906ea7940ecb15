// SPDX-License-Identifier: MIT OR Apache-2.0

/**
 * SECTION:element-lcmsuperres
 *
 * Upscales every frame by `scale` (2, 4 or 8) with a Latent Convolutional Model: the output is
 * the image whose Lanczos downsampling best matches the input frame under the learned prior.
 * Output caps are exactly the input size × scale.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=clip.avi ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=180,height=144 ! lcmsuperres scale=4 ! videoconvert ! x264enc ! matroskamux ! filesink location=x4.mkv
 * ]|
 */
use std::sync::Mutex;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use lcm::{Observation, Task};
use once_cell::sync::Lazy;

use crate::frame;
use crate::session::{CommonSettings, Session};

const DEFAULT_SCALE: u32 = 4;

static CAT: Lazy<gst::DebugCategory> =
    Lazy::new(|| gst::DebugCategory::new("lcmsuperres", gst::DebugColorFlags::empty(), Some("LCM super-resolution")));

#[derive(Clone, Debug)]
struct Settings {
    common: CommonSettings,
    scale: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { common: CommonSettings::default(), scale: DEFAULT_SCALE }
    }
}

#[derive(Default)]
pub struct LcmSuperRes {
    settings: Mutex<Settings>,
    state: Mutex<Option<Session>>,
}

#[glib::object_subclass]
impl ObjectSubclass for LcmSuperRes {
    const NAME: &'static str = "GstLcmSuperRes";
    type Type = super::LcmSuperRes;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for LcmSuperRes {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let mut props = CommonSettings::properties();
            props.push(
                glib::ParamSpecUInt::builder("scale")
                    .nick("Scale")
                    .blurb("Upscaling factor: 2, 4 or 8 (output size = input size × scale)")
                    .minimum(2)
                    .maximum(8)
                    .default_value(DEFAULT_SCALE)
                    .mutable_ready()
                    .build(),
            );
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        let element = self.obj();
        if settings.common.set(element.upcast_ref(), *CAT, value, pspec) {
            return;
        }
        match pspec.name() {
            "scale" => {
                let scale: u32 = value.get().unwrap();
                if [2, 4, 8].contains(&scale) {
                    settings.scale = scale;
                    gst::info!(CAT, imp = self, "scale set to {scale}");
                    drop(settings);
                    element.reconfigure_src();
                } else {
                    gst::element_imp_warning!(self, gst::LibraryError::Settings, ("scale must be 2, 4 or 8, not {scale}"));
                }
            }
            _ => unreachable!("unknown property {}", pspec.name()),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(v) = CommonSettings::stats(self.state.lock().unwrap().as_ref(), pspec) {
            return v;
        }
        let settings = self.settings.lock().unwrap();
        if let Some(v) = settings.common.get(pspec) {
            return v;
        }
        match pspec.name() {
            "scale" => settings.scale.to_value(),
            _ => unreachable!("unknown property {}", pspec.name()),
        }
    }
}

impl GstObjectImpl for LcmSuperRes {}

impl ElementImpl for LcmSuperRes {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "LCM super-resolution",
                "Filter/Effect/Converter/Video/Scaler",
                "Upscales frames ×2/×4/×8 with a Latent Convolutional Model, warm-started frame to frame",
                "lcm developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let caps = gst_video::VideoCapsBuilder::new().format_list(crate::frame::RGB_FORMATS).build();
            vec![
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for LcmSuperRes {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn transform_caps(&self, direction: gst::PadDirection, caps: &gst::Caps, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let scale = self.settings.lock().unwrap().scale as i32;
        let other = crate::caps::scale_size(caps, scale, direction == gst::PadDirection::Sink);
        gst::debug!(CAT, imp = self, "transformed {caps} to {other} ({direction:?})");
        Some(match filter {
            Some(f) => f.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        })
    }

    fn fixate_caps(&self, direction: gst::PadDirection, caps: &gst::Caps, othercaps: gst::Caps) -> gst::Caps {
        // The size on the other side is fully determined; keep it exact instead of "nearest".
        let exact = crate::caps::scale_size(caps, self.settings.lock().unwrap().scale as i32, direction == gst::PadDirection::Sink);
        let narrowed = othercaps.intersect(&exact);
        let mut chosen = if narrowed.is_empty() { othercaps } else { narrowed };
        chosen.fixate();
        chosen
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        *self.state.lock().unwrap() = Some(Session::open(&settings.common)?);
        gst::info!(CAT, imp = self, "model {} loaded", settings.common.model_path().display());
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let handled = BaseTransformImplExt::parent_query(self, direction, query);
        if handled && direction == gst::PadDirection::Src && matches!(query.view(), gst::QueryView::Latency(_)) {
            let common = self.settings.lock().unwrap().common.clone();
            let latency = common.processing_latency(self.state.lock().unwrap().as_ref());
            crate::session::add_latency(query, latency);
        }
        handled
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(session) = self.state.lock().unwrap().as_mut()
        {
            session.reset();
        }
        self.parent_sink_event(event)
    }
}

impl VideoFilterImpl for LcmSuperRes {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let scale = self.settings.lock().unwrap().scale;
        if out_info.width() != in_info.width() * scale || out_info.height() != in_info.height() * scale {
            return Err(gst::loggable_error!(CAT, "output {}×{} is not input × {scale}", out_info.width(), out_info.height()));
        }
        if let Some(session) = self.state.lock().unwrap().as_mut() {
            session.reset();
        }
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }

    fn transform_frame(
        &self,
        inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut state = self.state.lock().unwrap();
        let session = state.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        if inframe.buffer().flags().contains(gst::BufferFlags::DISCONT) {
            session.reset();
        }
        let (rgb, _) = frame::read(inframe).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("cannot read frame: {e}"));
            gst::FlowError::Error
        })?;
        let task = Task::SuperRes { scale: settings.scale as i64 };
        let restored = session.restore(task, &Observation { evidence: rgb, mask: None }, &settings.common);
        if let Some(reason) = &restored.fallback {
            gst::element_imp_warning!(self, gst::StreamError::Decode, ("{reason}; frame upscaled by Lanczos instead"));
        }
        frame::write(outframe, &restored.image, None).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("cannot write frame: {e}"));
            gst::FlowError::Error
        })?;
        Ok(gst::FlowSuccess::Ok)
    }
}
