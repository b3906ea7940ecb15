//! Temporal evidence: pixels missing in this frame but shown by an earlier one.
//!
//! Damage that moves (dirt, scratches, a passing occluder) leaves most of what it hides visible
//! in neighbouring frames. Each earlier frame is aligned to this one by a global translation
//! (coarse-to-fine search of the mean absolute difference over pixels both frames know), then
//! by a small per-block refinement, and left unmoved where that fits a pixel's surroundings
//! clearly better (a still background beside a moving subject); a missing pixel is taken from
//! the nearest aligned frames that know it and agree closely with this one on the known pixels
//! around it (where both the earlier and the later frame do, their mean weighted by how well
//! each fits; a frame unchanged there is copied). Recovered pixels join the evidence as known, so
//! the prior only invents what no frame shows.
//!
//! What the prior invented or added in the last frame ([`Invention`], [`Addition`]) is carried
//! on here too, moved with the picture, where the scene around it stays.

use std::collections::{HashMap, VecDeque};

use tch::{Kind, Tensor};

use super::tiles::{crop, missing_region};
use crate::baselines::box_sum;

/// Search radius of the global shift, in pixels at full resolution (found at ¼ resolution).
const GLOBAL_RADIUS: i64 = 24;
/// Side of the blocks whose shift is refined around the global one, and the refinement radius.
const BLOCK: i64 = 32;
const BLOCK_RADIUS: i64 = 3;
/// Neighbourhood over which two aligned frames must agree for a pixel to be taken.
const AGREEMENT_WINDOW: i64 = 15;
/// Largest mean absolute difference (0–1) in that neighbourhood that still counts as agreement
/// (0.035 → 0.08 raised the dirt PSNR of a handheld clip by 1.8 dB, benches/NOTES.md).
const AGREEMENT_TOLERANCE: f64 = 0.08;
/// Local difference over which a frame's weight in a recovered pixel falls by e: a frame that
/// fits clearly better outweighs one that barely agrees. Chosen between 0.005 and 0.02 on the
/// tuning clips' dirt; on nine held-out segments +0.04 to +0.68 dB over the plain mean
/// (benches/NOTES.md, benchmark 31).
const CONFIDENCE_SCALE: f64 = 0.02;
/// Local difference under which a frame counts as unchanged around a pixel: below the least an
/// 8-bit frame can differ in a full window (one level of one channel, 6e-6), above float
/// round-off.
const UNCHANGED: f64 = 1e-6;

/// A neighbouring frame of the stream, earlier or later: its pixels `(3, H, W)` and known-pixel mask `(1, H, W)`.
pub struct Neighbour {
    pixels: Tensor,
    known: Tensor,
}

/// The last few frames of an inpainting stream, to recover what the current frame misses.
pub struct History {
    frames: VecDeque<Neighbour>,
    depth: usize,
}

/// `t` `(C, H, W)` shifted by (`dy`, `dx`) (content moves down/right), with a mask of where the
/// shifted content exists.
fn shift(t: &Tensor, dy: i64, dx: i64) -> (Tensor, Tensor) {
    let (_, h, w) = t.size3().expect("(C, H, W)");
    let out = t.zeros_like();
    let valid = Tensor::zeros([1, h, w], (Kind::Float, t.device()));
    let ((sy, ty, ly), (sx, tx, lx)) = (overlap(dy, h), overlap(dx, w));
    if ly > 0 && lx > 0 {
        out.narrow(1, ty, ly).narrow(2, tx, lx).copy_(&t.narrow(1, sy, ly).narrow(2, sx, lx));
        let _ = valid.narrow(1, ty, ly).narrow(2, tx, lx).fill_(1.0);
    }
    (out, valid)
}

/// A move by `d` along an axis of `n` pixels: where the overlap starts in the source and in the
/// target, and its length (≤ 0: none).
fn overlap(d: i64, n: i64) -> (i64, i64, i64) {
    if d >= 0 { (0, d, n - d) } else { (-d, 0, n + d) }
}

/// Mean |current − past moved by (`dy`, `dx`)| over the pixels both know, compared in place
/// on the overlap (nothing is copied); infinite when fewer than 16 such pixels overlap.
fn moved_difference(current: &Tensor, known: &Tensor, past: &Tensor, past_known: &Tensor, dy: i64, dx: i64) -> f64 {
    let (_, h, w) = current.size3().expect("(C, H, W)");
    let ((sy, ty, ly), (sx, tx, lx)) = (overlap(dy, h), overlap(dx, w));
    if ly <= 0 || lx <= 0 {
        return f64::INFINITY;
    }
    let here = |t: &Tensor| t.narrow(1, ty, ly).narrow(2, tx, lx);
    let there = |t: &Tensor| t.narrow(1, sy, ly).narrow(2, sx, lx);
    let weight = here(known) * there(past_known);
    let difference = (here(current) - there(past)).abs().mean_dim(0, true, Kind::Float) * &weight;
    let sums = Tensor::stack(&[weight.sum(Kind::Float), difference.sum(Kind::Float)], 0);
    match Vec::<f32>::try_from(sums).as_deref() {
        Ok(&[total, sum]) if total >= 16.0 => (sum / total) as f64,
        _ => f64::INFINITY,
    }
}

/// The shift within `radius` of (`cy`, `cx`) that best aligns `past` to `current`, and its
/// [`moved_difference`].
fn best_shift(current: &Tensor, known: &Tensor, past: &Tensor, past_known: &Tensor, (cy, cx): (i64, i64), radius: i64) -> ((i64, i64), f64) {
    // Nearest candidates first, so a tie (flat content matches at many shifts) keeps the
    // smallest move instead of the search's first corner.
    let mut candidates: Vec<(i64, i64)> = (-radius..=radius).flat_map(|dy| (-radius..=radius).map(move |dx| (dy, dx))).collect();
    candidates.sort_by_key(|(dy, dx)| dy * dy + dx * dx);
    let mut best = ((cy, cx), f64::INFINITY);
    for (dy, dx) in candidates {
        let d = moved_difference(current, known, past, past_known, cy + dy, cx + dx);
        if d < best.1 {
            best = ((cy + dy, cx + dx), d);
        }
    }
    best
}

/// Area-averaged copy of `(C, H, W)` at 1/`factor` resolution, and of its known-pixel mask
/// (known where all were).
fn downscaled(t: &Tensor, mask: &Tensor, factor: i64) -> (Tensor, Tensor) {
    let pool = |x: &Tensor| x.unsqueeze(0).avg_pool2d(factor, factor, 0, true, false, None::<i64>).squeeze_dim(0);
    (pool(t), pool(mask).ge(0.999).to_kind(Kind::Float))
}

/// The translation that best aligns `past` to `current`, coarse to fine: the whole radius at ¼
/// resolution, then ±1 px at ½ and at full resolution (what a ±3 px full-resolution search
/// covers, at a quarter of its cost). A move found beyond that reach is taken only where it
/// fits [`FAR_MOVE_MARGIN`] better than the best within it.
fn global_shift(current: &Tensor, known: &Tensor, past: &Neighbour) -> (i64, i64) {
    let (cur_q, known_q) = downscaled(current, known, 4);
    let (past_q, past_known_q) = downscaled(&past.pixels, &past.known, 4);
    let (coarse, _) = best_shift(&cur_q, &known_q, &past_q, &past_known_q, (0, 0), GLOBAL_RADIUS / 4);
    let (cur_h, known_h) = downscaled(current, known, 2);
    let (past_h, past_known_h) = downscaled(&past.pixels, &past.known, 2);
    let refine = |(gy, gx): (i64, i64)| {
        let ((gy, gx), _) = best_shift(&cur_h, &known_h, &past_h, &past_known_h, (2 * gy, 2 * gx), 1);
        best_shift(current, known, &past.pixels, &past.known, (2 * gy, 2 * gx), 1)
    };
    let (near, near_difference) = refine((0, 0));
    if coarse == (0, 0) {
        return near;
    }
    let (far, far_difference) = refine(coarse);
    if far_difference * (1.0 + FAR_MOVE_MARGIN) < near_difference { far } else { near }
}

/// How much better (as a share of the difference) a far move must fit than the best near one.
/// A straight edge fits every slide along it alike, and a far slide overlaps less of the ring
/// around a hole, so on a camera moving 3 px a frame over a sheet's edge (ViSP's line sequence)
/// slides of up to 25 px won by chance: a still hole's carried fill and the pixels recovered for
/// it jumped along the edge from frame to frame (rect temporal error 0.00376, Telea's 0.00282;
/// 0.00269 with the margin, no other segment changed; benches/NOTES.md, benchmark 34).
const FAR_MOVE_MARGIN: f64 = 0.1;

