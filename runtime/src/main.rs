//! The `taskbox` binary: parse the command line and hand over to [`taskbox::cli`].

fn main() -> std::process::ExitCode {
    taskbox::cli::main()
}
