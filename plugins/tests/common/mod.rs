//! Helpers shared by the plugin's integration tests: the plugin, the shipped model, real frames,
//! harnesses and pipelines run to EOS.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Once;

use gst::prelude::*;
use gst_check::Harness;
use tch::Tensor;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstlcm::plugin_register_static().expect("lcm plugin registers");
    });
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped model (`LCM_TEST_MODEL` may point elsewhere while developing).
pub fn model() -> String {
    std::env::var("LCM_TEST_MODEL")
        .unwrap_or_else(|_| root().join("models/natural-small.safetensors").to_string_lossy().to_string())
}

/// A scratch path in Cargo's directory for test output: fixed names, so runs overwrite each other.
pub fn temp_path(name: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = if std::fs::create_dir_all(target).is_ok() { target.to_path_buf() } else { std::env::temp_dir() };
    dir.join(format!("lcm-{name}"))
}

/// A real vtest.avi frame (from the test fixtures) shrunk to `width`×`height`, `(3, H, W)`.
pub fn real_frame(index: usize, width: i64, height: i64) -> Tensor {
    let frame = lcm::imageio::load_rgb(&root().join(format!("tests/files/vtest_{index:02}.png"))).unwrap();
    lcm::degrade::lanczos_resize(&frame.unsqueeze(0), height, width).squeeze_dim(0).clamp(0.0, 1.0)
}

pub fn caps(format: &str, width: i64, height: i64) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", format)
        .field("width", width as i32)
        .field("height", height as i32)
        .field("framerate", gst::Fraction::new(25, 1))
        .build()
}

pub fn rgb_buffer(image: &Tensor, pts: u64) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(lcm::imageio::to_interleaved(image));
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(pts * 40));
    buffer
}

pub fn gray_buffer(image: &Tensor) -> gst::Buffer {
    let gray = lcm::degrade::gray(&image.unsqueeze(0)).squeeze_dim(0);
    gst::Buffer::from_mut_slice(lcm::imageio::to_interleaved(&gray))
}

/// Output buffer → `(3, H, W)` (packed RGB).
pub fn rgb_image(buffer: &gst::Buffer, width: i64, height: i64) -> Tensor {
    let map = buffer.map_readable().unwrap();
    lcm::imageio::from_interleaved(map.as_slice(), height, width, 3)
}

/// A harness around one element given as a launch fragment, e.g. `lcmsuperres scale=2`.
pub fn harness(description: &str) -> Harness {
    init();
    let element = gst::parse::launch(&format!("{description} model={} device=cpu", model())).unwrap();
    Harness::with_element(&element, Some("sink"), Some("src"))
}

/// Plays to EOS; the error message from the bus if anything fails (state changes included).
pub fn run_to_eos(pipeline: &gst::Element) -> Result<(), String> {
    run_to_eos_within(pipeline, 300)
}

/// [`run_to_eos`] with a time limit in seconds: a hang fails instead of blocking the suite.
pub fn run_to_eos_within(pipeline: &gst::Element, seconds: u64) -> Result<(), String> {
    let bus = pipeline.bus().unwrap();
    let started = pipeline.set_state(gst::State::Playing);
    let result = loop {
        if started.is_err() && bus.peek().is_none() {
            break Err("state change failed without an error message".into());
        }
        match bus.timed_pop(gst::ClockTime::from_seconds(seconds)) {
            None => break Err("timed out".into()),
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) => break Err(format!("{} ({:?})", e.error(), e.debug())),
                _ => {}
            },
        }
    };
    pipeline.set_state(gst::State::Null).unwrap();
    result
}

/// Plays `launch` (ending in `appsink name=sink`) to EOS; every sample the sink received.
pub fn collect_outputs(launch: &str) -> Result<Vec<gst::Sample>, String> {
    collect_samples(&gst::parse::launch(launch).map_err(|e| e.to_string())?)
}

/// Plays a pipeline with an `appsink` named `sink` to EOS; every sample the sink received.
pub fn collect_samples(pipeline: &gst::Element) -> Result<Vec<gst::Sample>, String> {
    let sink = pipeline.clone().downcast::<gst::Bin>().unwrap().by_name("sink").unwrap();
    let sink = sink.downcast::<gst_app::AppSink>().unwrap();
    let outputs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = outputs.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                seen.lock().unwrap().push(s.pull_sample().map_err(|_| gst::FlowError::Eos)?);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    run_to_eos(pipeline)?;
    let outputs = outputs.lock().unwrap().clone();
    Ok(outputs)
}
