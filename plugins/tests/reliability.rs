//! What a user types never crashes a host, hangs a pipeline or is ignored in silence: bad values
//! fail the start with a message naming them, statistics answer while a frame restores, a
//! hostile host application survives every property at its extremes.

use std::time::{Duration, Instant};

use gst::prelude::*;
use tch::{Kind, Tensor};

mod common;
use common::*;

/// Runs `element` on a few 40×40 test frames and returns the error the pipeline ends with.
fn start_error(element: &str) -> String {
    init();
    // The test's own settings go first, so the values under test override them.
    let (name, properties) = element.split_once(' ').unwrap_or((element, ""));
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=40,height=40 ! {name} model={} device=cpu iterations=1 {properties} ! fakesink",
        model()
    ))
    .unwrap_or_else(|e| panic!("{element}: {e}"));
    match run_to_eos_within(&pipeline, 60) {
        Ok(()) => panic!("{element} ran to the end instead of failing"),
        Err(e) => e,
    }
}

#[test]
fn bad_values_fail_the_start_with_a_message_naming_them() {
    for (element, needle) in [
        ("lcminpaint mask-rect=0,0,4,4 device=garbage", "garbage"),
        ("lcmcolorize device=cuda:x", "cuda:x"),
        ("lcminpaint mask-rect=a,b,c,d", "mask-rect 'a,b,c,d'"),
        ("lcminpaint mask-rect=-5,0,10,10", "mask-rect '-5,0,10,10'"),
        ("lcminpaint mask-rect=30,30,20,20", "mask-rect 30,30,20,20 does not fit in the 40×40 frame"),
        ("lcminpaint mask-rect=0,0,4,4 tile-overlap=63", "tile-overlap 63"),
        ("lcmsuperres scale=2 tile-overlap=33", "tile-overlap 33"),
        ("lcmcolorize precision=half", "precision"),
    ] {
        let error = start_error(element);
        assert!(error.contains(needle), "{element}: error '{error}' does not say '{needle}'");
        assert!(!error.contains("timed out"), "{element} hung");
    }
}

#[test]
fn a_bus_handler_that_reads_properties_when_a_bad_value_is_posted_does_not_deadlock() {
    init();
    let pipeline = gst::parse::launch("videotestsrc ! lcminpaint name=inpaint ! fakesink").unwrap().downcast::<gst::Pipeline>().unwrap();
    let element = pipeline.by_name("inpaint").unwrap();
    let reader = element.clone();
    // A synchronous handler runs on the thread that posts, inside set_property.
    pipeline.bus().unwrap().set_sync_handler(move |_, message| {
        if let gst::MessageView::Warning(_) = message.view() {
            let _ = reader.property::<Option<String>>("mask-rect");
        }
        gst::BusSyncReply::Drop
    });
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        element.set_property_from_str("mask-rect", "a,b,c,d");
        let _ = done.send(());
    });
    assert!(finished.recv_timeout(Duration::from_secs(10)).is_ok(), "setting a bad value deadlocked");
}

#[test]
fn a_missing_or_unreadable_mask_fails_the_start_naming_the_file_every_time() {
    let not_an_image = temp_path("not-a-mask.png");
    std::fs::write(&not_an_image, b"not a png").unwrap();
    let missing = "/nonexistent/damage.png".to_string();
    // The hang this guards against happened in about one run in four.
    for round in 0..8 {
        let path = if round % 2 == 0 { missing.clone() } else { not_an_image.to_string_lossy().to_string() };
        let error = start_error(&format!("lcminpaint mask={path}"));
        assert!(error.contains(&path) && error.contains("mask"), "round {round}: error '{error}' does not name the mask {path}");
    }
}

#[test]
fn superres_scale_lists_2_4_8_and_rejects_anything_else() {
    init();
    let element = gst::ElementFactory::make("lcmsuperres").build().unwrap();
    let pspec = element.find_property("scale").unwrap();
    let pspec = pspec.downcast_ref::<glib::ParamSpecEnum>().expect("scale is an enum");
    let values: Vec<i32> = pspec.enum_class().values().iter().map(|v| v.value()).collect();
    assert_eq!(values, [2, 4, 8]);
    assert!(gst::parse::launch("videotestsrc ! lcmsuperres scale=3 ! fakesink").is_err(), "scale=3 was accepted");
    let element = gst::parse::launch("lcmsuperres scale=8").unwrap();
    let scale = element.property_value("scale");
    assert_eq!(glib::EnumValue::from_value(&scale).unwrap().1.nick(), "8");
}

