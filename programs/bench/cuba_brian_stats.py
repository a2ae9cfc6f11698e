"""Spike statistics of Brian2's CUBA (Vogels & Abbott 2005) for comparison with programs/bench/cuba.nm.

The model is the one of /work/shared/bench/reference/cuba_brian.py (Brian2's examples/CUBA.py):
4000 LIF neurons, 80 % excitatory, p = 0.02, exponential current synapses (tau_e = 5 ms,
tau_i = 10 ms), tau_m = 20 ms, Vt = -50 mV, Vr = -60 mV, El = -49 mV, refractory 5 ms,
we = 1.62 mV, wi = -9 mV, dt = 0.1 ms, 1 s, v(0) uniform in [Vr, Vt]. It prints, per seed, one
`STATS {json}` line with the mean rate and the CV of inter-spike intervals computed exactly as
`nm_emulator::bench::rate_and_cv` does (per neuron with at least 3 spikes, population standard
deviation of its ISIs over their mean; the mean of those CVs).

Usage (with the virtual environment that /work/shared/bench/reference.sh installs):
    ~/.cache/nm-bench/venv/bin/python programs/bench/cuba_brian_stats.py --seeds 1 2 3
"""
import argparse
import json
import os
import shutil
import tempfile

import numpy as np


def rate_and_cv(t_steps, ids, n, steps, dt_s):
    rate = len(t_steps) / (n * steps * dt_s)
    order = np.lexsort((t_steps, ids))
    t_sorted, i_sorted = np.asarray(t_steps)[order], np.asarray(ids)[order]
    cvs = []
    for k in range(n):
        tk = t_sorted[i_sorted == k]
        if tk.size < 3:
            continue
        isi = np.diff(tk).astype(float)
        cvs.append(isi.std() / isi.mean())
    return rate, (float(np.mean(cvs)) if cvs else 0.0), len(cvs)


def run(seed, n, mode):
    import brian2
    from brian2 import (NeuronGroup, SpikeMonitor, Synapses, defaultclock, device, ms, mV,
                        prefs, run, second, set_device)
    outdir = None
    if mode == "standalone":
        outdir = tempfile.mkdtemp(prefix=f"cuba_stats_s{seed}_")
        set_device("cpp_standalone", directory=outdir, build_on_run=True)
    else:
        prefs.codegen.target = "numpy"
    defaultclock.dt = 0.1 * ms
    brian2.seed(seed)  # after set_device and dt, as cuba_brian.py does (same network for a seed)
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="linear")
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    ne = int(round(0.8 * n))
    p = 80.0 / n
    Ce = Synapses(P, P, on_pre="ge += 1.62*mV")
    Ci = Synapses(P, P, on_pre="gi += -9*mV")
    Ce.connect(f"i<{ne}", p=p)
    Ci.connect(f"i>={ne}", p=p)
    mon = SpikeMonitor(P)
    run(1 * second)
    t_steps = np.round(np.asarray(mon.t[:] / ms) * 10).astype(np.int64)
    ids = np.asarray(mon.i[:], dtype=np.int64)
    rate, cv, n_cv = rate_and_cv(t_steps, ids, n, 10_000, 1e-4)
    res = {"seed": seed, "n": n, "mode": mode, "brian2": brian2.__version__, "spikes": int(ids.size),
           "rate_hz": rate, "cv_isi": cv, "neurons_in_cv": n_cv}
    print("STATS " + json.dumps(res, sort_keys=True), flush=True)
    if outdir:
        device.reinit()
        device.activate()
        shutil.rmtree(outdir, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--mode", choices=["standalone", "numpy"], default="standalone")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for s in a.seeds:
        run(s, a.n, a.mode)
