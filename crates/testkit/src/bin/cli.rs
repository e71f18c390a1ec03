//! `switchyard-cli` for the black-box tests: the same entry point as the real binary.

fn main() {
    switchyard_cli::main()
}
