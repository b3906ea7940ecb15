// SPDX-License-Identifier: MIT OR Apache-2.0

/**
 * SECTION:element-lcminpaint
 *
 * Fills missing pixels of every frame with a Latent Convolutional Model. Missing pixels come
 * from the alpha channel (alpha = 0, so any upstream element can mark damage), a `mask` image
 * (non-black = missing; scaled to the frame) or a `mask-rect`. Known pixels pass through
 * bit-exact unless `keep-known=false`, which lets the model redraw the tiles around the damage.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=clip.avi ! decodebin ! videoconvert ! lcminpaint mask-rect=300,200,120,90 ! videoconvert ! pngenc ! multifilesink location=out/%05d.png
 * ]|
 */
use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;
use lcm::{Observation, Task};
use tch::{Kind, Tensor};

use crate::filter::{ElementKind, LcmFilter, Observed, read_property_image};

const DEFAULT_KEEP_KNOWN: bool = true;
/// Moving dirt is mostly visible one or two frames back (QUALITY.md: a temporal hold beats any
/// single-frame fill on it).
const DEFAULT_TEMPORAL_FRAMES: u32 = 2;
const DEFAULT_LOOKAHEAD: u32 = lcm::restore::VIDEO_LOOKAHEAD as u32;

#[derive(Clone, Debug)]
pub struct Settings {
    mask: Option<PathBuf>,
    mask_rect: Option<[u32; 4]>,
    keep_known: bool,
    temporal_frames: u32,
    lookahead: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mask: None,
            mask_rect: None,
            keep_known: DEFAULT_KEEP_KNOWN,
            temporal_frames: DEFAULT_TEMPORAL_FRAMES,
            lookahead: DEFAULT_LOOKAHEAD,
        }
    }
}

/// The static damage of a stream: the mask image as read in `start()`, and the known-pixel
/// mask `(1, H, W)` for the negotiated size.
#[derive(Default)]
pub struct Prepared {
    mask_image: Option<Tensor>,
    known: Option<Tensor>,
}

fn parse_rect(text: &str) -> Result<[u32; 4], String> {
    let parts: Option<Vec<u32>> = text.split(',').map(|p| p.trim().parse().ok()).collect();
    match parts.as_deref() {
        Some(&[x, y, w, h]) if w > 0 && h > 0 => Ok([x, y, w, h]),
        _ => Err(format!("mask-rect '{text}' is not x,y,width,height with non-negative corners and a positive size")),
    }
}

pub struct Inpaint;

impl ElementKind for Inpaint {
    type Settings = Settings;
    type Prepared = Prepared;
    const NAME: &'static str = "lcminpaint";
    const LONG_NAME: &'static str = "LCM inpainting";
    const CLASSIFICATION: &'static str = "Filter/Effect/Video";
    const DESCRIPTION: &'static str =
        "Fills missing pixels (alpha = 0, a mask image or a rectangle) with a Latent Convolutional Model, warm-started frame to frame";
    const IN_PLACE: bool = true;
    const TASK: Task = Task::Inpaint;
    const FALLBACK: &'static str = "frame filled by the classical fallback";

    fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("mask")
                .nick("Mask")
                .blurb("Image file marking missing pixels (non-black = missing), scaled to the frame; read when the element starts")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("mask-rect")
                .nick("Mask rectangle")
                .blurb("Missing rectangle as \"x,y,width,height\" in frame pixels; it must lie inside the frame")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("temporal-frames")
                .nick("Temporal frames")
                .blurb("Earlier frames searched (after motion compensation) for pixels this frame misses; recovered pixels are kept, the model fills the rest; 0 = off")
                .maximum(8)
                .default_value(DEFAULT_TEMPORAL_FRAMES)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("lookahead")
                .nick("Lookahead")
                .blurb("Later frames held back so their pixels can fill this frame's too (after motion compensation); adds that many frames of latency; 0 = none; read when the element starts")
                .maximum(8)
                .default_value(DEFAULT_LOOKAHEAD)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("keep-known")
                .nick("Keep known pixels")
                .blurb("Pass known pixels through bit-exact (only missing ones are replaced); false lets the model redraw the tiles around the damage")
                .default_value(DEFAULT_KEEP_KNOWN)
                .mutable_playing()
                .build(),
        ]
    }

    fn set(settings: &mut Settings, value: &glib::Value, pspec: &glib::ParamSpec) -> Result<(), String> {
        let text = value.get::<Option<String>>().ok().flatten().filter(|s| !s.trim().is_empty());
        match pspec.name() {
            "mask" => settings.mask = text.map(PathBuf::from),
            "mask-rect" => settings.mask_rect = text.as_deref().map(parse_rect).transpose()?,
            "keep-known" => settings.keep_known = value.get::<bool>().map_err(|e| e.to_string())?,
            "temporal-frames" => settings.temporal_frames = value.get::<u32>().map_err(|e| e.to_string())?,
            "lookahead" => settings.lookahead = value.get::<u32>().map_err(|e| e.to_string())?,
            other => return Err(format!("{} has no property {other}", Self::NAME)),
        }
        Ok(())
    }

    fn get(settings: &Settings, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "mask" => settings.mask.as_ref().map(|p| p.to_string_lossy().to_string()).to_value(),
            "mask-rect" => settings.mask_rect.map(|[x, y, w, h]| format!("{x},{y},{w},{h}")).to_value(),
            "keep-known" => settings.keep_known.to_value(),
            "temporal-frames" => settings.temporal_frames.to_value(),
            "lookahead" => settings.lookahead.to_value(),
            _ => None::<String>.to_value(),
        }
    }

    fn prepare(settings: &Settings) -> Result<Prepared, gst::ErrorMessage> {
        let mask_image = read_property_image(settings.mask.as_deref(), "mask", lcm::imageio::load_gray)?;
        Ok(Prepared { mask_image, known: None })
    }

    fn temporal_frames(settings: &Settings) -> usize {
        settings.temporal_frames as usize
    }

    fn lookahead(settings: &Settings) -> usize {
        settings.lookahead as usize
    }

    fn negotiated(settings: &Settings, prepared: &mut Prepared, info: &gst_video::VideoInfo, _: &gst_video::VideoInfo) -> Result<(), String> {
        let (width, height) = (i64::from(info.width()), i64::from(info.height()));
        prepared.known = match (&prepared.mask_image, settings.mask_rect) {
            (Some(image), _) => Some(lcm::mask::scaled(image, height, width)),
            (None, Some([x, y, w, h])) => {
                let [x, y, w, h] = [x, y, w, h].map(i64::from);
                if x + w > width || y + h > height {
                    return Err(format!("mask-rect {x},{y},{w},{h} does not fit in the {width}×{height} frame"));
                }
                Some(lcm::mask::rect(height, width, x, y, w, h))
            }
            (None, None) => None,
        };
        Ok(())
    }

    fn observe(settings: &Settings, prepared: &Prepared, rgb: Tensor, alpha: Option<Tensor>) -> Option<Observed> {
        // Known pixels: alpha > 0 where alpha marks damage, intersected with the static mask.
        let known = match (alpha.map(|a| a.gt(0.0).to_kind(Kind::Float)), &prepared.known) {
            (Some(a), Some(m)) => a * m,
            (Some(a), None) => a,
            (None, Some(m)) => m.shallow_clone(),
            (None, None) => return None,
        };
        if !bool::try_from(known.lt(0.5).any()).unwrap_or(false) {
            return None; // nothing missing in this frame
        }
        Some(Observed {
            observation: Observation::inpaint(rgb, known),
            keep_known: settings.keep_known,
        })
    }

    fn neighbour(rgb: Tensor) -> Option<Observation> {
        let (_, h, w) = rgb.size3().ok()?;
        let known = Tensor::ones([1, h, w], (Kind::Float, rgb.device()));
        Some(Observation::inpaint(rgb, known))
    }
}

#[derive(Default)]
pub struct LcmInpaint {
    filter: LcmFilter<Inpaint>,
}

crate::lcm_filter_impls!(LcmInpaint, Inpaint, "GstLcmInpaint");