#[test]
fn every_numeric_property_at_its_maximum_is_safe_to_report() {
    init();
    for name in ["lcminpaint", "lcmsuperres", "lcmcolorize"] {
        let element = gst::ElementFactory::make(name).build().unwrap();
        let budget = element.find_property("max-time-per-frame").unwrap();
        let max = budget.downcast_ref::<glib::ParamSpecUInt64>().unwrap().maximum();
        assert!(gst::ClockTime::try_from(Duration::from_millis(max)).is_ok(), "{name}: {max} ms is not a ClockTime");
        let overlap = element.find_property("tile-overlap").unwrap();
        assert!(overlap.downcast_ref::<glib::ParamSpecUInt>().unwrap().maximum() <= 64, "{name}: tile-overlap allows more than a small tile");
    }
    // The largest budget runs, and the element's latency answer includes it.
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=16,height=12 ! lcmsuperres name=sr scale=2 iterations=1 max-time-per-frame=3600000 model={} device=cpu ! fakesink",
        model()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let (_, state, _) = pipeline.state(gst::ClockTime::from_seconds(60));
    assert_eq!(state, gst::State::Paused);
    let element = pipeline.clone().downcast::<gst::Bin>().unwrap().by_name("sr").unwrap();
    let mut query = gst::query::Latency::new();
    assert!(element.static_pad("src").unwrap().query(&mut query));
    assert!(query.result().1 >= gst::ClockTime::from_seconds(3600), "latency {:?} misses the budget", query.result());
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn keep_known_false_lets_the_model_redraw_known_pixels_and_true_keeps_them() {
    let (w, h) = (64, 48);
    let truth = real_frame(4, w, h);
    let input = lcm::imageio::to_interleaved(&truth);
    let outputs: Vec<Vec<u8>> = [true, false]
        .iter()
        .map(|keep| {
            let mut harness = harness(&format!("lcminpaint mask-rect=24,16,16,16 iterations=5 keep-known={keep} lookahead=0"));
            harness.set_src_caps(caps("RGB", w, h));
            let out = harness.push_and_pull(gst::Buffer::from_slice(input.clone())).unwrap();
            out.map_readable().unwrap().to_vec()
        })
        .collect();
    let inside = |i: usize| {
        let (x, y) = ((i / 3) % w as usize, (i / 3) / w as usize);
        (24..40).contains(&x) && (16..32).contains(&y)
    };
    let changed_known = |out: &[u8]| out.iter().zip(&input).enumerate().filter(|(i, (a, b))| !inside(*i) && a != b).count();
    assert_eq!(changed_known(&outputs[0]), 0, "keep-known=true changed known pixels");
    assert!(changed_known(&outputs[1]) > 1000, "keep-known=false left the known pixels as they were");
}

#[test]
fn statistics_and_latency_answer_while_a_frame_restores() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=32,height=32 ! lcmsuperres name=sr scale=2 iterations=200 model={} device=cpu ! fakesink async=false",
        model()
    ))
    .unwrap();
    let element = pipeline.clone().downcast::<gst::Bin>().unwrap().by_name("sr").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let started = Instant::now();
    let (mut slowest, mut reads) = (Duration::ZERO, 0);
    while bus.pop_filtered(&[gst::MessageType::Eos, gst::MessageType::Error]).is_none() {
        let t = Instant::now();
        let _: f64 = element.property("last-loss");
        let _: bool = element.property("last-warm-started");
        let mut query = gst::query::Latency::new();
        let _ = element.static_pad("src").unwrap().query(&mut query);
        slowest = slowest.max(t.elapsed());
        reads += 1;
        std::thread::sleep(Duration::from_millis(5));
        // A hang guard only: beside the hostile host's subprocess on a loaded 2-core machine these
        // two frames once took over 120 s (3 s alone).
        assert!(started.elapsed() < Duration::from_secs(600), "the pipeline did not finish");
    }
    let total = started.elapsed();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(total > Duration::from_millis(400), "frames restored too fast ({total:?}) to test anything");
    assert!(slowest < Duration::from_millis(100), "a statistics read waited {slowest:?} (of {total:?} for two frames, {reads} reads)");
}

