// SPDX-License-Identifier: MIT OR Apache-2.0

/**
 * SECTION:element-lcmcolorize
 *
 * Colours gray frames with a Latent Convolutional Model. Input is GRAY8 (or any RGB format, of
 * which the BT.601 luma is taken, as videoconvert makes GRAY8); output is RGB whose luma equals
 * the input gray (up to rounding and clipping), so videoconvert turns it back into that gray.
 *
 * Colour hints replace guessing: the non-transparent pixels of a `hints` image (scaled to the
 * frame), and for input with alpha the pixels whose alpha is not 0 (in a frame where some alpha
 * is 0: an opaque frame is coloured as RGB is), give their colour; it is spread along the gray's
 * edges over the frame, and carried to later frames with the picture where the shot stays, so
 * hints on a shot's first frame alone colour the shot.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=bw.avi ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! lcmcolorize ! videoconvert ! pngenc ! multifilesink location=out/%05d.png
 * ]|
 */
use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;
use gst_video::VideoFormat;
use lcm::{Observation, Task};
use tch::{Kind, Tensor};

use crate::frame::RGB_FORMATS;
use crate::filter::{ElementKind, LcmFilter, Observed, read_property_image};

fn sink_formats() -> Vec<VideoFormat> {
    std::iter::once(VideoFormat::Gray8).chain(RGB_FORMATS).collect()
}

#[derive(Clone, Debug, Default)]
pub struct Settings {
    hints: Option<PathBuf>,
}

/// The hints image as read in `start()` `(4, h, w)`, and scaled to the negotiated frame.
#[derive(Default)]
pub struct Prepared {
    hints_image: Option<Tensor>,
    hints: Option<Tensor>,
}

pub struct Colorize;

impl ElementKind for Colorize {
    type Settings = Settings;
    type Prepared = Prepared;
    const NAME: &'static str = "lcmcolorize";
    const LONG_NAME: &'static str = "LCM colorization";
    const CLASSIFICATION: &'static str = "Filter/Effect/Converter/Video";
    const DESCRIPTION: &'static str = "Colours gray frames with a Latent Convolutional Model, keeping their gray exactly, warm-started frame to frame";
    const IN_PLACE: bool = false;
    const TASK: Task = Task::Colorize;
    const FALLBACK: &'static str = "frame left gray";

    fn sink_formats() -> Vec<VideoFormat> {
        sink_formats()
    }

    fn properties() -> Vec<glib::ParamSpec> {
        vec![glib::ParamSpecString::builder("hints")
            .nick("Colour hints")
            .blurb("Image file whose non-transparent pixels give colours (scaled to the frame); read when the element starts")
            .mutable_ready()
            .build()]
    }

    fn set(settings: &mut Settings, value: &glib::Value, pspec: &glib::ParamSpec) -> Result<(), String> {
        match pspec.name() {
            "hints" => settings.hints = value.get::<Option<String>>().ok().flatten().filter(|s| !s.trim().is_empty()).map(PathBuf::from),
            other => return Err(format!("{} has no property {other}", Self::NAME)),
        }
        Ok(())
    }

    fn get(settings: &Settings, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "hints" => settings.hints.as_ref().map(|p| p.to_string_lossy().to_string()).to_value(),
            _ => None::<String>.to_value(),
        }
    }

    fn prepare(settings: &Settings) -> Result<Prepared, gst::ErrorMessage> {
        let hints_image = read_property_image(settings.hints.as_deref(), "hints", lcm::imageio::load_rgba)?;
        Ok(Prepared { hints_image, hints: None })
    }

    fn negotiated(_: &Settings, prepared: &mut Prepared, info: &gst_video::VideoInfo, _: &gst_video::VideoInfo) -> Result<(), String> {
        let (width, height) = (i64::from(info.width()), i64::from(info.height()));
        prepared.hints = prepared.hints_image.as_ref().map(|image| lcm::restore::hints_from_rgba(image, height, width));
        Ok(())
    }

    fn transform_caps(_: &Settings, direction: gst::PadDirection, caps: &gst::Caps) -> Option<gst::Caps> {
        Some(if direction == gst::PadDirection::Sink {
            crate::caps::with_formats(caps, &RGB_FORMATS)
        } else {
            crate::caps::with_formats(caps, &sink_formats())
        })
    }

    fn observe(_: &Settings, prepared: &Prepared, pixels: Tensor, alpha: Option<Tensor>) -> Option<Observed> {
        let gray = lcm::degrade::gray(&pixels.unsqueeze(0)).squeeze_dim(0).to_kind(Kind::Float);
        // Hints in the frame's alpha take precedence over the hints image where both give one.
        // A frame opaque everywhere is ordinary RGBA, coloured as RGB input is (not returned as
        // its own gray, every pixel a gray hint). One transparent everywhere is a hints stream's
        // frame without new hints: its colour is what earlier hints carry (as fast, and as close
        // to the truth, as fitting the prior there: benches/NOTES.md, benchmark 23).
        let in_frame = alpha
            .map(|a| a.gt(0.0).to_kind(Kind::Float))
            .filter(|marked| f64::try_from(marked.min()).is_ok_and(|least| least < 1.0))
            .map(|marked| Tensor::cat(&[pixels.expand([3, -1, -1], false), marked], 0));
        let hints = match (in_frame, &prepared.hints) {
            (Some(frame), Some(image)) => {
                let from_frame = frame.narrow(0, 3, 1);
                Some(&frame * &from_frame + image * (1.0 - &from_frame))
            }
            (Some(frame), None) => Some(frame),
            (None, image) => image.as_ref().map(Tensor::shallow_clone),
        };
        Some(Observed {
            observation: Observation::colorize(gray, hints),
            keep_known: true,
        })
    }
}

#[derive(Default)]
pub struct LcmColorize {
    filter: LcmFilter<Colorize>,
}

crate::lcm_filter_impls!(LcmColorize, Colorize, "GstLcmColorize");
