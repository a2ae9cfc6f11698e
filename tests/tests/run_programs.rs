//! `nmemu run` on every bundled program writes the outputs users load: per spike probe the spike
//! times and ids as `.npy`, a CSV and a raster SVG; per sampled probe an `.npy` array with its
//! steps; per weight probe an SVG of the weights; `index.json` naming every data file, and
//! `stats.json` with seeds, counts, cycles and energy. Each program runs a short prefix of its
//! experiment (the reproductions run them in full).

use nm_emulator::output;
use nm_tests::chip;
use std::path::{Path, PathBuf};

fn programs() -> Vec<PathBuf> {
    nm_tests::chip::bundled_programs()
}

fn npy_ok(path: &Path) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(b.starts_with(b"\x93NUMPY"), "{}: not an .npy file", path.display());
}

#[test]
fn every_program_runs_and_writes_its_outputs() {
    let files = programs();
    assert!(files.len() >= 11, "{files:?}");
    for f in &files {
        let rel = f.strip_prefix(chip::programs_dir()).expect("under programs/").to_string_lossy().into_owned();
        let p = chip::compile(&rel, &chip::program_text(&rel));
        let steps = p.meta.steps.min(3000);
        let emu = chip::run(&p, chip::config(1, false, None), Some(steps));
        let stats = emu.stats();
        let dir = std::env::temp_dir().join(format!("nm-run-{}-{}", std::process::id(), rel.replace('/', "_")));
        let mut written = output::write_all(&dir, emu.recordings(), &stats).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let dt_s = p.meta.dt_ns as f64 * 1e-9;
        written.extend(output::write_plots(&dir, emu.recordings(), stats.steps, dt_s).expect("plots"));
        assert!(written.iter().all(|w| w.exists()), "{rel}: a reported file is missing");

        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).expect("index.json")).expect("json");
        let spikes = index["spikes"].as_array().expect("spikes list");
        let series = index["series"].as_array().expect("series list");
        assert_eq!(spikes.len(), emu.recordings().spikes.len(), "{rel}");
        assert_eq!(series.len(), emu.recordings().series.len(), "{rel}");
        assert!(!spikes.is_empty() || !series.is_empty(), "{rel}: records nothing");
        for s in spikes {
            for k in ["times", "ids"] {
                npy_ok(&dir.join(s[k].as_str().expect("file name")));
            }
            let csv = std::fs::read_to_string(dir.join(s["csv"].as_str().expect("csv"))).expect("csv");
            assert!(csv.starts_with("step,time_s,neuron\n"), "{rel}");
            assert_eq!(csv.lines().count() - 1, s["count"].as_u64().expect("count") as usize, "{rel}: CSV rows");
            let stem = output::file_stem(s["probe"].as_str().expect("probe"));
            assert!(dir.join(format!("{stem}.raster.svg")).exists(), "{rel}: raster");
        }
        for s in series {
            npy_ok(&dir.join(s["file"].as_str().expect("file")));
            npy_ok(&dir.join(s["steps_file"].as_str().expect("steps file")));
            if s["what"] == "weights" {
                let stem = output::file_stem(s["probe"].as_str().expect("probe"));
                assert!(dir.join(format!("{stem}.weights.svg")).exists(), "{rel}: weights plot");
            }
        }
        let st: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).expect("stats.json")).expect("json");
        assert_eq!(st["steps"].as_u64(), Some(steps), "{rel}");
        assert_eq!(st["seeds"]["chip_seed"].as_u64(), Some(1), "{rel}: the chip seed is reported");
        assert!(st["energy"]["total_j"].as_f64().is_some_and(|e| e > 0.0), "{rel}: energy");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
