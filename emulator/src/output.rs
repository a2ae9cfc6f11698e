//! Output files of a run: spikes per spike probe as NPY (`int64` steps, `int32` neuron ids,
//! NPY format 1.0 written here) and CSV, sampled series as 2-D `int32` NPY arrays with their
//! sample steps, an `index.json` describing every file, and `stats.json`.

use crate::error::EmuError;
use crate::record::Recordings;
use crate::stats::Stats;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An element type NPY can describe.
pub trait NpyElem: Copy {
    const DESCR: &'static str;
    fn le_bytes(self, out: &mut Vec<u8>);
}

impl NpyElem for i64 {
    const DESCR: &'static str = "<i8";
    fn le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElem for i32 {
    const DESCR: &'static str = "<i4";
    fn le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The bytes of an NPY 1.0 file holding `data` with `shape` (C order).
pub fn npy_bytes<T: NpyElem>(data: &[T], shape: &[usize]) -> Vec<u8> {
    let shape_s = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape_s}, }}", T::DESCR);
    // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of
    // 64 and ended by a newline.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &x in data {
        x.le_bytes(&mut out);
    }
    out
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), EmuError> {
    let mut f = std::fs::File::create(path).map_err(|e| EmuError::io(path, e))?;
    f.write_all(bytes).map_err(|e| EmuError::io(path, e))
}

/// A probe name made safe as a file name.
pub fn file_stem(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.is_empty() {
        "probe".into()
    } else {
        s
    }
}

#[derive(Serialize)]
struct SpikeEntry {
    probe: String,
    population: String,
    count: usize,
    times: String,
    ids: String,
    csv: String,
}

#[derive(Serialize)]
struct SeriesEntry {
    probe: String,
    what: String,
    of: String,
    every: u32,
    shape: [usize; 2],
    file: String,
    steps_file: String,
}

#[derive(Serialize)]
struct Index {
    program: String,
    dt_ns: u64,
    steps: u64,
    time_unit: &'static str,
    spikes: Vec<SpikeEntry>,
    series: Vec<SeriesEntry>,
}

/// Write every output into `dir` (created if needed); returns the files written.
pub fn write_all(dir: &Path, recs: &Recordings, stats: &Stats) -> Result<Vec<PathBuf>, EmuError> {
    std::fs::create_dir_all(dir).map_err(|e| EmuError::io(dir, e))?;
    let mut files = Vec::new();
    let mut index = Index {
        program: stats.program.clone(),
        dt_ns: stats.dt_ns,
        steps: stats.steps,
        time_unit: "step",
        spikes: Vec::new(),
        series: Vec::new(),
    };
    let dt_s = stats.dt_ns as f64 * 1e-9;
    for r in &recs.spikes {
        let stem = file_stem(&r.name);
        let (tf, idf, csvf) = (format!("{stem}.times.npy"), format!("{stem}.ids.npy"), format!("{stem}.csv"));
        write(&dir.join(&tf), &npy_bytes(&r.times, &[r.times.len()]))?;
        write(&dir.join(&idf), &npy_bytes(&r.ids, &[r.ids.len()]))?;
        let mut csv = String::from("step,time_s,neuron\n");
        for (&t, &i) in r.times.iter().zip(&r.ids) {
            csv.push_str(&format!("{t},{},{i}\n", t as f64 * dt_s));
        }
        write(&dir.join(&csvf), csv.as_bytes())?;
        for f in [&tf, &idf, &csvf] {
            files.push(dir.join(f));
        }
        index.spikes.push(SpikeEntry {
            probe: r.name.clone(),
            population: r.population.clone(),
            count: r.times.len(),
            times: tf,
            ids: idf,
            csv: csvf,
        });
    }
    for s in &recs.series {
        let stem = file_stem(&s.name);
        let (f, sf) = (format!("{stem}.npy"), format!("{stem}.steps.npy"));
        let rows = s.steps.len();
        write(&dir.join(&f), &npy_bytes(&s.data, &[rows, s.width]))?;
        let steps: Vec<i64> = s.steps.iter().map(|&t| t as i64).collect();
        write(&dir.join(&sf), &npy_bytes(&steps, &[rows]))?;
        files.push(dir.join(&f));
        files.push(dir.join(&sf));
        index.series.push(SeriesEntry {
            probe: s.name.clone(),
            what: s.what.clone(),
            of: s.of.clone(),
            every: s.every,
            shape: [rows, s.width],
            file: f,
            steps_file: sf,
        });
    }
    let ij = serde_json::to_vec_pretty(&index).map_err(|e| EmuError::Program(format!("index.json: {e}")))?;
    write(&dir.join("index.json"), &ij)?;
    files.push(dir.join("index.json"));
    let sj = serde_json::to_vec_pretty(stats).map_err(|e| EmuError::Program(format!("stats.json: {e}")))?;
    write(&dir.join("stats.json"), &sj)?;
    files.push(dir.join("stats.json"));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_data_follows() {
        let b = npy_bytes(&[1i32, -2, 3, 4, 5, 6], &[2, 3]);
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        let h = std::str::from_utf8(&b[10..10 + hl]).unwrap();
        assert!(h.starts_with("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }"), "{h}");
        assert!(h.ends_with('\n'));
        assert_eq!(b.len(), 10 + hl + 24);
        assert_eq!(&b[10 + hl + 4..10 + hl + 8], &(-2i32).to_le_bytes());
        let one = npy_bytes(&[7i64], &[1]);
        let hl = u16::from_le_bytes([one[8], one[9]]) as usize;
        assert!(std::str::from_utf8(&one[10..10 + hl]).unwrap().contains("'shape': (1,)"));
    }
}

