// SPDX-License-Identifier: MIT OR Apache-2.0

/**
 * SECTION:element-lcmcolorize
 *
 * Colours gray frames with a Latent Convolutional Model. Input is GRAY8 (or any RGB format, of
 * which the channel mean is taken); output is RGB whose channel mean equals the input gray
 * (up to rounding and clipping).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=bw.avi ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! lcmcolorize ! videoconvert ! pngenc ! multifilesink location=out/%05d.png
 * ]|
 */
use std::sync::Mutex;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::VideoFormat;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use lcm::{Observation, Task};
use once_cell::sync::Lazy;
use tch::Kind;

use crate::frame::{self, RGB_FORMATS};
use crate::session::{CommonSettings, Session};

static CAT: Lazy<gst::DebugCategory> =
    Lazy::new(|| gst::DebugCategory::new("lcmcolorize", gst::DebugColorFlags::empty(), Some("LCM colorization")));

fn sink_formats() -> Vec<VideoFormat> {
    std::iter::once(VideoFormat::Gray8).chain(RGB_FORMATS).collect()
}

#[derive(Default)]
pub struct LcmColorize {
    settings: Mutex<CommonSettings>,
    state: Mutex<Option<Session>>,
}

#[glib::object_subclass]
impl ObjectSubclass for LcmColorize {
    const NAME: &'static str = "GstLcmColorize";
    type Type = super::LcmColorize;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for LcmColorize {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(CommonSettings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let element = self.obj();
        let handled = self.settings.lock().unwrap().set(element.upcast_ref(), *CAT, value, pspec);
        assert!(handled, "unknown property {}", pspec.name());
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(v) = CommonSettings::stats(self.state.lock().unwrap().as_ref(), pspec) {
            return v;
        }
        self.settings.lock().unwrap().get(pspec).expect("every property is common")
    }
}

impl GstObjectImpl for LcmColorize {}

impl ElementImpl for LcmColorize {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "LCM colorization",
                "Filter/Effect/Converter/Video",
                "Colours gray frames with a Latent Convolutional Model, keeping their gray exactly, warm-started frame to frame",
                "lcm developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let src = gst_video::VideoCapsBuilder::new().format_list(RGB_FORMATS).build();
            let sink = gst_video::VideoCapsBuilder::new().format_list(sink_formats()).build();
            vec![
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &src).unwrap(),
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &sink).unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for LcmColorize {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn transform_caps(&self, direction: gst::PadDirection, caps: &gst::Caps, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let other = if direction == gst::PadDirection::Sink {
            crate::caps::with_formats(caps, &RGB_FORMATS)
        } else {
            crate::caps::with_formats(caps, &sink_formats())
        };
        Some(match filter {
            Some(f) => f.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        })
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        *self.state.lock().unwrap() = Some(Session::open(&settings)?);
        gst::info!(CAT, imp = self, "model {} loaded", settings.model_path().display());
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let handled = BaseTransformImplExt::parent_query(self, direction, query);
        if handled && direction == gst::PadDirection::Src && matches!(query.view(), gst::QueryView::Latency(_)) {
            let common = self.settings.lock().unwrap().clone();
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

impl VideoFilterImpl for LcmColorize {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
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
        let (pixels, _) = frame::read(inframe).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("cannot read frame: {e}"));
            gst::FlowError::Error
        })?;
        let gray = lcm::degrade::gray(&pixels.unsqueeze(0)).squeeze_dim(0).to_kind(Kind::Float);
        let restored = session.restore(Task::Colorize, &Observation { evidence: gray, mask: None }, &settings);
        if let Some(reason) = &restored.fallback {
            gst::element_imp_warning!(self, gst::StreamError::Decode, ("{reason}; frame left gray"));
        }
        frame::write(outframe, &restored.image, None).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("cannot write frame: {e}"));
            gst::FlowError::Error
        })?;
        Ok(gst::FlowSuccess::Ok)
    }
}
