//! The plots, drawn with `plotters` into an RGB buffer and written as PNG;
//! text in DejaVu Sans, embedded (no system font is looked up).

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use serde_json::Value;
use std::path::Path;
use std::sync::Once;

const GREY: RGBColor = RGBColor(110, 110, 110);
const ORANGE: RGBColor = RGBColor(225, 115, 0);
const BLUE_: RGBColor = RGBColor(30, 100, 200);

fn fonts() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "DejaVu Sans loads")
            .unwrap();
    });
}

/// Draws with `draw` on a white canvas of `size` and writes it to `path`.
fn png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>),
) {
    fonts();
    let mut pixels = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE).unwrap();
        draw(&root);
        root.present().unwrap();
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = ::png::Encoder::new(file, size.0, size.1);
    encoder.set_color(::png::ColorType::Rgb);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&pixels)
        .unwrap();
}

/// A step line of how many bots were Ready after how many seconds.
fn ready_steps(curve: &[f64]) -> Vec<(f64, f64)> {
    let mut points = vec![(0.0, 0.0)];
    for (count, seconds) in curve.iter().enumerate() {
        points.push((*seconds, count as f64));
        points.push((*seconds, count as f64 + 1.0));
    }
    points
}

/// MeetingBots Ready against seconds since the first create: baseline and operator.
pub fn ready_over_time(path: &Path, n: u64, baseline: &[f64], operator: &[f64]) {
    let seconds = baseline
        .last()
        .into_iter()
        .chain(operator.last())
        .fold(0.1_f64, |a, b| a.max(*b))
        * 1.05;
    png(path, (900, 480), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{n} MeetingBots created at once: Ready over time"),
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..seconds, 0.0..(n as f64 * 1.05))
            .unwrap();
        chart
            .configure_mesh()
            .x_desc("seconds since the first create")
            .y_desc("MeetingBots Ready")
            .y_label_formatter(&|count| format!("{count:.0}"))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .unwrap();
        for (name, curve, color) in [
            ("baseline (API-server writes only)", baseline, GREY),
            ("operator (join takes L)", operator, ORANGE),
        ] {
            chart
                .draw_series(LineSeries::new(ready_steps(curve), color.stroke_width(2)))
                .unwrap()
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .unwrap();
    });
}

/// One series of a scaling plot: its name, colour, whether it is dashed,
/// and its points.
type Series = (&'static str, RGBColor, bool, Vec<(f64, f64)>);

fn panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    caption: &str,
    y_desc: &str,
    max_n: f64,
    series: Vec<Series>,
) {
    let max_y = series
        .iter()
        .flat_map(|(_, _, _, points)| points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(0.1_f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_n * 1.05, 0.0..max_y)
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("MeetingBots (N)")
        .x_label_formatter(&|n| format!("{n:.0}"))
        .y_desc(y_desc)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .unwrap();
    for (name, color, dashed, points) in series {
        let style = color.stroke_width(2);
        let drawn = if dashed {
            chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
        } else {
            chart.draw_series(LineSeries::new(points.clone(), style))
        };
        drawn.unwrap().label(name).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
        });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )
            .unwrap();
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .unwrap();
}

/// Against N: time to all Ready and all gone (operator and baseline), and
/// the operator's memory.
pub fn scaling(path: &Path, runs: &[Value]) {
    let n = |run: &Value| run["n"].as_f64().unwrap_or(0.0);
    let points = |side: &'static str, key: &'static str| -> Vec<(f64, f64)> {
        runs.iter()
            .map(|run| (n(run), run[side][key].as_f64().unwrap_or(f64::NAN)))
            .collect()
    };
    let max_n = runs.iter().map(n).fold(1.0, f64::max);
    png(path, (1400, 520), |root| {
        let (left, right) = root.split_horizontally(700);
        panel(
            &left,
            "Time to converge",
            "seconds",
            max_n,
            vec![
                (
                    "operator: all Ready",
                    ORANGE,
                    false,
                    points("operator", "ready_secs"),
                ),
                (
                    "baseline: all Ready",
                    GREY,
                    false,
                    points("baseline", "ready_secs"),
                ),
                (
                    "operator: all gone",
                    ORANGE,
                    true,
                    points("operator", "gone_secs"),
                ),
                (
                    "baseline: all gone",
                    GREY,
                    true,
                    points("baseline", "gone_secs"),
                ),
            ],
        );
        panel(
            &right,
            "Operator memory",
            "MiB",
            max_n,
            vec![
                (
                    "operator: peak RSS",
                    ORANGE,
                    false,
                    points("operator", "peak_rss_mib"),
                ),
                (
                    "operator: RSS at rest, all joined",
                    BLUE_,
                    true,
                    points("operator", "rss_at_rest_mib"),
                ),
            ],
        );
    });
}
