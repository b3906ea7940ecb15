//! The core library on real data: model maths, parity with PyTorch, training, restoration.

mod common;

use std::collections::HashMap;
use std::process::Command;

use lcm::restore::{TileGrid, restore_with};
use lcm::{Engine, Model, ModelConfig, Observation, RestoreOptions, Task, degrade, loss, metrics, tensor_file};
use tch::{Device, Kind, Tensor};

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    f64::try_from((a - b).abs().max()).unwrap()
}

#[test]
fn batched_phi_equals_one_image_at_a_time() {
    let model = Model::new(ModelConfig::tiny(), Device::Cpu, 5).unwrap();
    let phi = model.initial_phi(5, 9);
    let _guard = tch::no_grad_guard();
    let batched = model.latent.forward(&model.noise, &phi);
    for i in 0..5 {
        let single = model.latent.forward(&model.noise, &phi.narrow(0, i, 1));
        assert!(max_abs_diff(&batched.narrow(0, i, 1), &single) < 1e-5);
    }
    let rendered = model.render(&phi, false);
    let single = model.render(&phi.narrow(0, 3, 1), false);
    assert!(max_abs_diff(&rendered.narrow(0, 3, 1), &single) < 1e-5);
}

/// Restoration renders with BatchNorm folded into the convs: same image, same gradient to φ.
#[test]
fn frozen_model_renders_and_differentiates_like_the_trained_one() {
    let (path, _, _) = common::trained_tiny();
    let trained = Model::load(&path, Device::Cpu).unwrap();
    let frozen = Model::load(&path, Device::Cpu).unwrap().frozen();
    let phi = trained.initial_phi(4, 3);
    let weights = Tensor::rand([4, 3, 32, 32], (Kind::Float, Device::Cpu));
    let render_and_grad = |model: &Model| {
        tch::with_grad(|| {
            let phi = phi.copy().set_requires_grad(true);
            let image = model.render(&phi, false);
            let grad = Tensor::run_backward(&[(&image * &weights).sum(Kind::Float)], &[&phi], false, false);
            (image.detach(), grad[0].shallow_clone())
        })
    };
    let (image, grad) = render_and_grad(&trained);
    let (folded_image, folded_grad) = render_and_grad(&frozen);
    assert!(max_abs_diff(&image, &folded_image) < 1e-5, "folded render differs by {}", max_abs_diff(&image, &folded_image));
    let scale = f64::try_from(grad.abs().max()).unwrap();
    assert!(scale > 0.0);
    assert!(max_abs_diff(&grad, &folded_grad) < 1e-3 * scale, "folded gradient differs by {} (scale {scale})", max_abs_diff(&grad, &folded_grad));
    // Training-mode renders never use the folded weights.
    let _guard = tch::no_grad_guard();
    assert!(max_abs_diff(&trained.render(&phi, true), &frozen.render(&phi, true)) < 1e-6);
}

#[test]
fn presets_have_the_reference_shapes() {
    let reference = ModelConfig::ref128();
    assert_eq!((reference.latent_depth(), reference.latent_size(), reference.noise_size()), (64, 32, 40));
    let model = Model::new(reference, Device::Cpu, 0).unwrap();
    // The reference f has 24,336 conv weights and 112 BatchNorm affine parameters.
    assert_eq!(model.latent.constrained_count(), 24_336);
    assert_eq!(model.latent.param_count(), 24_336 + 112);
    let params = model.generator_param_count() as f64;
    assert!((params / 38.7e6 - 1.0).abs() < 0.05, "ref128 generator has {params} parameters");
    let gmac = model.generator_macs() as f64 / 1e9;
    assert!((2.5..5.0).contains(&gmac), "ref128 forward is {gmac} GMAC");
}

/// The same file through the Rust model and an independent PyTorch / PIL reference.
#[test]
fn parity_with_pytorch_reference() {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let model = Model::new(ModelConfig::tiny(), Device::Cpu, 11).unwrap();
    let phi = model.initial_phi(3, 4);
    let residual = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)) * 0.1;
    let photo = lcm::imageio::load_rgb(&common::files().join("fruits.png")).unwrap();
    let photo = photo.narrow(1, 0, 128).narrow(2, 0, 128).contiguous();

    let model_file = common::temp_path("parity-model.safetensors");
    model.save(&model_file, false).unwrap();
    let (mut tensors, meta) = tensor_file::load(&model_file, Device::Cpu).unwrap();
    tensors.insert("phi".into(), phi.shallow_clone());
    tensors.insert("residual".into(), residual.shallow_clone());
    tensors.insert("photo".into(), photo.shallow_clone());
    let img_b = (&photo + Tensor::randn_like(&photo) * 0.05).clamp(0.0, 1.0);
    let region = lcm::mask::centre_hole(128, 128, 0.4).ones_like() - lcm::mask::centre_hole(128, 128, 0.4);
    tensors.insert("img_a".into(), photo.shallow_clone());
    tensors.insert("img_b".into(), img_b.shallow_clone());
    tensors.insert("region".into(), region.shallow_clone());
    let input = common::temp_path("parity-in.safetensors");
    let output = common::temp_path("parity-out.safetensors");
    tensor_file::save(&input, &tensors.into_iter().collect::<Vec<_>>(), meta, false).unwrap();
    let status = Command::new(&python)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/reference.py"))
        .args([&input, &output, &lcm::metrics::default_weights_path()])
        .status()
        .expect("run `scripts/setup.sh --reference` to install the PyTorch reference");
    assert!(status.success(), "the PyTorch reference failed");
    let (reference, _): (HashMap<String, Tensor>, _) = tensor_file::load(&output, Device::Cpu).unwrap();

    let _guard = tch::no_grad_guard();
    assert!(max_abs_diff(&model.latent.forward(&model.noise, &phi), &reference["latent"]) < 1e-4);
    assert!(max_abs_diff(&model.render(&phi, false), &reference["render_eval"]) < 1e-4);
    assert!(max_abs_diff(&model.render(&phi, true), &reference["render_train"]) < 1e-4);
    assert!(max_abs_diff(&loss::laplacian_l1(&residual), &reference["lap_l1"]) < 1e-5);
    assert!(max_abs_diff(&loss::mse(&residual), &reference["mse"]) < 1e-6);
    let perceptual = lcm::metrics::Perceptual::load_default().unwrap();
    let vgg = perceptual.vgg_distance(&photo, &img_b, Some(&region));
    let lpips = perceptual.lpips(&photo, &img_b);
    assert!((vgg - f64::try_from(reference["vgg_distance"].get(0)).unwrap()).abs() < 1e-4 * vgg.max(1.0), "VGG distance {vgg}");
    assert!((lpips - f64::try_from(reference["lpips"].get(0)).unwrap()).abs() < 1e-4, "LPIPS {lpips}");
    let downscales = [2, 4, 8].map(|s| (s, degrade::Downscale::Lanczos, format!("pil_down_{s}")));
    let others = [degrade::Downscale::Bicubic, degrade::Downscale::Area].map(|d| (4, d, format!("pil_down_{}_4", d.name())));
    for (scale, downscale, key) in downscales.into_iter().chain(others) {
        let ours = degrade::Task::SuperRes { scale, downscale }.degrade(&photo.unsqueeze(0)).squeeze_dim(0);
        let mean_abs = f64::try_from((&ours - &reference[&key]).abs().mean(Kind::Float)).unwrap();
        assert!(mean_abs < 1e-5, "×{scale} {downscale:?} differs from PIL by {mean_abs}");
    }
}

