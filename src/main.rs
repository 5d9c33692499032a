//! The synsweep command: parse, run, and turn every error into one line and
//! an exit code (0 done, 1 runtime failure, 2 bad usage or input, 130
//! interrupted). A closed pipe on standard output is a quiet end.

use std::io::{self, Write};
use std::process::ExitCode;
use synsweep::cli::{self, Command};
use synsweep::engine::Interrupt;
use synsweep::scan;

static INTERRUPT: Interrupt = Interrupt::new();

fn main() -> ExitCode {
    let config = match cli::parse(std::env::args_os()) {
        Ok(Command::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Scan(c)) => c,
        Err(e) => {
            eprintln!("synsweep: {e}");
            return ExitCode::from(2);
        }
    };

    if config.list_probes {
        return match scan::list_probes(&config, &mut io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("synsweep: writing probes: {e}");
                ExitCode::from(1)
            }
        };
    }

    // First Ctrl-C: stop sending, wait for replies. Second: stop waiting.
    // Third: the flush itself is stuck; leave now (the output file stays
    // .partial, the previous complete file is untouched).
    let handler = ctrlc::set_handler(|| {
        if INTERRUPT.press() >= 3 {
            std::process::exit(130);
        }
    });
    if let Err(e) = handler {
        eprintln!("synsweep: cannot install the Ctrl-C handler: {e}");
        return ExitCode::from(1);
    }

    match scan::run(&config, &INTERRUPT) {
        Ok(outcome) => {
            let _ = io::stdout().flush();
            eprint!("{}", outcome.summary.render());
            if config.benchmark {
                eprint!(
                    "{}",
                    synsweep::engine::stats::benchmark_report(
                        &outcome.per_second,
                        outcome.frame_len,
                        &outcome.batch_latency_ns
                    )
                );
            }
            if outcome.interrupted {
                ExitCode::from(130)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("synsweep: {e}");
            ExitCode::from(1)
        }
    }
}
