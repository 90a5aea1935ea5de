//! BlazeFace's anchors: the fixed grid points its outputs are offsets from.
//!
//! Two grids, in output order: the fine grid (input side / first stride cells a
//! side, 2 anchors per cell) then the coarse grid (input side / second stride,
//! 6 anchors per cell); cells row by row, top to bottom, each cell's anchors
//! together. Every anchor sits at its cell's centre and has size 1 (the box
//! outputs are absolute sizes, not scales of the anchor), so only centres matter.

use super::model::{Variant, ANCHORS_PER_CELL};

/// Anchor centres `[x, y]` in normalised input coordinates (0..1), in output order:
/// 896 of them for either variant.
pub fn anchors(variant: Variant) -> Vec<[f32; 2]> {
    let size = variant.input_size();
    let mut out = Vec::with_capacity(896);
    for (stride, per_cell) in variant.strides().into_iter().zip(ANCHORS_PER_CELL) {
        let cells = size / stride;
        for y in 0..cells {
            for x in 0..cells {
                let centre = [
                    (x as f32 + 0.5) / cells as f32,
                    (y as f32 + 0.5) / cells as f32,
                ];
                out.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_anchors_are_896_in_output_order() {
        let a = anchors(Variant::Front);
        assert_eq!(a.len(), 896);
        // Fine grid: 16x16 cells of 8 px, two anchors each.
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [1.5 / 16.0, 0.5 / 16.0], "x moves first");
        assert_eq!(a[32], [0.5 / 16.0, 1.5 / 16.0], "next row after 16 cells");
        assert_eq!(a[511], [15.5 / 16.0, 15.5 / 16.0]);
        // Coarse grid: 8x8 cells of 16 px, six anchors each.
        assert!(a[512..518].iter().all(|&p| p == [0.5 / 8.0, 0.5 / 8.0]));
        assert_eq!(a[518], [1.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[895], [7.5 / 8.0, 7.5 / 8.0]);
    }

    #[test]
    fn back_anchors_have_the_same_layout_at_twice_the_strides() {
        // 256 px input at strides 16 and 32 gives the same normalised grids.
        assert_eq!(anchors(Variant::Back), anchors(Variant::Front));
        let a = anchors(Variant::Back);
        // Anchor 100 is in the fine grid: cell 50 = row 3, column 2; in pixels (40, 56).
        assert_eq!([a[100][0] * 256.0, a[100][1] * 256.0], [40.0, 56.0]);
    }
}
