//! Colour hints for colorization: a few pixels whose colour is known, spread along the gray
//! image's edges into a colour guide for the whole frame.

use tch::{Kind, Tensor};

/// Gray difference (0–1) at which two neighbours exchange only e^(-1/2) as much colour as equal
/// ones: colour spreads within regions and stops at edges.
const EDGE_SIGMA: f64 = 0.04;
/// Relaxation passes per pyramid level.
const RELAX_PER_LEVEL: usize = 10;

/// Hints `(4, height, width)` from an RGBA image `(4, h, w)` (non-transparent pixels give their
/// colour), scaled to the frame by nearest neighbour.
pub fn hints_from_rgba(rgba: &Tensor, height: i64, width: i64) -> Tensor {
    let scaled = rgba.to_kind(Kind::Float).unsqueeze(0).upsample_nearest2d([height, width], None, None).squeeze_dim(0);
    Tensor::cat(&[scaled.narrow(0, 0, 3), scaled.narrow(0, 3, 1).gt(0.0).to_kind(Kind::Float)], 0)
}

/// The chroma (colour minus its luma, `(3, h, w)`) of `hints` `(4, h, w)` — RGB and a
/// weight that is 0 where a pixel gives no hint — spread over the frame along the edges of
/// `gray` `(1, h, w)`. Without any hint it is zero everywhere.
pub fn spread_chroma(gray: &Tensor, hints: &Tensor) -> Tensor {
    let known = hint_places(hints);
    spread(gray, &(super::chroma(&hints.narrow(0, 0, 3).to_kind(Kind::Float)) * &known), &known)
}

/// `image` `(3, h, w)` with its colour corrected to the colours `hints` `(4, h, w)` give: the
/// chroma difference at the hint pixels, spread along the edges of `gray` `(1, h, w)`, is added.
/// `anchors` `(1, h, w)` marks pixels whose colour in `image` is already right (earlier hints):
/// the correction is zero there, so a new hint recolours only what is nearer to it than to
/// them. Colour held from earlier frames yields to hints given now.
pub(crate) fn correct_to_hints(image: &Tensor, gray: &Tensor, hints: &Tensor, anchors: Option<&Tensor>) -> Tensor {
    let known = hint_places(hints);
    let difference = super::chroma(&hints.narrow(0, 0, 3).to_kind(Kind::Float)) - super::chroma(&image.to_kind(Kind::Float));
    let places = anchors.map_or_else(|| known.shallow_clone(), |anchors| known.maximum(anchors));
    image + spread(gray, &(difference * &known), &places)
}

/// `(1, h, w)`: 1 where `hints` `(4, h, w)` give a colour, else 0.
pub(crate) fn hint_places(hints: &Tensor) -> Tensor {
    hints.narrow(0, 3, 1).to_kind(Kind::Float).gt(0.0).to_kind(Kind::Float)
}

/// `values` `(C, h, w)`, given where `known` `(1, h, w)` is 1, spread over the rest of the frame
/// along the edges of `gray` `(1, h, w)`.
fn spread(gray: &Tensor, values: &Tensor, known: &Tensor) -> Tensor {
    let _guard = tch::no_grad_guard();
    let gray = gray.to_kind(Kind::Float).unsqueeze(0);
    crate::baselines::pyramid_fill(&values.unsqueeze(0), &known.unsqueeze(0), Some(&gray), &relax_along_edges).squeeze_dim(0)
}

/// One level of [`spread`]: each missing value becomes the mean of its 8 neighbours,
/// weighted by how alike their grays are, [`RELAX_PER_LEVEL`] times.
fn relax_along_edges(mut filled: Tensor, fixed: &Tensor, missing: &Tensor, gray: Option<&Tensor>) -> Tensor {
    let gray = gray.expect("the spread is guided by the gray");
    let (_, _, h, w) = filled.size4().expect("(1, C, H, W)");
    let neighbours: Vec<(i64, i64)> = (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (dy, dx))).filter(|&d| d != (0, 0)).collect();
    let shifted = |t: &Tensor, (dy, dx): (i64, i64)| t.pad([1, 1, 1, 1], "replicate", None).narrow(2, 1 + dy, h).narrow(3, 1 + dx, w);
    let affinity: Vec<Tensor> =
        neighbours.iter().map(|&d| ((shifted(gray, d) - gray).square() * (-0.5 / (EDGE_SIGMA * EDGE_SIGMA))).exp()).collect();
    let total = affinity.iter().fold(gray.zeros_like(), |sum, a| sum + a).clamp_min(1e-8);
    for _ in 0..RELAX_PER_LEVEL {
        let padded = filled.pad([1, 1, 1, 1], "replicate", None);
        let mean = neighbours
            .iter()
            .zip(&affinity)
            .fold(filled.zeros_like(), |sum, (&(dy, dx), a)| sum + padded.narrow(2, 1 + dy, h).narrow(3, 1 + dx, w) * a)
            / &total;
        filled = fixed + mean * missing;
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_colour_spreads_within_a_region_and_stops_at_its_edge() {
        // Left half dark, right half bright; one red hint on the left, one blue on the right.
        let (h, w) = (32i64, 64i64);
        let gray = Tensor::cat(&[Tensor::full([1, h, w / 2], 0.3, (Kind::Float, tch::Device::Cpu)), Tensor::full([1, h, w / 2], 0.7, (Kind::Float, tch::Device::Cpu))], 2);
        let hints = Tensor::zeros([4, h, w], (Kind::Float, tch::Device::Cpu));
        for (x, rgb) in [(8i64, [0.6f64, 0.15, 0.15]), (56, [0.55, 0.65, 0.9])] {
            for (c, v) in rgb.iter().enumerate() {
                let _ = hints.get(c as i64).get(16).get(x).fill_(*v);
            }
            let _ = hints.get(3).get(16).get(x).fill_(1.0);
        }
        let chroma = spread_chroma(&gray, &hints);
        let red = |x: i64| f64::try_from(chroma.get(0).get(4).get(x)).unwrap();
        assert!(red(30) > 0.2, "the left region is not red near its edge: {}", red(30));
        assert!(red(34) < 0.0, "red leaked across the edge: {}", red(34));
    }
}
