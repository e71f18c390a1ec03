//! `switchyard` for the black-box tests that need the real process (signals, exit
//! codes, several nodes on one database): the same entry point as the real binary.

fn main() {
    switchyard::entry::main()
}
