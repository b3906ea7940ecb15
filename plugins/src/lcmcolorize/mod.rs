// SPDX-License-Identifier: MIT OR Apache-2.0

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LcmColorize(ObjectSubclass<imp::LcmColorize>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    crate::filter::LcmFilter::<imp::Colorize>::register(plugin, LcmColorize::static_type())
}
