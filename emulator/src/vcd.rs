//! A VCD (value change dump) trace of chosen neurons (spike, membrane voltage, current) and of
//! every broadcast signal, for waveform viewers; time unit 1 ns, one step = `dt_ns`.

use crate::engine::Emulator;
use crate::error::EmuError;
use nm_isa::program::StateVar;
use std::io::Write;
use std::path::Path;

/// Writes value changes step by step.
#[derive(Debug)]
pub struct VcdWriter {
    out: std::io::BufWriter<std::fs::File>,
    path: String,
    /// `(core index, local neuron)` per traced neuron.
    neurons: Vec<(usize, u32)>,
    signals: Vec<u8>,
    last: Vec<Option<i64>>,
}

fn code(mut k: usize) -> String {
    let mut s = String::new();
    loop {
        s.push(char::from(33 + (k % 94) as u8));
        k /= 94;
        if k == 0 {
            return s;
        }
    }
}

impl VcdWriter {
    /// Start a trace of `neurons` (population name and neuron index within it, for the labels).
    pub fn create(path: &Path, emu: &Emulator, neurons: &[(String, u32, usize, u32)]) -> Result<VcdWriter, EmuError> {
        let f = std::fs::File::create(path).map_err(|e| EmuError::io(path, e))?;
        let mut out = std::io::BufWriter::new(f);
        let p = emu.program();
        let mut h = format!(
            "$date run of {} $end\n$version nmemu $end\n$timescale 1 ns $end\n$scope module chip $end\n",
            p.meta.name
        );
        let mut k = 0;
        for (pop, idx, _, _) in neurons {
            h.push_str(&format!("$var wire 1 {} {pop}_{idx}_spike $end\n", code(k)));
            h.push_str(&format!("$var integer 32 {} {pop}_{idx}_v $end\n", code(k + 1)));
            h.push_str(&format!("$var integer 32 {} {pop}_{idx}_u $end\n", code(k + 2)));
            k += 3;
        }
        for s in &p.signals {
            h.push_str(&format!("$var integer 32 {} signal_{} $end\n", code(k), s.name.replace(' ', "_")));
            k += 1;
        }
        h.push_str("$upscope $end\n$enddefinitions $end\n");
        let io = |e| EmuError::io(path, e);
        out.write_all(h.as_bytes()).map_err(io)?;
        Ok(VcdWriter {
            out,
            path: path.display().to_string(),
            neurons: neurons.iter().map(|n| (n.2, n.3)).collect(),
            signals: p.signals.iter().map(|s| s.id.0).collect(),
            last: vec![None; k],
        })
    }

    /// Dump the values after the step just run.
    pub fn sample(&mut self, emu: &Emulator) -> Result<(), EmuError> {
        let t = emu.time().saturating_sub(1);
        let mut vals = Vec::with_capacity(self.last.len());
        for &(ci, i) in &self.neurons {
            for var in [StateVar::Y, StateVar::V, StateVar::U] {
                vals.push(i64::from(emu.neuron_value(ci, i as usize, var).unwrap_or(0)));
            }
        }
        for &id in &self.signals {
            vals.push(i64::from(emu.signal_value(id)));
        }
        let mut buf = String::new();
        for (k, v) in vals.into_iter().enumerate() {
            if self.last[k] != Some(v) {
                self.last[k] = Some(v);
                if k < self.neurons.len() * 3 && k % 3 == 0 {
                    buf.push_str(&format!("{}{}\n", i64::from(v != 0), code(k)));
                } else {
                    buf.push_str(&format!("b{:b} {}\n", v as u32, code(k)));
                }
            }
        }
        if !buf.is_empty() {
            let time = t * emu.program().meta.dt_ns;
            let path = self.path.clone();
            write!(self.out, "#{time}\n{buf}").map_err(|e| EmuError::io(&path, e))?;
        }
        Ok(())
    }

    /// Flush the file.
    pub fn finish(mut self) -> Result<(), EmuError> {
        let path = self.path.clone();
        self.out.flush().map_err(|e| EmuError::io(&path, e))
    }
}
