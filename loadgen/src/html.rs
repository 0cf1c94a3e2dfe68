//! Self-contained HTML reports with inline SVG plots (drawn with
//! `plotters`' SVG backend: text stays text, no fonts needed): one run
//! ([`report_html`]) and two runs side by side ([`compare_html`]).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor;

use crate::report::Report;

/// Line colors, in series order.
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

const W: u32 = 860;
const H: u32 = 340;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn with_svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> String {
    let mut s = String::new();
    let r = {
        let root = SVGBackend::with_string(&mut s, (W, H)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(err)
            .and_then(|_| draw(&root))
            .and_then(|_| root.present().map_err(err))
    };
    match r {
        Ok(()) => s,
        Err(e) => format!("<p>(plot failed: {})</p>", esc(&e)),
    }
}

/// One series of a plot.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

fn range(series: &[Series<'_>], f: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in series {
        for p in &s.points {
            let v = f(p);
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if !lo.is_finite() {
        (0.0, 1.0)
    } else {
        (lo, hi)
    }
}

/// A line chart over time (x in seconds); y from 0.
pub fn time_chart(title: &str, y_desc: &str, series: &[Series<'_>]) -> String {
    let (_, xmax) = range(series, |p| p.0);
    let (_, ymax) = range(series, |p| p.1);
    let ymax = if ymax > 0.0 { ymax * 1.15 } else { 1.0 };
    // Points sit mid-second: the axis runs to the end of the last second.
    let xmax = (xmax + 0.5).max(1.0);
    with_svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time since the first send (s)")
            .y_desc(y_desc)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                .map_err(err)?
                .label(s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            if s.points.len() <= 120 {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(err)?;
            }
        }
        if series.len() > 1 || !series.is_empty() && !series[0].name.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(err)?;
        }
        Ok(())
    })
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Latency CDFs (x: µs, log scale; y: cumulative fraction).
pub fn cdf_chart(title: &str, series: &[Series<'_>]) -> String {
    let (lo, hi) = range(series, |p| p.0);
    let lo = (lo.max(0.1) / 1.5).max(0.1);
    let hi = (hi * 1.5).max(lo * 10.0);
    with_svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(78)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("one-way latency through the relay (µs, log scale)")
            .y_desc("fraction of packets ≤ x")
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|v| fmt_num(*v))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x.max(lo), y)).collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?
                .label(s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// A bar chart: one bar per (name, value), the value written above it.
pub fn bar_chart(title: &str, y_desc: &str, bars: &[(String, f64)]) -> String {
    let n = bars.len().max(1);
    let ymax = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.25 } else { 1.0 };
    with_svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..n as f64, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(y_desc)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()
            .map_err(err)?;
        for (i, (name, v)) in bars.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let x = i as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.2, 0.0), (x + 0.8, *v)],
                    c.filled(),
                )))
                .map_err(err)?;
            let style = ("sans-serif", 15)
                .into_font()
                .color(&BLACK)
                .pos(text_anchor::Pos::new(
                    text_anchor::HPos::Center,
                    text_anchor::VPos::Bottom,
                ));
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{v:.3}"),
                    (x + 0.5, *v + ymax * 0.01),
                    style.clone(),
                )))
                .map_err(err)?;
            let label = ("sans-serif", 14)
                .into_font()
                .color(&BLACK)
                .pos(text_anchor::Pos::new(
                    text_anchor::HPos::Center,
                    text_anchor::VPos::Top,
                ));
            chart
                .draw_series(std::iter::once(Text::new(
                    name.clone(),
                    (x + 0.5, -ymax * 0.02),
                    label,
                )))
                .map_err(err)?;
        }
        Ok(())
    })
}

fn cdf_series(r: &Report) -> Vec<(f64, f64)> {
    r.latency_cdf.iter().map(|p| (p[0], p[1])).collect()
}

fn ts(r: &Report, f: impl Fn(&crate::series::Point) -> Option<f64>) -> Vec<(f64, f64)> {
    r.series
        .iter()
        .filter_map(|p| f(p).map(|v| (p.t as f64 + 0.5, v)))
        .collect()
}

