//! Caps arithmetic shared by the elements that change format or size.

use gst_video::VideoFormat;

/// `caps` with every structure's `format` replaced by `formats`.
pub fn with_formats(caps: &gst::Caps, formats: &[VideoFormat]) -> gst::Caps {
    let list = gst::List::new(formats.iter().map(|f| f.to_str()));
    let mut out = caps.clone();
    for s in out.make_mut().iter_mut() {
        s.set("format", list.clone());
    }
    out
}

/// `caps` with width and height multiplied (`up`) or divided by `factor`; sizes that do not
/// divide exactly have no counterpart and drop out of ranges and lists.
pub fn scale_size(caps: &gst::Caps, factor: i32, up: bool) -> gst::Caps {
    let map = |v: i32| -> Option<i32> {
        if up {
            v.checked_mul(factor)
        } else {
            (v % factor == 0).then_some(v / factor)
        }
    };
    let mut out = gst::Caps::new_empty();
    for s in caps.iter() {
        let mut s = s.to_owned();
        let mut keep = true;
        for field in ["width", "height"] {
            let Ok(value) = s.value(field).cloned() else { continue };
            if let Ok(v) = value.get::<i32>() {
                match map(v) {
                    Some(v) => s.set(field, v),
                    None => keep = false,
                }
            } else if let Ok(range) = value.get::<gst::IntRange<i32>>() {
                let (lo, hi) = if up {
                    (range.min().saturating_mul(factor), range.max().saturating_mul(factor))
                } else {
                    ((range.min() + factor - 1) / factor, range.max() / factor)
                };
                if lo <= hi {
                    s.set(field, gst::IntRange::new(lo.max(1), hi.max(1)));
                } else {
                    keep = false;
                }
            } else {
                s.remove_field(field);
            }
        }
        if keep {
            out.make_mut().append_structure(s);
        }
    }
    out
}

