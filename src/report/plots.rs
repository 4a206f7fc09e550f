//! Latency and throughput over time, as Jepsen draws them, with the faults shaded: SVG from
//! the `plotters` crate, inlined in the HTML report.
//!
//! Why these two: a partition or a leader crash shows as a gap in throughput and a wall of
//! slow, failed and unknown ops in latency; reading a violation against them tells whether it
//! came with a fault or out of the blue.

use plotters::prelude::*;
use std::collections::BTreeMap;

use super::story::FaultBand;
use crate::history::{History, Outcome};

const WIDTH: u32 = 1200;
/// Points drawn per latency series (kind × outcome); beyond, an even sample in time (the
/// legend says how many of how many), so the SVG stays bounded for any history.
const MAX_POINTS_PER_SERIES: usize = 6_000;
const LATENCY_ROW_PX: u32 = 170;
const THROUGHPUT_PX: u32 = 300;
const OK: RGBColor = RGBColor(46, 139, 87);
const FAILED: RGBColor = RGBColor(230, 140, 0);
const UNKNOWN: RGBColor = RGBColor(200, 30, 30);
const BAND: RGBAColor = RGBAColor(220, 40, 40, 0.10);
const KIND_COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The time axis: `[t0, t1]` in seconds.
fn span_s(history: &History, bands: &[FaultBand]) -> (f64, f64) {
    let t0 = history.ops.iter().map(|o| o.invoke_ns).min().unwrap_or(0) as f64 / 1e9;
    let end = super::analysis::end_ns(history).max(bands.iter().filter_map(|b| b.end_ns).max().unwrap_or(0));
    let t1 = (end as f64 / 1e9).max(t0 + 1.0);
    (t0.floor(), t1.ceil())
}

/// Op kinds in the history, in first-seen order.
fn kinds(history: &History) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for op in &history.ops {
        if !seen.iter().any(|k| k == op.kind.name()) {
            seen.push(op.kind.name().to_string());
        }
    }
    seen
}

/// The series' legend, upper right, on a translucent white box: both plots use the same.
fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, impl Ranged<ValueType = f64>>>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 10))
        .draw()
        .map_err(|e| e.to_string())
}

fn draw_bands<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, impl Ranged<ValueType = f64>>>,
    bands: &[FaultBand],
    (t0, t1): (f64, f64),
    (y0, y1): (f64, f64),
    labels: bool,
) -> Result<(), String> {
    let clip = |t: f64| t.clamp(t0, t1);
    chart
        .draw_series(bands.iter().map(|b| {
            let start = clip(b.start_ns as f64 / 1e9);
            let end = clip(b.end_ns.map_or(t1, |e| e as f64 / 1e9).max(start + 0.05));
            Rectangle::new([(start, y0), (end, y1)], BAND.filled())
        }))
        .map_err(|e| e.to_string())?;
    if labels {
        chart
            .draw_series(bands.iter().map(|b| {
                let text: String = b.label.chars().take(28).collect();
                Text::new(text, (clip(b.start_ns as f64 / 1e9), y1), ("sans-serif", 10).into_font().color(&RGBColor(160, 20, 20)))
            }))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Latency of every op over time, one row per op kind; ok / failed / unknown coloured.
/// Unknown ops have no latency: they sit on the top edge at their invocation (as Jepsen's
/// `:info` ops do).
pub fn latency_svg(history: &History, bands: &[FaultBand]) -> Result<String, String> {
    let kinds = kinds(history);
    let span = span_s(history, bands);
    let max_ms = history
        .ops
        .iter()
        .filter(|o| o.complete_ns != u64::MAX)
        .map(|o| (o.complete_ns - o.invoke_ns) as f64 / 1e6)
        .fold(1.0f64, f64::max)
        * 1.5;
    let rows = kinds.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, LATENCY_ROW_PX * rows as u32 + 20)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((rows, 1));
        for (area, kind) in areas.iter().zip(&kinds) {
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{kind}: latency (ms, log scale)"), ("sans-serif", 13))
                .margin(6)
                .x_label_area_size(22)
                .y_label_area_size(52)
                .build_cartesian_2d(span.0..span.1, (0.05f64..max_ms).log_scale())
                .map_err(|e| e.to_string())?;
            chart.configure_mesh().x_desc("simulated time (s)").light_line_style(WHITE).label_style(("sans-serif", 10)).draw().map_err(|e| e.to_string())?;
            draw_bands(&mut chart, bands, span, (0.05, max_ms), false)?;
            let ops = history.ops.iter().filter(|o| o.kind.name() == kind);
            for (outcome, colour, name) in [(Outcome::Ok, OK, "ok"), (Outcome::Fail, FAILED, "failed"), (Outcome::Unknown, UNKNOWN, "unknown")] {
                let points: Vec<(f64, f64)> = ops
                    .clone()
                    .filter(|o| o.outcome == outcome)
                    .map(|o| {
                        let latency = if o.complete_ns == u64::MAX { max_ms * 0.95 } else { ((o.complete_ns - o.invoke_ns) as f64 / 1e6).max(0.06) };
                        (o.invoke_ns as f64 / 1e9, latency)
                    })
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let count = points.len();
                let stride = count.div_ceil(MAX_POINTS_PER_SERIES);
                let label = if stride > 1 { format!("{name} ({count}, 1 in {stride} drawn)") } else { format!("{name} ({count})") };
                chart
                    .draw_series(points.into_iter().step_by(stride).map(|p| Circle::new(p, 2, colour.filled())))
                    .map_err(|e| e.to_string())?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 5, y), 3, colour.filled()));
            }
            draw_legend(&mut chart)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Completed ops per second over time, one line per op kind (ok), plus failed and unknown.
pub fn throughput_svg(history: &History, bands: &[FaultBand]) -> Result<String, String> {
    let span = span_s(history, bands);
    let buckets = ((span.1 - span.0).ceil() as usize).max(1);
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let bucket = |t_ns: u64| (((t_ns as f64 / 1e9) - span.0).floor().max(0.0) as usize).min(buckets - 1);
    for op in &history.ops {
        let (name, t_ns) = match op.outcome {
            Outcome::Ok => (format!("{} ok", op.kind.name()), op.complete_ns),
            Outcome::Fail => ("failed (all kinds)".to_string(), op.complete_ns),
            Outcome::Unknown => ("unknown (all kinds, at invocation)".to_string(), op.invoke_ns),
        };
        series.entry(name).or_insert_with(|| vec![0.0; buckets])[bucket(t_ns)] += 1.0;
    }
    let max_rate = series.values().flat_map(|v| v.iter().copied()).fold(1.0f64, f64::max) * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, THROUGHPUT_PX)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("throughput: completed ops per second", ("sans-serif", 13))
            .margin(6)
            .x_label_area_size(24)
            .y_label_area_size(52)
            .build_cartesian_2d(span.0..span.1, 0.0f64..max_rate)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("simulated time (s)").y_desc("ops/s").light_line_style(WHITE).label_style(("sans-serif", 10)).draw().map_err(|e| e.to_string())?;
        draw_bands(&mut chart, bands, span, (0.0, max_rate), true)?;
        for (i, (name, counts)) in series.iter().enumerate() {
            let colour = if name.starts_with("failed") {
                FAILED
            } else if name.starts_with("unknown") {
                UNKNOWN
            } else {
                KIND_COLOURS[i % KIND_COLOURS.len()]
            };
            let points: Vec<(f64, f64)> = counts.iter().enumerate().map(|(b, &c)| (span.0 + b as f64 + 0.5, c)).collect();
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
        }
        draw_legend(&mut chart)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
