//! The `lcm` command line on real frames: train, resume, restore, eval, and its errors.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn lcm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lcm")).args(args).env("CUDA_VISIBLE_DEVICES", "").output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = lcm(args);
    assert!(out.status.success(), "lcm {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Fails with exactly one line on stderr, naming `needle`.
fn fails(args: &[&str], needle: &str) {
    let out = lcm(args);
    assert!(!out.status.success(), "lcm {args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "lcm {args:?}: '{err}' should mention '{needle}'");
    assert_eq!(err.trim().lines().count(), 1, "lcm {args:?} printed more than one line: {err}");
}

fn train_args<'a>(out: &'a str, steps: &'a str, files: &'a str) -> Vec<&'a str> {
    vec![
        "train", "--data", files, "--preset", "tiny", "--max-side", "96", "--patches", "16", "--batch", "8",
        "--steps-per-batch", "20", "--steps", steps, "--checkpoint-every", "20", "--holdout", "0.2",
        "--device", "cpu", "--seed", "3", "--out", out,
    ]
}

#[test]
fn train_resume_restore_eval_info() {
    let files = common::files();
    let files = files.to_str().unwrap();
    let dir = common::temp_path("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let straight = dir.join("straight.safetensors");
    let resumed = dir.join("resumed.safetensors");
    let (straight_s, resumed_s) = (straight.to_str().unwrap(), resumed.to_str().unwrap());

    ok(&train_args(straight_s, "400", files));
    // Both health figures on the held-out patches — expressing them and restoring them from ×4
    // downsampling — reach the card and every row of the health log.
    let health = lcm::model::Model::load(&straight, tch::Device::Cpu).unwrap().summary.health.unwrap();
    assert!(health.representation.is_some_and(f64::is_finite) && health.superres.is_some_and(f64::is_finite), "{health:?}");
    let log = std::fs::read_to_string(dir.join("straight.health.tsv")).unwrap();
    let column = log.lines().next().unwrap().split('\t').position(|c| c == "superres_x4_db").expect("a ×4 SR column");
    assert!(log.lines().skip(1).all(|row| row.split('\t').nth(column).is_some_and(|v| v.parse::<f64>().is_ok())), "{log}");
    ok(&train_args(resumed_s, "200", files));
    let mut again = train_args(resumed_s, "400", files);
    again.push("--resume");
    ok(&again);
    // Resuming continues bit-compatibly: the same weights as one uninterrupted run.
    let a = lcm::tensor_file::load(&straight, tch::Device::Cpu).unwrap().0;
    let b = lcm::tensor_file::load(&resumed, tch::Device::Cpu).unwrap().0;
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs after resume");
    }
    for suffix in [".json", ".loss.png", ".recon.png", ".ckpt.safetensors"] {
        assert!(dir.join(format!("straight{suffix}")).exists(), "train did not write {suffix}");
    }

    let info = ok(&["info", straight_s]);
    assert!(info.contains("tiny") && info.contains("holdout"), "{info}");

    // Exemplars fitted to the training frames land in the file with their card.
    let with_exemplars = dir.join("exemplars.safetensors");
    ok(&["exemplars", "--model", straight_s, "--out", with_exemplars.to_str().unwrap(), "--count", "8", "--steps", "20", "--device", "cpu"]);
    let model = lcm::model::Model::load(&with_exemplars, tch::Device::Cpu).unwrap();
    assert_eq!(model.exemplars.as_ref().map(|e| e.size()[0]), Some(8));
    let card = model.summary.exemplars.expect("the card records the exemplars");
    assert!(card.count == 8 && card.representation.is_some_and(f64::is_finite), "{card:?}");

    // Adapting to footage with a damaged rectangle writes a model the other commands load,
    // whose card names the prior it came from.
    let adapted = dir.join("adapted.safetensors");
    let adapted_s = adapted.to_str().unwrap();
    let clip = Path::new(files).join("vtest_00.png");
    ok(&[
        "adapt", "--model", straight_s, "--data", files, "--mask", "rect:40,30,50,40", "--patches", "16", "--batch", "8",
        "--steps", "40", "--checkpoint-every", "20", "--device", "cpu", "--out", adapted_s,
    ]);
    let info = ok(&["info", adapted_s]);
    assert!(info.contains("adapted_from") && info.contains(straight_s), "{info}");
    fails(&["adapt", "--model", straight_s, "--data", clip.to_str().unwrap(), "--minutes", "0", "--out", adapted_s], "--minutes");

    let out_png = dir.join("restored.png");
    let sbs = dir.join("side.png");
    let photo = Path::new(files).join("fruits.png");
    ok(&[
        "restore", "--model", straight_s, "--task", "inpaint", "--mask", "rect:20,20,30,30", "--steps", "20", "--device", "cpu",
        photo.to_str().unwrap(), out_png.to_str().unwrap(), "--side-by-side", sbs.to_str().unwrap(),
    ]);
    let restored = lcm::imageio::load_rgb(&out_png).unwrap();
    assert_eq!(restored.size(), lcm::imageio::load_rgb(&photo).unwrap().size());
    assert!(sbs.exists());

    let report = dir.join("report.json");
    let grid = dir.join("grid.png");
    ok(&[
        "eval", "--model", straight_s, "--task", "inpaint", "--input", files, "--frames", "6", "--steps", "150",
        "--methods", "input,lcm,classical", "--device", "cpu", "--json", report.to_str().unwrap(), "--grid", grid.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["task"], "inpaint");
    assert_eq!(report["frames"], 6);
    for method in ["input", "lcm", "classical"] {
        for key in ["psnr", "ssim", "lpips", "vgg", "seconds_per_frame"] {
            let value = report["methods"][method][key].as_f64();
            assert!(value.is_some_and(f64::is_finite), "{method}.{key} is {value:?}, not a number");
        }
    }
    let psnr = |m: &str| report["methods"][m]["psnr"].as_f64().unwrap();
    assert!(psnr("lcm") > psnr("input") + 3.0, "LCM hole PSNR {} vs the degraded input {}", psnr("lcm"), psnr("input"));
    assert!(grid.exists());
}

#[test]
fn bad_input_gives_one_clear_line_and_a_failure_code() {
    let dir = common::temp_path("cli-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x10\0\0\0\0\0\0\0{\"broken\": tru").unwrap();
    let not_video = dir.join("clip.avi");
    std::fs::write(&not_video, b"this is not a video").unwrap();
    let photo = common::files().join("fruits.png");
    let (photo, out) = (photo.to_str().unwrap(), dir.join("o.png"));
    let out = out.to_str().unwrap();

    fails(&["info", corrupt.to_str().unwrap()], "damaged or truncated");
    fails(&["restore", "--model", "/no/such/model.safetensors", "--task", "colorize", photo, out], "cannot read");
    fails(&["train", "--data", not_video.to_str().unwrap(), "--preset", "tiny", "--out", out], "cannot decode");
    fails(&["train", "--data", "/no/such/dir", "--preset", "tiny", "--out", out], "does not exist");
    let model = common::trained_tiny().0;
    let model = model.to_str().unwrap();
    fails(&["restore", "--model", model, "--task", "inpaint", "--mask", "rect:1,2,3", photo, out], "four integers");
    fails(&["restore", "--model", model, "--task", "inpaint", photo, out], "needs --mask");
    fails(&["restore", "--model", model, "--task", "superres", "--scale", "3", photo, out], "scale must be 2, 4 or 8");
}

#[test]
fn arguments_that_cannot_work_fail_before_any_work_naming_the_argument() {
    let dir = common::temp_path("cli-args");
    std::fs::create_dir_all(&dir).unwrap();
    let files = common::files();
    let files = files.to_str().unwrap();
    let out = dir.join("m.safetensors");
    let out = out.to_str().unwrap();
    // The training arguments with `flag` set to `value` (as `--flag=value`, so that clap does
    // not take a negative value for a flag).
    let with = |flag: &str, value: &str| -> Vec<String> {
        let base = train_args(out, "20", files);
        let mut args: Vec<String> = Vec::new();
        let mut i = 0;
        while i < base.len() {
            if base[i] == flag {
                i += 2;
                continue;
            }
            args.push(base[i].to_string());
            i += 1;
        }
        args.push(format!("{flag}={value}"));
        args
    };
    for (flag, value) in [("--checkpoint-every", "0"), ("--patches", "0"), ("--steps", "0"), ("--batch", "0"), ("--lr", "-0.1"), ("--phi-lr", "nan")] {
        let args = with(flag, value);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = std::time::Instant::now();
        fails(&args, flag);
        assert!(started.elapsed().as_secs() < 10, "{flag} {value} was rejected only after {:?}", started.elapsed());
    }
    // Outputs are checked before training or evaluating, and name the path.
    let folder = dir.to_str().unwrap();
    fails(&train_args(folder, "20", files), folder);
    assert!(!dir.with_extension("partial").exists(), "a failed train left a partial file");
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, b"").unwrap();
    let report = blocker.join("report.json");
    let model = common::trained_tiny().0;
    let started = std::time::Instant::now();
    fails(
        &["eval", "--model", model.to_str().unwrap(), "--task", "inpaint", "--input", files, "--device", "cpu", "--json", report.to_str().unwrap()],
        report.to_str().unwrap(),
    );
    assert!(started.elapsed().as_secs() < 10, "eval failed on its --json path only after {:?}", started.elapsed());
}

#[test]
fn the_loader_survives_thousands_of_mutated_model_files() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/natural-small.safetensors");
    let report = ok(&["bench", "fuzz-load", "--model", shipped.to_str().unwrap(), "--cases", "1500", "--seed", "11"]);
    assert!(report.contains("1500 cases") && report.contains(" 0 panics"), "{report}");
    // Every kind of mutation was tried, and some files still loaded (the fuzz reaches the model code).
    for kind in ["header bytes", "header numbers", "truncation", "data bytes", "length prefix", "config and summary values"] {
        assert!(report.contains(&format!("| {kind} |")), "no {kind} mutations: {report}");
    }
}
