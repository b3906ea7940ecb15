//! Training and evaluation data: frames from image files, folders and videos, cut into patches.
//!
//! Videos are decoded with GStreamer (uridecodebin → videoconvert → appsink); nothing of
//! GStreamer appears in this module's API.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gst::prelude::*;
use gst_video::prelude::*;
use tch::{Kind, Tensor};

use crate::degrade::lanczos_resize;
use crate::imageio;
use crate::rng::SplitMix64;

const IMAGE_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "pgm", "ppm", "pnm"];

pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Expands folders into their image files (sorted); keeps files as given.
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect();
            files.sort();
            if files.is_empty() {
                bail!("{} holds no image files", path.display());
            }
            out.extend(files);
        } else if path.exists() {
            out.push(path.clone());
        } else {
            bail!("{} does not exist", path.display());
        }
    }
    Ok(out)
}

/// Up to `max_frames` RGB frames `(3, H, W)` of a video, taking every `every`-th frame.
pub fn video_frames(path: &Path, max_frames: usize, every: usize) -> Result<Vec<Tensor>> {
    video_frames_from(path, 0, max_frames, every)
}

/// [`video_frames`] from frame `first` on (earlier frames are decoded and dropped).
pub fn video_frames_from(path: &Path, first: usize, max_frames: usize, every: usize) -> Result<Vec<Tensor>> {
    gst::init().context("GStreamer failed to initialise")?;
    let path = path.canonicalize().with_context(|| format!("{} does not exist", path.display()))?;
    let uri = glib_uri(&path);
    let description = format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=4"
    );
    let pipeline = gst::parse::launch(&description)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .context("appsink missing")?;
    pipeline.set_state(gst::State::Playing).with_context(|| format!("cannot play {}", path.display()))?;
    let mut frames = Vec::new();
    let mut index = 0usize;
    let result = loop {
        if frames.len() >= max_frames {
            break Ok(());
        }
        match sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
            Some(sample) => {
                if index >= first && (index - first).is_multiple_of(every.max(1)) {
                    frames.push(sample_to_tensor(&sample)?);
                }
                index += 1;
            }
            None => {
                if sink.is_eos() {
                    break Ok(());
                }
                let bus = pipeline.bus().expect("pipelines have a bus");
                let message = bus
                    .pop_filtered(&[gst::MessageType::Error])
                    .and_then(|m| match m.view() {
                        gst::MessageView::Error(e) => Some(e.error().to_string()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "no frame decoded".into());
                break Err(anyhow::anyhow!("cannot decode {}: {message}", path.display()));
            }
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    if frames.is_empty() {
        bail!("{} yielded no video frames", path.display());
    }
    Ok(frames)
}

fn glib_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => uri.push(byte as char),
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

fn sample_to_tensor(sample: &gst::Sample) -> Result<Tensor> {
    let caps = sample.caps().context("sample without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps)?;
    let buffer = sample.buffer().context("sample without buffer")?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| anyhow::anyhow!("cannot map video frame"))?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0)?;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        rgb.extend_from_slice(&data[row * stride..row * stride + w * 3]);
    }
    Ok(imageio::from_interleaved(&rgb, h as i64, w as i64, 3))
}

/// Frames of every input: images give one frame each, videos up to `max_frames_per_video`.
pub fn load_frames(paths: &[PathBuf], max_frames_per_video: usize, every: usize) -> Result<Vec<Tensor>> {
    let mut frames = Vec::new();
    for path in expand_inputs(paths)? {
        if is_image(&path) {
            frames.push(imageio::load_rgb(&path)?);
        } else {
            frames.extend(video_frames(&path, max_frames_per_video, every)?);
        }
    }
    Ok(frames)
}

/// Shrinks a frame `(3, H, W)` so that its shorter side is at most `max_side` (Lanczos);
/// `max_side` ≤ 0 leaves it at its size.
pub fn shrink(frame: &Tensor, max_side: i64) -> Tensor {
    let (_, h, w) = frame.size3().expect("frames are (3, H, W)");
    let short = h.min(w);
    if max_side <= 0 || short <= max_side {
        return frame.shallow_clone();
    }
    let (nh, nw) = (h * max_side / short, w * max_side / short);
    lanczos_resize(&frame.unsqueeze(0), nh, nw).squeeze_dim(0).clamp(0.0, 1.0)
}

/// `count` random `size`×`size` patches (seeded), spread evenly over the frames: `(N, 3, S, S)`.
pub fn random_patches(frames: &[Tensor], size: i64, count: usize, seed: u64) -> Result<Tensor> {
    Ok(cut_patches(frames, None, size, count, seed, 0.0)?.0)
}

