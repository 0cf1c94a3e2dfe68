//! The `rampart` binary (issue 3): being built.
fn main() {
    eprintln!("rampart: the media node is not built yet");
    std::process::exit(2);
}
