//! The standalone `switchyard-cli` binary; the commands live in the library so the
//! `switchyard` server binary can mount them too.

fn main() {
    switchyard_cli::main()
}