/// `past` aligned to `current`: a global shift, refined block by block where this frame misses
/// pixels, and left unmoved wherever that fits better ([`prefer_unmoved`]). Returns the aligned
/// pixels, where they are known, and how far each differs from `current` around it
/// ([`local_difference`] of the alignment it came by).
fn align(current: &Tensor, known: &Tensor, past: &Neighbour) -> (Tensor, Tensor, Tensor) {
    let (aligned, aligned_known) = shifted_by_blocks(current, known, past);
    prefer_unmoved(current, known, past, aligned, aligned_known)
}

/// `aligned` `(3, H, W)` (known where `aligned_known` is 1) with the unmoved `past` put back
/// wherever it differs from `current` around the pixel ([`local_difference`]) by less than
/// [`UNMOVED_PREFERENCE`] times as much, and that difference per pixel. A block's shift follows
/// what moves most in it: beside a walker crossing a still background, blotches were filled
/// with the background dragged askew (a street, dirt over 6 frames: 36.35 dB on the blotches
/// against the temporal hold's 38.29, 37.88 with this; benches/NOTES.md, benchmark 30). Each
/// pixel's agreement is judged on the alignment it came by: judged on the mixed one, a static
/// hole's edge took more pixels from a shift walkers had pulled (rect temporal error up).
fn prefer_unmoved(current: &Tensor, known: &Tensor, past: &Neighbour, aligned: Tensor, aligned_known: Tensor) -> (Tensor, Tensor, Tensor) {
    let shifted = local_difference(current, &aligned, &(known * &aligned_known));
    let unshifted = local_difference(current, &past.pixels, &(known * &past.known));
    let unmoved = unshifted.lt_tensor(&(&shifted * UNMOVED_PREFERENCE)).logical_and(&past.known.gt(0.5));
    (past.pixels.where_self(&unmoved, &aligned), past.known.where_self(&unmoved, &aligned_known), unshifted.where_self(&unmoved, &shifted))
}

/// How much better (as a ratio of local differences) the unmoved earlier frame must fit for
/// [`prefer_unmoved`] to take it: chosen among 0.5, 0.7 and 1 on the four tuning clips' dirt.
const UNMOVED_PREFERENCE: f64 = 0.7;

/// `past` moved by the global shift, refined block by block where this frame misses pixels.
fn shifted_by_blocks(current: &Tensor, known: &Tensor, past: &Neighbour) -> (Tensor, Tensor) {
    let (gy, gx) = global_shift(current, known, past);
    let mut moved_cache: HashMap<(i64, i64), (Tensor, Tensor)> = HashMap::new();
    let mut moved = |dy: i64, dx: i64| {
        let (pixels, pixels_known) = moved_cache.entry((dy, dx)).or_insert_with(|| {
            let (pixels, valid) = shift(&past.pixels, dy, dx);
            let (past_known, _) = shift(&past.known, dy, dx);
            (pixels, past_known * valid)
        });
        (pixels.shallow_clone(), pixels_known.shallow_clone())
    };
    let (global, global_known) = moved(gy, gx);
    let (aligned, aligned_known) = (global.copy(), global_known.copy());
    // Blocks worth refining: missing pixels that the past frame, moved by any refinement,
    // could show (a static hole in a still shot has none).
    let side = 2 * BLOCK_RADIUS + 1;
    let reachable = global_known.unsqueeze(0).max_pool2d([side, side], [1, 1], [BLOCK_RADIUS, BLOCK_RADIUS], [1, 1], false).squeeze_dim(0);
    let wanted = known.lt(0.5).logical_and(&reachable.gt(0.5));
    let (_, h, w) = current.size3().expect("(3, H, W)");
    let (rows, cols) = ((h + BLOCK - 1) / BLOCK, (w + BLOCK - 1) / BLOCK);
    let wanted_blocks = block_sums(&wanted.to_kind(Kind::Float), rows, cols, 0);
    if !bool::try_from(wanted_blocks.gt(0.0).any()).unwrap_or(false) {
        return (aligned, aligned_known);
    }
    let shifts = block_shifts(current, known, past, (gy, gx), rows, cols);
    let wanted_blocks = Vec::<f32>::try_from(wanted_blocks.flatten(0, -1)).unwrap_or_default();
    paste_moved_blocks(&[&aligned, &aligned_known], &shifts, cols, |i, (by, bx)| {
        if wanted_blocks.get(i).is_none_or(|&n| n == 0.0) || (by, bx) == (gy, gx) {
            return None;
        }
        let (pixels, pixels_known) = moved(by, bx);
        Some(vec![pixels, pixels_known])
    });
    (aligned, aligned_known)
}

/// Copies into each [`BLOCK`]-sized block of `targets` `(C, H, W)` (row-major, `cols` per row)
/// the same block of what `moved` gives for its index and shift (one tensor per target), if it
/// gives anything.
fn paste_moved_blocks(targets: &[&Tensor], shifts: &[(i64, i64)], cols: i64, mut moved: impl FnMut(usize, (i64, i64)) -> Option<Vec<Tensor>>) {
    let (_, h, w) = targets[0].size3().expect("(C, H, W)");
    for (i, &shift) in shifts.iter().enumerate() {
        let Some(sources) = moved(i, shift) else { continue };
        let (y, x) = ((i as i64 / cols) * BLOCK, (i as i64 % cols) * BLOCK);
        let block = |t: &Tensor| t.narrow(1, y, BLOCK.min(h - y)).narrow(2, x, BLOCK.min(w - x));
        for (target, source) in targets.iter().zip(&sources) {
            block(target).copy_(&block(source));
        }
    }
}

/// Sums of `(C, H, W)` over `BLOCK`-sized blocks widened by `margin` (a multiple of [`BLOCK`],
/// half on each side), `(C, rows, cols)` for the blocks starting at multiples of [`BLOCK`]: each
/// [`BLOCK`]² cell summed once, then neighbouring cells added (a full-resolution summed-area
/// table in double precision took most of a dirt frame's alignment, benches/NOTES.md
/// benchmark 21).
fn block_sums(t: &Tensor, rows: i64, cols: i64, margin: i64) -> Tensor {
    debug_assert_eq!(margin % BLOCK, 0);
    let (_, h, w) = t.size3().expect("(C, H, W)");
    let half = margin / 2;
    let padded = t.constant_pad_nd([half, half + cols * BLOCK - w, half, half + rows * BLOCK - h]);
    let sum_pool = |x: &Tensor, k: i64, stride: i64| x.unsqueeze(0).avg_pool2d([k, k], [stride, stride], [0, 0], false, true, Some(1)).squeeze_dim(0);
    let cells = sum_pool(&padded, BLOCK, BLOCK);
    match 1 + margin / BLOCK {
        1 => cells,
        k => sum_pool(&cells, k, 1),
    }
}

/// The best shift of every block within ±[`BLOCK_RADIUS`] of the global one or of none (a still
/// background behind a moving subject, which can pull the global shift its way): the mean
/// absolute difference over the block and a margin (so blocks that are mostly damage still
/// align), all blocks at once per candidate, compared in place on the overlap (nothing is moved);
/// smallest moves first, so ties keep the smaller.
fn block_shifts(current: &Tensor, known: &Tensor, past: &Neighbour, (gy, gx): (i64, i64), rows: i64, cols: i64) -> Vec<(i64, i64)> {
    let around = |(cy, cx): (i64, i64)| {
        (-BLOCK_RADIUS..=BLOCK_RADIUS).flat_map(move |dy| (-BLOCK_RADIUS..=BLOCK_RADIUS).map(move |dx| (cy + dy, cx + dx)))
    };
    let mut candidates: Vec<(i64, i64)> = around((gy, gx)).chain(around((0, 0))).collect();
    candidates.sort_by_key(|&(dy, dx)| (dy * dy + dx * dx, dy, dx));
    candidates.dedup();
    let mut best_cost = Tensor::full([1, rows, cols], f64::INFINITY, (Kind::Float, current.device()));
    let mut best_index = Tensor::zeros([1, rows, cols], (Kind::Int64, current.device()));
    let (_, h, w) = current.size3().expect("(C, H, W)");
    for (i, &(dy, dx)) in candidates.iter().enumerate() {
        let ((sy, ty, ly), (sx, tx, lx)) = (overlap(dy, h), overlap(dx, w));
        if ly <= 0 || lx <= 0 {
            continue;
        }
        let here = |t: &Tensor| t.narrow(1, ty, ly).narrow(2, tx, lx);
        let there = |t: &Tensor| t.narrow(1, sy, ly).narrow(2, sx, lx);
        let weight = here(known) * there(&past.known);
        let diff = (here(current) - there(&past.pixels)).abs().mean_dim(0, true, Kind::Float) * &weight;
        let in_frame = Tensor::cat(&[&weight, &diff], 0).constant_pad_nd([tx, w - tx - lx, ty, h - ty - ly]);
        let sums = block_sums(&in_frame, rows, cols, BLOCK);
        let (support, total) = (sums.narrow(0, 0, 1), sums.narrow(0, 1, 1));
        let cost = (total / support.clamp_min(1.0)).where_self(&support.ge(16.0), &Tensor::from(f32::INFINITY));
        let better = cost.lt_tensor(&best_cost);
        best_cost = cost.where_self(&better, &best_cost);
        best_index = best_index.where_self(&better.logical_not(), &Tensor::from(i as i64));
    }
    Vec::<i64>::try_from(best_index.flatten(0, -1))
        .unwrap_or_default()
        .into_iter()
        .map(|i| candidates[i as usize])
        .collect()
}

