//! lcm — Latent Convolutional Models for image and video restoration.
//!
//! A latent image model (Athar, Burnaev, Lempitsky, ICLR 2019) in which each image has its own
//! small ConvNet f_φ turning fixed noise s into a latent z, and one hourglass generator g_θ turns
//! z into the image. Restoration is MAP over φ with g frozen, under a task's degradation.
//!
//! - [`model`]: config presets, f_φ, g_θ, the model file.
//! - [`loss`], [`degrade`]: the objective and the degradation operators.
//! - [`restore`]: the tiled, batched, warm-startable restoration engine.
//! - [`train`]: joint training of θ and the per-image φ table.
//! - [`baselines`], [`metrics`]: classical restorations and quality measures.

pub mod baselines;
pub mod clip_eval;
pub mod degrade;
pub mod data;
pub mod device;
pub mod eval;
pub mod flops;
pub mod holdout;
pub mod imageio;
pub mod loss;
pub mod mask;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod restore;
pub mod train;
pub mod rng;
pub mod tensor_file;
pub mod vector_prior;

pub use degrade::{Downscale, Task};
pub use device::{DeviceChoice, Precision};
pub use model::{LatentKind, Model, ModelConfig};
pub use restore::{Engine, Observation, Optimizer, RestoreOptions, Restoration, VideoOptions, VideoRestorer};
