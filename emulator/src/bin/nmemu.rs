//! `nmemu`: command-line shell over the emulator library.

fn main() {
    eprintln!("nmemu: no commands yet");
    std::process::exit(2);
}