#[test]
fn training_lowers_the_loss_and_restores_a_training_image() {
    let (path, patches, losses) = common::trained_tiny();
    let head: f64 = losses[..10].iter().sum::<f64>() / 10.0;
    let tail: f64 = losses[losses.len() - 50..].iter().sum::<f64>() / 50.0;
    assert!(tail < head / 5.0, "training loss only fell from {head} to {tail}");

    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let truth = patches.get(0);
    let obs = Observation::of(Task::Inpaint, &truth, None);
    let opts = RestoreOptions { steps: 300, keep_known: false, ..Default::default() };
    let restored = restore_with(&model, &obs, &opts, None);
    let psnr = metrics::psnr(&restored.image, &truth, None);
    assert!(psnr > 25.0, "restoring a training image from the seed φ reached only {psnr} dB");
}

#[test]
fn adapting_learns_the_known_pixels_and_nothing_the_mask_hides() {
    use lcm::train::Trainer;
    let (path, _, _) = common::trained_tiny();
    // New footage: patches of the vtest frames with their right half damaged.
    let frames: Vec<Tensor> = common::vtest_frames().iter().map(|f| lcm::data::shrink(f, 72)).collect();
    let clean = lcm::data::random_patches(&frames, 32, 16, 5).unwrap();
    let known = Tensor::ones([16, 1, 32, 32], (Kind::Float, Device::Cpu));
    let _ = known.narrow(3, 16, 16).fill_(0.0);
    let hidden_changed = &clean * &known + (1.0 - &known) * Tensor::rand_like(&clean);
    let adapt = |patches: &Tensor| {
        let model = Model::load(&path, Device::Cpu).unwrap();
        let mut trainer = Trainer::new(model, patches.shallow_clone(), common::tiny_train_config(120))
            .unwrap()
            .with_known_pixels(known.shallow_clone())
            .unwrap();
        trainer.run(|_, _| false).unwrap();
        trainer
    };
    let (a, b) = (adapt(&clean), adapt(&hidden_changed));
    let head: f64 = a.losses[..10].iter().sum::<f64>() / 10.0;
    let tail: f64 = a.losses[a.losses.len() - 10..].iter().sum::<f64>() / 10.0;
    assert!(tail < head * 0.7, "adapting only moved the known-pixel loss from {head} to {tail}");
    assert_eq!(a.losses, b.losses, "what the mask hides changed the loss");
    for (name, t) in a.model.vars.variables() {
        assert!(t.equal(&b.model.vars.variables()[&name]), "what the mask hides changed θ ({name})");
    }
}

