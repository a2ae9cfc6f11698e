//! Hand-written SVG plots of a run: a spike raster per spike probe, the evolution of recorded
//! weights (up to 64 synapses drawn, plus the mean) per weight probe, and labelled line plots
//! (float reference beside chip) for the reproduction figures.

use crate::record::{SeriesRecord, SpikeRecord};

const W: f64 = 900.0;
const H: f64 = 420.0;
const L: f64 = 60.0;
const B: f64 = 40.0;
const T: f64 = 30.0;
const R: f64 = 20.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn frame(title: &str, xlabel: &str, ylabel: &str, x1: f64, y0: f64, y1: f64) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n\
         <rect x=\"{L}\" y=\"{T}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>\n",
        W / 2.0,
        esc(title),
        W - L - R,
        H - T - B,
        L + (W - L - R) / 2.0,
        H - 6.0,
        esc(xlabel),
        T + (H - T - B) / 2.0,
        T + (H - T - B) / 2.0,
        esc(ylabel)
    );
    s.push_str(&format!("<text x=\"{L}\" y=\"{}\" text-anchor=\"start\">0</text>\n", H - B + 14.0));
    s.push_str(&format!("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{x1}</text>\n", W - R, H - B + 14.0));
    s.push_str(&format!("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{y0}</text>\n", L - 4.0, H - B));
    s.push_str(&format!("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{y1}</text>\n", L - 4.0, T + 10.0));
    s
}

/// A raster plot of one spike probe over `steps` steps.
pub fn raster_svg(rec: &SpikeRecord, steps: u64, dt_s: f64) -> String {
    let n = rec.ids.iter().copied().max().map_or(1, |m| m as i64 + 1).max(1) as f64;
    let tmax = (steps.max(1) as f64) * dt_s;
    let mut s = frame(
        &format!("{} ({})", rec.name, rec.population),
        "time (s)",
        "neuron",
        (tmax * 1e6).round() / 1e6,
        0.0,
        n - 1.0,
    );
    let (pw, ph) = (W - L - R, H - T - B);
    let dot = (ph / n).clamp(0.6, 3.0);
    s.push_str("<g fill=\"black\">\n");
    for (&t, &i) in rec.times.iter().zip(&rec.ids) {
        let x = L + pw * (t as f64 / steps.max(1) as f64);
        let y = T + ph * (1.0 - (f64::from(i) + 0.5) / n);
        s.push_str(&format!(
            "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{dot:.2}\"/>\n",
            y - dot / 2.0,
            dot.max(1.0)
        ));
    }
    s.push_str("</g>\n</svg>\n");
    s
}

/// The evolution of a weight series: up to 64 synapses in grey and the mean in red.
pub fn weights_svg(rec: &SeriesRecord, dt_s: f64) -> String {
    let rows = rec.steps.len();
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for &v in &rec.data {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        lo = 0;
        hi = 1;
    }
    if lo == hi {
        hi = lo + 1;
    }
    let tmax = rec.steps.last().copied().unwrap_or(1).max(1);
    let mut s = frame(
        &format!("{} (weights of {})", rec.name, rec.of),
        "time (s)",
        "weight",
        (tmax as f64 * dt_s * 1e6).round() / 1e6,
        f64::from(lo),
        f64::from(hi),
    );
    let (pw, ph) = (W - L - R, H - T - B);
    let px = |t: u64| L + pw * t as f64 / tmax as f64;
    let py = |v: f64| T + ph * (1.0 - (v - f64::from(lo)) / f64::from(hi - lo));
    let shown = rec.width.min(64);
    let stride = (rec.width / shown.max(1)).max(1);
    for k in (0..rec.width).step_by(stride).take(shown) {
        let pts: Vec<String> = (0..rows)
            .map(|r| format!("{:.1},{:.1}", px(rec.steps[r]), py(f64::from(rec.data[r * rec.width + k]))))
            .collect();
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"#999\" stroke-width=\"0.8\" points=\"{}\"/>\n",
            pts.join(" ")
        ));
    }
    if rec.width > 0 {
        let pts: Vec<String> = (0..rows)
            .map(|r| {
                let row = &rec.data[r * rec.width..(r + 1) * rec.width];
                let m = row.iter().map(|&v| f64::from(v)).sum::<f64>() / rec.width as f64;
                format!("{:.1},{:.1}", px(rec.steps[r]), py(m))
            })
            .collect();
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"#c00\" stroke-width=\"2\" points=\"{}\"/>\n",
            pts.join(" ")
        ));
    }
    s.push_str("</svg>\n");
    s
}

