//! `foodflow-edge operator add|remove|list`: the operators file of a data directory (see
//! `foodflow_edge::operators`). The running edge reads it at each acknowledgement.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use foodflow_edge::operators::Operators;

#[derive(Subcommand)]
pub enum OperatorCmd {
    /// Adds an operator, or sets a new PIN for one. The PIN comes from FOODFLOW_OPERATOR_PIN
    /// or, without it, from the first line of standard input (never from the command line,
    /// where other users of the box could read it).
    Add {
        /// The edge's data directory (the profile's journal.data_dir).
        #[arg(long, env = "FOODFLOW_DATA_DIR")]
        data_dir: PathBuf,
        /// The name shown with each acknowledgement, e.g. "Ana Operator".
        #[arg(long)]
        name: String,
    },
    /// Removes an operator; their PIN stops working at once.
    Remove {
        #[arg(long, env = "FOODFLOW_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// Lists the operators' names.
    List {
        #[arg(long, env = "FOODFLOW_DATA_DIR")]
        data_dir: PathBuf,
    },
}

pub fn run(cmd: OperatorCmd) -> anyhow::Result<()> {
    match cmd {
        OperatorCmd::Add { data_dir, name } => {
            let pin = match std::env::var("FOODFLOW_OPERATOR_PIN") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .context("reading the PIN from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let mut ops = Operators::load(&data_dir)?;
            ops.set(&name, &pin)?;
            ops.save(&data_dir)?;
            println!("operator {name:?} may acknowledge alarms on this box");
        }
        OperatorCmd::Remove { data_dir, name } => {
            let mut ops = Operators::load(&data_dir)?;
            anyhow::ensure!(ops.remove(&name), "no operator {name:?}");
            ops.save(&data_dir)?;
            println!("operator {name:?} removed");
        }
        OperatorCmd::List { data_dir } => {
            for n in Operators::load(&data_dir)?.names() {
                println!("{n}");
            }
        }
    }
    Ok(())
}
