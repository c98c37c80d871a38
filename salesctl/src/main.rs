//! `salesctl`: see the library ([`salesctl`]) and docs/salesctl.md.

fn main() -> std::process::ExitCode {
    salesctl::main()
}
