//! `karpenter simulate --chart out.svg|out.png`: three panels over simulated hours — NodeClaims running, pods
//! pending, cost per hour — drawn with `plotters`. No upstream counterpart.
//!
//! Text is laid out and, for PNG, rasterised with `ab_glyph`, which needs a TrueType font: the first of
//! `KARPENTER_CHART_FONT` and the usual system font paths that exists is used, and the error lists them when none
//! does.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::record::Point;

/// The most points a series is drawn with: a day at one-second ticks is bucketed down to this many.
const MAX_POINTS: usize = 1500;

/// Fonts tried, in order, after `KARPENTER_CHART_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font as `sans-serif`, once per process.
fn font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let mut tried: Vec<PathBuf> = Vec::new();
            if let Some(path) = std::env::var_os("KARPENTER_CHART_FONT") {
                tried.push(path.into());
            }
            tried.extend(FONT_PATHS.iter().map(PathBuf::from));
            for path in &tried {
                if let Ok(bytes) = std::fs::read(path) {
                    // plotters keeps fonts for the life of the process.
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                        .map_err(|_| format!("{} is not a TrueType font", path.display()));
                }
            }
            let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            Err(format!(
                "a chart needs a TrueType font; set KARPENTER_CHART_FONT to one (tried {})",
                list.join(", ")
            ))
        })
        .clone()
        .map_err(|message| anyhow!(message))
}

/// The series bucketed to at most [`MAX_POINTS`], each bucket showing its largest values, so that a short peak of
/// pending pods stays visible.
fn bucketed(points: &[Point]) -> Vec<Point> {
    let size = points.len().div_ceil(MAX_POINTS).max(1);
    points
        .chunks(size)
        .map(|chunk| Point {
            at: chunk[0].at,
            pending: chunk.iter().map(|p| p.pending).max().unwrap_or(0),
            nodes: chunk.iter().map(|p| p.nodes).max().unwrap_or(0),
            cost_per_hour: chunk.iter().map(|p| p.cost_per_hour).fold(0.0, f64::max),
        })
        .collect()
}

/// Draws the chart into `path`; the extension chooses SVG or PNG.
pub(crate) fn draw(path: &Path, title: &str, points: &[Point]) -> Result<()> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let size = (1200, 900);
    let svg = match extension.as_deref() {
        Some("svg") => true,
        Some("png") => false,
        _ => bail!("--chart {}: the file name must end in .svg or .png", path.display()),
    };
    font().with_context(|| format!("--chart {}", path.display()))?;
    let drawn = if svg {
        panels(&SVGBackend::new(path, size).into_drawing_area(), title, points)
    } else {
        panels(&BitMapBackend::new(path, size).into_drawing_area(), title, points)
    };
    drawn.with_context(|| format!("--chart {}: drawing the chart", path.display()))
}

fn panels<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, points: &[Point]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let points = bucketed(points);
    let hours = |p: &Point| p.at.as_secs_f64() / 3600.0;
    let end = points.last().map_or(1.0, hours).max(1.0 / 60.0);
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let root = root.titled(title, ("sans-serif", 24)).map_err(|e| anyhow!("{e}"))?;
    let areas = root.split_evenly((3, 1));
    // Each panel: its caption, colour, value and the least top of its axis.
    type Series = (&'static str, RGBColor, Box<dyn Fn(&Point) -> f64>, f64);
    let series: [Series; 3] = [
        ("NodeClaims", BLUE, Box::new(|p: &Point| p.nodes as f64), 1.0),
        ("pending pods", RED, Box::new(|p: &Point| p.pending as f64), 1.0),
        ("cost ($/hour)", GREEN, Box::new(|p: &Point| p.cost_per_hour), 0.01),
    ];
    for (area, (label, colour, value, least)) in areas.iter().zip(series) {
        let top = points.iter().map(&value).fold(0.0, f64::max).max(least) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .caption(label, ("sans-serif", 18))
            .build_cartesian_2d(0.0..end, 0.0..top)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("simulated hours")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        // Steps, not slopes: counts change at instants.
        let mut line = Vec::with_capacity(points.len() * 2);
        for window in points.windows(2) {
            line.push((hours(&window[0]), value(&window[0])));
            line.push((hours(&window[1]), value(&window[0])));
        }
        if let Some(last) = points.last() {
            line.push((hours(last), value(last)));
        }
        chart.draw_series(LineSeries::new(line, colour.stroke_width(2))).map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn buckets_keep_the_peaks() {
        let points: Vec<Point> = (0..4000)
            .map(|i| Point {
                at: Duration::from_secs(i),
                pending: usize::from(i == 1234) * 50,
                nodes: 3,
                cost_per_hour: 0.5,
            })
            .collect();
        let buckets = bucketed(&points);
        assert!(buckets.len() <= MAX_POINTS);
        assert_eq!(buckets.iter().map(|p| p.pending).max(), Some(50));
        assert!(buckets.windows(2).all(|w| w[0].at < w[1].at));
    }
}
