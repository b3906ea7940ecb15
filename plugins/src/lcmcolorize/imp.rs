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
use gst_video::VideoFormat;
use lcm::{Observation, Task};
use tch::{Kind, Tensor};

use crate::frame::RGB_FORMATS;
use crate::filter::{ElementKind, LcmFilter, Observed};

fn sink_formats() -> Vec<VideoFormat> {
    std::iter::once(VideoFormat::Gray8).chain(RGB_FORMATS).collect()
}

pub struct Colorize;

impl ElementKind for Colorize {
    type Settings = ();
    type Prepared = ();
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

    fn transform_caps(_: &(), direction: gst::PadDirection, caps: &gst::Caps) -> Option<gst::Caps> {
        Some(if direction == gst::PadDirection::Sink {
            crate::caps::with_formats(caps, &RGB_FORMATS)
        } else {
            crate::caps::with_formats(caps, &sink_formats())
        })
    }

    fn observe(_: &(), _: &(), pixels: Tensor, _: Option<Tensor>) -> Option<Observed> {
        let gray = lcm::degrade::gray(&pixels.unsqueeze(0)).squeeze_dim(0).to_kind(Kind::Float);
        Some(Observed {
            task: Task::Colorize,
            observation: Observation { evidence: gray, mask: None },
            keep_known: true,
            only: None,
        })
    }
}

#[derive(Default)]
pub struct LcmColorize {
    filter: LcmFilter<Colorize>,
}

crate::lcm_filter_impls!(LcmColorize, Colorize, "GstLcmColorize");
