//! The exact Gaussian benchmark of issue 11 for every sampler of the core: relative L2 distance to
//! the exact probability-flow map (pure discretisation error, [`tests::gaussian`]) at 5, 10, 20, 50
//! and 100 model calls, with the observed order of convergence (the least-squares slope of
//! log error against log calls from 20 to 100 calls), and the same as a log-log plot.
//!
//! `cargo run --release -p tests --example gaussian_convergence [-- docs/gaussian-convergence.svg]`

use diffusion_core::{DpmSolverConfig, SigmaSchedule, UniPcConfig, UniPcSolverType};
use tests::gaussian::Problem;

const SAMPLES: usize = 100_000;
const CALLS: [u32; 5] = [5, 10, 20, 50, 100];

/// A sampler: its name and its error at a number of model calls (with the calls it really made).
struct Row {
    name: &'static str,
    points: Vec<(u32, f64)>,
}

fn row(name: &'static str, run: impl Fn(u32) -> (u32, f64)) -> Row {
    Row {
        name,
        points: CALLS.iter().map(|&calls| run(calls)).collect(),
    }
}

/// The slope of ln(error) against ln(calls) over the points from 20 calls on, negated.
fn order(points: &[(u32, f64)]) -> f64 {
    let tail: Vec<(f64, f64)> = points
        .iter()
        .filter(|(calls, _)| *calls >= 19)
        .map(|&(calls, error)| ((calls as f64).ln(), error.ln()))
        .collect();
    let n = tail.len() as f64;
    let (mean_x, mean_y) = (
        tail.iter().map(|p| p.0).sum::<f64>() / n,
        tail.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let covariance: f64 = tail.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let variance: f64 = tail.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    -covariance / variance
}

fn main() {
    let problem = Problem::new(SAMPLES);
    let dpm = |order: u8| DpmSolverConfig {
        solver_order: order,
        ..DpmSolverConfig::default()
    };
    let bh1 = UniPcConfig {
        solver_type: UniPcSolverType::Bh1,
        ..UniPcConfig::default()
    };
    let rows = [
        row("DDIM (η = 0)", |c| (c, problem.ddim(c))),
        row("Euler", |c| {
            (c, problem.euler(c, SigmaSchedule::Interpolated))
        }),
        row("Euler, Karras sigmas", |c| {
            (c, problem.euler(c, SigmaSchedule::Karras))
        }),
        row("Heun (2N − 1 calls)", |c| {
            let steps = c.div_ceil(2);
            (2 * steps - 1, problem.heun(steps))
        }),
        row("DPM-Solver++ 2M", |c| (c, problem.dpm_solver(c, &dpm(2)))),
        row("DPM-Solver++ 3M", |c| (c, problem.dpm_solver(c, &dpm(3)))),
        row("DPM-Solver++ 2M, Karras sigmas", |c| {
            let karras = DpmSolverConfig {
                sigma_schedule: SigmaSchedule::Karras,
                ..dpm(2)
            };
            (c, problem.dpm_solver(c, &karras))
        }),
        row("UniPC bh2 (order 2)", |c| {
            (c, problem.unipc(c, &UniPcConfig::default()))
        }),
        row("UniPC bh1 (order 2)", |c| (c, problem.unipc(c, &bh1))),
    ];
    println!(
        "Exact Gaussian N(0.3, 0.5²), linear betas 1e-4…0.02, T = 1000, trailing spacing, \
         {SAMPLES} values: relative L2 to the exact map"
    );
    println!();
    print!("| sampler |");
    for calls in CALLS {
        print!(" {calls} |");
    }
    println!(" order (20–100 calls) |");
    println!("|---|{}---|", "---|".repeat(CALLS.len()));
    for row in &rows {
        print!("| {} |", row.name);
        for &(calls, error) in &row.points {
            let note = if CALLS.contains(&calls) {
                String::new()
            } else {
                format!(" ({calls} calls)")
            };
            print!(" {error:.3e}{note} |");
        }
        println!(" {:.2} |", order(&row.points));
    }
    if let Some(path) = std::env::args().nth(1) {
        std::fs::write(&path, svg(&rows)).unwrap_or_else(|e| panic!("{path}: {e}"));
        eprintln!("wrote {path}");
    }
}

/// A log-log plot of every row.
fn svg(rows: &[Row]) -> String {
    const COLORS: [&str; 8] = [
        "#000000", "#1f77b4", "#17becf", "#9467bd", "#d62728", "#ff7f0e", "#2ca02c", "#8c564b",
    ];
    let (width, height, left, right, top, bottom) = (720.0, 460.0, 70.0, 230.0, 20.0, 50.0);
    let (calls_min, calls_max) = (4.0f64.ln(), 110.0f64.ln());
    let errors = rows.iter().flat_map(|r| r.points.iter().map(|p| p.1));
    let low = errors.clone().fold(f64::MAX, f64::min).log10().floor();
    let high = errors.fold(f64::MIN, f64::max).log10().ceil();
    let x = |calls: f64| {
        left + (calls.ln() - calls_min) / (calls_max - calls_min) * (width - left - right)
    };
    let y = |error: f64| top + (high - error.log10()) / (high - low) * (height - top - bottom);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for calls in CALLS {
        let px = x(calls as f64);
        out += &format!(
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{calls}</text>\n",
            height - bottom,
            height - bottom + 16.0
        );
    }
    for decade in (low as i32)..=(high as i32) {
        let py = y(10f64.powi(decade));
        out += &format!(
            "<line x1=\"{left}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">1e{decade}</text>\n",
            width - right,
            left - 6.0,
            py + 4.0
        );
    }
    out += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">model calls</text>\n\
         <text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">\
         relative L2 to the exact map</text>\n",
        (left + width - right) / 2.0,
        height - 8.0,
        (top + height - bottom) / 2.0,
        (top + height - bottom) / 2.0
    );
    for (number, (row, color)) in rows.iter().zip(COLORS).enumerate() {
        let points: Vec<String> = row
            .points
            .iter()
            .map(|&(calls, error)| format!("{:.1},{:.1}", x(calls as f64), y(error)))
            .collect();
        out += &format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>\n",
            points.join(" ")
        );
        let legend_y = top + 10.0 + 20.0 * number as f64;
        out += &format!(
            "<line x1=\"{:.1}\" y1=\"{legend_y:.1}\" x2=\"{:.1}\" y2=\"{legend_y:.1}\" \
             stroke=\"{color}\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            width - right + 15.0,
            width - right + 40.0,
            width - right + 46.0,
            legend_y + 4.0,
            row.name
        );
    }
    out + "</svg>\n"
}
