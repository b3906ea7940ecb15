// SPDX-License-Identifier: MIT OR Apache-2.0

/**
 * SECTION:element-lcmsuperres
 *
 * Upscales every frame by `scale` (2, 4 or 8) with a Latent Convolutional Model: the output is
 * the image whose downsampling best matches the input frame under the learned prior. That
 * downsampling is Lanczos (the paper's) unless `downscale` names how the footage was made
 * smaller: bicubic, or area (OpenCV's INTER_AREA, a camera's binning). Output caps are exactly
 * the input size × scale.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=clip.avi ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=180,height=144 ! lcmsuperres scale=4 ! videoconvert ! x264enc ! matroskamux ! filesink location=x4.mkv
 * ]|
 */
use gst::glib;
use gst::prelude::*;
use lcm::{Observation, Task};
use tch::Tensor;

use crate::filter::{ElementKind, LcmFilter, Observed};

/// The upscaling factors the engine supports (the Lanczos operator's).
#[derive(Debug, Eq, PartialEq, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstLcmScale")]
pub enum Scale {
    #[enum_value(name = "×2", nick = "2")]
    X2 = 2,
    #[default]
    #[enum_value(name = "×4", nick = "4")]
    X4 = 4,
    #[enum_value(name = "×8", nick = "8")]
    X8 = 8,
}

impl Scale {
    fn factor(self) -> u32 {
        self as u32
    }
}

/// How the input was made smaller ([`lcm::Downscale`]).
#[derive(Debug, Eq, PartialEq, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstLcmDownscale")]
pub enum Downscale {
    #[default]
    #[enum_value(name = "Lanczos-3 (the paper's degradation)", nick = "lanczos")]
    Lanczos,
    #[enum_value(name = "Bicubic (a = -0.5)", nick = "bicubic")]
    Bicubic,
    #[enum_value(name = "Area: the mean of each output pixel's footprint", nick = "area")]
    Area,
}

impl From<Downscale> for lcm::Downscale {
    fn from(d: Downscale) -> Self {
        match d {
            Downscale::Lanczos => Self::Lanczos,
            Downscale::Bicubic => Self::Bicubic,
            Downscale::Area => Self::Area,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Settings {
    scale: Scale,
    downscale: Downscale,
}

pub struct SuperRes;

impl ElementKind for SuperRes {
    type Settings = Settings;
    type Prepared = ();
    const NAME: &'static str = "lcmsuperres";
    const LONG_NAME: &'static str = "LCM super-resolution";
    const CLASSIFICATION: &'static str = "Filter/Effect/Converter/Video/Scaler";
    const DESCRIPTION: &'static str = "Upscales frames ×2/×4/×8 with a Latent Convolutional Model, warm-started frame to frame";
    const IN_PLACE: bool = false;
    const TASK: Task = Task::superres(4);
    const FALLBACK: &'static str = "frame upscaled by Lanczos instead";

    fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecEnum::builder_with_default("scale", Scale::default())
                .nick("Scale")
                .blurb("Upscaling factor: 2, 4 or 8 (output size = input size × scale)")
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("downscale", Downscale::default())
                .nick("Downscale")
                .blurb("How the input was made smaller (restoration fits the same filter): lanczos, bicubic or area")
                .mutable_ready()
                .build(),
        ]
    }

    fn set(settings: &mut Settings, value: &glib::Value, pspec: &glib::ParamSpec) -> Result<(), String> {
        match pspec.name() {
            "scale" => settings.scale = value.get().map_err(|e| format!("scale: {e}"))?,
            "downscale" => settings.downscale = value.get().map_err(|e| format!("downscale: {e}"))?,
            other => return Err(format!("{} has no property {other}", Self::NAME)),
        }
        Ok(())
    }

    fn get(settings: &Settings, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "downscale" => settings.downscale.to_value(),
            _ => settings.scale.to_value(),
        }
    }

    fn negotiated(settings: &Settings, _: &mut (), in_info: &gst_video::VideoInfo, out_info: &gst_video::VideoInfo) -> Result<(), String> {
        let scale = settings.scale.factor();
        if out_info.width() != in_info.width() * scale || out_info.height() != in_info.height() * scale {
            return Err(format!("output {}×{} is not the input {}×{} × {scale}", out_info.width(), out_info.height(), in_info.width(), in_info.height()));
        }
        Ok(())
    }

    fn transform_caps(settings: &Settings, direction: gst::PadDirection, caps: &gst::Caps) -> Option<gst::Caps> {
        Some(crate::caps::scale_size(caps, settings.scale.factor() as i32, direction == gst::PadDirection::Sink))
    }

    fn observe(settings: &Settings, _: &(), rgb: Tensor, _: Option<Tensor>) -> Option<Observed> {
        Some(Observed {
            observation: Observation::superres(rgb, i64::from(settings.scale.factor()), settings.downscale.into()),
            keep_known: true,
        })
    }
}

#[derive(Default)]
pub struct LcmSuperRes {
    filter: LcmFilter<SuperRes>,
}

crate::lcm_filter_impls!(LcmSuperRes, SuperRes, "GstLcmSuperRes");