/// `aligned` `(3, H, W)` corrected towards `current` where they share known pixels (`both`):
/// their difference there is filled smoothly into the rest and added, so a pixel taken from
/// another frame keeps that frame's detail but the current frame's local brightness and colour
/// (seamless cloning). A moving, turning or flickering subject otherwise leaves the dirt
/// it filled as lighter or darker stripes and discs: on fast motion (Big Buck Bunny from frame
/// 8,000, 3 frames) 36.78 dB / 0.0067 LPIPS without, 38.61 / 0.0032 with (benches/NOTES.md,
/// benchmark 9).
fn match_surroundings(aligned: &Tensor, current: &Tensor, both: &Tensor) -> Tensor {
    let difference = (current - aligned) * both;
    (aligned + crate::baselines::smooth_fill(&difference, both)).clamp(0.0, 1.0)
}

/// Mean absolute difference between `a` and `b` `(3, H, W)` around each pixel, over the pixels
/// `both` `(1, H, W)` marks: in a [`AGREEMENT_WINDOW`] square, or where that holds too few of
/// them (inside wide damage) in squares twice and four times as wide; infinite where none does.
fn local_difference(a: &Tensor, b: &Tensor, both: &Tensor) -> Tensor {
    let diff = (a - b).abs().mean_dim(0, true, Kind::Float) * both;
    let mut local = diff.full_like(f64::INFINITY);
    for window in [AGREEMENT_WINDOW, 2 * AGREEMENT_WINDOW + 1, 4 * AGREEMENT_WINDOW + 3] {
        let support = box_sum(both, window);
        let enough = support.ge((window * window / 8) as f64).logical_and(&local.isinf());
        local = (box_sum(&diff, window) / support.clamp_min(1.0)).where_self(&enough, &local);
    }
    local
}

/// How alike `now` and `moved` `(C, H, W)` are around each pixel, judged on the pixels `both`
/// `(1, H, W)` marks once their local brightness is matched (flicker is no change of content):
/// exp(−d / `tolerance`) of the local mean difference d ([`local_difference`]), 0 where
/// nothing near was judged; and where something was.
fn likeness(now: &Tensor, moved: &Tensor, both: &Tensor, tolerance: f64) -> (Tensor, Tensor) {
    let offset = box_sum(&((now - moved) * both), AGREEMENT_WINDOW) / box_sum(both, AGREEMENT_WINDOW).clamp_min(1.0);
    let local = local_difference(now, &(moved + offset), both);
    let judged = local.isfinite().to_kind(Kind::Float);
    ((local.nan_to_num(0.0, 0.0, 0.0) / -tolerance).exp() * &judged, judged)
}

/// What the last frame's restoration invented: its output `(3, H, W)` less the texture mirrored
/// into its holes, that texture, and the pixels that were known (evidence or taken from other
/// frames) `(1, H, W)`; the rest came from the fill and the prior.
pub struct Invention {
    output: Tensor,
    texture: Option<Tensor>,
    known: Tensor,
}

/// Width of the ring of known pixels around the damage on which an invention's move is
/// found: over the whole region a subject moving elsewhere pulled the shift its way and slid a
/// still hole's content sideways (Big Buck Bunny from 4,800, benches/NOTES.md benchmark 10).
const CARRY_RING: i64 = 24;
/// Largest share of an earlier invention a pixel keeps while the shot moves (all of it while the
/// surroundings stand still), and the local difference (0–1) between the frames around it over
/// which that share falls by e: where the surroundings change, the fill and prior are asked
/// afresh (four tuning clips, benchmark 10; the tolerance 0.05 → 0.1 with [`CARRY_EDGE`],
/// benchmark 28). What the prior added ([`Addition`]) keeps 0.05.
const CARRY_WEIGHT: f64 = 0.9;
const CARRY_TOLERANCE: f64 = 0.1;
const ADDITION_TOLERANCE: f64 = 0.05;
/// Change (0–1, mean of the channels) of a surrounding pixel between the frames above which it
/// is taken for a change of content, not of light, and left out when an invention is matched
/// to its surroundings (13 of 255 levels). Static rectangles ¼ × ¼ of the frame
/// (benches/NOTES.md, benchmark 36): temporal error lower on four of five tuning clips (Big Buck
/// Bunny from 4,800: LPIPS 0.2841 → 0.2742) and on the held-out street with walkers (0.00172 →
/// 0.00137, under Telea's 0.00167), whose hole PSNR fell 0.22 dB.
const CONTENT_CHANGE: f64 = 0.05;
/// Width over which the lean fades in beside pixels the earlier frame knew (from none at
/// their edge to full this far away). Stepping there drew the earlier hole's outline into this
/// one as a seam wherever the ring's shift followed a subject rather than the background (a
/// rabbit entering beside a still sky, Big Buck Bunny from 4,800): with [`CARRY_TOLERANCE`]
/// 0.1, rect LPIPS on the four tuning clips 1.3179 → 1.3135 in sum and temporal error lower on
/// three, the seams gone (benches/NOTES.md, benchmark 28).
const CARRY_EDGE: i64 = 17;

impl Invention {
    /// `output` as restored, with `texture` (part of it) the surroundings' texture mirrored into
    /// its holes.
    pub fn new(output: &Tensor, known: &Tensor, texture: Option<&Tensor>) -> Self {
        let output = output.to_kind(Kind::Float);
        let texture = texture.map(|t| t.to_kind(Kind::Float).to_device(output.device()));
        Self {
            output: texture.as_ref().map_or_else(|| output.shallow_clone(), |t| &output - t),
            texture,
            known: known.to_kind(Kind::Float).to_device(output.device()),
        }
    }

