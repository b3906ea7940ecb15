//! Fixtures shared by the integration tests: real frames and a tiny model trained on them once.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lcm::train::{TrainConfig, Trainer};
use lcm::{Model, ModelConfig, data, imageio};
use tch::{Device, Tensor};

/// The test data; `LCM_TEST_FILES` overrides where a test binary runs away from its checkout.
pub fn files() -> PathBuf {
    std::env::var_os("LCM_TEST_FILES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files"))
}

/// Consecutive real frames of vtest.avi (192×144).
pub fn vtest_frames() -> Vec<Tensor> {
    (0..8).map(|i| imageio::load_rgb(&files().join(format!("vtest_{i:02}.png"))).unwrap()).collect()
}

/// 16 real 32×32 patches from the fixture frames and photos, shrunk so patches hold structure.
pub fn tiny_patches() -> Tensor {
    let frames = data::load_frames(&[files()], 1, 1).unwrap();
    let frames: Vec<Tensor> = frames.iter().map(|f| data::shrink(f, 96)).collect();
    data::random_patches(&frames, 32, 16, 1).unwrap()
}

pub fn tiny_train_config(steps: usize) -> TrainConfig {
    TrainConfig { steps, batch: 8, steps_per_batch: 20, seed: 3, ..TrainConfig::default() }
}

/// A `tiny` model trained for 600 steps on [`tiny_patches`]: its file, its patches and its
/// loss trace (trained once per test binary).
pub fn trained_tiny() -> (PathBuf, Tensor, Vec<f64>) {
    static TRAINED: OnceLock<(PathBuf, Vec<f32>, Vec<f64>)> = OnceLock::new();
    let (path, patches, losses) = TRAINED.get_or_init(|| {
        let patches = tiny_patches();
        let model = Model::new(ModelConfig::tiny(), Device::Cpu, 1).unwrap();
        let mut trainer = Trainer::new(model, patches.shallow_clone(), tiny_train_config(600)).unwrap();
        trainer.run(|_, _| false).unwrap();
        let path = temp_path("tiny.safetensors");
        trainer.model.save(&path, false).unwrap();
        (path, Vec::<f32>::try_from(patches.flatten(0, -1)).unwrap(), trainer.losses.clone())
    });
    (path.clone(), Tensor::from_slice(patches).view([-1, 3, 32, 32]), losses.clone())
}

/// A scratch path in Cargo's directory for test output (the system's when a test binary runs
/// away from its build tree): fixed names, so each run overwrites the last instead of piling up.
pub fn temp_path(name: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = if std::fs::create_dir_all(target).is_ok() { target.to_path_buf() } else { std::env::temp_dir() };
    dir.join(format!("lcm-{name}"))
}
