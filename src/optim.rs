//! Adam (Kingma & Ba), one state per optimised tensor: φ of a frame's tiles, carried from frame
//! to frame by warm start, and each θ variable in training.

use tch::Tensor;

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// Adam's moments of one tensor and the steps they have seen.
pub struct Adam {
    pub first: Tensor,
    pub second: Tensor,
    pub steps: usize,
}

impl Adam {
    /// A fresh state for a tensor shaped like `like`.
    pub fn new(like: &Tensor) -> Self {
        Self { first: like.zeros_like(), second: like.zeros_like(), steps: 0 }
    }

    /// A state that has seen `steps` steps (resuming a checkpoint).
    pub fn resumed(first: Tensor, second: Tensor, steps: usize) -> Self {
        Self { first, second, steps }
    }

    /// Takes one step: advances the moments with `grad` and returns the update to subtract.
    pub fn update(&mut self, grad: &Tensor, learning_rate: f64) -> Tensor {
        self.steps += 1;
        let _ = self.first.g_mul_scalar_(BETA1).g_add_(&(grad * (1.0 - BETA1)));
        let _ = self.second.g_mul_scalar_(BETA2).g_add_(&(grad.square() * (1.0 - BETA2)));
        let first = &self.first / (1.0 - BETA1.powi(self.steps as i32));
        let second = &self.second / (1.0 - BETA2.powi(self.steps as i32));
        first / (second.sqrt() + EPS) * learning_rate
    }

    /// The same state, sharing its tensors (updates are in place: use [`Adam::copy`] to continue
    /// from a state that must stay as it is).
    pub fn shallow_clone(&self) -> Self {
        Self { first: self.first.shallow_clone(), second: self.second.shallow_clone(), steps: self.steps }
    }

    /// An independent copy, detached from any graph.
    pub fn copy(&self) -> Self {
        Self { first: self.first.detach().copy(), second: self.second.detach().copy(), steps: self.steps }
    }
}
