//! The pictures eval and describe write: confusion-matrix heatmap, class distribution
//! chart, and grids of faces with their labels or predicted fractions.

use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot draw {}: {e}", path.display())
}

/// Row-normalised confusion matrix as a heatmap with the share in each cell.
pub fn confusion_png(
    path: &Path,
    classes: &[String],
    confusion: &[Vec<usize>],
    title: &str,
) -> Result<(), String> {
    fonts();
    let k = classes.len();
    let cell = 70i32;
    let (left, top) = (110i32, 60i32);
    let size = (
        (left + cell * k as i32 + 20) as u32,
        (top + cell * k as i32 + 70) as u32,
    );
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let text = |s: &str, x: i32, y: i32, size: f64, color: RGBColor| -> Result<(), String> {
        root.draw(&Text::new(
            s.to_string(),
            (x, y),
            ("sans-serif", size).into_font().color(&color),
        ))
        .map_err(|e| err(path, e))
    };
    text(title, 10, 10, 20.0, BLACK)?;
    text(
        "true class (rows) / predicted (columns)",
        10,
        34,
        13.0,
        RGBColor(90, 90, 90),
    )?;
    for (r, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        text(
            &classes[r],
            8,
            top + r as i32 * cell + cell / 2 - 7,
            14.0,
            BLACK,
        )?;
        for (c, &v) in row.iter().enumerate() {
            let share = v as f64 / total;
            let shade = (255.0 * (1.0 - share)) as u8;
            let color = RGBColor(shade, shade, 255);
            let (x, y) = (left + c as i32 * cell, top + r as i32 * cell);
            root.draw(&Rectangle::new(
                [(x, y), (x + cell - 2, y + cell - 2)],
                color.filled(),
            ))
            .map_err(|e| err(path, e))?;
            let fg = if share > 0.5 { WHITE } else { BLACK };
            text(
                &format!("{:.0}%", share * 100.0),
                x + 14,
                y + cell / 2 - 14,
                16.0,
                fg,
            )?;
            text(&format!("{v}"), x + 14, y + cell / 2 + 4, 12.0, fg)?;
        }
    }
    for (c, name) in classes.iter().enumerate() {
        text(
            name,
            left + c as i32 * cell + 4,
            top + k as i32 * cell + 8,
            13.0,
            BLACK,
        )?;
    }
    root.present().map_err(|e| err(path, e))
}

/// Bar chart of images per class.
pub fn class_distribution_png(
    path: &Path,
    classes: &[String],
    counts: &[usize],
    title: &str,
) -> Result<(), String> {
    fonts();
    let root = BitMapBackend::new(path, (760, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let max = counts.iter().copied().max().unwrap_or(1) as f64 * 1.12;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d((0..classes.len()).into_segmented(), 0.0..max)
        .map_err(|e| err(path, e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => classes.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("images")
        .draw()
        .map_err(|e| err(path, e))?;
    chart
        .draw_series(counts.iter().enumerate().map(|(i, &c)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), c as f64),
                ],
                RGBColor(70, 110, 200).filled(),
            );
            bar.set_margin(0, 0, 8, 8);
            bar
        }))
        .map_err(|e| err(path, e))?;
    chart
        .draw_series(counts.iter().enumerate().map(|(i, &c)| {
            Text::new(
                c.to_string(),
                (SegmentValue::CenterOf(i), c as f64 + max * 0.02),
                ("sans-serif", 13).into_font(),
            )
        }))
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}

/// One face in a grid: gray pixels and lines of caption.
pub struct Tile<'a> {
    pub pixels: &'a [u8],
    pub height: usize,
    pub width: usize,
    pub caption: Vec<(String, RGBColor)>,
}

/// A grid of faces, each scaled 2x with its caption lines below.
pub fn face_grid_png(
    path: &Path,
    tiles: &[Tile],
    columns: usize,
    title: &str,
) -> Result<(), String> {
    fonts();
    let columns = columns.max(1);
    let scale = 2i32;
    let (fw, fh) = tiles
        .first()
        .map(|t| (t.width as i32 * scale, t.height as i32 * scale))
        .unwrap_or((96, 96));
    let lines = tiles.iter().map(|t| t.caption.len()).max().unwrap_or(0) as i32;
    let (tw, th) = (fw.max(120) + 10, fh + 14 * lines + 14);
    let rows = tiles.len().div_ceil(columns) as i32;
    let root = BitMapBackend::new(
        path,
        ((tw * columns as i32 + 10) as u32, (th * rows + 40) as u32),
    )
    .into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    root.draw(&Text::new(
        title.to_string(),
        (8, 8),
        ("sans-serif", 18).into_font(),
    ))
    .map_err(|e| err(path, e))?;
    for (i, tile) in tiles.iter().enumerate() {
        let (x0, y0) = (
            8 + (i % columns) as i32 * tw,
            36 + (i / columns) as i32 * th,
        );
        for y in 0..tile.height {
            for x in 0..tile.width {
                let v = tile.pixels[y * tile.width + x];
                let (px, py) = (x0 + x as i32 * scale, y0 + y as i32 * scale);
                root.draw(&Rectangle::new(
                    [(px, py), (px + scale, py + scale)],
                    RGBColor(v, v, v).filled(),
                ))
                .map_err(|e| err(path, e))?;
            }
        }
        for (l, (line, color)) in tile.caption.iter().enumerate() {
            let pos = (x0, y0 + fh + 2 + 14 * l as i32);
            root.draw(&Text::new(
                line.clone(),
                pos,
                ("sans-serif", 11).into_font().color(color),
            ))
            .map_err(|e| err(path, e))?;
        }
    }
    root.present().map_err(|e| err(path, e))
}