#[test]
fn shutting_down_stops_a_long_restoration_promptly() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=32 ! lcmsuperres scale=2 iterations=100000 model={} device=cpu ! fakesink",
        model()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "stopping took {:?}", t.elapsed());
}

#[test]
fn a_live_pipeline_keeps_every_frame_of_a_slow_element_at_default_settings() {
    init();
    // About 0.3 s per frame against 0.1 s between frames: with QoS on (as in GStreamer's other
    // filters) the element dropped 8 of these 10 frames behind a QoS-enabled sink.
    let samples = collect_outputs(&format!(
        "videotestsrc is-live=true num-buffers=10 ! video/x-raw,format=RGB,width=64,height=48,framerate=10/1 ! \
         lcminpaint mask-rect=8,8,20,20 iterations=60 model={} device=cpu ! appsink name=sink sync=true qos=true",
        model()
    ))
    .unwrap();
    assert_eq!(samples.len(), 10, "frames were dropped");
}

/// A host application that sets every property of every element to its extremes and to bad
/// values, feeds bad models and masks, and reads properties from another thread while frames
/// restore. Run in a subprocess by the test below, so an abort shows as a failed exit.
#[test]
#[ignore = "run in a subprocess by a_hostile_host_application_never_aborts"]
fn hostile_host_body() {
    init();
    let mask = temp_path("host-mask.png");
    lcm::imageio::save(&Tensor::zeros([1, 8, 8], (Kind::Float, tch::Device::Cpu)), &mask).unwrap();
    let strings = ["", "garbage", "/nonexistent/file", "-1,-1,-1,-1", "0,0,100000,100000", "1,1,2,2", mask.to_str().unwrap()];
    for name in ["lcminpaint", "lcmsuperres", "lcmcolorize"] {
        let probe = gst::ElementFactory::make(name).build().unwrap();
        for pspec in probe.list_properties() {
            if !pspec.flags().contains(glib::ParamFlags::WRITABLE) || pspec.owner_type() != probe.type_() {
                continue;
            }
            let mut values: Vec<glib::Value> = Vec::new();
            if let Some(p) = pspec.downcast_ref::<glib::ParamSpecUInt>() {
                values.extend([p.minimum(), p.maximum()].map(|v| v.to_value()));
            } else if let Some(p) = pspec.downcast_ref::<glib::ParamSpecUInt64>() {
                values.extend([p.minimum(), p.maximum()].map(|v| v.to_value()));
            } else if let Some(p) = pspec.downcast_ref::<glib::ParamSpecDouble>() {
                values.extend([p.minimum(), p.maximum()].map(|v| v.to_value()));
            } else if pspec.value_type() == String::static_type() {
                values.extend(strings.iter().map(|s| s.to_value()));
            } else if pspec.value_type() == bool::static_type() {
                values.extend([true, false].map(|v| v.to_value()));
            } else {
                values.push(pspec.default_value().clone());
            }
            for value in values {
                let pipeline = gst::parse::launch(&format!(
                    "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=24,height=16 ! {name} name=e mask-rect=1,1,4,4 model={} device=cpu ! fakesink",
                    model()
                ))
                .or_else(|_| {
                    gst::parse::launch(&format!(
                        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=24,height=16 ! {name} name=e model={} device=cpu ! fakesink",
                        model()
                    ))
                })
                .unwrap();
                let element = pipeline.clone().downcast::<gst::Bin>().unwrap().by_name("e").unwrap();
                element.set_property_from_value(pspec.name(), &value);
                let reader = {
                    let element = element.clone();
                    std::thread::spawn(move || {
                        for _ in 0..40 {
                            for p in element.list_properties() {
                                let _ = element.property_value(p.name());
                            }
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    })
                };
                let _ = run_to_eos_within(&pipeline, 2); // errors are fine; aborts and hangs are not
                reader.join().expect("the property reader panicked");
            }
        }
    }
    println!("hostile host survived");
}

#[test]
fn a_hostile_host_application_never_aborts() {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args(["--ignored", "--exact", "hostile_host_body", "--nocapture", "--test-threads=1"])
        .env("GST_DEBUG", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("hostile host survived"),
        "the host died ({:?}):\n{}\n{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr).lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
}