/// [`random_patches`] spread evenly over sources first (`source[i]` is frame `i`'s), then over
/// each source's frames: a long video does not outweigh a short one or a folder of photos.
pub fn source_balanced_patches(frames: &[Tensor], source: &[usize], size: i64, count: usize, seed: u64) -> Result<Tensor> {
    if source.len() != frames.len() {
        bail!("{} source indices for {} frames", source.len(), frames.len());
    }
    let mut by_source: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (frame, &s) in source.iter().enumerate() {
        if frames[frame].size()[1] >= size && frames[frame].size()[2] >= size {
            by_source.entry(s).or_default().push(frame);
        }
    }
    let groups: Vec<&Vec<usize>> = by_source.values().collect();
    if groups.is_empty() {
        bail!("no frame is at least {size}×{size} pixels");
    }
    // Patch i comes from source i mod S, and from that source's frames in turn.
    let picked: Vec<Tensor> = (0..count)
        .map(|i| {
            let group = groups[i % groups.len()];
            frames[group[i / groups.len() % group.len()]].shallow_clone()
        })
        .collect();
    Ok(cut_patches(&picked, None, size, count, seed, 0.0)?.0)
}

/// [`random_patches`] of frames whose known pixels are `known` (`(1, H, W)` per frame, 1 where
/// known), with the patches' masks `(N, 1, S, S)`. A patch with less than `min_known` of its
/// pixels known is drawn again elsewhere (up to 32 tries, then the best one seen is kept).
pub fn random_known_patches(frames: &[Tensor], known: &[Tensor], size: i64, count: usize, seed: u64, min_known: f64) -> Result<(Tensor, Tensor)> {
    if known.len() != frames.len() {
        bail!("{} known-pixel masks for {} frames", known.len(), frames.len());
    }
    let (patches, masks) = cut_patches(frames, Some(known), size, count, seed, min_known)?;
    Ok((patches, masks.expect("masks were given")))
}

fn cut_patches(frames: &[Tensor], known: Option<&[Tensor]>, size: i64, count: usize, seed: u64, min_known: f64) -> Result<(Tensor, Option<Tensor>)> {
    let usable: Vec<usize> = (0..frames.len()).filter(|&i| frames[i].size()[1] >= size && frames[i].size()[2] >= size).collect();
    if usable.is_empty() {
        bail!("no frame is at least {size}×{size} pixels");
    }
    let mut rng = SplitMix64::new(seed);
    let (mut patches, mut masks) = (Vec::with_capacity(count), Vec::new());
    for i in 0..count {
        let frame = usable[i % usable.len()];
        let (_, h, w) = frames[frame].size3()?;
        let mut draw = || (rng.below((h - size + 1) as u64) as i64, rng.below((w - size + 1) as u64) as i64);
        let cut = |t: &Tensor, (y, x): (i64, i64)| t.narrow(1, y, size).narrow(2, x, size);
        let place = match known {
            None => draw(),
            Some(known) => {
                let mut best = (f64::NEG_INFINITY, (0, 0));
                for _ in 0..32 {
                    let place = draw();
                    let fraction = f64::try_from(cut(&known[frame], place).mean(Kind::Float))?;
                    if fraction > best.0 {
                        best = (fraction, place);
                    }
                    if fraction >= min_known {
                        break;
                    }
                }
                masks.push(cut(&known[frame], best.1).to_kind(Kind::Float));
                best.1
            }
        };
        patches.push(cut(&frames[frame], place));
    }
    let masks = known.map(|_| Tensor::stack(&masks, 0));
    Ok((Tensor::stack(&patches, 0).to_kind(Kind::Float), masks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn a_long_source_does_not_outweigh_a_short_one() {
        // Nine frames of one source (zeros) and one frame of another (ones).
        let frame = |v: f64| Tensor::full([3, 80, 80], v, (Kind::Float, Device::Cpu));
        let frames: Vec<Tensor> = (0..10).map(|i| frame(if i == 9 { 1.0 } else { 0.0 })).collect();
        let sources: Vec<usize> = (0..10).map(|i| usize::from(i == 9)).collect();
        let share = |patches: Tensor| f64::try_from(patches.mean(Kind::Float)).unwrap();
        assert!((share(source_balanced_patches(&frames, &sources, 64, 40, 1).unwrap()) - 0.5).abs() < 1e-6);
        assert!((share(random_patches(&frames, 64, 40, 1).unwrap()) - 0.1).abs() < 1e-6);
    }
}