/// One labelled curve of a [`lines_svg`] plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub label: String,
    /// An SVG colour (`#c00`, `steelblue`, ...).
    pub color: String,
    /// Draw points as dots instead of a polyline.
    pub dots: bool,
    pub points: Vec<(f64, f64)>,
}

impl Curve {
    pub fn line(label: &str, color: &str, points: Vec<(f64, f64)>) -> Curve {
        Curve { label: label.into(), color: color.into(), dots: false, points }
    }
    pub fn dots(label: &str, color: &str, points: Vec<(f64, f64)>) -> Curve {
        Curve { label: label.into(), color: color.into(), dots: true, points }
    }
}

/// Axis scaling of a [`lines_svg`] plot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Base-10 logarithm; points with `y <= 0` are left out.
    Log,
}

fn nice(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A line plot of labelled curves with a legend, e.g. a float reference beside the chip.
/// Non-finite points are left out; an empty plot is still a valid SVG.
pub fn lines_svg(title: &str, xlabel: &str, ylabel: &str, yscale: Scale, curves: &[Curve]) -> String {
    let ty = |y: f64| match yscale {
        Scale::Linear => Some(y),
        Scale::Log => (y > 0.0).then(|| y.log10()),
    };
    let pts: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|c| {
            c.points
                .iter()
                .filter_map(|&(x, y)| ty(y).map(|y| (x, y)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts.iter().flatten() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if y0 > y1 {
        (y0, y1) = (0.0, 1.0);
    }
    if x0 == x1 {
        x1 = x0 + 1.0;
    }
    if y0 == y1 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let lab = |y: f64| match yscale {
        Scale::Linear => nice(y),
        Scale::Log => nice(10f64.powf(y)),
    };
    let (pw, ph) = (W - L - R, H - T - B);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n\
         <rect x=\"{L}\" y=\"{T}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>\n",
        W / 2.0,
        esc(title),
        L + pw / 2.0,
        H - 6.0,
        esc(xlabel),
        T + ph / 2.0,
        T + ph / 2.0,
        esc(ylabel)
    );
    let px = |x: f64| L + pw * (x - x0) / (x1 - x0);
    let py = |y: f64| T + ph * (1.0 - (y - y0) / (y1 - y0));
    for k in 0..=4 {
        let f = f64::from(k) / 4.0;
        let (xv, yv) = (x0 + f * (x1 - x0), y0 + f * (y1 - y0));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            px(xv),
            H - B + 14.0,
            nice(xv)
        ));
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            L - 4.0,
            py(yv) + 4.0,
            lab(yv)
        ));
        s.push_str(&format!(
            "<line x1=\"{L}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>\n",
            W - R,
            py(yv),
            py(yv)
        ));
    }
    for (c, p) in curves.iter().zip(&pts) {
        if c.dots {
            s.push_str(&format!("<g fill=\"{}\">\n", esc(&c.color)));
            for &(x, y) in p {
                s.push_str(&format!("<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"/>\n", px(x), py(y)));
            }
            s.push_str("</g>\n");
        } else if !p.is_empty() {
            let line: Vec<String> = p.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
            s.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
                esc(&c.color),
                line.join(" ")
            ));
        }
    }
    for (k, c) in curves.iter().enumerate() {
        let y = T + 16.0 + 16.0 * k as f64;
        s.push_str(&format!(
            "<rect x=\"{}\" y=\"{:.1}\" width=\"14\" height=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{:.1}\">{}</text>\n",
            L + 10.0,
            y - 6.0,
            esc(&c.color),
            L + 30.0,
            y,
            esc(&c.label)
        ));
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_has_one_mark_per_spike() {
        let rec = SpikeRecord { name: "s".into(), population: "p".into(), times: vec![0, 5, 9], ids: vec![0, 3, 1] };
        let svg = raster_svg(&rec, 10, 1e-3);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<rect x=").count(), 1 + 3);
    }

    #[test]
    fn lines_plot_draws_every_curve_and_legend() {
        let a = Curve::line("float", "#000", vec![(0.0, 1.0), (1.0, 0.5), (2.0, f64::NAN)]);
        let b = Curve::dots("chip", "#c00", vec![(0.0, 0.9), (1.0, 0.4)]);
        let svg = lines_svg("t", "x", "y", Scale::Linear, &[a, b]);
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">float<") && svg.contains(">chip<"));
        let log = lines_svg("t", "x", "y", Scale::Log, &[Curve::line("l", "#000", vec![(0.0, 0.0), (1.0, 10.0)])]);
        assert!(log.contains("<polyline") && !log.contains("NaN"));
        assert!(lines_svg("empty", "x", "y", Scale::Linear, &[]).ends_with("</svg>\n"));
    }
}
