//! The standalone `switchyard-cli` binary; the commands live in the library so the
//! `switchyard` server binary can mount them too.

use clap::Parser;

fn main() {
    let args = switchyard_cli::CliArgs::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(switchyard_cli::run(args));
    std::process::exit(code);
}
