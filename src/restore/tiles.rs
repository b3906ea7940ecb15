//! Tiles: model-size windows over a canvas of any size, cut from the evidence and blended back.

use tch::{Kind, Tensor};

/// Tile positions over a canvas, in output pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileGrid {
    pub height: i64,
    pub width: i64,
    pub canvas_height: i64,
    pub canvas_width: i64,
    pub tile: i64,
    pub ys: Vec<i64>,
    pub xs: Vec<i64>,
    /// Top-left corners of the tiles in use (all of `ys × xs` unless some were dropped).
    pub tiles: Vec<(i64, i64)>,
}

fn axis_positions(len: i64, tile: i64, overlap: i64, align: i64) -> Vec<i64> {
    if len <= tile {
        return vec![0];
    }
    // At most half a tile of overlap: beyond that tiles multiply without adding context.
    let stride = ((tile - overlap.clamp(0, tile / 2)) / align * align).max(align);
    let last = len - tile;
    let mut p: Vec<i64> = (0..).map(|i| i * stride).take_while(|&p| p < last).collect();
    p.push(last);
    p
}

impl TileGrid {
    /// Grid over an `height × width` output; `align` keeps tile corners on the evidence grid.
    pub fn new(height: i64, width: i64, tile: i64, overlap: i64, align: i64) -> Self {
        let canvas_height = height.max(tile);
        let canvas_width = width.max(tile);
        let ys = axis_positions(canvas_height, tile, overlap, align);
        let xs = axis_positions(canvas_width, tile, overlap, align);
        let tiles = ys.iter().flat_map(|&y| xs.iter().map(move |&x| (y, x))).collect();
        Self { height, width, canvas_height, canvas_width, tile, ys, xs, tiles }
    }

    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn positions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.tiles.iter().copied()
    }

    /// Keeps only the tiles where `needed` (a `(1, H, W)` canvas mask) has a non-zero pixel.
    pub(super) fn keep_needed(&mut self, needed: &Tensor) {
        let t = self.tile;
        self.tiles.retain(|&(y, x)| bool::try_from(needed.narrow(1, y, t).narrow(2, x, t).any()).unwrap_or(true));
    }

    /// Cuts `(C, h, w)` (on a grid `scale` times coarser) into `(T, C, tile/scale, tile/scale)`.
    pub(super) fn cut(&self, t: &Tensor, scale: i64) -> Tensor {
        let s = self.tile / scale;
        let tiles: Vec<Tensor> =
            self.positions().map(|(y, x)| t.narrow(1, y / scale, s).narrow(2, x / scale, s)).collect();
        Tensor::stack(&tiles, 0)
    }

    /// Blends `(T, 3, tile, tile)` into `(3, height, width)` with a raised-cosine window;
    /// pixels no tile covers come from `background` `(3, canvas_height, canvas_width)`.
    pub(super) fn blend(&self, tiles: &Tensor, background: &Tensor) -> Tensor {
        let (kind, device) = (Kind::Float, tiles.device());
        let ramp = (Tensor::arange(self.tile, (kind, device)) + 0.5) * (std::f64::consts::PI / self.tile as f64);
        let ramp = ramp.sin().square() + 1e-3;
        let window = ramp.outer(&ramp).unsqueeze(0);
        let sum = Tensor::zeros([3, self.canvas_height, self.canvas_width], (kind, device));
        let weight = Tensor::zeros([1, self.canvas_height, self.canvas_width], (kind, device));
        for (i, (y, x)) in self.positions().enumerate() {
            let _ = sum.narrow(1, y, self.tile).narrow(2, x, self.tile).g_add_(&(tiles.get(i as i64) * &window));
            let _ = weight.narrow(1, y, self.tile).narrow(2, x, self.tile).g_add_(&window);
        }
        let covered = weight.gt(0.0);
        let blended = (sum / weight.clamp_min(1e-12)).where_self(&covered, background);
        blended.narrow(1, 0, self.height).narrow(2, 0, self.width)
    }
}

/// Pads `(C, h, w)` to `(C, ch, cw)` by edge replication; returns it with a validity mask.
pub(super) fn pad_to(t: &Tensor, ch: i64, cw: i64) -> (Tensor, Tensor) {
    let (_, h, w) = t.size3().expect("evidence is 3-d");
    let valid = Tensor::ones([1, h, w], (Kind::Float, t.device()));
    if (h, w) == (ch, cw) {
        return (t.shallow_clone(), valid);
    }
    let pad = [0, cw - w, 0, ch - h];
    let padded = t.unsqueeze(0).pad(pad, "replicate", None).squeeze_dim(0);
    (padded, valid.constant_pad_nd(pad))
}

/// The box `(y, x, h, w)` around the missing pixels of a known-pixel mask `(1, H, W)`, grown by
/// `margin` and clamped to the frame; `None` when nothing is missing. Per-frame work that only
/// matters near the damage (fills, motion search) runs on this box instead of the whole frame.
pub(crate) fn missing_region(known: &Tensor, margin: i64) -> Option<(i64, i64, i64, i64)> {
    let (_, h, w) = known.size3().expect("(1, H, W)");
    let missing = known.lt(0.5).squeeze_dim(0);
    let rows = Vec::<bool>::try_from(missing.any_dim(1, false)).ok()?;
    let cols = Vec::<bool>::try_from(missing.any_dim(0, false)).ok()?;
    let y0 = rows.iter().position(|&m| m)? as i64;
    let y1 = rows.iter().rposition(|&m| m)? as i64;
    let x0 = cols.iter().position(|&m| m)? as i64;
    let x1 = cols.iter().rposition(|&m| m)? as i64;
    let (y0, x0) = ((y0 - margin).max(0), (x0 - margin).max(0));
    let (y1, x1) = ((y1 + margin).min(h - 1), (x1 + margin).min(w - 1));
    Some((y0, x0, y1 - y0 + 1, x1 - x0 + 1))
}

/// `t` `(C, H, W)` restricted to a region `(y, x, h, w)`.
pub(crate) fn crop(t: &Tensor, (y, x, h, w): (i64, i64, i64, i64)) -> Tensor {
    t.narrow(1, y, h).narrow(2, x, w)
}