#[test]
fn restoration_moves_phi_only_and_keeps_it_in_the_box() {
    let (path, patches, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let before: Vec<(String, Tensor)> = model.vars.variables().into_iter().map(|(k, v)| (k, v.copy())).collect();
    let obs = Observation::of(Task::Inpaint, &patches.get(1), None);
    for (optimizer, lr) in [(lcm::Optimizer::Adam, 0.5), (lcm::Optimizer::Sgd, 50.0)] {
        let opts = RestoreOptions { steps: 20, optimizer, learning_rate: lr, ..Default::default() };
        let restored = restore_with(&model, &obs, &opts, None);
        let bound = model.config.phi_bound as f32;
        let n = model.latent.constrained_count();
        // Conv weights come first in each layer; check every constrained entry via the projection.
        let projected = restored.phi.copy();
        tch::no_grad(|| model.latent.project_(&projected));
        assert_eq!(max_abs_diff(&projected, &restored.phi), 0.0, "φ left its box ({optimizer:?})");
        assert!(n > 0 && bound > 0.0);
    }
    for (name, value) in before {
        let now = &model.vars.variables()[&name];
        assert!(value.equal(now), "restoration changed generator variable {name}");
    }
}

#[test]
fn a_spent_time_budget_stops_a_short_frame_after_one_step() {
    // The elements' inpainting and colour take 10 steps a frame: the budget must cut those too.
    let model = Model::new(ModelConfig::tiny(), Device::Cpu, 5).unwrap().frozen();
    let truth = Tensor::rand([3, 32, 32], (Kind::Float, Device::Cpu));
    let obs = Observation::of(Task::Inpaint, &truth, None);
    let steps_taken = |time_budget| restore_with(&model, &obs, &RestoreOptions { steps: 10, time_budget, ..Default::default() }, None).losses.len();
    assert_eq!((steps_taken(None), steps_taken(Some(std::time::Duration::ZERO))), (10, 1));
}

#[test]
fn a_map_step_over_more_tiles_than_one_pass_takes_moves_each_tile_as_alone() {
    // Steps render and differentiate a few hundred tiles at a time: a frame's tiles are split,
    // and each must still move by its own evidence only.
    let model = Model::new(ModelConfig::tiny(), Device::Cpu, 5).unwrap().frozen();
    let (n, s) = (600, model.config.image_size);
    let task = Task::SuperRes { scale: 4, downscale: lcm::Downscale::Lanczos };
    let y = Tensor::rand([n, 3, s / 4, s / 4], (Kind::Float, Device::Cpu));
    let phi = model.initial_phi(n, 0) + Tensor::randn([n, 1], (Kind::Float, Device::Cpu)) * 1e-3;
    let stepped = |rows: i64, start: i64| {
        let y = y.narrow(0, start, rows);
        let mut map = lcm::restore::MapOptimizer::new(&model, task, y.shallow_clone(), y.ones_like(), phi.narrow(0, start, rows).copy(), lcm::Optimizer::Adam, 0.05);
        for _ in 0..3 {
            let _ = map.step();
        }
        map.phi.detach()
    };
    let alone = Tensor::cat(&(0..n).step_by(50).map(|start| stepped(50, start)).collect::<Vec<_>>(), 0);
    let together = stepped(n, 0);
    assert!(max_abs_diff(&alone, &together) < 1e-6, "tiles stepped together moved differently: {}", max_abs_diff(&alone, &together));
    assert!(max_abs_diff(&together, &phi) > 1e-4, "the steps did not move φ");
}

#[test]
fn inpainting_keeps_known_pixels_bit_exact_and_comes_within_1_db_of_the_smooth_fill() {
    let (path, patches, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let truth = patches.get(2);
    let mask = lcm::mask::centre_hole(32, 32, 0.4);
    let obs = Observation::of(Task::Inpaint, &truth, Some(mask.shallow_clone()));
    let restored = restore_with(&model, &obs, &RestoreOptions { steps: 200, ..Default::default() }, None);
    let known = mask.expand_as(&truth).to_kind(Kind::Bool);
    assert!(restored.image.masked_select(&known).equal(&truth.masked_select(&known)), "known pixels changed");
    let hole = 1.0 - &mask;
    let ours = metrics::psnr(&restored.image, &truth, Some(&hole));
    let fill = metrics::psnr(&lcm::baselines::classical(Task::Inpaint, &obs.evidence, Some(&mask)), &truth, Some(&hole));
    let degraded = metrics::psnr(&obs.evidence, &truth, Some(&hole));
    assert!(ours > degraded + 5.0, "hole PSNR {ours} vs the empty hole {degraded}");
    assert!(ours > fill - 1.0, "hole PSNR {ours} more than 1 dB below the smooth fill's {fill}");
}

#[test]
fn an_overlap_past_half_a_tile_never_multiplies_the_tiles() {
    // 63 px of overlap on 64-px tiles once gave a stride of 1: 153 tiles on 80×72, 4,225 on 128².
    assert_eq!(TileGrid::new(72, 80, 64, 63, 1).len(), 4);
    assert_eq!(TileGrid::new(128, 128, 64, 63, 1).len(), 9);
    assert_eq!(TileGrid::new(128, 128, 64, 1000, 4).len(), 9);
    assert_eq!(TileGrid::new(128, 128, 64, -5, 1).len(), 4);
}

#[test]
fn tiled_restoration_has_no_seams() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    // A real 80×60 frame (its half is under a tile, so it is fitted at its own size): 32-px
    // tiles overlapping by 8 px cover it with a 3×2 grid.
    let frame = lcm::data::shrink(&common::vtest_frames()[0], 60);
    let (_, h, w) = frame.size3().unwrap();
    let opts = RestoreOptions { steps: 150, tile_overlap: 8, ..Default::default() };
    let grid = TileGrid::new(h, w, 32, 8, 1);
    assert!(grid.len() > 4);
    let restored = restore_with(&model, &Observation::of(Task::Colorize, &frame, None), &opts, None);
    // Error on the columns and rows where tiles meet vs everywhere else.
    let err = (&restored.image - &frame).square().mean_dim(0, false, Kind::Float);
    let seam = Tensor::zeros([h, w], (Kind::Bool, Device::Cpu));
    for &x in grid.xs.iter().skip(1) {
        let _ = seam.narrow(1, x, 8).fill_(1);
    }
    for &y in grid.ys.iter().skip(1) {
        let _ = seam.narrow(0, y, 8).fill_(1);
    }
    let seam_mse = f64::try_from(err.masked_select(&seam).mean(Kind::Float)).unwrap();
    let rest_mse = f64::try_from(err.masked_select(&seam.logical_not()).mean(Kind::Float)).unwrap();
    let gap_db = 10.0 * (seam_mse / rest_mse).log10();
    assert!(gap_db < 1.0, "tile borders are {gap_db:.2} dB worse than the interior");
    // The colorized frame keeps the input gray.
    let gray_err = max_abs_diff(&degrade::gray(&restored.image.unsqueeze(0)), &degrade::gray(&frame.unsqueeze(0)));
    assert!(gray_err < 1e-4, "colorized gray differs by {gray_err}");
}

#[test]
fn colorization_without_hints_fits_the_gray_at_half_size() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let truth = lcm::data::shrink(&common::vtest_frames()[0], 72);
    let (_, h, w) = truth.size3().unwrap();
    let opts = RestoreOptions { steps: 40, ..Default::default() };
    let gray = degrade::gray(&truth.unsqueeze(0)).squeeze_dim(0);
    let restored = restore_with(&model, &Observation::colorize(gray.shallow_clone(), None), &opts, None);
    assert_eq!(restored.grid, TileGrid::new(h / 2, w / 2, 32, opts.tile_overlap, 1), "not fitted on the half-size gray");
    assert_eq!(restored.image.size(), [3, h, w]);
    let gray_err = max_abs_diff(&degrade::gray(&restored.image.unsqueeze(0)).squeeze_dim(0), &gray);
    assert!(gray_err < 1e-4, "colorized gray differs by {gray_err}");
    // The colour it adds brings the frame closer to the truth than the gray copy.
    let ours = metrics::psnr(&restored.image, &truth, None);
    let copy = metrics::psnr(&gray.expand([3, -1, -1], false), &truth, None);
    assert!(ours > copy, "colorized PSNR {ours} not above the gray copy's {copy}");
    // A frame coloured from hints leaves the half-size φ to the next frame without hints.
    let mut engine = Engine::new();
    let hints = Tensor::zeros([4, h, w], (Kind::Float, Device::Cpu));
    let _ = hints.narrow(0, 3, 1).narrow(1, 5, 1).narrow(2, 5, 1).fill_(1.0);
    let unhinted = Observation::colorize(gray.shallow_clone(), None);
    let _ = engine.restore(&model, &unhinted, &opts, true);
    let _ = engine.restore(&model, &Observation::colorize(gray.shallow_clone(), Some(hints)), &opts, true);
    assert!(engine.restore(&model, &unhinted, &opts, true).warm_started, "the frame after hints started cold");
    // Without keeping the gray the render itself is the output, at full size.
    let raw = restore_with(&model, &unhinted, &RestoreOptions { keep_known: false, steps: 1, ..opts.clone() }, None);
    assert_eq!(raw.grid, TileGrid::new(h, w, 32, opts.tile_overlap, 1), "a raw render was fitted at reduced size");
}

