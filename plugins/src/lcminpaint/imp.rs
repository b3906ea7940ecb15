// SPDX-License-Identifier: MIT OR Apache-2.0

/**
 * SECTION:element-lcminpaint
 *
 * Fills missing pixels of every frame with a Latent Convolutional Model. Missing pixels come
 * from the alpha channel (alpha = 0, so any upstream element can mark damage), a `mask` image
 * (non-black = missing; scaled to the frame) or a `mask-rect`. Known pixels pass through
 * bit-exact unless `keep-known=false`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=clip.avi ! decodebin ! videoconvert ! lcminpaint mask-rect=300,200,120,90 ! videoconvert ! pngenc ! multifilesink location=out/%05d.png
 * ]|
 */
use std::path::PathBuf;
use std::sync::Mutex;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use lcm::{Observation, Task};
use once_cell::sync::Lazy;
use tch::{Kind, Tensor};

use crate::frame;
use crate::session::{CommonSettings, Session};

const DEFAULT_KEEP_KNOWN: bool = true;

static CAT: Lazy<gst::DebugCategory> =
    Lazy::new(|| gst::DebugCategory::new("lcminpaint", gst::DebugColorFlags::empty(), Some("LCM inpainting")));

#[derive(Clone, Debug)]
struct Settings {
    common: CommonSettings,
    mask: Option<PathBuf>,
    mask_rect: Option<[u32; 4]>,
    keep_known: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self { common: CommonSettings::default(), mask: None, mask_rect: None, keep_known: DEFAULT_KEEP_KNOWN }
    }
}

struct State {
    session: Session,
    /// `(1, H, W)` known-pixel mask from `mask` / `mask-rect`, for the negotiated size.
    static_mask: Option<Tensor>,
}

#[derive(Default)]
pub struct LcmInpaint {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

fn parse_rect(text: &str) -> Option<[u32; 4]> {
    let v: Vec<u32> = text.split(',').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    <[u32; 4]>::try_from(v).ok().filter(|r| r[2] > 0 && r[3] > 0)
}

/// Known-pixel mask `(1, H, W)` from a mask file (non-black = missing) or a rectangle.
fn static_mask(settings: &Settings, width: i64, height: i64) -> Result<Option<Tensor>, String> {
    if let Some(path) = &settings.mask {
        return lcm::mask::from_image(path, height, width).map(Some).map_err(|e| format!("{e:#}"));
    }
    Ok(settings.mask_rect.map(|[x, y, w, h]| lcm::mask::rect(height, width, x as i64, y as i64, w as i64, h as i64)))
}

#[glib::object_subclass]
impl ObjectSubclass for LcmInpaint {
    const NAME: &'static str = "GstLcmInpaint";
    type Type = super::LcmInpaint;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for LcmInpaint {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let mut props = CommonSettings::properties();
            props.extend([
                glib::ParamSpecString::builder("mask")
                    .nick("Mask")
                    .blurb("Image file marking missing pixels (non-black = missing), scaled to the frame")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mask-rect")
                    .nick("Mask rectangle")
                    .blurb("Missing rectangle as \"x,y,width,height\" in frame pixels")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("keep-known")
                    .nick("Keep known pixels")
                    .blurb("Pass known pixels through bit-exact; only missing ones are replaced")
                    .default_value(DEFAULT_KEEP_KNOWN)
                    .mutable_playing()
                    .build(),
            ]);
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
            "mask" => settings.mask = value.get::<Option<String>>().unwrap().filter(|s| !s.is_empty()).map(PathBuf::from),
            "mask-rect" => {
                let text = value.get::<Option<String>>().unwrap().unwrap_or_default();
                settings.mask_rect = parse_rect(&text);
                if settings.mask_rect.is_none() && !text.is_empty() {
                    gst::element_warning!(element, gst::LibraryError::Settings, ("mask-rect '{text}' is not x,y,width,height"));
                }
            }
            "keep-known" => settings.keep_known = value.get().unwrap(),
            _ => unreachable!("unknown property {}", pspec.name()),
        }
        gst::info!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(v) = CommonSettings::stats(self.state.lock().unwrap().as_ref().map(|s| &s.session), pspec) {
            return v;
        }
        let settings = self.settings.lock().unwrap();
        if let Some(v) = settings.common.get(pspec) {
            return v;
        }
        match pspec.name() {
            "mask" => settings.mask.as_ref().map(|p| p.to_string_lossy().to_string()).to_value(),
            "mask-rect" => settings.mask_rect.map(|[x, y, w, h]| format!("{x},{y},{w},{h}")).to_value(),
            "keep-known" => settings.keep_known.to_value(),
            _ => unreachable!("unknown property {}", pspec.name()),
        }
    }
}

impl GstObjectImpl for LcmInpaint {}

impl ElementImpl for LcmInpaint {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "LCM inpainting",
                "Filter/Effect/Video",
                "Fills missing pixels (alpha = 0, a mask image or a rectangle) with a Latent Convolutional Model, warm-started frame to frame",
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

impl BaseTransformImpl for LcmInpaint {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let session = Session::open(&settings.common)?;
        gst::info!(CAT, imp = self, "model {} loaded", settings.common.model_path().display());
        *self.state.lock().unwrap() = Some(State { session, static_mask: None });
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
            let latency = common.processing_latency(self.state.lock().unwrap().as_ref().map(|s| &s.session));
            crate::session::add_latency(query, latency);
        }
        handled
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            state.session.reset();
        }
        self.parent_sink_event(event)
    }
}

impl VideoFilterImpl for LcmInpaint {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let settings = self.settings.lock().unwrap().clone();
        let mask = static_mask(&settings, in_info.width() as i64, in_info.height() as i64)
            .map_err(|e| gst::loggable_error!(CAT, "cannot read mask: {e}"))?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.static_mask = mask;
            state.session.reset();
        }
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }

    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        if frame.buffer().flags().contains(gst::BufferFlags::DISCONT) {
            state.session.reset();
        }
        let (rgb, alpha) = frame::read(&*frame).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("cannot read frame: {e}"));
            gst::FlowError::Error
        })?;
        // Known pixels: alpha > 0 where alpha marks damage, intersected with the static mask.
        let mut known = alpha.map(|a| a.gt(0.0).to_kind(Kind::Float));
        if let Some(m) = &state.static_mask {
            known = Some(match known {
                Some(k) => k * m,
                None => m.shallow_clone(),
            });
        }
        let Some(known) = known.filter(|k| bool::try_from(k.lt(1.0).any()).unwrap_or(false)) else {
            return Ok(gst::FlowSuccess::Ok); // nothing missing in this frame
        };
        let obs = Observation { evidence: rgb, mask: Some(known.shallow_clone()) };
        let restored = state.session.restore(Task::Inpaint, &obs, &settings.common);
        if let Some(reason) = &restored.fallback {
            gst::element_imp_warning!(self, gst::StreamError::Decode, ("{reason}; frame filled by the classical fallback"));
        }
        let missing: Vec<bool> = Vec::<f32>::try_from(known.flatten(0, -1)).unwrap_or_default().iter().map(|&k| k < 0.5).collect();
        let only = settings.keep_known.then_some(missing.as_slice());
        frame::write(frame, &restored.image, only).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("cannot write frame: {e}"));
            gst::FlowError::Error
        })?;
        Ok(gst::FlowSuccess::Ok)
    }
}