    /// `output` with the pixels invented both in it and in this earlier frame leaning towards
    /// the earlier invention, moved with the camera and matched to the light of this frame's
    /// surroundings (not to a passer-by there): a hole that stays is filled the same way frame
    /// after frame, following the light and motion around it, instead of being redrawn (the
    /// render's detail flickered: temporal error above Telea's on every static rectangle of
    /// benchmark 9). The lean is 1 where the surroundings stand still, else [`CARRY_WEIGHT`]
    /// where they agree, fading as they differ. The mirrored texture (`texture`, part of
    /// `output`) is held whole where the earlier hole was too while the camera stands still (no
    /// shift), and leans as the rest does while it moves: mirrored afresh it followed the
    /// surroundings' noise and passers-by from frame to frame (benches/NOTES.md, benchmark 33).
    /// Returns the output and the texture it holds.
    pub fn carry(&self, output: &Tensor, known: &Tensor, texture: Option<&Tensor>) -> (Tensor, Option<Tensor>) {
        let _guard = tch::no_grad_guard();
        let unchanged = || (output.shallow_clone(), texture.map(Tensor::shallow_clone));
        let known = known.to_kind(Kind::Float).to_device(output.device());
        let Some(region) = missing_region(&known, GLOBAL_RADIUS + 2 * BLOCK) else { return unchanged() };
        if self.output.size() != output.size() {
            return unchanged();
        }
        // An earlier texture is held only into a frame that has one (not into a fallback's).
        let has_texture = texture.is_some();
        let earlier_texture = self.texture.as_ref().filter(|_| has_texture);
        let texture = texture.map_or_else(|| output.zeros_like(), |t| t.to_kind(Kind::Float).to_device(output.device()));
        let (now, now_known) = (crop(output, region) - crop(&texture, region), crop(&known, region));
        let past = Neighbour { pixels: crop(&self.output, region), known: crop(&self.known, region) };
        let ring = missing_region(&now_known, CARRY_RING).expect("the same mask misses pixels");
        let past_ring = Neighbour { pixels: crop(&past.pixels, ring), known: crop(&past.known, ring) };
        let (dy, dx) = global_shift(&crop(&now, ring), &crop(&now_known, ring), &past_ring);
        let (moved, valid) = shift(&past.pixels, dy, dx);
        let (moved_known, _) = shift(&past.known, dy, dx);
        let both = &now_known * &moved_known * &valid;
        // Only the surroundings' change of light is carried in: a pixel that changed by more than
        // [`CONTENT_CHANGE`] changed what it shows (a passer-by at the hole's edge), and spread
        // in it darkened or lightened the whole earlier invention from one frame to the next.
        let steady = (&now - &moved).abs().mean_dim(0, true, Kind::Float).le(CONTENT_CHANGE).to_kind(Kind::Float);
        let carried = match_surroundings(&moved, &now, &(&both * steady));
        // Likeness spread smoothly into damage too wide to judge.
        let (alike, judged) = likeness(&now, &moved, &both, CARRY_TOLERANCE);
        let alike = crate::baselines::smooth_fill(&alike, &judged);
        let weight = if still_around(&crop(&now, ring), &crop(&moved, ring), &crop(&both, ring)) { 1.0 } else { CARRY_WEIGHT };
        // Pixels of this hole that the earlier frame knew (its hole, moved by a shift that suits
        // only part of the ring, lies elsewhere) take the fresh render, and the lean ramps up
        // beside them (widened by half the ramp, then box-averaged) rather than stepping.
        let seen_before: Tensor = &moved_known * (1.0 - &now_known);
        let widened = box_sum(&seen_before, CARRY_EDGE).gt(0.5).to_kind(Kind::Float);
        let near_seen = box_sum(&widened, CARRY_EDGE) / (CARRY_EDGE * CARRY_EDGE) as f64;
        let missing_both = (1.0 - &now_known) * (1.0 - &moved_known) * &valid;
        let lean = &missing_both * (1.0 - near_seen) * alike * weight;
        let texture_now = crop(&texture, region);
        let held = match earlier_texture {
            Some(earlier) => {
                let texture_lean = if (dy, dx) == (0, 0) { &missing_both } else { &lean };
                &texture_now + (shift(&crop(earlier, region), dy, dx).0 - &texture_now) * texture_lean
            }
            None => texture_now.shallow_clone(),
        };
        let result = output.copy();
        crop(&result, region).copy_(&(&now + (carried - &now) * lean + &held));
        let texture = texture.copy();
        crop(&texture, region).copy_(&held);
        (result, has_texture.then_some(texture))
    }
}

/// Whether the shot stands still around the damage: the ring's pixels known in both frames
/// (`both`) differ by less than [`STILL_SHOT`] on average between `now` and the earlier frame
/// moved onto it. What such a hole hides has no reason to change, so its earlier invention is
/// kept whole rather than leaned on: each fresh render's share is flicker there (a still shot
/// of Big Buck Bunny from 7,000: temporal error 0.00005 → 0.000005, Telea 0.00001;
/// benches/NOTES.md, benchmark 17). A talking face's or a walker's ring moves, and so does
/// camera noise; those keep the lean.
fn still_around(now: &Tensor, moved: &Tensor, both: &Tensor) -> bool {
    let change = ((now - moved).abs().mean_dim(0, true, Kind::Float) * both).sum(Kind::Float) / both.sum(Kind::Float).clamp_min(1.0);
    f64::try_from(change).is_ok_and(|change| change < STILL_SHOT)
}

/// Mean absolute change (0–1) of a still shot's surroundings: half an 8-bit level. Decoded still
/// shots of Big Buck Bunny change by 0.0000–0.0003, the tuning clips' moving ones by 0.009–0.07.
const STILL_SHOT: f64 = 0.002;

/// What the prior added to the last frame above what its evidence alone gives: colorization's
/// colour over the gray, super-resolution's detail over the bicubic upscale. `added` is
/// `(3, H, W)`; `guide` `(1, H, W)` is the evidence's gray at the output's size, on which the
/// camera's move and the scene's agreement are found.
pub struct Addition {
    guide: Tensor,
    added: Tensor,
    carry: Carry,
}

/// How an [`Addition`] leans on the last frame's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Carry {
    /// All of it where the guides agree, fading with their difference (as inventions are
    /// carried, without [`CARRY_WEIGHT`]'s tenth of the fresh render). Super-resolution's detail
    /// must follow the evidence, which back-projection then enforces where the scene moved.
    Lean,
    /// All of it wherever the guides are at least [`HOLD_LIKENESS`] alike, none elsewhere.
    /// Colour rides on an exact gray, so a held colour costs nothing where the scene moved a
    /// little, and colour redrawn where the scene stays is flicker the truth does not have: on
    /// the four tuning clips colour's temporal error came to the gray copy's or within 2 % of
    /// it, from 1–6 % above (benches/NOTES.md, benchmark 14). Held detail cost ×4's flicker.
    Hold,
}

/// Likeness ([`likeness`]) above which [`Carry::Hold`] keeps the last frame's addition: a local
/// difference below about 0.08 (chosen among 0.1, 0.2 and 0.5).
const HOLD_LIKENESS: f64 = 0.2;

/// `(1, H, W)`: 1 where [`Carry::Hold`] keeps the last frame's addition, given each pixel's
/// likeness `still` to the moved last frame ([`Addition::carry`]), else 0.
pub(super) fn hold_mask(still: &Tensor) -> Tensor {
    still.gt(HOLD_LIKENESS).to_kind(Kind::Float)
}

impl Addition {
    /// `output` `(3, H, W)` over `base` `(1 or 3, H, W)`, what the evidence alone gives.
    pub fn new(output: &Tensor, base: &Tensor, carry: Carry) -> Self {
        let base = base.to_kind(Kind::Float).to_device(output.device());
        Self { guide: base.mean_dim(0, true, Kind::Float), added: output.to_kind(Kind::Float) - &base, carry }
    }

    /// `output` with what it adds above `base` leaning towards what the last frame added (as
    /// [`Carry`] says), moved with the camera and, block by block, with what moves in front of
    /// it (a subject entering Big Buck Bunny from 4,800: the colour's temporal error 0.00363 →
    /// 0.00322, benches/NOTES.md benchmark 12), each pixel by whichever of its block's move, the
    /// camera's or none fits it best (benchmark 14): colour and detail the evidence does not fix
    /// do not flicker where the scene stays. The caller makes the result agree with the evidence
    /// again (match its gray, back-project). Returned with each pixel's likeness (0–1, `(1, H,
    /// W)`) to the moved last frame: how still the scene stands there.
    pub fn carry(&self, output: &Tensor, base: &Tensor) -> (Tensor, Tensor) {
        let _guard = tch::no_grad_guard();
        let base = base.to_kind(Kind::Float).to_device(output.device());
        let guide = base.mean_dim(0, true, Kind::Float);
        if self.guide.size() != guide.size() || self.added.size() != output.size() {
            return (output.shallow_clone(), guide.zeros_like());
        }
        let everywhere = guide.ones_like();
        let (dy, dx) = global_shift(&guide, &everywhere, &Neighbour { pixels: self.guide.shallow_clone(), known: everywhere.shallow_clone() });
        let (moved_guide, mut valid, mut moved_added) = self.moved_by_blocks(&guide, (dy, dx));
        let (mut alike, _) = likeness(&guide, &moved_guide, &valid, ADDITION_TOLERANCE);
        // Pixel by pixel, the camera's move or none where either fits better than the block's:
        // a block that a walker dominates moves the still background beside him too.
        let mut moves = vec![(dy, dx), (0, 0)];
        moves.dedup();
        for (my, mx) in moves {
            let (moved_guide, moved_valid) = shift(&self.guide, my, mx);
            let (this_alike, _) = likeness(&guide, &moved_guide, &moved_valid, ADDITION_TOLERANCE);
            let better = this_alike.gt_tensor(&alike);
            moved_added = shift(&self.added, my, mx).0.where_self(&better, &moved_added);
            valid = moved_valid.where_self(&better, &valid);
            alike = this_alike.where_self(&better, &alike);
        }
        let added = output.to_kind(Kind::Float) - &base;
        let still = valid * alike;
        let weight = match self.carry {
            Carry::Lean => still.shallow_clone(),
            Carry::Hold => hold_mask(&still),
        };
        (&base + &added + (moved_added - &added) * weight, still)
    }