#[test]
fn warm_start_beats_cold_start_on_the_next_frame() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let frames: Vec<Tensor> = common::vtest_frames().iter().map(|f| lcm::data::shrink(f, 48)).collect();
    let task = Task::superres(2);
    let obs = |f: &Tensor| Observation::of(task, f, None);
    let opts = RestoreOptions { steps: 60, ..Default::default() };
    let mut engine = Engine::new();
    engine.restore(&model, &obs(&frames[0]), &opts, true);
    // A one-off restore from the engine's state leaves that state as it was.
    let stored = engine.previous().unwrap().adam.unwrap();
    let (first, steps) = (stored.first.copy(), stored.steps);
    restore_with(&model, &obs(&frames[1]), &opts, engine.previous());
    assert!(engine.previous().unwrap().adam.unwrap().first.equal(&first));

    let warm = engine.restore(&model, &obs(&frames[1]), &opts, true);
    let cold = restore_with(&model, &obs(&frames[1]), &opts, None);
    assert!(warm.warm_started && !cold.warm_started);
    // The warm frame continues the previous frame's Adam run.
    assert_eq!((steps, warm.adam.as_ref().unwrap().steps), (60, 120));
    assert!(warm.losses.last().unwrap() < cold.losses.last().unwrap());
    engine.reset();
    assert!(!engine.restore(&model, &obs(&frames[2]), &opts, true).warm_started);
}

/// A warm-started tile whose φ still fits its evidence takes no steps: a repeated frame comes back
/// as it was, and a frame changed in one corner steps only the tiles there.
#[test]
fn tiles_that_still_fit_the_next_frame_take_no_steps() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let frame = lcm::data::shrink(&common::vtest_frames()[0], 96);
    let obs = |f: &Tensor| Observation::of(Task::superres(2), f, None);
    let opts = RestoreOptions { steps: 30, ..Default::default() };
    let mut engine = Engine::new();
    let first = engine.restore(&model, &obs(&frame), &opts, true);
    let again = engine.restore(&model, &obs(&frame), &opts, true);
    assert!(again.warm_started);
    assert_eq!(again.losses.len(), 1, "a frame its tiles already fit took steps");
    assert!(again.phi.equal(&first.phi) && again.image.equal(&first.image), "a repeated frame came back changed");

    let changed = frame.copy();
    let _ = changed.narrow(1, 0, 24).narrow(2, 0, 24).g_mul_scalar_(0.3);
    let third = engine.restore(&model, &obs(&changed), &opts, true);
    let stepped = (&third.phi - &again.phi).abs().amax([1].as_slice(), false).gt(0.0);
    let (count, rows) = (i64::try_from(stepped.sum(Kind::Int64)).unwrap(), stepped.size()[0]);
    assert!(bool::try_from(stepped.get(0)).unwrap(), "the changed corner's tile did not step");
    assert!(count < rows / 2, "{count} of {rows} tiles stepped for a change in one corner");
    assert_eq!(third.losses.len(), 30);
    // The next frame settles against the renders of the φ this one ended with, kept, not redrawn.
    let kept = third.renders.as_ref().expect("super-resolution keeps its renders");
    assert!(max_abs_diff(kept, &model.render(&third.phi, false)) < 1e-5);

    let every_tile = restore_with(&model, &obs(&frame), &RestoreOptions { settle: false, ..opts }, Some(engine.previous().unwrap()));
    assert_eq!(every_tile.losses.len(), 30);
    assert!(!every_tile.phi.equal(&third.phi));
}

/// A still shot whose frames differ by noise alone (grain, compression): super-resolution's
/// output changes between frames about as much as the bicubic upscale does (1.02× here), where
/// back-projecting each frame's noise into the carried detail redrew it (1.41×).
#[test]
fn a_still_shot_under_noisy_evidence_flickers_about_as_little_as_bicubic() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let task = Task::superres(2);
    let small = Observation::of(task, &lcm::data::shrink(&common::vtest_frames()[0], 96), None).evidence;
    tch::manual_seed(5);
    let frames: Vec<Tensor> = (0..3).map(|_| (&small + small.randn_like() * 0.002).clamp(0.0, 1.0)).collect();
    let opts = RestoreOptions { steps: 10, ..Default::default() };
    let video = lcm::VideoOptions::default();
    let mut restorer = lcm::VideoRestorer::new(&video);
    let restored: Vec<Tensor> = frames
        .iter()
        .map(|f| restorer.restore(&model, &Observation::superres(f.shallow_clone(), 2, degrade::Downscale::Lanczos), &opts, &video).image)
        .collect();
    let bicubic: Vec<Tensor> = frames.iter().map(|f| lcm::baselines::bicubic_upscale(f, 2)).collect();
    let change = |images: &[Tensor]| images.windows(2).map(|p| f64::try_from((&p[1] - &p[0]).abs().mean(Kind::Float)).unwrap()).sum::<f64>();
    let (lcm_change, bicubic_change) = (change(&restored), change(&bicubic));
    assert!(lcm_change < 1.1 * bicubic_change, "restored frames changed by {lcm_change:.5}, bicubic by {bicubic_change:.5}");
}

/// At ×2 the evidence holds a quarter of the output's samples: a carried frame whose evidence
/// changed by a little more than noise is made to agree with it again: it misses the new evidence
/// by 0.18 of the change, and by 0.30 under ×4's rule (the likeness to the last frame to the 4th
/// power, not the 16th; measured with a temporary switch).
#[test]
fn a_x2_frame_follows_evidence_that_changed_by_a_little_more_than_noise() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let task = Task::superres(2);
    let small = Observation::of(task, &lcm::data::shrink(&common::vtest_frames()[0], 96), None).evidence;
    tch::manual_seed(11);
    let frames = [small.shallow_clone(), (&small + small.randn_like() * 0.006).clamp(0.0, 1.0)];
    let opts = RestoreOptions { steps: 10, ..Default::default() };
    let video = lcm::VideoOptions::default();
    let mut restorer = lcm::VideoRestorer::new(&video);
    let mut last = None;
    for frame in &frames {
        last = Some(restorer.restore(&model, &Observation::superres(frame.shallow_clone(), 2, degrade::Downscale::Lanczos), &opts, &video).image);
    }
    let misfit = f64::try_from((Observation::of(task, &last.unwrap(), None).evidence - &frames[1]).abs().mean(Kind::Float)).unwrap();
    let change = f64::try_from((&frames[1] - &frames[0]).abs().mean(Kind::Float)).unwrap();
    assert!(misfit < 0.25 * change, "the second frame misses its evidence by {misfit:.5} after a change of {change:.5}");
}

