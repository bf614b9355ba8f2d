//! `fjord-operator`: `crdgen` prints the CRDs, `run` runs the controllers.

use std::io::{ErrorKind, Write as _};

use anyhow::Context as _;
use clap::Parser as _;
use fjord_operator::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crdgen => print_stdout(&fjord_crds::crds_yaml()?),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(fjord_operator::run(*args)),
    }
}

/// Writes `text` to stdout. A reader that stops early (`crdgen | head`) is
/// not an error: the rest of the output is simply not wanted, so a broken
/// pipe ends the command quietly and successfully, as `cat` would.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        written => written.context("writing to stdout"),
    }
}
