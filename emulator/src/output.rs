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