/// A still shot whose 8-bit evidence differs between frames by a level of noise: what colour
/// and a hole's fill invent mostly stays on its 8-bit levels from frame to frame (0.6–1.1 % of
/// the frame's values moved here), where rounded afresh a hole's carried fill crossed rounding
/// steps at 7 % of them.
#[test]
fn invented_pixels_keep_their_levels_under_a_level_of_noise() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let truth = (lcm::data::shrink(&common::vtest_frames()[0], 72) * 255.0).round();
    tch::manual_seed(7);
    let frames: Vec<Tensor> = (0..3).map(|_| (&truth + truth.randint_like_low_dtype(-1, 2)).clamp(0.0, 255.0) / 255.0).collect();
    let (_, h, w) = truth.size3().unwrap();
    let known = lcm::mask::rect(h, w, w / 4, h / 4, w / 2, h / 2);
    let opts = RestoreOptions { steps: 10, ..Default::default() };
    let video = lcm::VideoOptions::default();
    for task in [Task::Colorize, Task::Inpaint] {
        let mut restorer = lcm::VideoRestorer::new(&video);
        let mut previous: Option<Tensor> = None;
        for frame in &frames {
            let (obs, evidence) = match task {
                Task::Colorize => {
                    let gray = (degrade::gray(&frame.unsqueeze(0)).squeeze_dim(0) * 255.0).round() / 255.0;
                    (Observation::colorize(gray.shallow_clone(), None), gray)
                }
                _ => (Observation::inpaint(frame * &known, known.shallow_clone()), frame * &known),
            };
            // Levels above the evidence (on the hole, above nothing).
            let invented = ((restorer.restore(&model, &obs, &opts, &video).image * 255.0).round() - &evidence * 255.0).round();
            if let Some(previous) = &previous {
                let changed = f64::try_from(invented.ne_tensor(previous).to_kind(Kind::Float).mean(Kind::Float)).unwrap();
                assert!(changed < 0.02, "{task:?}: {:.2} % of the invented values moved by a level", changed * 100.0);
            }
            previous = Some(invented);
        }
    }
}

/// A stream's super-resolution fits its first frame, and the first after a cut, with twice the
/// steps (the detail found there is carried through the scene), and closer than one frame's
/// steps do; warm frames and inpainting keep the steps they are given.
#[test]
fn super_resolution_fits_a_cold_frame_with_twice_the_steps() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let frames: Vec<Tensor> = common::vtest_frames().iter().map(|f| lcm::data::shrink(f, 48)).collect();
    let opts = RestoreOptions { steps: 20, settle: false, ..Default::default() };
    let video = lcm::VideoOptions::default();
    let mut restorer = lcm::VideoRestorer::new(&video);
    let obs = |f: &Tensor| Observation::of(Task::superres(2), f, None);
    let first = restorer.restore(&model, &obs(&frames[0]), &opts, &video);
    let next = restorer.restore(&model, &obs(&frames[1]), &opts, &video);
    let after_cut = restorer.restore(&model, &obs(&(1.0 - &frames[2])), &opts, &video);
    let steps = |r: &lcm::Restoration| (r.losses.len(), r.warm_started);
    assert_eq!([steps(&first), steps(&next), steps(&after_cut)], [(40, false), (20, true), (40, false)]);
    let single = restore_with(&model, &obs(&frames[0]), &opts, None);
    assert!(first.losses.last().unwrap() < single.losses.last().unwrap(), "twice the steps fitted no closer");

    let known = lcm::mask::rect(frames[0].size()[1], frames[0].size()[2], 8, 8, 16, 16);
    let mut inpainter = lcm::VideoRestorer::new(&video);
    let hole = inpainter.restore(&model, &Observation::inpaint(&frames[0] * &known, known.shallow_clone()), &opts, &video);
    assert_eq!(hole.losses.len(), 20, "inpainting's cold frame took other than the steps given");
}

