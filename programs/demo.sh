#!/usr/bin/env bash
# The main job, end to end: build the tools, compile a bundled learning program with `nmc`, run it
# on the emulated chip with `nmemu` (default chip, 10 % device mismatch from chip seed 1) and show
# what it learned. Usage: bash programs/demo.sh [program.nm] [extra nmemu run flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
prog="${1:-programs/stdp_select.nm}"
shift || true
out="target/demo/$(basename "$prog" .nm)"
mkdir -p "$out"
cargo build --release --quiet -p nm-compiler -p nm-emulator --bins
echo "== nmc compile $prog"
target/release/nmc compile "$prog" -o "$out/program.bin"
echo "== nmemu run $out/program.bin"
target/release/nmemu run "$out/program.bin" -o "$out" "$@"
if [ "$(basename "$prog")" = "stdp_select.nm" ]; then
  echo
  echo "Ten Poisson inputs at 5 ... 29 and 40 Hz drive one neuron; the simplex STDP rule"
  echo "(Dexheimer et al.) should select the most active input: synapse 9 at the top, the others at 0."
fi
echo "Plots and recordings (.npy, .csv, index.json, stats.json, *.svg) are in $out/"
