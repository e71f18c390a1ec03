fn main() {
    switchyard::entry::main()
}