#[test]
fn broken_model_files_give_clear_errors() {
    let (path, _, _) = common::trained_tiny();
    let bytes = std::fs::read(&path).unwrap();
    let truncated = common::temp_path("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let random = common::temp_path("random.safetensors");
    std::fs::write(&random, (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>()).unwrap();
    let foreign = common::temp_path("foreign.safetensors");
    tensor_file::save(&foreign, &[("x".into(), Tensor::zeros([2], (Kind::Float, Device::Cpu)))], HashMap::new(), false).unwrap();
    // A tiny file whose metadata claims the small preset.
    let (tensors, mut meta) = tensor_file::load(&path, Device::Cpu).unwrap();
    meta.insert("config".into(), serde_json::to_string(&ModelConfig::small()).unwrap());
    let mismatched = common::temp_path("mismatched.safetensors");
    tensor_file::save(&mismatched, &tensors.into_iter().collect::<Vec<_>>(), meta, false).unwrap();
    let missing = common::temp_path("does-not-exist.safetensors");
    let (mut tensors, meta) = tensor_file::load(&path, Device::Cpu).unwrap();
    tensors.insert("exemplars".into(), Tensor::zeros([4, 7], (Kind::Float, Device::Cpu)));
    let bad_exemplars = common::temp_path("bad-exemplars.safetensors");
    tensor_file::save(&bad_exemplars, &tensors.into_iter().collect::<Vec<_>>(), meta, false).unwrap();

    for (file, expected) in [
        (&truncated, "damaged or truncated"),
        (&random, "not a safetensors file"),
        (&foreign, "no lcm metadata"),
        (&mismatched, "has shape"),
        (&bad_exemplars, "exemplars have shape"),
        (&missing, "cannot read"),
    ] {
        let err = format!("{:#}", Model::load(file, Device::Cpu).err().expect("loading must fail"));
        assert!(err.contains(expected), "{}: '{err}' should mention '{expected}'", file.display());
    }
}

#[test]
fn restoration_starts_each_tile_from_the_exemplar_its_weighted_evidence_fits() {
    let mut model = Model::new(ModelConfig::tiny(), Device::Cpu, 7).unwrap();
    let exemplars = model.initial_phi(6, 21);
    model.exemplars = Some(exemplars.shallow_clone());
    let path = common::temp_path("exemplars.safetensors");
    model.save(&path, false).unwrap();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    assert!(model.exemplars.as_ref().is_some_and(|e| e.equal(&exemplars)), "the file lost its exemplars");
    let renders = tch::no_grad(|| model.render(&exemplars, false));
    let s = model.config.image_size;
    // Tile 0 shows exemplar 4 where known and exemplar 1 in a hole (most of it) that weighs nothing; tile 1
    // is exemplar 2 throughout.
    let known = lcm::mask::rect(s, s, 2, 2, 3 * s / 4, 3 * s / 4).unsqueeze(0);
    let y = Tensor::cat(&[renders.get(4).unsqueeze(0) * &known + renders.get(1).unsqueeze(0) * (1.0 - &known), renders.narrow(0, 2, 1)], 0);
    let w = Tensor::cat(&[known.shallow_clone(), known.ones_like()], 0);
    let start = model.map_setup(Task::Inpaint).start(&model, &y, &w, 0);
    assert!(start.get(0).equal(&exemplars.get(4)) && start.get(1).equal(&exemplars.get(2)), "inpainting started from the wrong exemplars");
    // Super-resolution starts from the seed φ: the evidence leaves the detail open.
    let sr = Task::superres(4);
    let small = tch::no_grad(|| sr.degrade(&renders.narrow(0, 3, 1)));
    let start = model.map_setup(sr).start(&model, &small, &small.ones_like(), 0);
    assert!(start.equal(&model.initial_phi(1, 0)), "super-resolution did not start from the seed φ");

    // Colorization fits every tile twice, from the seed φ and from the exemplar its gray fits
    // (exemplar 2 throughout: rows 2 and 3 of the rendered gray), and a frame after one coloured
    // from hints warm-starts both.
    let gray = degrade::gray(&Tensor::cat(&[renders.narrow(0, 2, 1), renders.narrow(0, 2, 1)], 3)).squeeze_dim(0);
    let obs = Observation::colorize(gray.shallow_clone(), None);
    let cold = restore_with(&model, &obs, &RestoreOptions { steps: 0, ..Default::default() }, None);
    let tiles = cold.grid.len() as i64;
    assert_eq!(cold.phi.size()[0], 2 * tiles, "colorization did not fit every tile from two starts");
    assert!(cold.phi.narrow(0, 0, tiles).equal(&model.initial_phi(tiles, 0)), "the first start is not the seed φ");
    assert!(cold.phi.get(tiles).equal(&exemplars.get(2)), "the second start is not the nearest exemplar");
    let mut engine = Engine::new();
    let hints = Tensor::zeros([4, s, 2 * s], (Kind::Float, Device::Cpu));
    let _ = hints.narrow(0, 3, 1).narrow(1, 5, 1).narrow(2, 5, 1).fill_(1.0);
    let opts = RestoreOptions { steps: 2, ..Default::default() };
    let _ = engine.restore(&model, &Observation::colorize(gray.shallow_clone(), Some(hints)), &opts, true);
    let after = engine.restore(&model, &obs, &opts, true);
    assert!(after.warm_started && after.fallback.is_none(), "the frame after hints did not warm-start");
}

/// Footage made smaller by area averaging (OpenCV's INTER_AREA, a sensor's binning) restores
/// best when the operator knows it: the output then area-averages back to the input, and comes
/// closer to the truth than when fitted as if Lanczos had made the input.
#[test]
fn superres_fits_the_filter_the_footage_was_made_smaller_with() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let truth = lcm::data::shrink(&common::vtest_frames()[0], 96).narrow(2, 0, 128);
    let area = Task::SuperRes { scale: 4, downscale: degrade::Downscale::Area };
    let small = area.degrade(&truth.unsqueeze(0)).squeeze_dim(0);
    let opts = RestoreOptions { steps: 20, ..Default::default() };
    let fit = |downscale| restore_with(&model, &Observation::superres(small.shallow_clone(), 4, downscale), &opts, None).image;
    let (matched, assumed) = (fit(degrade::Downscale::Area), fit(degrade::Downscale::Lanczos));
    let off = |x: &Tensor| f64::try_from((area.degrade(&x.unsqueeze(0)).squeeze_dim(0) - &small).abs().mean(Kind::Float)).unwrap();
    assert!(off(&matched) < 2e-3 && off(&assumed) > 2.0 * off(&matched), "area-averaged back: {} fitted, {} assumed Lanczos", off(&matched), off(&assumed));
    let (psnr_matched, psnr_assumed) = (metrics::psnr(&matched, &truth, None), metrics::psnr(&assumed, &truth, None));
    assert!(psnr_matched > psnr_assumed, "{psnr_matched:.2} dB fitted to area, {psnr_assumed:.2} dB assuming Lanczos");
}

#[test]
fn diverging_restoration_falls_back_to_the_evidence() {
    let (path, patches, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let truth = patches.get(3);
    let task = Task::superres(2);
    let obs = Observation::of(task, &truth, None);
    let opts = RestoreOptions { steps: 20, learning_rate: f64::NAN, ..Default::default() };
    let restored = restore_with(&model, &obs, &opts, None);
    assert!(restored.fallback.is_some());
    let lanczos = lcm::baselines::classical(task, &obs.evidence, None);
    assert!(restored.image.equal(&lanczos));
}

#[test]
fn lpips_is_zero_for_identical_images_and_rises_with_noise() {
    let perceptual = lcm::metrics::Perceptual::load_default().unwrap();
    let frame = common::vtest_frames()[0].shallow_clone();
    assert!(perceptual.lpips(&frame, &frame).abs() < 1e-6);
    let mut previous = 0.0;
    for sigma in [0.02, 0.08, 0.2] {
        let noisy = (&frame + Tensor::randn_like(&frame) * sigma).clamp(0.0, 1.0);
        let (lpips, vgg) = (perceptual.lpips(&noisy, &frame), perceptual.vgg_distance(&noisy, &frame, None));
        assert!(lpips > previous && vgg > 0.0, "LPIPS {lpips} at σ={sigma} did not rise above {previous}");
        previous = lpips;
    }
}

#[test]
fn metrics_behave() {
    let frame = common::vtest_frames()[0].shallow_clone();
    assert!(metrics::psnr(&frame, &frame, None) > 100.0);
    assert!((metrics::ssim(&frame, &frame) - 1.0).abs() < 1e-6);
    let noisy = (&frame + Tensor::randn_like(&frame) * 0.05).clamp(0.0, 1.0);
    let noisier = (&frame + Tensor::randn_like(&frame) * 0.2).clamp(0.0, 1.0);
    assert!(metrics::psnr(&noisy, &frame, None) > metrics::psnr(&noisier, &frame, None));
    assert!(metrics::ssim(&noisy, &frame) > metrics::ssim(&noisier, &frame));
}

#[test]
#[cfg_attr(not(feature = "cuda-tests"), ignore = "needs a GPU: cargo test --features cuda-tests")]
fn auto_device_is_cuda_on_a_gpu_machine() {
    let device = lcm::DeviceChoice::Auto.resolve().unwrap();
    assert_eq!(device, Device::Cuda(0), "device=auto did not pick the GPU");
    let model = Model::new(ModelConfig::tiny(), device, 0).unwrap();
    let phi = model.initial_phi(2, 0);
    assert_eq!(model.render(&phi, false).device(), Device::Cuda(0));
}

/// The CUDA path (folded, channels-last generator; cuDNN autotuner) restores like the CPU one.
#[test]
#[cfg_attr(not(feature = "cuda-tests"), ignore = "needs a GPU: cargo test --features cuda-tests")]
fn cuda_restoration_matches_the_cpu() {
    let (path, patches, _) = common::trained_tiny();
    let cuda = lcm::DeviceChoice::Cuda(0).resolve().unwrap();
    let truth = patches.get(2);
    let mask = lcm::mask::centre_hole(32, 32, 0.4);
    let obs = Observation::of(Task::Inpaint, &truth, Some(mask));
    let opts = RestoreOptions { steps: 30, precision: lcm::Precision::Float32, ..Default::default() };
    let on = |device| restore_with(&Model::load(&path, device).unwrap().frozen(), &obs, &opts, None);
    let (cpu, gpu) = (on(Device::Cpu), on(cuda));
    assert!(gpu.fallback.is_none() && gpu.losses.last() < gpu.losses.first(), "CUDA losses {:?}", gpu.losses);
    let agreement = metrics::psnr(&gpu.image.to_device(Device::Cpu), &cpu.image, None);
    assert!(agreement > 30.0, "CUDA and CPU restorations agree to only {agreement:.1} dB");
}

/// MAP steps in bfloat16 (what `precision=auto` picks on a CPU with bfloat16 instructions) fit a real frame's
/// evidence as well as float32 steps, and the output is still rendered in float32.
#[test]
fn bfloat16_steps_fit_as_well_as_float32_and_the_output_stays_float32() {
    let (path, _, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    let obs = Observation::of(Task::superres(2), &lcm::data::shrink(&common::vtest_frames()[0], 96), None);
    let at = |precision| restore_with(&model, &obs, &RestoreOptions { steps: 30, precision, ..Default::default() }, None);
    let (exact, fast) = (at(lcm::Precision::Float32), at(lcm::Precision::BFloat16));
    let (exact_loss, fast_loss) = (*exact.losses.last().unwrap(), *fast.losses.last().unwrap());
    assert!(fast_loss < 0.5 * fast.losses[0], "bfloat16 steps did not fit: {:?}", fast.losses);
    assert!(fast_loss < 1.1 * exact_loss, "bfloat16 steps fit to {fast_loss:.5}, float32 ones to {exact_loss:.5}");
    assert_eq!(fast.image.kind(), Kind::Float);
    let agreement = metrics::psnr(&fast.image, &exact.image, None);
    assert!(agreement > 35.0, "bfloat16 and float32 restorations agree to only {agreement:.1} dB");
    // The bfloat16 pass computes the same render, to bfloat16's precision; an unfrozen model has
    // no bfloat16 weights and renders in float32.
    let _guard = tch::no_grad_guard();
    let phi = model.initial_phi(3, 1);
    let difference = max_abs_diff(&model.render_in(&phi, Kind::BFloat16), &model.render(&phi, false));
    assert!(difference > 0.0 && difference < 0.02, "bfloat16 render differs by {difference}");
    let trained = Model::load(&path, Device::Cpu).unwrap();
    assert!(trained.render_in(&phi, Kind::BFloat16).equal(&trained.render(&phi, false)));
}

#[test]
fn precision_names_parse_and_auto_never_picks_bfloat16_off_the_cpu() {
    use lcm::Precision;
    assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::BFloat16);
    assert_eq!("Float32".parse::<Precision>().unwrap(), Precision::Float32);
    assert!("half".parse::<Precision>().unwrap_err().contains("auto, float32 or bfloat16"));
    assert_eq!(Precision::Float32.kind(Device::Cpu), Kind::Float);
    assert_eq!(Precision::BFloat16.kind(Device::Cpu), Kind::BFloat16);
    assert_eq!(Precision::Auto.kind(Device::Cuda(0)), Kind::Float);
}

#[test]
fn auto_device_falls_back_to_the_cpu_without_a_gpu() {
    if !lcm::device::cuda_available() {
        assert_eq!(lcm::DeviceChoice::Auto.resolve().unwrap(), Device::Cpu);
        let err = lcm::DeviceChoice::Cuda(0).resolve().unwrap_err().to_string();
        assert!(err.contains("not available"), "{err}");
    }
    assert!("cuda:x".parse::<lcm::DeviceChoice>().is_err());
    assert_eq!("cuda:1".parse::<lcm::DeviceChoice>().unwrap(), lcm::DeviceChoice::Cuda(1));
}

#[test]
fn later_frames_beyond_a_scene_cut_lend_no_pixels() {
    let (path, patches, _) = common::trained_tiny();
    let model = Model::load(&path, Device::Cpu).unwrap().frozen();
    // Frame 0 has a hole; frame 1 is the same shot, complete; frame 2 is another shot.
    let shot = Tensor::cat(&[patches.get(0), patches.get(1)], 2);
    let other = Tensor::cat(&[patches.get(2), patches.get(3)], 2).flip([1]);
    let (_, h, w) = shot.size3().unwrap();
    let hole = lcm::mask::rect(h, w, 20, 10, 12, 12);
    let ones = Tensor::ones([1, h, w], (Kind::Float, Device::Cpu));
    let frame = |image: &Tensor, known: &Tensor| Observation::inpaint(image * known, known.shallow_clone());
    let opts = RestoreOptions { steps: 1, ..Default::default() };
    let video = lcm::VideoOptions { temporal_frames: 0, ..Default::default() };
    let recovered = |upcoming: &[Observation]| {
        let mut restorer = lcm::VideoRestorer::new(&video);
        restorer.restore_with_upcoming(&model, &frame(&shot, &hole), upcoming, &opts, &video).temporal_pixels
    };
    assert_eq!(recovered(&[frame(&shot, &ones)]), 144, "the next frame of the same shot should fill the hole");
    assert_eq!(recovered(&[frame(&other, &ones), frame(&shot, &ones)]), 0, "pixels came from across a scene cut");
}

/// 32 real 64² patches of the fixture frames.
fn real_patches_64() -> Tensor {
    let frames = lcm::data::load_frames(&[common::files()], 1, 1).unwrap();
    lcm::data::random_patches(&frames, 64, 32, 5).unwrap()
}

#[test]
fn the_autoencoder_baseline_learns_survives_its_file_and_restores_by_map_over_its_code() {
    use lcm::vector_prior::{VectorConfig, VectorKind, VectorPrior, VectorTrainer};
    tch::manual_seed(3);
    let patches = real_patches_64();
    let prior = VectorPrior::new(VectorConfig::new(VectorKind::Autoencoder, 8), Device::Cpu, 1);
    let mut trainer = VectorTrainer::new(prior, patches.shallow_clone(), 8, 1).unwrap();
    for _ in 0..200 {
        trainer.train_step();
    }
    let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64;
    let (first, last) = (mean(&trainer.losses[..10]), mean(&trainer.losses[190..]));
    assert!(last < 0.7 * first, "loss {first:.4} → {last:.4}");

    let path = common::temp_path("ae.safetensors");
    trainer.prior.save(&path, false).unwrap();
    let loaded = VectorPrior::load(&path, Device::Cpu).unwrap();
    std::fs::remove_file(&path).ok();
    let x = patches.narrow(0, 0, 4);
    let (before, after) = tch::no_grad(|| (trainer.prior.decode(&trainer.prior.encode(&x)), loaded.decode(&loaded.encode(&x))));
    assert!(max_abs_diff(&before, &after) < 1e-5, "the loaded file decodes differently");

    // MAP over the code fits ×4 evidence better than the encoding it starts from.
    let task = Task::superres(4);
    let obs = Observation::of(task, &patches.get(5), None);
    let misfit = |steps: usize| {
        let out = loaded.restore(&obs, &RestoreOptions { steps, keep_known: false, ..Default::default() }).unwrap();
        f64::try_from(task.degrade(&out.unsqueeze(0)).squeeze_dim(0).mse_loss(&obs.evidence, tch::Reduction::Mean)).unwrap()
    };
    let (start, fitted) = (misfit(1), misfit(40));
    assert!(fitted < 0.95 * start, "MAP did not fit the evidence: misfit {start:.5} → {fitted:.5}");
}

#[test]
fn the_wgan_gp_critic_learns_to_tell_real_patches_from_samples() {
    use lcm::vector_prior::{VectorConfig, VectorKind, VectorPrior, VectorTrainer};
    tch::manual_seed(4);
    let prior = VectorPrior::new(VectorConfig::new(VectorKind::WganGp, 8), Device::Cpu, 2);
    let mut trainer = VectorTrainer::new(prior, real_patches_64(), 8, 2).unwrap();
    let first = trainer.train_step();
    for _ in 0..5 {
        trainer.train_step();
    }
    let last = *trainer.losses.last().unwrap();
    assert!(last > first.max(0.0) + 0.1, "Wasserstein estimate {first:.3} → {last:.3}");
}

/// A hole in grass comes back with the grass's texture rather than a blur, no further from the
/// truth (PSNR within 0.5 dB of the fill's), and a hole beside a flat area gets no texture.
#[test]
fn a_hole_in_grass_is_given_the_grass_texture_and_one_beside_a_flat_area_none() {
    let truth = common::vtest_frames()[0].shallow_clone();
    let (_, h, w) = truth.size3().unwrap();
    let known = lcm::mask::rect(h, w, 45, 112, 50, 28);
    let hole = 1.0 - &known;
    let damaged = &truth * &known;
    let fill = lcm::baselines::hole_fill(&damaged, &known);
    let texture = lcm::baselines::mirrored_texture(&damaged, &known);
    assert_eq!(f64::try_from((&texture * &known).abs().max()).unwrap(), 0.0, "texture outside the hole");
    let textured = (&fill + &texture).clamp(0.0, 1.0);
    // Fine detail (difference from a 3×3 mean) deep inside the hole, 8 px from its edge.
    let deep = 1.0 - lcm::mask::rect(h, w, 53, 120, 34, 12);
    let detail = |x: &Tensor| {
        let gray = x.mean_dim(0, true, Kind::Float).unsqueeze(0);
        let fine = (&gray - gray.avg_pool2d([3, 3], [1, 1], [1, 1], false, false, None::<i64>)).squeeze_dim(0);
        f64::try_from((fine.square() * &deep).sum(Kind::Float) / deep.sum(Kind::Float)).unwrap().sqrt()
    };
    let (ours, smooth, real) = (detail(&textured), detail(&fill), detail(&truth));
    // Grown in from the edge (about half strength 8–14 px in), it is a good part of the truth's.
    assert!(ours > 0.25 * real && ours > 3.0 * smooth, "detail in the hole: textured {ours}, fill {smooth}, truth {real}");
    let (psnr_ours, psnr_fill) = (metrics::psnr(&textured, &truth, Some(&hole)), metrics::psnr(&fill, &truth, Some(&hole)));
    assert!(psnr_ours > psnr_fill - 0.5, "hole PSNR textured {psnr_ours} against the fill's {psnr_fill}");
    // Flatten the grass left of and below the hole: texture no longer surrounds it.
    let flattened = damaged.copy();
    let _ = flattened.narrow(1, 60, h - 60).narrow(2, 0, 45).fill_(0.4);
    let _ = flattened.narrow(1, 140, h - 140).narrow(2, 0, 110).fill_(0.4);
    let none = f64::try_from(lcm::baselines::mirrored_texture(&flattened, &known).abs().max()).unwrap();
    assert!(none < 1e-3, "texture up to {none} mirrored beside a flat area");
}
