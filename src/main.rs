//! `cargo-oci`: parses arguments, runs the pipeline, prints the error chain with hints.

use std::process::ExitCode;

use cargo_oci::{cli, env::Env, shell::Shell, shell::Verbosity};

fn main() -> ExitCode {
    let cli = match cli::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let verbosity = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, 0) => Verbosity::Normal,
        (_, 1) => Verbosity::Verbose,
        _ => Verbosity::VeryVerbose,
    };
    let env = match Env::capture() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("error: cannot read the current directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut shell = Shell::new(verbosity, cli.global.color, &env);
    match cargo_oci::commands::run(&cli, &env, &mut shell) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            shell.error(&e, &e.hints());
            ExitCode::FAILURE
        }
    }
}