/// The named plots of one run: (file stem, SVG).
pub fn report_plots(r: &Report) -> Vec<(&'static str, String)> {
    let name = r.label.as_str();
    vec![
        (
            "latency-cdf",
            cdf_chart(
                "Latency CDF",
                &[Series {
                    name,
                    points: cdf_series(r),
                }],
            ),
        ),
        (
            "delivered-pps",
            time_chart(
                "Delivered packets per second",
                "packets/s (arrived)",
                &[Series {
                    name,
                    points: ts(r, |p| Some(p.delivered_pps)),
                }],
            ),
        ),
        (
            "loss",
            time_chart(
                "Loss per second (by send second)",
                "loss (%)",
                &[Series {
                    name,
                    points: ts(r, |p| Some(p.loss_pct)),
                }],
            ),
        ),
        (
            "p99",
            time_chart(
                "p99 one-way latency per second",
                "p99 latency (µs)",
                &[Series {
                    name,
                    points: ts(r, |p| Some(p.p99_us)),
                }],
            ),
        ),
        (
            "cpu-per-packet",
            time_chart(
                "Target CPU per relayed packet",
                "CPU-µs / packet",
                &[Series {
                    name,
                    points: ts(r, |p| p.target_cpu_us_per_packet),
                }],
            ),
        ),
    ]
}

const STYLE: &str = "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:8px;overflow:auto}\
.plot{margin:1em 0}h2{margin-top:1.5em}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n{body}\n</body></html>\n",
        t = esc(title)
    )
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// A self-contained HTML report of one run.
pub fn report_html(r: &Report) -> String {
    let mut b = String::new();
    b.push_str(&format!(
        "<p>{} calls of {} through <b>{}</b> ({}), leg A {} / leg B {}, {:.0} s. \
         Generated by rampart-loadgen.</p>\n",
        r.calls,
        esc(&if r.profiles.is_empty() {
            r.profile.name.to_string()
        } else {
            r.profiles.join(", ")
        }),
        esc(&r.label),
        esc(&r.target),
        esc(&r.suites[0]),
        esc(&r.suites[1]),
        r.duration_s
    ));
    b.push_str("<h2>Summary</h2>\n<pre>");
    b.push_str(&esc(&r.table()));
    b.push_str("</pre>\n");
    for (_, svg) in report_plots(r) {
        b.push_str("<div class=\"plot\">");
        b.push_str(&svg);
        b.push_str("</div>\n");
    }
    if !r.snapshots.is_empty() {
        b.push_str(&format!(
            "<h2>Snapshots (every {} s)</h2>\n<table><tr><th>window (s)</th><th>sent</th>\
             <th>delivered</th><th>loss %</th><th>pps</th><th>p50 µs</th><th>p99 µs</th>\
             <th>max µs</th><th>target CPU-µs/pkt</th></tr>\n",
            r.snapshot_every_s
        ));
        for s in &r.snapshots {
            b.push_str(&format!(
                "<tr><td>{}–{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.0}</td>\
                 <td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td></tr>\n",
                s.t_start,
                s.t_end,
                s.sent,
                s.delivered,
                s.loss_pct,
                s.delivered_pps,
                s.p50_us,
                s.p99_us,
                s.max_us,
                opt(s.target_cpu_us_per_packet, 3)
            ));
        }
        b.push_str("</table>\n");
    }
    b.push_str(
        "<p>Latency: send to kernel receive timestamp, same host clock. Loss and p99 per \
         second count packets by the second they were due. CPU per packet: the target's \
         utime+stime (10 ms ticks) per packet that arrived in that second, so single seconds \
         are coarse at low rates.</p>\n",
    );
    page(&format!("rampart-loadgen: {}", r.label), &b)
}

