//! Loading a model leaves libtorch's global random generator alone: a host application (a
//! GStreamer pipeline loading the plugin) keeps its random sequence. Alone in its test binary,
//! since the generator is process-wide.

use std::path::Path;

use tch::{Device, Kind, Tensor};

#[test]
fn loading_a_model_leaves_the_global_random_generator_alone() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/natural-small.safetensors");
    tch::manual_seed(1234);
    let expected = Tensor::rand([16], (Kind::Float, Device::Cpu));
    tch::manual_seed(1234);
    let model = lcm::Model::load(&shipped, Device::Cpu).unwrap().frozen();
    let drawn = Tensor::rand([16], (Kind::Float, Device::Cpu));
    assert!(drawn.equal(&expected), "loading {} changed the random sequence", shipped.display());
    assert!(model.generator_param_count() > 0);
}
