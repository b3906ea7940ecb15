// lcm GStreamer plugin
// SPDX-License-Identifier: MIT OR Apache-2.0

//! GStreamer elements restoring video with a Latent Convolutional Model: `lcminpaint`,
//! `lcmsuperres` and `lcmcolorize`. Each frame is restored by MAP over the per-tile latent
//! parameters φ with the generator frozen, warm-started from the previous frame.

use gst::glib;

mod caps;
mod filter;
mod frame;
mod lcmcolorize;
mod lcminpaint;
mod lcmsuperres;
pub mod session;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    lcminpaint::register(plugin)?;
    lcmsuperres::register(plugin)?;
    lcmcolorize::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    lcm,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
