//! `fjord-operator`: `crdgen` prints the CRDs, `run` runs the controllers.

use clap::Parser as _;
use fjord_operator::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crdgen => {
            print!("{}", fjord_crds::crds_yaml()?);
            Ok(())
        }
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(fjord_operator::run(*args)),
    }
}
