//! `nmc`: command-line shell over the compiler library.

fn main() {
    eprintln!("nmc: no commands yet");
    std::process::exit(2);
}
