//! Pattern data for `patterns(...)` inputs and matrix files: CSV and `.npy` loading, matrix
//! literals, and the seeded generators (correlated Gaussian, clusters on a sphere, bars,
//! exact samples of a Boltzmann machine). Every draw comes from a ChaCha8 stream seeded by the
//! file, so the same file always gives the same rows.

use super::eval::{Args, Dim};
use super::Cx;
use crate::front::ast::{Call, Expr, ExprKind};
use crate::front::diag::Diagnostic;
use crate::front::model::PatternSource;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Most values a pattern set may hold (keeps hostile files from exhausting memory).
pub const MAX_VALUES: usize = 20_000_000;

/// Uniform and normal draws over a seeded ChaCha8 stream.
#[derive(Debug)]
pub struct Draw(ChaCha8Rng);

impl Draw {
    pub fn new(seed: u64) -> Draw {
        Draw(ChaCha8Rng::seed_from_u64(seed))
    }
    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The rows of a `patterns(data = ...)` argument.
pub fn pattern_data(cx: &mut Cx<'_>, e: &Expr) -> Option<(PatternSource, Vec<Vec<f64>>)> {
    match &e.kind {
        ExprKind::List { .. } => Some((PatternSource::Literal, cx.matrix(e, "data", Dim::PLAIN)?)),
        ExprKind::Call(c) => match c.func.name.as_str() {
            "file" => load_file_call(cx, c).map(|(path, rows)| (PatternSource::File { path }, rows)),
            "gaussian" => gaussian(cx, c),
            "clusters" => clusters(cx, c),
            "bars" => bars(cx, c),
            "boltzmann" => boltzmann(cx, c),
            other => {
                let opts = ["file", "gaussian", "clusters", "bars", "boltzmann"];
                let mut d = Diagnostic::error("E0102", format!("unknown pattern source `{other}`"))
                    .at(c.func.span, "not a pattern source")
                    .note("sources: file(\"x.csv\"), a matrix [[...]], gaussian, clusters, bars, boltzmann");
                if let Some(s) = super::eval::suggest(other, opts.into_iter()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.err(d);
                None
            }
        },
        _ => {
            cx.err(
                Diagnostic::error("E0205", "pattern data must be a file, a matrix or a generator")
                    .at(e.span, "e.g. file(\"x.npy\") or gaussian(d = 16, ...)"),
            );
            None
        }
    }
}

fn too_many(cx: &mut Cx<'_>, c: &Call, n: usize, d: usize) -> bool {
    if n.saturating_mul(d) > MAX_VALUES {
        cx.err(
            Diagnostic::error("E0206", format!("{n} x {d} pattern values are more than the limit of {MAX_VALUES}"))
                .at(c.span, "too large"),
        );
        return true;
    }
    false
}

/// `file("path.csv" | "path.npy")`: a matrix from disk, relative to the `.nm` file.
pub fn load_file_call(cx: &mut Cx<'_>, c: &Call) -> Option<(String, Vec<Vec<f64>>)> {
    let a = Args::new(cx, c, "`file`", &["path"], &["path"]);
    let Some(path) = a.string(cx, "path") else {
        if !a.has("path") {
            a.missing(cx, "path", "\"data.csv\"");
        }
        return None;
    };
    let full = match cx.base_dir {
        Some(b) => b.join(&path),
        None => std::path::PathBuf::from(&path),
    };
    let span = a.expr("path").map_or(c.span, |e| e.span);
    let bytes = match crate::budget::read_bounded(&full, crate::budget::file_bytes_budget()) {
        Ok(b) => b,
        Err(e) => {
            cx.err(Diagnostic::error("E0701", format!("cannot read `{path}`: {e}")).at(span, "this file"));
            return None;
        }
    };
    let r = if path.ends_with(".npy") { parse_npy(&bytes) } else { parse_csv(&bytes) };
    match r {
        Ok(rows) => Some((path, rows)),
        Err(msg) => {
            cx.err(Diagnostic::error("E0701", format!("cannot load `{path}`: {msg}")).at(span, "this file"));
            None
        }
    }
}

/// Comma- or whitespace-separated numbers, one row per line; `#` lines and blank lines skipped.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Vec<f64>>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let mut rows = Vec::new();
    let mut total = 0usize;
    for (k, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let row: Result<Vec<f64>, _> =
            t.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::parse::<f64>).collect();
        let row = row.map_err(|_| format!("line {}: not a list of numbers", k + 1))?;
        if row.iter().any(|v| !v.is_finite()) {
            return Err(format!("line {}: non-finite value", k + 1));
        }
        if let Some(first) = rows.first() {
            let first: &Vec<f64> = first;
            if first.len() != row.len() {
                return Err(format!("line {}: {} values, the first row has {}", k + 1, row.len(), first.len()));
            }
        }
        total += row.len();
        if total > MAX_VALUES {
            return Err("too many values".into());
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err("no rows".into());
    }
    Ok(rows)
}

/// A 1-D or 2-D, C-order, little-endian `.npy` array of f8, f4, i8, i4, i2, i1, u1 or bool.
pub fn parse_npy(b: &[u8]) -> Result<Vec<Vec<f64>>, String> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let (hlen, hstart): (usize, usize) = match b[6] {
        1 => (usize::from(u16::from_le_bytes([b[8], b[9]])), 10),
        2 | 3 => {
            if b.len() < 12 {
                return Err("truncated header".into());
            }
            (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = b.get(hstart..hstart.saturating_add(hlen)).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let field = |key: &str| -> Option<&str> {
        let k = header.find(&format!("'{key}'"))?;
        let rest = &header[k + key.len() + 2..];
        Some(rest.trim_start().strip_prefix(':')?.trim_start())
    };
    let descr =
        field("descr").and_then(|s| s.strip_prefix('\'')).and_then(|s| s.split('\'').next()).ok_or("no descr")?;
    if field("fortran_order").is_some_and(|s| s.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_txt =
        field("shape").and_then(|s| s.strip_prefix('(')).and_then(|s| s.split(')').next()).ok_or("no shape")?;
    let dims: Result<Vec<usize>, _> =
        shape_txt.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse::<usize>).collect();
    let dims = dims.map_err(|_| "bad shape")?;
    let (rows, cols) = match dims.as_slice() {
        [n] => (*n, 1),
        [r, c] => (*r, *c),
        _ => return Err(format!("expected a 1-D or 2-D array, found {} dimensions", dims.len())),
    };
    let count = rows.checked_mul(cols).filter(|&n| n <= MAX_VALUES).ok_or("too many values")?;
    let (size, read): (usize, fn(&[u8]) -> f64) = match descr {
        "<f8" => (8, |x| f64::from_le_bytes(x.try_into().unwrap_or([0; 8]))),
        "<f4" => (4, |x| f64::from(f32::from_le_bytes(x.try_into().unwrap_or([0; 4])))),
        "<i8" => (8, |x| i64::from_le_bytes(x.try_into().unwrap_or([0; 8])) as f64),
        "<i4" => (4, |x| f64::from(i32::from_le_bytes(x.try_into().unwrap_or([0; 4])))),
        "<i2" => (2, |x| f64::from(i16::from_le_bytes(x.try_into().unwrap_or([0; 2])))),
        "|i1" => (1, |x| f64::from(x[0] as i8)),
        "|u1" | "|b1" => (1, |x| f64::from(x[0])),
        other => return Err(format!("unsupported dtype `{other}`")),
    };
    let data = &b[hstart + hlen..];
    if data.len() < count * size {
        return Err(format!("data too short: {} bytes for {rows} x {cols} values", data.len()));
    }
    let mut out = Vec::with_capacity(rows);
    for r in 0..rows {
        let row: Vec<f64> = (0..cols).map(|c| read(&data[(r * cols + c) * size..][..size])).collect();
        if row.iter().any(|v| !v.is_finite()) {
            return Err(format!("row {r}: non-finite value"));
        }
        out.push(row);
    }
    if out.is_empty() {
        return Err("no rows".into());
    }
    Ok(out)
}

/// Random orthonormal basis of R^d (rows), by Gram–Schmidt on Gaussian vectors.
fn random_basis(d: usize, rng: &mut Draw) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(d);
    while basis.len() < d {
        let mut v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
        }
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n > 1e-6 {
            basis.push(v.into_iter().map(|x| x / n).collect());
        }
    }
    basis
}

/// `gaussian(d, eigenvalues = [...], n, seed, rotate = true|false)`
fn gaussian(cx: &mut Cx<'_>, c: &Call) -> Option<(PatternSource, Vec<Vec<f64>>)> {
    let a = Args::new(cx, c, "`gaussian`", &["d", "eigenvalues", "n", "seed", "rotate"], &[]);
    let d = a.int(cx, "d", 1, 4096);
    let n = a.int(cx, "n", 1, 10_000_000);
    let ev = a.list(cx, "eigenvalues", Dim::PLAIN, "[4, 2, 1]");
    for (k, ex) in [("d", "16"), ("n", "20000"), ("eigenvalues", "[4, 2, 1]")] {
        if !a.has(k) {
            a.missing(cx, k, ex);
        }
    }
    let seed = a.seed(cx, "seed").unwrap_or(0);
    let rotate = a.word(cx, "rotate", &["true", "false"]).is_none_or(|w| w == "true");
    let (d, n, mut ev) = (d? as usize, n? as usize, ev?);
    if ev.is_empty() || ev.len() > d || ev.iter().any(|&v| v.is_nan() || v < 0.0) {
        cx.err(
            Diagnostic::error("E0206", format!("`eigenvalues` needs 1 to {d} non-negative values"))
                .at(a.expr("eigenvalues").map_or(c.span, |e| e.span), "here")
                .note("a shorter list is padded with its last value"),
        );
        return None;
    }
    if too_many(cx, c, n, d) {
        return None;
    }
    // Rotated samples cost d² per row and the basis d³: keep both bounded.
    if rotate && (d > 256 || n.saturating_mul(d * d) > 100_000_000) {
        cx.err(
            Diagnostic::error("E0206", format!("a rotated Gaussian of {n} x {d} values is too costly to generate"))
                .at(c.span, "too large")
                .help("use `rotate = false`, fewer samples or a data file"),
        );
        return None;
    }
    let last = *ev.last().unwrap_or(&1.0);
    ev.resize(d, last);
    let mut rng = Draw::new(seed);
    let axes = if rotate {
        random_basis(d, &mut rng)
    } else {
        (0..d).map(|i| (0..d).map(|j| f64::from(u8::from(i == j))).collect()).collect()
    };
    let rows = (0..n)
        .map(|_| {
            let z: Vec<f64> = ev.iter().map(|&l| l.sqrt() * rng.normal()).collect();
            (0..d).map(|j| z.iter().zip(&axes).map(|(zk, ax)| zk * ax[j]).sum()).collect()
        })
        .collect();
    Some((PatternSource::Gaussian { eigenvalues: ev, rotate, axes, seed }, rows))
}

/// `clusters(d, k, n, noise, seed)`: unit-norm points around `k` random centres on the sphere.
fn clusters(cx: &mut Cx<'_>, c: &Call) -> Option<(PatternSource, Vec<Vec<f64>>)> {
    let a = Args::new(cx, c, "`clusters`", &["d", "k", "n", "noise", "seed"], &[]);
    let d = a.int(cx, "d", 1, 4096);
    let k = a.int(cx, "k", 1, 4096);
    let n = a.int(cx, "n", 1, 10_000_000);
    for (key, ex) in [("d", "16"), ("k", "4"), ("n", "20000")] {
        if !a.has(key) {
            a.missing(cx, key, ex);
        }
    }
    let noise = a.plain(cx, "noise").unwrap_or(0.05).abs();
    let seed = a.seed(cx, "seed").unwrap_or(0);
    let (d, k, n) = (d? as usize, k? as u32, n? as usize);
    if too_many(cx, c, n, d) {
        return None;
    }
    let mut rng = Draw::new(seed);
    let unit = |v: Vec<f64>| {
        let s = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v.into_iter().map(|x| x / s).collect::<Vec<f64>>()
    };
    let centres: Vec<Vec<f64>> = (0..k).map(|_| unit((0..d).map(|_| rng.normal()).collect())).collect();
    let rows = (0..n)
        .map(|_| {
            let ci = ((rng.uniform() * f64::from(k)) as usize).min(k as usize - 1);
            unit(centres[ci].iter().map(|&x| x + noise * rng.normal()).collect())
        })
        .collect();
    Some((PatternSource::Clusters { k, noise, centres, seed }, rows))
}

/// `bars(size, n, p, seed)`: `size x size` images (row-major), each bar on with probability `p`.
fn bars(cx: &mut Cx<'_>, c: &Call) -> Option<(PatternSource, Vec<Vec<f64>>)> {
    let a = Args::new(cx, c, "`bars`", &["size", "n", "p", "seed"], &[]);
    let size = a.int(cx, "size", 1, 256);
    let n = a.int(cx, "n", 1, 10_000_000);
    for (key, ex) in [("size", "4"), ("n", "1000")] {
        if !a.has(key) {
            a.missing(cx, key, ex);
        }
    }
    let (size, n) = (size? as usize, n? as usize);
    let p = a.prob(cx, "p").unwrap_or(1.0 / (2 * size) as f64);
    let seed = a.seed(cx, "seed").unwrap_or(0);
    if too_many(cx, c, n, size * size) {
        return None;
    }
    let mut rng = Draw::new(seed);
    let rows = (0..n)
        .map(|_| {
            let mut img = vec![0.0; size * size];
            for r in 0..size {
                if rng.uniform() < p {
                    (0..size).for_each(|j| img[r * size + j] = 1.0);
                }
            }
            for col in 0..size {
                if rng.uniform() < p {
                    (0..size).for_each(|i| img[i * size + col] = 1.0);
                }
            }
            img
        })
        .collect();
    Some((PatternSource::Bars { size: size as u32, p, seed }, rows))
}

fn set_sym(w: &mut [Vec<f64>], i: usize, j: usize, v: f64) {
    w[i][j] = v;
    w[j][i] = v;
}

/// `boltzmann(w = [[...]], b = [...], n, seed)` or `boltzmann(units, target_seed, n, seed)` (W
/// symmetric with entries U(−1, 1), zero diagonal, b U(−1, 1)): exact samples by enumeration.
fn boltzmann(cx: &mut Cx<'_>, c: &Call) -> Option<(PatternSource, Vec<Vec<f64>>)> {
    let a = Args::new(cx, c, "`boltzmann`", &["w", "b", "units", "target_seed", "n", "seed"], &[]);
    let n = a.int(cx, "n", 1, 10_000_000);
    if !a.has("n") {
        a.missing(cx, "n", "10000");
    }
    let seed = a.seed(cx, "seed").unwrap_or(0);
    let (w, b) = if a.has("w") {
        let w = a.matrix(cx, "w");
        let b = a.list(cx, "b", Dim::PLAIN, "[0, 0]");
        if !a.has("b") {
            a.missing(cx, "b", "[0.1, -0.2]");
        }
        let (w, b) = (w?, b?);
        let m = w.len();
        if w.iter().any(|r| r.len() != m) || b.len() != m {
            cx.err(
                Diagnostic::error("E0602", format!("`w` must be {m} x {m} and `b` have {m} entries"))
                    .at(c.span, "shapes differ"),
            );
            return None;
        }
        (w, b)
    } else {
        let units = a.int(cx, "units", 1, 16);
        if !a.has("units") {
            a.missing(cx, "units", "6");
        }
        let ts = a.seed(cx, "target_seed").unwrap_or(0);
        let m = units? as usize;
        let mut rng = Draw::new(ts);
        let mut w = vec![vec![0.0; m]; m];
        for i in 0..m {
            for j in i + 1..m {
                let v = 2.0 * rng.uniform() - 1.0;
                set_sym(&mut w, i, j, v);
            }
        }
        let b = (0..m).map(|_| 2.0 * rng.uniform() - 1.0).collect();
        (w, b)
    };
    let m = b.len();
    if m > 16 || m == 0 {
        cx.err(
            Diagnostic::error("E0206", "exact Boltzmann sampling supports 1 to 16 units")
                .at(c.span, format!("{m} units")),
        );
        return None;
    }
    let n = n? as usize;
    if too_many(cx, c, n, m) {
        return None;
    }
    let energy = |s: usize| -> f64 {
        let z: Vec<f64> = (0..m).map(|i| ((s >> i) & 1) as f64).collect();
        let mut e = 0.0;
        for i in 0..m {
            e += b[i] * z[i];
            for j in 0..m {
                e += 0.5 * w[i][j] * z[i] * z[j];
            }
        }
        e
    };
    let logits: Vec<f64> = (0..1usize << m).map(energy).collect();
    let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut cdf = Vec::with_capacity(logits.len());
    let mut acc = 0.0;
    for l in &logits {
        acc += (l - mx).exp();
        cdf.push(acc);
    }
    let mut rng = Draw::new(seed);
    let rows = (0..n)
        .map(|_| {
            let u = rng.uniform() * acc;
            let s = cdf.partition_point(|&c| c <= u).min(cdf.len() - 1);
            (0..m).map(|i| ((s >> i) & 1) as f64).collect()
        })
        .collect();
    Some((PatternSource::Boltzmann { w, b, seed }, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows() {
        let r = parse_csv(b"# x\n1, 2,3\n4 5 6\n\n").unwrap();
        assert_eq!(r, vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
        assert!(parse_csv(b"1,2\n3\n").is_err());
        assert!(parse_csv(b"a,b\n").is_err());
    }

    #[test]
    fn npy_f8_matrix() {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        for v in [1.0f64, 2.0, 3.0, 4.5] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(parse_npy(&b).unwrap(), vec![vec![1.0, 2.0], vec![3.0, 4.5]]);
        assert!(parse_npy(&b[..b.len() - 1]).is_err());
        assert!(parse_npy(b"garbage").is_err());
    }

    #[test]
    fn draws_are_seeded() {
        let (mut a, mut b) = (Draw::new(3), Draw::new(3));
        for _ in 0..10 {
            assert_eq!(a.normal().to_bits(), b.normal().to_bits());
        }
    }
}
