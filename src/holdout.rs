//! Which frames of each data source trained a model and which were held out. Training writes
//! the record into the model file; evaluation reads it back and scores held-out frames only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::data;

/// How one source was split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceSplit {
    /// A video sampled every `frame_every` frames (at most `frames_per_video`): sampled frames
    /// from `first_held_out_frame` on are held out.
    Video { first_held_out_frame: usize, frame_every: usize, frames_per_video: Option<usize> },
    /// A still image, wholly held out (images that trained the model are not recorded).
    Image { held_out: bool },
}

/// The holdout record of a model: source key (see [`source_key`]) → split.
pub type Holdout = BTreeMap<String, SourceSplit>;

/// How frames are sampled from the inputs and how many are held out.
#[derive(Clone, Debug)]
pub struct Sampling {
    pub frames_per_video: usize,
    pub frame_every: usize,
    /// Shrink frames so their shorter side is at most this (0 = native size).
    pub max_side: i64,
    /// Fraction of each video's sampled frames (its last ones) and of the still images held out.
    pub fraction: f64,
}

/// Training and held-out frames of the inputs, and the record of the split.
pub struct Split {
    pub train: Vec<Tensor>,
    /// Which of the inputs each training frame came from (a folder is one input).
    pub train_source: Vec<usize>,
    pub holdout: Vec<Tensor>,
    pub record: Holdout,
}

/// How a source is named in a holdout record: relative to the working directory when inside it
/// (so the record holds in any checkout), else absolute.
pub fn source_key(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or(path.to_path_buf());
    let cwd = std::env::current_dir().and_then(|d| d.canonicalize()).unwrap_or_default();
    path.strip_prefix(&cwd).unwrap_or(&path).to_string_lossy().to_string()
}

/// The first held-out index of `frames` sampled frames: the last `fraction` of them.
pub fn first_held_out(frames: usize, fraction: f64) -> usize {
    frames - ((frames as f64) * fraction).ceil() as usize
}

/// Whether the `index`-th still image (counting from 1) is held out: one in every 1/`fraction`.
pub fn image_held_out(index: usize, fraction: f64) -> bool {
    fraction > 0.0 && index.is_multiple_of((1.0 / fraction).round().max(2.0) as usize)
}

/// Splits the frames of `inputs` (videos, images, folders) into training and held-out frames.
pub fn split_frames(inputs: &[PathBuf], sampling: &Sampling) -> Result<Split> {
    if !(0.0..1.0).contains(&sampling.fraction) {
        bail!("the holdout fraction must be in [0, 1), not {}", sampling.fraction);
    }
    let (mut train, mut train_source, mut holdout) = (Vec::new(), Vec::new(), Vec::new());
    let mut record = Holdout::new();
    let mut image_index = 0usize;
    let mut files = Vec::new();
    for (input, path) in inputs.iter().enumerate() {
        files.extend(data::expand_inputs(std::slice::from_ref(path))?.into_iter().map(|file| (input, file)));
    }
    for (input, path) in &files {
        let frames = data::load_frames(std::slice::from_ref(path), sampling.frames_per_video, sampling.frame_every)?;
        let frames: Vec<Tensor> = frames.iter().map(|f| data::shrink(f, sampling.max_side)).collect();
        if frames.len() > 1 {
            let first = first_held_out(frames.len(), sampling.fraction);
            record.insert(
                source_key(path),
                SourceSplit::Video {
                    first_held_out_frame: first,
                    frame_every: sampling.frame_every,
                    frames_per_video: Some(sampling.frames_per_video),
                },
            );
            train.extend(frames[..first].iter().map(Tensor::shallow_clone));
            train_source.resize(train.len(), *input);
            holdout.extend(frames[first..].iter().map(Tensor::shallow_clone));
        } else {
            image_index += 1;
            if image_held_out(image_index, sampling.fraction) {
                record.insert(source_key(path), SourceSplit::Image { held_out: true });
                holdout.extend(frames);
            } else {
                train.extend(frames);
                train_source.resize(train.len(), *input);
            }
        }
    }
    if train.is_empty() {
        bail!("no training frames left after the holdout");
    }
    Ok(Split { train, train_source, holdout, record })
}

