//! mien's trainer: `train`, `average`, `eval`, `export`, `bench`, `describe`.
//! See `mien-train <command> --help` and the README's "Training" section.

use clap::{Parser, Subcommand};
use mien::train::{average, bench, cli};

#[derive(Parser)]
#[command(
    name = "mien-train",
    version,
    about = "Train, evaluate and export mien's expression classifier"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run, so the size of its largest variant (the training options) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Train a network on an ImageFolder dataset (train/ and val/).
    Train(mien::train::config::TrainConfig),
    /// Average the weights of several snapshots of a run (SWA) and recompute BatchNorm.
    Average(average::AverageArgs),
    /// Evaluate an exported .onnx model or a run's checkpoint on an ImageFolder split.
    Eval(cli::EvalArgs),
    /// Export a run's best weights as the ONNX file the app loads.
    Export(cli::ExportArgs),
    /// Change an exported file's contract (light normalisation, version) and measure it again.
    UpdateContract(cli::UpdateContractArgs),
    /// Training and inference throughput of an architecture on this machine.
    Bench(bench::BenchArgs),
    /// Pictures of a dataset: class distribution and example faces per class.
    Describe(cli::DescribeArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(cfg) => mien::train::training::train(&cfg).map(|best| {
            println!(
                "best val accuracy {:.2}%; weights in {}",
                best * 100.0,
                cfg.out.join("best.safetensors").display()
            );
        }),
        Command::Average(args) => average::run(&args),
        Command::Eval(args) => cli::eval(&args),
        Command::Export(args) => cli::export(&args),
        Command::Bench(args) => bench::run(&args),
        Command::UpdateContract(args) => cli::update_contract(&args),
        Command::Describe(args) => cli::describe(&args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
