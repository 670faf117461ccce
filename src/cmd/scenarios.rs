//! `servesim scenarios`.

use anyhow::Result;
use clap::Args;

/// List the built-in scenarios.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim scenarios
  servesim scenarios --show mmc > my.toml   # start a scenario of your own from a built-in")]
pub struct ScenariosArgs {
    /// Print the TOML of one built-in scenario.
    #[arg(long, value_name = "NAME")]
    pub show: Option<String>,
}

/// Runs the command.
pub fn run(args: &ScenariosArgs) -> Result<()> {
    if let Some(name) = &args.show {
        let text = sim::builtin::builtin_text(name)
            .ok_or_else(|| servesim::error::input(format!("unknown built-in scenario `{name}`")))?;
        print!("{text}");
        return Ok(());
    }
    for (name, _) in sim::builtin::BUILTINS {
        let c = sim::builtin::builtin(name).expect("listed")?;
        let n = c.requests.unwrap_or(sim::DEFAULT_REQUESTS);
        println!("{name:<13} {}  [{n} requests]", c.description);
    }
    Ok(())
}
