//! `onemcp-sim`: run one seed, or sweep a range of seeds, through the deterministic simulator.
//!
//! ```text
//! onemcp-sim run --seed N [--steps K] [--trace] [--spare-relists] [--auth on|off]
//! onemcp-sim swarm --seeds A..B [--steps K] [--spare-relists] [--auth on|off]
//! onemcp-sim replay FILE
//! ```

use anyhow::{Context, bail};
use onemcp_sim::{SimOptions, replay, run};
use std::process::ExitCode;

const USAGE: &str = "usage: onemcp-sim run --seed N [--steps K] [--trace] [--spare-relists] [--auth on|off]\n       onemcp-sim swarm --seeds A..B [--steps K] [--spare-relists] [--auth on|off]\n       onemcp-sim replay FILE   (a `1mcp serve --record FILE` recording; exit status 1 when it does not replay)";

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str);
    // `--spare-relists` steps around the known relist-timeout core bug so other findings show.
    let mut options =
        SimOptions { faulty_relists: !args.iter().any(|a| a == "--spare-relists"), ..SimOptions::default() };
    if let Some(steps) = flag("--steps") {
        options.steps = steps.parse().context("--steps takes a number")?;
    }
    // `--auth on|off` forces authentication for every seed instead of drawing it per seed.
    options.auth = match flag("--auth") {
        None => None,
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(other) => bail!("--auth takes on or off, not {other:?}"),
    };
    match args.first().map(String::as_str) {
        Some("run") => {
            let seed: u64 = flag("--seed").context("run needs --seed N")?.parse().context("--seed takes a number")?;
            options.full_trace = args.iter().any(|a| a == "--trace");
            match run(seed, &options) {
                Ok(report) => {
                    for line in &report.trace {
                        println!("{line}");
                    }
                    println!("{report}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(violation) => {
                    println!("{violation}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Some("swarm") => {
            let range = flag("--seeds").context("swarm needs --seeds A..B")?;
            let (a, b) = range.split_once("..").context("--seeds takes A..B")?;
            let (a, b): (u64, u64) = (a.parse().context("seed range start")?, b.parse().context("seed range end")?);
            let (mut seeds, mut events, mut steps, mut requests, mut faults, mut violations, mut auth) =
                (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
            for seed in a..b {
                seeds += 1;
                match run(seed, &options) {
                    Ok(r) => {
                        events += r.events;
                        steps += r.steps;
                        requests += r.requests;
                        faults += r.faults_injected;
                        auth += u64::from(r.auth);
                    }
                    Err(v) => {
                        violations += 1;
                        println!("{v}");
                    }
                }
            }
            println!(
                "seeds {a}..{b}: {seeds} run, {steps} steps, {events} events, {requests} requests, {faults} faults injected, {violations} violations ({auth} passing seeds ran with authentication on)"
            );
            Ok(if violations == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Some("replay") => {
            let path = args.get(1).context("replay needs a FILE")?;
            match replay(std::path::Path::new(path)) {
                Ok(r) => {
                    println!(
                        "{path} ok: {}{} inputs ({} HTTP requests, {} JSON-RPC requests, {} answered, {} abandoned), \
                         {} outputs, {} timers, {:.3}s recorded{}, settled {:?}",
                        match r.compared {
                            Some(calls) => format!("{calls} calls replayed to the recorded outputs byte for byte; "),
                            None => "inputs only (no outputs recorded to compare); ".to_owned(),
                        },
                        r.inputs,
                        r.requests,
                        r.rpc_requests,
                        r.rpc_answered,
                        r.closed,
                        r.outputs,
                        r.timers,
                        r.recorded.as_secs_f64(),
                        if r.appended_shutdown { " (no shutdown recorded; one was appended)" } else { "" },
                        r.settled
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(violation) => {
                    println!("{violation}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        _ => bail!("{USAGE}"),
    }
}
