//! `timeline.svg`: successful ops/s per member over time (one polyline each, from the
//! operation records in 100 ms buckets), the phases as shaded spans, a dashed marker per
//! failover labelled with its reason, and the active member as a coloured band along the
//! bottom. Self-contained: no scripts, no external fonts or images.

use std::fmt::Write as _;

use super::report::{BUCKET_MS, Report};

const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 840.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 360.0;
const BAND_TOP: f64 = 372.0;
const BAND_HEIGHT: f64 = 16.0;
const MARKER: &str = "#d62728";
const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf",
];

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

/// A round upper bound for the y axis.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 10.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|max| *max >= v)
        .unwrap_or(10.0 * magnitude)
}

/// Maps time (ms) and ops/s to the plot area.
struct Frame {
    total_ms: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, ms: f64) -> f64 {
        LEFT + (ms / self.total_ms).clamp(0.0, 1.0) * (RIGHT - LEFT)
    }

    fn y(&self, ops_per_sec: f64) -> f64 {
        BOTTOM - (ops_per_sec / self.y_max).clamp(0.0, 1.0) * (BOTTOM - TOP)
    }
}

/// The SVG document.
pub(crate) fn render(report: &Report) -> String {
    let per_sec = 1000.0 / BUCKET_MS;
    let peak = report.buckets.iter().flatten().copied().max().unwrap_or(0) as f64 * per_sec;
    let frame = Frame {
        total_ms: report.run.total_ms.max(1.0),
        y_max: nice_max(peak),
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<title>multidb failover drill: scenario {}</title>
<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#,
        escape(report.run.scenario)
    );
    phases(&mut s, report, &frame);
    axes(&mut s, &frame);
    series(&mut s, report, &frame);
    markers(&mut s, report, &frame);
    band(&mut s, report, &frame);
    legend(&mut s, report);
    s.push_str("</svg>\n");
    s
}

/// Phases as alternating shaded spans, named at the top of the plot.
fn phases(s: &mut String, report: &Report, f: &Frame) {
    for (i, p) in report.phases.iter().enumerate() {
        let (x0, x1) = (f.x(p.run.start_ms), f.x(p.run.end_ms));
        let fill = if i % 2 == 0 { "#f4f4f4" } else { "#ffffff" };
        let _ = writeln!(
            s,
            r##"<rect class="phase" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="{fill}"/>
<text x="{:.1}" y="{:.1}" fill="#555">{}</text>"##,
            (x1 - x0).max(0.0),
            BOTTOM - TOP,
            x0 + 4.0,
            TOP + 14.0,
            escape(p.run.phase.name)
        );
    }
}

/// Axes, ticks and their labels.
fn axes(s: &mut String, f: &Frame) {
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="black"/>
<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{BOTTOM}" stroke="black"/>"#
    );
    for i in 0..=5 {
        let v = f.y_max * f64::from(i) / 5.0;
        let y = f.y(v);
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{LEFT}" y2="{y:.1}" stroke="black"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.0}</text>"#,
            LEFT - 4.0,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let seconds = (f.total_ms / 1000.0).ceil() as u32;
    let step = (seconds / 10).max(1);
    for t in (0..=seconds).step_by(step as usize) {
        let px = f.x(f64::from(t) * 1000.0);
        let _ = writeln!(
            s,
            r#"<line x1="{px:.1}" y1="{BOTTOM}" x2="{px:.1}" y2="{:.1}" stroke="black"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{t}</text>"#,
            BOTTOM + 4.0,
            BAND_TOP + BAND_HEIGHT + 16.0
        );
    }
    let mid_y = f64::midpoint(TOP, BOTTOM);
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time since start (s)</text>
<text x="18" y="{mid_y:.1}" text-anchor="middle" transform="rotate(-90 18 {mid_y:.1})">successful ops/s</text>
<text x="{:.1}" y="{:.1}" text-anchor="end">active</text>"#,
        f64::midpoint(LEFT, RIGHT),
        BAND_TOP + BAND_HEIGHT + 34.0,
        LEFT - 6.0,
        BAND_TOP + 12.0
    );
}

/// One polyline per member.
fn series(s: &mut String, report: &Report, f: &Frame) {
    let per_sec = 1000.0 / BUCKET_MS;
    for (i, (member, buckets)) in report.run.members.iter().zip(&report.buckets).enumerate() {
        let points: Vec<String> = buckets
            .iter()
            .enumerate()
            .map(|(slot, n)| {
                let t = (slot as f64 + 0.5) * BUCKET_MS;
                format!("{:.1},{:.1}", f.x(t), f.y(*n as f64 * per_sec))
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline class="member" data-member="{}" fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            member.id.get(),
            color(i),
            points.join(" ")
        );
    }
}

/// A dashed line per failover, labelled (the initial choice is not a failover).
fn markers(s: &mut String, report: &Report, f: &Frame) {
    let failovers = report.switches.iter().filter(|sw| sw.reason != "initial");
    for (i, sw) in failovers.enumerate() {
        let px = f.x(sw.at_ms);
        let from = sw.from.map_or_else(String::new, |d| d.to_string());
        let label = format!("{from}->{} {} @{:.0}ms", sw.to, sw.reason, sw.at_ms);
        // Three label rows so markers close in time stay readable.
        let label_y = TOP - 8.0 - (i % 3) as f64 * 14.0;
        let _ = writeln!(
            s,
            r#"<line class="failover" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="{MARKER}" stroke-width="1.5" stroke-dasharray="5,3"/>
<text x="{px:.1}" y="{label_y:.1}" text-anchor="middle" fill="{MARKER}" font-size="11">{}</text>"#,
            label_y + 3.0,
            BAND_TOP + BAND_HEIGHT,
            escape(&label)
        );
    }
}

/// The active member as a band along the bottom.
fn band(s: &mut String, report: &Report, f: &Frame) {
    for (i, sw) in report.switches.iter().enumerate() {
        let end = report.switches.get(i + 1).map_or(f.total_ms, |n| n.at_ms);
        let idx = report
            .run
            .members
            .iter()
            .position(|m| m.id == sw.to)
            .unwrap_or(0);
        let (x0, x1) = (f.x(sw.at_ms), f.x(end));
        let _ = writeln!(
            s,
            r#"<rect class="active" x="{x0:.1}" y="{BAND_TOP}" width="{:.1}" height="{BAND_HEIGHT}" fill="{}"/>"#,
            (x1 - x0).max(0.5),
            color(idx)
        );
    }
}

/// Which colour is which member, and what the marker and band mean.
fn legend(s: &mut String, report: &Report) {
    let lx = RIGHT + 20.0;
    let _ = writeln!(
        s,
        r#"<text x="{lx}" y="{TOP}" font-weight="bold">members</text>"#
    );
    for (i, m) in report.run.members.iter().enumerate() {
        let ly = TOP + 20.0 + i as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{ly:.1}" font-size="11">{} (w {})</text>"#,
            ly - 4.0,
            lx + 20.0,
            ly - 4.0,
            color(i),
            lx + 26.0,
            escape(&m.name),
            m.weight
        );
    }
    let ly = TOP + 30.0 + report.run.members.len() as f64 * 18.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{MARKER}" stroke-width="1.5" stroke-dasharray="5,3"/><text x="{:.1}" y="{ly:.1}" font-size="11">failover (reason)</text>
<rect x="{lx}" y="{:.1}" width="20" height="10" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">band: active member</text>"#,
        ly - 4.0,
        lx + 20.0,
        ly - 4.0,
        lx + 26.0,
        ly + 10.0,
        color(0),
        lx + 26.0,
        ly + 19.0
    );
}
