//! `rampart-loadgen`: not built yet (issue 5).
fn main() {
    eprintln!("rampart-loadgen is not built yet");
    std::process::exit(2);
}
