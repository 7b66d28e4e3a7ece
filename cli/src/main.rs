//! The `taskwire` command (see the `taskwire_cli` library).

fn main() -> std::process::ExitCode {
    taskwire_cli::main()
}
