//! The PNG of Ready count over time: one step curve per run on a grid whose
//! ticks are labelled with a built-in 3×5 pixel digit font (no font files).

use std::path::Path;

pub type Rgb = [u8; 3];

pub const GREY: Rgb = [120, 120, 120];
pub const ORANGE: Rgb = [225, 115, 0];
const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [228, 228, 228];

const WIDTH: usize = 900;
const HEIGHT: usize = 450;
/// Room for the labels left of and under the axes.
const LEFT: usize = 60;
const BOTTOM: usize = 30;
const MARGIN: usize = 15;
/// Each font pixel is drawn as a square this wide.
const FONT_SCALE: usize = 2;

/// Draws each run's Ready count against seconds since its first create,
/// both axes from 0: x to the slower run's end, y to `n`.
pub fn ready_over_time(path: &Path, n: u64, runs: &[(&[f64], Rgb)]) {
    let seconds = runs
        .iter()
        .filter_map(|(ready_at, _)| ready_at.last().copied())
        .fold(0.0, f64::max)
        .max(0.1);
    let mut canvas = Canvas::new();
    let area = Area {
        seconds,
        count: n.max(1) as f64,
    };
    area.grid(&mut canvas);
    for (ready_at, color) in runs {
        area.step_curve(&mut canvas, ready_at, *color);
    }
    canvas.save(path);
}

/// The plotting area and the values at its far edges.
struct Area {
    seconds: f64,
    count: f64,
}

impl Area {
    const X0: usize = LEFT;
    const Y0: usize = HEIGHT - BOTTOM;
    const W: usize = WIDTH - LEFT - MARGIN;
    const H: usize = HEIGHT - BOTTOM - MARGIN;

    fn x(&self, seconds: f64) -> usize {
        Self::X0 + (seconds / self.seconds * Self::W as f64).round() as usize
    }

    fn y(&self, count: f64) -> usize {
        Self::Y0 - (count / self.count * Self::H as f64).round() as usize
    }

    fn grid(&self, canvas: &mut Canvas) {
        let time_step = nice_step(self.seconds, 10);
        for seconds in ticks(self.seconds, time_step) {
            let x = self.x(seconds);
            canvas.vline(x, Self::Y0 - Self::H, Self::Y0, GRID);
            canvas.vline(x, Self::Y0, Self::Y0 + 4, BLACK);
            canvas.text_centered(x, Self::Y0 + 8, &label(seconds, time_step));
        }
        let count_step = nice_step(self.count, 5).max(1.0);
        for count in ticks(self.count, count_step) {
            let y = self.y(count);
            canvas.hline(Self::X0, Self::X0 + Self::W, y, GRID);
            canvas.hline(Self::X0 - 4, Self::X0, y, BLACK);
            let text = label(count, count_step);
            let text_width = text.len() * GLYPH_ADVANCE;
            canvas.text(Self::X0 - 8 - text_width, y - 5, &text);
        }
        canvas.hline(Self::X0, Self::X0 + Self::W, Self::Y0, BLACK);
        canvas.vline(Self::X0, Self::Y0 - Self::H, Self::Y0, BLACK);
    }

    /// The count of times in `ready_at` (sorted) up to each pixel column,
    /// joined by vertical steps; flat stretches are two pixels high so that
    /// they stand out from the grid.
    fn step_curve(&self, canvas: &mut Canvas, ready_at: &[f64], color: Rgb) {
        let Some(&end) = ready_at.last() else { return };
        let mut previous_y = Self::Y0;
        for x in Self::X0..=self.x(end) {
            let count = ready_at.partition_point(|&at| self.x(at) <= x);
            let y = self.y(count as f64);
            canvas.vline(x, y.min(previous_y) - 1, y.max(previous_y), color);
            previous_y = y;
        }
    }
}

/// A round step (1, 2 or 5 times a power of ten) giving at most `most` ticks.
fn nice_step(span: f64, most: u32) -> f64 {
    let rough = span / f64::from(most);
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

fn ticks(span: f64, step: f64) -> impl Iterator<Item = f64> {
    (0..)
        .map(move |i| f64::from(i) * step)
        .take_while(move |value| *value <= span * (1.0 + 1e-9))
}

/// A tick's value with as many decimals as its step needs.
fn label(value: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{value:.decimals$}")
}

/// Digits and the decimal point, 3 pixels wide and 5 high, row by row from
/// the top, the leftmost pixel the highest bit of each row's three.
const GLYPHS: [(char, u16); 11] = [
    ('0', 0b111_101_101_101_111),
    ('1', 0b010_110_010_010_111),
    ('2', 0b111_001_111_100_111),
    ('3', 0b111_001_111_001_111),
    ('4', 0b101_101_111_001_001),
    ('5', 0b111_100_111_001_111),
    ('6', 0b111_100_111_101_111),
    ('7', 0b111_001_001_001_001),
    ('8', 0b111_101_111_101_111),
    ('9', 0b111_101_111_001_111),
    ('.', 0b000_000_000_000_010),
];
/// Horizontal room of one glyph, with a font pixel of space after it.
const GLYPH_ADVANCE: usize = 4 * FONT_SCALE;

struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas {
            pixels: WHITE.repeat(WIDTH * HEIGHT),
        }
    }

    fn put(&mut self, x: usize, y: usize, color: Rgb) {
        if x < WIDTH && y < HEIGHT {
            let at = (y * WIDTH + x) * 3;
            self.pixels[at..at + 3].copy_from_slice(&color);
        }
    }

    fn hline(&mut self, x0: usize, x1: usize, y: usize, color: Rgb) {
        (x0..=x1).for_each(|x| self.put(x, y, color));
    }

    fn vline(&mut self, x: usize, y0: usize, y1: usize, color: Rgb) {
        (y0..=y1).for_each(|y| self.put(x, y, color));
    }

    /// Writes `text` (digits and points) with its top left corner at (x, y).
    fn text(&mut self, x: usize, y: usize, text: &str) {
        for (i, c) in text.chars().enumerate() {
            let Some(&(_, bits)) = GLYPHS.iter().find(|(glyph, _)| *glyph == c) else {
                continue;
            };
            for row in 0..5 {
                for column in 0..3 {
                    if bits >> (14 - row * 3 - column) & 1 == 1 {
                        let left = x + i * GLYPH_ADVANCE + column * FONT_SCALE;
                        self.square(left, y + row * FONT_SCALE, BLACK);
                    }
                }
            }
        }
    }

    fn text_centered(&mut self, x: usize, y: usize, text: &str) {
        let width = text.len() * GLYPH_ADVANCE - FONT_SCALE;
        self.text(x.saturating_sub(width / 2), y, text);
    }

    fn square(&mut self, x: usize, y: usize, color: Rgb) {
        for dy in 0..FONT_SCALE {
            for dx in 0..FONT_SCALE {
                self.put(x + dx, y + dy, color);
            }
        }
    }

    fn save(&self, path: &Path) {
        let file = std::io::BufWriter::new(std::fs::File::create(path).expect("the PNG opens"));
        let mut encoder = png::Encoder::new(file, WIDTH as u32, HEIGHT as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder
            .write_header()
            .and_then(|mut writer| {
                writer.write_image_data(&self.pixels)?;
                writer.finish()
            })
            .expect("the PNG is written");
    }
}