/// Frames of `inputs` fair to evaluate a model on: held-out frames of its training sources
/// (sampled as in training) and every frame of other sources (sampled by `default`).
pub fn evaluation_frames(inputs: &[PathBuf], trained_on: &[String], record: &Holdout, default: &Sampling) -> Result<Vec<Tensor>> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or(p.to_path_buf());
    let trained: Vec<PathBuf> = trained_on.iter().map(|s| canonical(Path::new(s))).collect();
    let mut frames = Vec::new();
    for path in data::expand_inputs(inputs)? {
        let path = canonical(&path);
        let (first, every, count) = match record.get(&source_key(&path)) {
            Some(SourceSplit::Video { first_held_out_frame, frame_every, frames_per_video }) => {
                (*first_held_out_frame, *frame_every, frames_per_video.unwrap_or(default.frames_per_video))
            }
            Some(SourceSplit::Image { held_out: true }) => (0, default.frame_every, default.frames_per_video),
            // A training source with no held-out part: nothing of it is fair to evaluate on.
            _ if trained.iter().any(|t| path.starts_with(t)) => continue,
            _ => (0, default.frame_every, default.frames_per_video),
        };
        frames.extend(data::load_frames(std::slice::from_ref(&path), count, every)?.into_iter().skip(first));
    }
    if frames.is_empty() {
        bail!("no frames to evaluate on (all inputs were training data)");
    }
    Ok(frames)
}

/// The frames that trained a model on `trained_on` (sampled and shrunk to `max_side` as in
/// training): the counterpart of [`evaluation_frames`].
pub fn training_frames(trained_on: &[String], record: &Holdout, max_side: i64) -> Result<Vec<Tensor>> {
    let sources: Vec<PathBuf> = trained_on.iter().map(PathBuf::from).collect();
    let mut frames = Vec::new();
    for path in data::expand_inputs(&sources)? {
        match record.get(&source_key(&path)) {
            Some(SourceSplit::Video { first_held_out_frame, frame_every, .. }) => {
                frames.extend(data::load_frames(std::slice::from_ref(&path), *first_held_out_frame, *frame_every)?);
            }
            Some(SourceSplit::Image { held_out: true }) => {}
            _ => frames.extend(data::load_frames(std::slice::from_ref(&path), 1, 1)?),
        }
    }
    if frames.is_empty() {
        bail!("none of the model's training frames could be read");
    }
    Ok(frames.iter().map(|f| data::shrink(f, max_side)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files")
    }

    #[test]
    fn the_last_frames_of_a_video_and_one_image_in_n_are_held_out() {
        assert_eq!(first_held_out(40, 0.1), 36);
        assert_eq!(first_held_out(13, 0.1), 11);
        assert_eq!(first_held_out(5, 0.0), 5);
        let held: Vec<usize> = (1..=20).filter(|&i| image_held_out(i, 0.1)).collect();
        assert_eq!(held, [10, 20]);
        assert!(!(1..=20).any(|i| image_held_out(i, 0.0)));
    }

    #[test]
    fn a_record_round_trips_and_reads_files_written_before_frames_per_video() {
        let old = r#"{"data/clip.avi": {"first_held_out_frame": 12, "frame_every": 20}, "home.jpg": {"held_out": true}}"#;
        let record: Holdout = serde_json::from_str(old).unwrap();
        assert_eq!(
            record["data/clip.avi"],
            SourceSplit::Video { first_held_out_frame: 12, frame_every: 20, frames_per_video: None }
        );
        assert_eq!(record["home.jpg"], SourceSplit::Image { held_out: true });
        let again: Holdout = serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(again, record);
    }

    #[test]
    fn evaluation_sees_exactly_the_held_out_images_of_a_training_folder() {
        let folder = fixtures();
        let sampling = Sampling { frames_per_video: 1, frame_every: 1, max_side: 0, fraction: 0.25 };
        let split = split_frames(std::slice::from_ref(&folder), &sampling).unwrap();
        let images = data::expand_inputs(std::slice::from_ref(&folder)).unwrap();
        assert_eq!(split.train.len() + split.holdout.len(), images.len());
        assert_eq!(split.record.len(), images.len() / 4, "one image in four is held out");
        let trained_on = vec![folder.to_string_lossy().to_string()];
        let frames = evaluation_frames(std::slice::from_ref(&folder), &trained_on, &split.record, &sampling).unwrap();
        assert_eq!(frames.len(), split.holdout.len());
        for (a, b) in frames.iter().zip(&split.holdout) {
            assert!(a.equal(b), "evaluation frames differ from the held-out frames");
        }
    }

    #[test]
    fn training_frames_are_the_split_s_training_frames_at_the_size_they_trained_at() {
        let folder = fixtures();
        let trained_on = vec![folder.to_string_lossy().to_string()];
        for max_side in [0, 24] {
            let sampling = Sampling { frames_per_video: 1, frame_every: 1, max_side, fraction: 0.25 };
            let split = split_frames(std::slice::from_ref(&folder), &sampling).unwrap();
            let frames = training_frames(&trained_on, &split.record, max_side).unwrap();
            assert_eq!(frames.len(), split.train.len());
            for (a, b) in frames.iter().zip(&split.train) {
                assert!(a.equal(b), "training frames differ from the split's (max side {max_side})");
            }
        }
    }
}
