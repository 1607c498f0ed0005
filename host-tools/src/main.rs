use std::process::ExitCode;

fn main() -> ExitCode {
    host_tools::cli::main()
}
