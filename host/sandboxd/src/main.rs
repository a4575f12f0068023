//! `paddock-sandboxd`: see [`paddock_sandboxd::server`] for what it does
//! and the arguments it takes.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match paddock_sandboxd::server::Options::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("paddock-sandboxd: {e}");
            eprintln!("{}", paddock_sandboxd::server::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = paddock_sandboxd::server::run(options) {
        eprintln!("paddock-sandboxd: {e}");
        std::process::exit(1);
    }
}