    /// The last frame's guide, validity and addition moved to `guide` block by block: each
    /// block's shift within ±[`BLOCK_RADIUS`] of the global one or of none.
    fn moved_by_blocks(&self, guide: &Tensor, global: (i64, i64)) -> (Tensor, Tensor, Tensor) {
        let mut cache: HashMap<(i64, i64), (Tensor, Tensor)> = HashMap::new();
        let mut moved = |dy: i64, dx: i64| {
            let (pixels, valid) = cache.entry((dy, dx)).or_insert_with(|| shift(&self.guide, dy, dx));
            (pixels.shallow_clone(), valid.shallow_clone())
        };
        let (_, h, w) = guide.size3().expect("(1, H, W)");
        let (rows, cols) = ((h + BLOCK - 1) / BLOCK, (w + BLOCK - 1) / BLOCK);
        let last = Neighbour { pixels: self.guide.shallow_clone(), known: self.guide.ones_like() };
        let shifts = block_shifts(guide, &guide.ones_like(), &last, global, rows, cols);
        let (moved_guide, valid, moved_added) = (self.guide.zeros_like(), guide.zeros_like(), self.added.zeros_like());
        let mut added_cache: HashMap<(i64, i64), Tensor> = HashMap::new();
        paste_moved_blocks(&[&moved_guide, &valid, &moved_added], &shifts, cols, |_, (by, bx)| {
            let (guide, valid) = moved(by, bx);
            let added = added_cache.entry((by, bx)).or_insert_with(|| shift(&self.added, by, bx).0);
            Some(vec![guide, valid, added.shallow_clone()])
        });
        (moved_guide, valid, moved_added)
    }
}

impl Neighbour {
    pub fn new(pixels: &Tensor, known: &Tensor) -> Self {
        Self { pixels: pixels.to_kind(Kind::Float), known: known.to_kind(Kind::Float) }
    }
}

impl History {
    /// Remembers up to `depth` frames (0 turns temporal evidence off).
    pub fn new(depth: usize) -> Self {
        Self { frames: VecDeque::new(), depth }
    }

    pub fn clear(&mut self) {
        self.frames.clear();
    }

    /// Fills what it can of the missing pixels of `pixels` `(3, H, W)` (known where `known`
    /// `(1, H, W)` is 1) from earlier frames, then remembers this frame. Returns the evidence and
    /// known mask with the recovered pixels in, and how many pixels were recovered.
    #[cfg(test)]
    pub fn recover(&mut self, pixels: &Tensor, known: &Tensor) -> (Tensor, Tensor, i64) {
        self.recover_with_upcoming(pixels, known, &[])
    }

    /// [`History::recover`] that also searches `upcoming` frames (nearest first), by distance
    /// from this one: t∓1, then t∓2, …
    pub fn recover_with_upcoming(&mut self, pixels: &Tensor, known: &Tensor, upcoming: &[Neighbour]) -> (Tensor, Tensor, i64) {
        let _guard = tch::no_grad_guard();
        let full_pixels = pixels.to_kind(Kind::Float);
        let full_known = known.to_kind(Kind::Float);
        let evidence_out = full_pixels.copy();
        let known_out = full_known.copy();
        // Motion is searched and pixels taken only in a box around the damage.
        let region = missing_region(&full_known, GLOBAL_RADIUS + 2 * BLOCK);
        if let Some(region) = region {
            let pixels = crop(&full_pixels, region);
            let known = crop(&full_known, region);
            let (evidence, now_known) = self.recover_in(&pixels, &known, upcoming, &full_pixels, region);
            crop(&evidence_out, region).copy_(&evidence);
            crop(&known_out, region).copy_(&now_known);
        }
        let recovered = f64::try_from((&known_out - &full_known).sum(Kind::Float)).unwrap_or(0.0) as i64;
        self.remember(Neighbour { pixels: full_pixels, known: full_known });
        (evidence_out, known_out, recovered)
    }

    /// Remembers a frame for the ones after it, dropping the oldest beyond the depth.
    pub fn remember(&mut self, frame: Neighbour) {
        if self.depth > 0 {
            self.frames.push_front(frame);
            self.frames.truncate(self.depth);
        }
    }

    /// The recovery on a region of the frame (`pixels`, `known` are that region of `full`).
    /// Frames as far before as after this one are taken together: where both show a missing
    /// pixel it gets their mean, which halves the variance of those frames' own noise on still
    /// content and lands between the two moments on moving content (dirt, 6 frames of seven
    /// clips: +0.7 to +2.4 dB on five, street +0.03, a flat cartoon already at 65 dB −2.4;
    /// benches/NOTES.md, benchmark 15), each weighted by how well it fits around the pixel
    /// ([`CONFIDENCE_SCALE`]). A frame unchanged around the pixel (a held or duplicated frame, a
    /// still title) gives it as it is ([`UNCHANGED`]).
    fn recover_in(&self, pixels: &Tensor, known: &Tensor, upcoming: &[Neighbour], full: &Tensor, region: (i64, i64, i64, i64)) -> (Tensor, Tensor) {
        let mut evidence = pixels.copy();
        let mut now_known = known.copy();
        let fits = |p: &&Neighbour| p.pixels.size() == full.size();
        for distance in 0..self.frames.len().max(upcoming.len()) {
            if !bool::try_from(now_known.lt(0.5).any()).unwrap_or(false) {
                break;
            }
            let (mut sum, mut weight) = (evidence.zeros_like(), now_known.zeros_like());
            let (mut unchanged_sum, mut unchanged_count) = (evidence.zeros_like(), now_known.zeros_like());
            for past in [self.frames.get(distance), upcoming.get(distance)].into_iter().flatten().filter(fits) {
                let past = Neighbour { pixels: crop(&past.pixels, region), known: crop(&past.known, region) };
                let (aligned, aligned_known, difference) = align(pixels, known, &past);
                let both = known * &aligned_known;
                let agrees = difference.le(AGREEMENT_TOLERANCE);
                let take = now_known.lt(0.5).logical_and(&aligned_known.gt(0.5)).logical_and(&agrees);
                if !bool::try_from(take.any()).unwrap_or(false) {
                    continue; // this frame shows none of the missing pixels
                }
                let take = take.to_kind(Kind::Float);
                let unchanged = difference.le(UNCHANGED).to_kind(Kind::Float) * &take;
                unchanged_sum += &aligned * &unchanged;
                unchanged_count += unchanged;
                let confidence = (difference.clamp_max(AGREEMENT_TOLERANCE) / -CONFIDENCE_SCALE).exp() * &take;
                sum += match_surroundings(&aligned, pixels, &both) * &confidence;
                weight += confidence;
            }
            let recovered = (unchanged_sum / unchanged_count.clamp_min(1.0))
                .where_self(&unchanged_count.gt(0.0), &(sum / weight.clamp_min(1e-12)));
            let taken = weight.gt(0.0).to_kind(Kind::Float);
            evidence = &evidence * (1.0 - &taken) + recovered * &taken;
            now_known = &now_known + taken;
        }
        (evidence, now_known)
    }
}

/// What a stream's frames invent, put on the 8-bit levels the elements write, with the last
/// frame's level kept where a value moved by less than [`STEADY_BAND`]: held colour and a still
/// hole's carried fill change by fractions of a level with the evidence's noise, and rounded
/// afresh they crossed a step here and there, a one-level flicker that the gray copy and
/// OpenCV's fills do not have (and that an encoder spends bits on). Six frames through
/// `gst-launch-1.0` (benches/NOTES.md, benchmark 39): colour's temporal error lower on all five
/// tuning clips (under the gray copy's on three, from over it on all five) and on fifteen of
/// sixteen held-out segments, LPIPS and PSNR as they were; rectangles' lower on all five tuning
/// clips and fourteen of sixteen held-out segments, LPIPS within ±0.003.
#[derive(Default)]
pub struct SteadyLevels {
    levels: Option<Tensor>,
}

