//! Geometry of gray images for the trainer: 3 x 3 maps of the plane and one warp with
//! bilinear sampling, used by augmentation (`train::augment`) and by the shifted,
//! scaled and turned crops of the degradations (`train::degrade`).

/// The image scaled by `scale` and turned by `degrees` about its centre, then moved by
/// (`dx`, `dy`) pixels (edges repeated): a crop taken a little differently.
pub fn warp_similarity(
    src: &[u8],
    h: usize,
    w: usize,
    scale: f64,
    degrees: f64,
    dx: f64,
    dy: f64,
) -> Vec<u8> {
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let a = degrees.to_radians();
    let m = mul(
        &translate(cx + dx, cy + dy),
        &mul(
            &[
                [scale * a.cos(), -scale * a.sin(), 0.0],
                [scale * a.sin(), scale * a.cos(), 0.0],
                [0.0, 0.0, 1.0],
            ],
            &translate(-cx, -cy),
        ),
    );
    warp(src, h, w, &invert(&m).unwrap_or(IDENTITY))
}

/// A 3 x 3 matrix acting on (x, y, 1): an affine or perspective map of the plane.
pub type Mat = [[f64; 3]; 3];
pub const IDENTITY: Mat = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// Moves by (`x`, `y`).
pub fn translate(x: f64, y: f64) -> Mat {
    [[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]]
}

/// `a * b`: `b` first, then `a`.
pub fn mul(a: &Mat, b: &Mat) -> Mat {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

// Cofactors by row and column index: the indices are the mathematics here.
#[allow(clippy::needless_range_loop)]
/// The inverse map; None when `m` flattens the plane (determinant near 0).
pub fn invert(m: &Mat) -> Option<Mat> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 {
        return None;
    }
    let mut inv = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let (r0, r1) = (
                [0, 1, 2]
                    .into_iter()
                    .filter(|&r| r != j)
                    .collect::<Vec<_>>(),
                [0, 1, 2]
                    .into_iter()
                    .filter(|&c| c != i)
                    .collect::<Vec<_>>(),
            );
            let minor = m[r0[0]][r1[0]] * m[r0[1]][r1[1]] - m[r0[0]][r1[1]] * m[r0[1]][r1[0]];
            let sign = if (i + j) % 2 == 0 { 1.0 } else { -1.0 };
            inv[i][j] = sign * minor / det;
        }
    }
    Some(inv)
}

/// Samples the source at `inv * (x, y, 1)` for every output pixel (bilinear, edges
/// repeated outside the image).
pub fn warp(src: &[u8], h: usize, w: usize, inv: &Mat) -> Vec<u8> {
    let mut out = vec![0u8; h * w];
    let px = |x: isize, y: isize| -> f64 {
        let xc = x.clamp(0, w as isize - 1) as usize;
        let yc = y.clamp(0, h as isize - 1) as usize;
        src[yc * w + xc] as f64
    };
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            let z = inv[2][0] * xf + inv[2][1] * yf + inv[2][2];
            let sx = (inv[0][0] * xf + inv[0][1] * yf + inv[0][2]) / z;
            let sy = (inv[1][0] * xf + inv[1][1] * yf + inv[1][2]) / z;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let v = px(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + px(x0 + 1, y0) * fx * (1.0 - fy)
                + px(x0, y0 + 1) * (1.0 - fx) * fy
                + px(x0 + 1, y0 + 1) * fx * fy;
            out[y * w + x] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> Vec<u8> {
        (0..h * w)
            .map(|i| ((i % w) * 9 + (i / w) * 4) as u8)
            .collect()
    }

    #[test]
    fn a_map_times_its_inverse_is_the_identity() {
        let m = mul(
            &translate(3.0, -2.0),
            &[[0.9, -0.3, 0.0], [0.2, 1.1, 0.0], [0.001, 0.002, 1.0]],
        );
        let product = mul(&m, &invert(&m).unwrap());
        for (row, want) in product.iter().zip(IDENTITY) {
            for (v, w) in row.iter().zip(want) {
                assert!((v - w).abs() < 1e-12, "{product:?}");
            }
        }
        assert_eq!(
            invert(&[[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]]),
            None
        );
    }

    #[test]
    fn a_whole_pixel_shift_moves_every_pixel_by_one() {
        let (h, w) = (6, 8);
        let img = ramp(h, w);
        assert_eq!(warp_similarity(&img, h, w, 1.0, 0.0, 0.0, 0.0), img);
        let moved = warp_similarity(&img, h, w, 1.0, 0.0, 1.0, 0.0);
        for y in 0..h {
            // Column 0 repeats the edge; every other column is its left neighbour.
            assert_eq!(moved[y * w], img[y * w]);
            for x in 1..w {
                assert_eq!(moved[y * w + x], img[y * w + x - 1], "({x}, {y})");
            }
        }
    }
}