/// The named plots comparing two runs: (file stem, SVG).
pub fn compare_plots(a: &Report, b: &Report) -> Vec<(&'static str, String)> {
    let cpu = |r: &Report| r.target_cpu.map_or(0.0, |c| c.us_per_packet);
    vec![
        (
            "cmp-cpu-per-packet",
            bar_chart(
                "Target CPU per relayed packet (lower is better)",
                "CPU-µs / packet",
                &[
                    (format!("{}, {} calls", a.label, a.calls), cpu(a)),
                    (format!("{}, {} calls", b.label, b.calls), cpu(b)),
                ],
            ),
        ),
        (
            "cmp-latency-cdf",
            cdf_chart(
                "Latency CDF",
                &[
                    Series {
                        name: &a.label,
                        points: cdf_series(a),
                    },
                    Series {
                        name: &b.label,
                        points: cdf_series(b),
                    },
                ],
            ),
        ),
        (
            "cmp-delivered-pps",
            time_chart(
                "Delivered packets per second",
                "packets/s (arrived)",
                &[
                    Series {
                        name: &a.label,
                        points: ts(a, |p| Some(p.delivered_pps)),
                    },
                    Series {
                        name: &b.label,
                        points: ts(b, |p| Some(p.delivered_pps)),
                    },
                ],
            ),
        ),
        (
            "cmp-cpu-over-time",
            time_chart(
                "Target CPU per relayed packet over time",
                "CPU-µs / packet",
                &[
                    Series {
                        name: &a.label,
                        points: ts(a, |p| p.target_cpu_us_per_packet),
                    },
                    Series {
                        name: &b.label,
                        points: ts(b, |p| p.target_cpu_us_per_packet),
                    },
                ],
            ),
        ),
    ]
}

/// Two runs side by side: a table with ratios (B / A) and overlaid plots.
pub fn compare_html(a: &Report, b: &Report) -> String {
    let mut h = String::new();
    h.push_str(&format!(
        "<p>A: <b>{}</b> ({}), B: <b>{}</b> ({}). Ratio: B / A.</p>\n",
        esc(&a.label),
        esc(&a.target),
        esc(&b.label),
        esc(&b.target)
    ));
    let cpu = |r: &Report| r.target_cpu.map(|c| c.us_per_packet);
    let cores = |r: &Report| r.target_cpu.map(|c| c.cores);
    let rows: Vec<(&str, Option<f64>, Option<f64>, usize)> = vec![
        ("calls", Some(a.calls as f64), Some(b.calls as f64), 0),
        (
            "sent",
            Some(a.counters.sent as f64),
            Some(b.counters.sent as f64),
            0,
        ),
        (
            "delivered pps",
            Some(a.delivered_pps),
            Some(b.delivered_pps),
            0,
        ),
        ("loss %", Some(a.loss_pct), Some(b.loss_pct), 4),
        ("target CPU-µs / packet", cpu(a), cpu(b), 3),
        ("target cores", cores(a), cores(b), 3),
        (
            "latency p50 µs",
            Some(a.latency.p50_us),
            Some(b.latency.p50_us),
            1,
        ),
        (
            "latency p99 µs",
            Some(a.latency.p99_us),
            Some(b.latency.p99_us),
            1,
        ),
        (
            "latency p99.9 µs",
            Some(a.latency.p999_us),
            Some(b.latency.p999_us),
            1,
        ),
        (
            "latency max µs",
            Some(a.latency.max_us),
            Some(b.latency.max_us),
            1,
        ),
        (
            "jitter mean µs",
            Some(a.jitter_mean_us),
            Some(b.jitter_mean_us),
            1,
        ),
        (
            "auth failures",
            Some(a.counters.auth_failures as f64),
            Some(b.counters.auth_failures as f64),
            0,
        ),
        (
            "RTCP verified",
            Some(a.counters.rtcp_delivered as f64),
            Some(b.counters.rtcp_delivered as f64),
            0,
        ),
        (
            "loadgen pps / core",
            Some(a.loadgen_pps_per_core),
            Some(b.loadgen_pps_per_core),
            0,
        ),
    ];
    h.push_str("<table><tr><th>metric</th><th>A</th><th>B</th><th>B / A</th></tr>\n");
    for (name, x, y, d) in rows {
        let ratio = match (x, y) {
            (Some(x), Some(y)) if x != 0.0 => format!("{:.2}×", y / x),
            _ => "-".into(),
        };
        h.push_str(&format!(
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{ratio}</td></tr>\n",
            opt(x, d),
            opt(y, d)
        ));
    }
    h.push_str("</table>\n");
    for (_, svg) in compare_plots(a, b) {
        h.push_str("<div class=\"plot\">");
        h.push_str(&svg);
        h.push_str("</div>\n");
    }
    h.push_str("<h2>A</h2>\n<pre>");
    h.push_str(&esc(&a.table()));
    h.push_str("</pre>\n<h2>B</h2>\n<pre>");
    h.push_str(&esc(&b.table()));
    h.push_str("</pre>\n");
    page(&format!("rampart-loadgen: {} vs {}", a.label, b.label), &h)
}