/// A value's distance in 8-bit levels from the last frame's level within which that level is kept.
const STEADY_BAND: f64 = 1.0;

impl SteadyLevels {
    /// `image` `(3, H, W)` in [0, 1] as `base` (what the evidence gives, on the 8-bit grid, e.g.
    /// the gray; or zero) plus whole levels, where `free` (`(1, H, W)`, 1 where the value was
    /// invented; everywhere if `None`) may keep the last frame's level.
    pub fn settle(&mut self, image: &Tensor, base: &Tensor, free: Option<&Tensor>) -> Tensor {
        let _guard = tch::no_grad_guard();
        let offset = (image - base) * 255.0;
        let mut levels = offset.round();
        if let Some(previous) = self.levels.as_ref().filter(|p| p.size() == levels.size()) {
            let mut keep = (&offset - previous).abs().le(STEADY_BAND);
            if let Some(free) = free {
                keep = keep.logical_and(&free.to_device(keep.device()).gt(0.5));
            }
            levels = previous.where_self(&keep, &levels);
        }
        let settled = (base + &levels / 255.0).clamp(0.0, 1.0);
        self.levels = Some(levels);
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured frame whose content moves by (dy, dx) per frame, with a blotch at a new place.
    fn frame(t: i64, dy: i64, dx: i64) -> Tensor {
        let (h, w) = (96i64, 128i64);
        let ys = Tensor::arange(h, (Kind::Float, tch::Device::Cpu)).view([h, 1]) - (t * dy) as f64;
        let xs = Tensor::arange(w, (Kind::Float, tch::Device::Cpu)).view([1, w]) - (t * dx) as f64;
        let r = ((&ys * 0.21).sin() * (&xs * 0.13).cos() + 1.0) * 0.5;
        let g = ((&xs * 0.31 + &ys * 0.07).sin() + 1.0) * 0.5;
        let b = ((&ys * 0.05).cos() * 0.5 + 0.5).expand([h, w], false);
        Tensor::stack(&[r, g, b], 0)
    }

    #[test]
    fn settled_levels_keep_the_last_frames_within_a_level_where_invented() {
        let cpu = (Kind::Float, tch::Device::Cpu);
        let base = Tensor::from_slice(&[10.0f32, 20.0, 30.0, 40.0]).view([1, 1, 4]) / 255.0;
        let level = |offsets: &[f32]| Tensor::from_slice(offsets).view([1, 1, 4]);
        let mut steady = SteadyLevels::default();
        let first = steady.settle(&(&base + level(&[2.4, 2.6, -1.2, 0.3]) / 255.0), &base, None);
        let levels = |image: &Tensor| Vec::<f32>::try_from(((image - &base) * 255.0).round().flatten(0, -1)).unwrap();
        assert_eq!(levels(&first), [2.0, 3.0, -1.0, 0.0]);
        // Under a level from the last frame's: kept, even past the rounding step; over: rounded
        // afresh; where nothing was invented: rounded as it is.
        let free = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 0.0]).view([1, 1, 4]);
        let next = steady.settle(&(&base + level(&[2.9, 1.6, -2.6, 0.6]) / 255.0), &base, Some(&free));
        assert_eq!(levels(&next), [2.0, 2.0, -3.0, 1.0]);
        // On the 8-bit grid, within [0, 1].
        assert!(f64::try_from(((&next * 255.0) - (&next * 255.0).round()).abs().max()).unwrap() < 1e-4);
        let bright = steady.settle(&Tensor::ones([1, 1, 4], cpu), &(Tensor::ones([1, 1, 4], cpu) * 0.999), None);
        assert!(f64::try_from(bright.max()).unwrap() <= 1.0);
    }

    #[test]
    fn box_and_block_sums_match_direct_sums() {
        let t = Tensor::rand([1, 37, 53], (Kind::Float, tch::Device::Cpu));
        let direct = t.unsqueeze(0).avg_pool2d([9, 9], [1, 1], [4, 4], false, true, None::<i64>).squeeze_dim(0) * 81.0;
        assert!(f64::try_from((box_sum(&t, 9) - direct).abs().max()).unwrap() < 1e-4);
        // Blocks of 32 widened by 32 over a 2 × 2 grid: block (1, 0) spans rows 16..37, cols 0..48.
        let blocks = block_sums(&t, 2, 2, BLOCK);
        let expected = f64::try_from(t.narrow(1, 16, 21).narrow(2, 0, 48).sum(Kind::Float)).unwrap();
        assert!((f64::try_from(blocks.get(0).get(1).get(0)).unwrap() - expected).abs() < 1e-3);
    }

    #[test]
    fn moving_damage_is_recovered_from_the_previous_frame_after_camera_motion() {
        let mut history = History::new(2);
        let (dy, dx) = (3, -5);
        let mut last = None;
        for t in 0..3 {
            let truth = frame(t, dy, dx);
            let known = Tensor::ones([1, 96, 128], (Kind::Float, tch::Device::Cpu));
            let _ = known.narrow(1, 20 + 10 * t, 12).narrow(2, 30 + 20 * t, 16).fill_(0.0);
            let (evidence, now_known, recovered) = history.recover(&(&truth * &known), &known);
            last = Some((truth, known, evidence, now_known, recovered));
        }
        let (truth, known, evidence, now_known, recovered) = last.unwrap();
        assert!(recovered >= 12 * 16 * 9 / 10, "only {recovered} of 192 missing pixels recovered");
        let hole = (1.0 - &known) * &now_known;
        let error = f64::try_from(((&evidence - &truth).abs() * &hole).sum(Kind::Float) / (hole.sum(Kind::Float) * 3.0)).unwrap();
        assert!(error < 1e-4, "recovered pixels are off by {error} on average");
    }

    /// A noisy frame split by a straight edge (normal at 37° to the rows), moved `dx` px sideways.
    fn edge_frame(dx: f64) -> Tensor {
        let (h, w) = (96i64, 112i64);
        let ys = Tensor::arange(h, (Kind::Float, tch::Device::Cpu)).view([h, 1]);
        let xs = Tensor::arange(w, (Kind::Float, tch::Device::Cpu)).view([1, w]) - dx;
        let side = ((ys * 0.6 + xs * 0.8 - 75.0) / 1.5).sigmoid() * 0.75 + 0.15;
        side.unsqueeze(0).expand([3, h, w], false) + Tensor::randn([3, h, w], (Kind::Float, tch::Device::Cpu)) * 0.01
    }

    #[test]
    fn a_straight_edge_moved_a_little_is_not_taken_for_a_far_slide_along_it() {
        // Along a straight edge every slide matches as well as the true move, and a far one
        // overlaps less of the ring around a hole, so noise and the overlap picked it: a still
        // hole's carried fill and the pixels recovered for it jumped from frame to frame.
        tch::manual_seed(11);
        let known = Tensor::ones([1, 96, 112], (Kind::Float, tch::Device::Cpu));
        let _ = known.narrow(1, 24, 48).narrow(2, 24, 64).fill_(0.0);
        for step in 1..=4 {
            let past = Neighbour::new(&(edge_frame(-3.0 * (step - 1) as f64) * &known), &known);
            let (dy, dx) = global_shift(&(edge_frame(-3.0 * step as f64) * &known), &known, &past);
            // Any slide along the edge fits it; this one must be near and move the edge as far.
            let across = 0.6 * dy as f64 + 0.8 * dx as f64;
            assert!(dy.abs() <= 3 && dx.abs() <= 4 && (across + 2.4).abs() <= 1.0, "step {step}: shift ({dy}, {dx}) for a move of (0, -3)");
        }
    }

    /// Mean absolute error on a 20 × 30 hole recovered from an earlier frame and, if its noise
    /// is given, a later one: the truth with Gaussian noise of the given deviations.
    fn recovered_error(earlier_noise: f64, later_noise: Option<f64>) -> f64 {
        tch::manual_seed(7);
        let truth = frame(0, 0, 0);
        let noisy = |deviation: f64| (&truth + Tensor::randn([3, 96, 128], (Kind::Float, tch::Device::Cpu)) * deviation).clamp(0.0, 1.0);
        let earlier = noisy(earlier_noise);
        let everywhere = Tensor::ones([1, 96, 128], (Kind::Float, tch::Device::Cpu));
        let upcoming: Vec<Neighbour> = later_noise.into_iter().map(|deviation| Neighbour::new(&noisy(deviation), &everywhere)).collect();
        let known = everywhere.copy();
        let _ = known.narrow(1, 30, 20).narrow(2, 40, 30).fill_(0.0);
        let hole = 1.0 - &known;
        let mut history = History::new(1);
        let _ = history.recover(&earlier, &everywhere);
        let (evidence, now_known, _) = history.recover_with_upcoming(&(&truth * &known), &known, &upcoming);
        hole_error(&evidence, &now_known, &truth, &hole)
    }

    /// Mean absolute error of `evidence` on `hole`, after asserting that every pixel of it was
    /// recovered.
    fn hole_error(evidence: &Tensor, now_known: &Tensor, truth: &Tensor, hole: &Tensor) -> f64 {
        assert!(bool::try_from((now_known * hole).eq_tensor(hole).all()).unwrap(), "the hole was not recovered");
        f64::try_from(((evidence - truth).abs() * hole).sum(Kind::Float) / (hole.sum(Kind::Float) * 3.0)).unwrap()
    }

    #[test]
    fn a_pixel_both_neighbouring_frames_show_comes_closer_to_the_truth_than_from_either() {
        let (from_earlier, from_both) = (recovered_error(0.03, None), recovered_error(0.03, Some(0.03)));
        assert!(from_both < 0.8 * from_earlier, "both frames: error {from_both}, the earlier alone: {from_earlier}");
    }

    #[test]
    fn a_frame_that_fits_far_better_outweighs_one_that_barely_agrees() {
        let (both, two_noisy) = (recovered_error(0.005, Some(0.06)), recovered_error(0.06, Some(0.06)));
        assert!(both < 0.3 * two_noisy, "error {both} from a close and a noisy frame, {two_noisy} from two noisy ones");
    }

    #[test]
    fn a_frame_unchanged_around_the_damage_gives_its_pixels_as_they_are() {
        let error = recovered_error(0.0, Some(0.01));
        assert!(error < 1e-6, "recovered pixels are off by {error} on average");
    }

    #[test]
    fn nothing_is_taken_from_a_frame_that_does_not_match() {
        let mut history = History::new(2);
        let known = Tensor::ones([1, 96, 128], (Kind::Float, tch::Device::Cpu));
        let _ = history.recover(&frame(0, 0, 0).flip([2]), &known);
        let known = known.copy(); // the history holds the earlier mask
        let _ = known.narrow(1, 40, 10).narrow(2, 50, 10).fill_(0.0);
        let (_, _, recovered) = history.recover(&(frame(0, 0, 0) * &known), &known);
        assert_eq!(recovered, 0, "pixels were taken from an unrelated frame");
    }

    /// A still shot's frame 0.8 × [`frame`] (+ `light`) with a static hole filled by `pattern`,
    /// and its known mask.
    fn invented(light: f64, pattern: &Tensor) -> (Tensor, Tensor) {
        let known = Tensor::ones([1, 96, 128], (Kind::Float, tch::Device::Cpu));
        let _ = known.narrow(1, 30, 40).narrow(2, 40, 48).fill_(0.0);
        let image = (frame(0, 0, 0) * 0.8 + light) * &known + pattern * (1.0 - &known);
        (image, known)
    }

    #[test]
    fn a_still_hole_keeps_its_invention_in_the_current_light() {
        let first = Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) * 0.5;
        let second = Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) * 0.5;
        let (before, known) = invented(0.0, &first);
        let (now, _) = invented(0.03, &second); // the light rose; the prior drew the hole afresh
        let result = Invention::new(&before, &known, None).carry(&now, &known, None).0;
        let expected = (&first + 0.03) * CARRY_WEIGHT + &second * (1.0 - CARRY_WEIGHT);
        let hole = 1.0 - &known;
        let error = f64::try_from(((&result - expected).abs() * &hole).sum(Kind::Float) / (hole.sum(Kind::Float) * 3.0)).unwrap();
        assert!(error < 0.005, "the carried hole is off by {error:.4} on average");
        assert!(bool::try_from(((&result - &now).abs() * &known).max().le(0.0)).unwrap(), "a known pixel changed");
    }

    #[test]
    fn a_hole_whose_surroundings_move_two_ways_is_carried_without_a_seam() {
        // A faintly striped background stands still; a textured band beside the hole moves 6 px
        // left and pulls the ring's shift with it, so the earlier hole lands 6 px left of this one.
        let xs = Tensor::arange(128, (Kind::Float, tch::Device::Cpu)).view([1, 1, 128]);
        let background = ((xs * 0.5).sin() * 0.006 + 0.5).expand([3, 96, 128], false).copy();
        let with_band_at = |x: i64| {
            let shown = background.copy();
            shown.narrow(2, x, 32).copy_(&frame(0, 0, 0).narrow(2, 0, 32));
            shown
        };
        let known = Tensor::ones([1, 96, 128], (Kind::Float, tch::Device::Cpu));
        let _ = known.narrow(1, 30, 40).narrow(2, 40, 48).fill_(0.0);
        let hole = 1.0 - &known;
        let drawn = |shown: Tensor, fill: f64| &shown * &known + &hole * fill;
        let before = drawn(with_band_at(92), 0.3);
        let now = drawn(with_band_at(86), 0.45); // the prior drew the hole afresh
        let result = Invention::new(&before, &known, None).carry(&now, &known, None).0;
        let inside = result.narrow(1, 30, 40).narrow(2, 40, 48);
        let far_side = f64::try_from(inside.narrow(2, 0, 16).mean(Kind::Float)).unwrap();
        assert!(far_side < 0.36, "the hole's far side kept {far_side:.3}, not leaning on the earlier 0.3");
        // A step from the carried fill to the fresh one where the earlier frame knew the pixels
        // drew a seam of 0.135 at column 82.
        let step = f64::try_from((inside.narrow(2, 1, 47) - inside.narrow(2, 0, 47)).abs().max()).unwrap();
        assert!(step < 0.03, "a step of {step:.3} between neighbouring pixels inside the hole");
    }

    #[test]
    fn a_hole_in_a_shot_standing_still_keeps_its_invention_whole() {
        let first = Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) * 0.5;
        let second = Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) * 0.5;
        let (before, known) = invented(0.0, &first);
        let (now, _) = invented(0.0, &second); // nothing moved; the prior drew the hole afresh
        let result = Invention::new(&before, &known, None).carry(&now, &known, None).0;
        let hole = 1.0 - &known;
        let error = f64::try_from(((&result - &first).abs() * &hole).sum(Kind::Float) / (hole.sum(Kind::Float) * 3.0)).unwrap();
        // Leaning 0.9 would leave a tenth of the fresh render: 0.017 on average here.
        assert!(error < 0.002, "the still hole changed by {error:.4} on average");
    }

    #[test]
    fn a_still_cameras_hole_holds_its_mirrored_texture_while_its_surroundings_change() {
        let cpu = (Kind::Float, tch::Device::Cpu);
        let fill = Tensor::full([3, 96, 128], 0.3, cpu);
        let (before_fill, known) = invented(0.0, &fill);
        let (now_fill, _) = invented(0.03, &fill); // the light rose: the rest leans 0.9, not 1
        let hole = 1.0 - &known;
        let texture = |seed| {
            tch::manual_seed(seed);
            (Tensor::rand([1, 96, 128], cpu) - 0.5).expand([3, 96, 128], false) * 0.1 * &hole
        };
        let (earlier, fresh) = (texture(1), texture(2));
        let invention = Invention::new(&(&before_fill + &earlier), &known, Some(&earlier));
        let (result, held) = invention.carry(&(&now_fill + &fresh), &known, Some(&fresh));
        let largest = |t: Tensor| f64::try_from((t * &hole).abs().max()).unwrap();
        let held = held.expect("a texture is held");
        assert!(largest(&held - &earlier) < 1e-6, "the texture was mirrored afresh");
        let without = Invention::new(&before_fill, &known, None).carry(&now_fill, &known, None).0;
        assert!(largest(&result - &without - &earlier) < 1e-5, "the texture changed how the rest was carried");
        // A frame without texture (a fallback's) is given none.
        let (plain, none) = invention.carry(&now_fill, &known, None);
        assert!(none.is_none() && largest(&plain - &without) < 1e-5, "an earlier texture was held into a frame without one");
    }

    #[test]
    fn a_passer_by_at_a_holes_edge_does_not_darken_its_carried_invention() {
        let first = Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) * 0.5;
        let (before, known) = invented(0.0, &first);
        // A dark figure stands against the hole's top edge now; the prior drew the hole as before.
        let (now, _) = invented(0.0, &first);
        let _ = now.narrow(1, 14, 16).narrow(2, 52, 24).fill_(0.0);
        let result = Invention::new(&before, &known, None).carry(&now, &known, None).0;
        let hole = 1.0 - &known;
        let error = f64::try_from(((&result - &first).abs() * &hole).sum(Kind::Float) / (hole.sum(Kind::Float) * 3.0)).unwrap();
        assert!(error < 0.01, "the hole darkened by {error:.4} on average");
    }

    #[test]
    fn nothing_is_carried_into_changed_surroundings() {
        let first = Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) * 0.5;
        let second = Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) * 0.5;
        let (before, known) = invented(0.0, &first);
        // The shot changed around the hole (another scene, the same hole).
        let unrelated = frame(0, 0, 0).flip([2]) * &known + (1.0 - &known) * &second;
        let result = Invention::new(&before, &known, None).carry(&unrelated, &known, None).0;
        let hole = 1.0 - &known;
        let moved = f64::try_from(((&result - &unrelated).abs() * &hole).sum(Kind::Float) / (hole.sum(Kind::Float) * 3.0)).unwrap();
        let apart = f64::try_from(((&first - &second).abs() * &hole).sum(Kind::Float) / (hole.sum(Kind::Float) * 3.0)).unwrap();
        assert!(moved < 0.25 * apart, "the hole moved {moved:.3} towards an unrelated frame's invention ({apart:.3} apart)");
    }

    #[test]
    fn a_still_shot_keeps_its_colour_and_a_new_shot_gets_its_own() {
        let gray = frame(0, 0, 0).mean_dim(0, true, Kind::Float) * 0.8 + 0.1;
        let tint = |r: f64, b: f64| Tensor::from_slice(&[r, 0.0, b]).to_kind(Kind::Float).view([3, 1, 1]);
        let (warm, cool) = (&gray + tint(0.05, -0.05), &gray + tint(-0.05, 0.05));
        let memory = Addition::new(&warm, &gray, Carry::Hold);
        let red = |image: &Tensor| f64::try_from((image.get(0) - image.mean_dim(0, false, Kind::Float)).mean(Kind::Float)).unwrap();
        // The same shot drawn cool this time: it keeps its warm colour.
        let (carried, _) = memory.carry(&cool, &gray);
        assert!((red(&carried) - 0.05).abs() < 0.002, "red chroma {:.4}, expected the earlier 0.05", red(&carried));
        // Another shot: its own colour.
        let other = Tensor::rand([1, 96, 128], (Kind::Float, tch::Device::Cpu)) * 0.8 + 0.1;
        let (carried, _) = memory.carry(&(&other + tint(-0.05, 0.05)), &other);
        assert!(red(&carried) < -0.035, "a new shot took the last one's colour (red chroma {:.4})", red(&carried));
    }

    #[test]
    fn a_still_shot_keeps_its_detail_and_a_moving_camera_takes_it_along() {
        // Super-resolution: the same upscale, the prior's detail drawn anew each frame.
        let upscale = frame(0, 0, 0) * 0.8 + 0.1;
        let detail = || (Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) - 0.5) * 0.1;
        let (first, second) = (detail(), detail());
        let memory = Addition::new(&(&upscale + &first), &upscale, Carry::Lean);
        let (carried, still) = memory.carry(&(&upscale + &second), &upscale);
        let error = f64::try_from((carried - &upscale - &first).abs().mean(Kind::Float)).unwrap();
        assert!(error < 0.002, "detail {error:.4} from the earlier detail");
        assert!(f64::try_from(still.mean(Kind::Float)).unwrap() > 0.95, "a still shot counted as moving");
        // The camera pans 5 px right: the earlier detail moves with the picture.
        let panned = frame(1, 0, 5) * 0.8 + 0.1;
        let carried = memory.carry(&(&panned + &second), &panned).0 - &panned;
        let (moved, _) = shift(&first, 0, 5);
        let inside = |t: &Tensor| t.narrow(2, 8, 112).narrow(1, 8, 80);
        let error = f64::try_from((inside(&carried) - inside(&moved)).abs().mean(Kind::Float)).unwrap();
        assert!(error < 0.005, "panned detail {error:.4} from the moved earlier detail");
        // Only the right half moves (2 px): its detail follows, the left half's stays.
        let half = |t: &Tensor| t.narrow(2, 64, 64);
        let parted = upscale.copy();
        half(&parted).copy_(&half(&(frame(1, 0, 2) * 0.8 + 0.1)));
        let carried = memory.carry(&(&parted + &second), &parted).0 - &parted;
        let (moved, _) = shift(&first, 0, 2);
        let expected = Tensor::cat(&[first.narrow(2, 0, 64), moved.narrow(2, 64, 64)], 2);
        let error = f64::try_from((inside(&carried) - inside(&expected)).abs().mean(Kind::Float)).unwrap();
        assert!(error < 0.005, "detail {error:.4} from the earlier detail moved with each half");
    }

    /// A faint still background with a strong 18 px square at rows 32–49, from column `x`.
    fn square_on_still_background(x: i64) -> Tensor {
        let image = frame(0, 0, 0) * 0.04 + 0.4;
        let pattern = frame(0, 0, 0).narrow(1, 0, 18).narrow(2, 0, 18) * 0.8 + 0.1;
        image.narrow(1, 32, 18).narrow(2, x, 18).copy_(&pattern);
        image
    }

    #[test]
    fn a_still_background_keeps_its_detail_beside_a_subject_that_moves_its_block() {
        // The square, in the corner of one 32 px block, moves 3 px right, pulling that block's
        // move with it.
        let (before, after) = (square_on_still_background(32), square_on_still_background(35));
        let detail = || (Tensor::rand([3, 96, 128], (Kind::Float, tch::Device::Cpu)) - 0.5) * 0.1;
        let (first, second) = (detail(), detail());
        let carried = Addition::new(&(&before + &first), &before, Carry::Lean).carry(&(&after + &second), &after).0 - &after;
        // The block's still rows 8 px and more below the square keep their own detail.
        let below = |t: &Tensor| t.narrow(1, 58, 6).narrow(2, 32, 32);
        let error = f64::try_from((below(&carried) - below(&first)).abs().mean(Kind::Float)).unwrap();
        assert!(error < 0.006, "the still background's detail is {error:.4} from its own");
    }

    #[test]
    fn dirt_on_a_still_background_is_taken_unmoved_beside_a_subject_that_moves_its_block() {
        // The square, in one 32 px block, moves 3 px right, pulling that block's shift with it.
        // A blotch on the background below the square is taken from the earlier frame where it
        // was, not where the square went.
        let mut history = History::new(1);
        let everywhere = Tensor::ones([1, 96, 128], (Kind::Float, tch::Device::Cpu));
        let _ = history.recover(&square_on_still_background(34), &everywhere);
        let known = everywhere.copy();
        let _ = known.narrow(1, 58, 6).narrow(2, 36, 20).fill_(0.0);
        let truth = square_on_still_background(37);
        let (evidence, now_known, _) = history.recover(&(&truth * &known), &known);
        let error = hole_error(&evidence, &now_known, &truth, &(1.0 - &known));
        assert!(error < 0.001, "the blotch's background is {error:.4} from the truth");
    }

    #[test]
    fn pixels_from_a_brighter_frame_take_the_current_frames_brightness() {
        // Flicker: the earlier frame is 0.03 brighter throughout; the dirt is filled at the
        // current frame's level, with the earlier frame's detail.
        let mut history = History::new(1);
        let known = Tensor::ones([1, 96, 128], (Kind::Float, tch::Device::Cpu));
        let truth = frame(0, 0, 0) * 0.8;
        let _ = history.recover(&(&truth + 0.03), &known);
        let known = known.copy(); // the history holds the earlier mask
        let _ = known.narrow(1, 40, 3).narrow(2, 20, 80).fill_(0.0);
        let (evidence, now_known, _) = history.recover(&(&truth * &known), &known);
        let hole = (1.0 - &known) * &now_known;
        let error = f64::try_from(((&evidence - &truth).abs() * &hole).sum(Kind::Float) / (hole.sum(Kind::Float) * 3.0)).unwrap();
        assert!(bool::try_from(now_known.min().ge(1.0)).unwrap(), "the scratch was not recovered");
        assert!(error < 0.005, "recovered pixels are off by {error:.3} on average (the flicker is 0.03)");
    }
}