/// Write the plots of a run into `dir`: a raster (`NAME.raster.svg`) per spike probe and the
/// weight evolution (`NAME.weights.svg`) per weight probe; returns the files written.
pub fn write_plots(dir: &Path, recs: &Recordings, steps: u64, dt_s: f64) -> Result<Vec<PathBuf>, EmuError> {
    let mut files = Vec::new();
    for r in &recs.spikes {
        let p = dir.join(format!("{}.raster.svg", file_stem(&r.name)));
        write(&p, crate::plot::raster_svg(r, steps, dt_s).as_bytes())?;
        files.push(p);
    }
    for s in recs.series.iter().filter(|s| s.what == "weights") {
        let p = dir.join(format!("{}.weights.svg", file_stem(&s.name)));
        write(&p, crate::plot::weights_svg(s, dt_s).as_bytes())?;
        files.push(p);
    }
    Ok(files)
}

/// What a run learned, for the terminal: per weight probe the first and last recorded weight of
/// each synapse (as bars when there are few, as min / mean / max and a histogram when there are
/// many), and per spike probe the spike count and mean rate.
pub fn learned_summary(recs: &Recordings, steps: u64, dt_s: f64) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for r in &recs.spikes {
        let secs = steps as f64 * dt_s;
        let n = r.ids.iter().copied().max().map_or(0, |m| m as usize + 1);
        let rate = if secs > 0.0 && n > 0 { r.times.len() as f64 / secs / n as f64 } else { 0.0 };
        let _ = writeln!(
            s,
            "spikes of `{}`: {} (at least {n} neurons active, {rate:.2} Hz each)",
            r.population,
            r.times.len()
        );
    }
    for r in recs.series.iter().filter(|r| r.what == "weights") {
        let rows = r.steps.len();
        if rows == 0 || r.width == 0 {
            continue;
        }
        let first = &r.data[..r.width];
        let last = &r.data[(rows - 1) * r.width..rows * r.width];
        let (t0, t1) = (r.steps[0] as f64 * dt_s, r.steps[rows - 1] as f64 * dt_s);
        let _ = writeln!(s, "weights of `{}` ({} synapses), t = {t0:.3} s -> {t1:.3} s:", r.of, r.width);
        let hi = first.iter().chain(last).map(|v| v.unsigned_abs()).max().unwrap_or(1).max(1);
        if r.width <= 32 {
            for (k, (a, b)) in first.iter().zip(last).enumerate() {
                let bar = "#".repeat((b.unsigned_abs() as usize * 40).div_ceil(hi as usize));
                let _ = writeln!(s, "  {k:>3}: {a:>6} -> {b:>6}  {}{bar}", if *b < 0 { "-" } else { " " });
            }
        } else {
            let stat = |v: &[i32]| {
                let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
                (v.iter().copied().min().unwrap_or(0), mean, v.iter().copied().max().unwrap_or(0))
            };
            let ((a0, am, a1), (b0, bm, b1)) = (stat(first), stat(last));
            let _ = writeln!(s, "  first: min {a0} mean {am:.2} max {a1}; last: min {b0} mean {bm:.2} max {b1}");
            let (lo, top) = (b0, b1.max(b0 + 1));
            let bins = 10usize;
            let mut h = vec![0usize; bins];
            for &v in last {
                let k = (((v - lo) as f64 / (top - lo) as f64) * bins as f64) as usize;
                h[k.min(bins - 1)] += 1;
            }
            let m = h.iter().copied().max().unwrap_or(1).max(1);
            for (k, c) in h.iter().enumerate() {
                let from = lo as f64 + (top - lo) as f64 * k as f64 / bins as f64;
                let _ = writeln!(s, "  {from:>8.1}.. {c:>7}  {}", "#".repeat((c * 40).div_ceil(m)));
            }
        }
    }
    s
}

#[cfg(test)]
mod learned_tests {
    use super::*;
    use crate::record::{SeriesRecord, SpikeRecord};

    #[test]
    fn summary_shows_first_and_last_weights_and_rates() {
        let recs = Recordings {
            spikes: vec![SpikeRecord {
                name: "s".into(),
                population: "out".into(),
                times: vec![1, 5],
                ids: vec![0, 0],
            }],
            series: vec![SeriesRecord {
                name: "w".into(),
                what: "weights".into(),
                of: "src->out".into(),
                every: 10,
                width: 2,
                steps: vec![0, 10],
                data: vec![100, 100, 3, 255],
            }],
        };
        let s = learned_summary(&recs, 1000, 1e-3);
        assert!(s.contains("spikes of `out`: 2"), "{s}");
        assert!(s.contains("2.00 Hz"), "{s}");
        assert!(s.contains("0:    100 ->      3"), "{s}");
        assert!(s.contains("1:    100 ->    255   ########################################"), "{s}");
    }
}
