//! `onemcp-sim`: run one seed, or sweep a range of seeds, through the deterministic simulator.
//!
//! ```text
//! onemcp-sim run --seed N [WORLD] [--trace] [--shrink]
//! onemcp-sim swarm --seeds A..B [WORLD] [--jobs N] [--max-seconds S] [--no-shrink]
//! onemcp-sim replay FILE
//! onemcp-sim http-link --seeds A..B [--steps K]
//! onemcp-sim oauth-client --seeds A..B [--steps K]
//! WORLD: [--steps K] [--liveness-steps K] [--clients N] [--backends N] [--faults all|off|PLAN]
//!        [--colliding-ids on|off] [--views on|off] [--roots on|off] [--auth on|off] [--stateless on|off]
//!        [--spare-relists] [--fresh-retry-tokens] [--without KIND,KIND]
//! ```
//!
//! A world flag left out is drawn from the seed. When a seed fails, `swarm` shrinks it (see
//! `onemcp_sim::shrink`) and prints the smallest failing world as a `run` command line.

use anyhow::{Context, anyhow, bail};
use onemcp_sim::args::{command, flag, has, parse_options};
use onemcp_sim::shrink::{BUDGET, Shrunk, shrink_violation};
use onemcp_sim::sweep::{SweepConfig, SweepStats, sweep};
use onemcp_sim::{Faults, Invariant, SimOptions, Violation, replay, run};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: onemcp-sim run --seed N [WORLD] [--trace] [--shrink]
       onemcp-sim swarm --seeds A..B [WORLD] [--jobs N (default: every core)] [--max-seconds S] [--no-shrink]
       onemcp-sim replay FILE   (a `1mcp serve --record FILE` recording; exit status 1 when it does not replay)
       onemcp-sim http-link --seeds A..B [--steps K (default 400)]   (the HTTP-backend link policy against a faulty server)
       onemcp-sim oauth-client --seeds A..B [--steps K (default 400)]   (a backend's authorization against faulty servers and users)
WORLD (a flag left out is drawn from the seed):
       --steps K  --liveness-steps K (settling budget; a small one makes seeds fail, to see shrinking)
       --clients N  --backends N (1-4)  --colliding-ids on|off  --views on|off  --roots on|off
       --auth on|off  --stateless on|off (stateless 2026-07-28 clients and servers that ask mid-call)
       --fresh-retry-tokens (a stateless retry brings a progress token of its own)
       --without KIND,KIND (fault kinds off whatever the seed draws: crash, alpha.hang, bridge.tamper,
                world.reload_every_ms, ...; to look past a known failure)
       --spare-relists (no hangs on the hub's relists: the sweep before cf970f7 gave them timeouts)
       --faults all (drawn per seed: the default) | off | PLAN, e.g.
                alpha:crash=0.04,hang=0.02/clients:cancel=0.1/bridge:ask=0.5,tamper=0.2/world:storm=alpha
A failing swarm seed is shrunk (fewer clients, backends, faults and steps) to the smallest world
that still fails, printed as a `run` command; --no-shrink skips that. --max-seconds S hands out
no more seeds after S seconds: the seeds run are then the start of the range, and say so.";

/// Distinct invariants a swarm shrinks a failing seed for (the lowest seed of each).
const SHRUNK_KINDS: usize = 3;

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => run_one(&args),
        Some("swarm") => swarm(&args),
        Some("replay") => replay_file(&args),
        Some("http-link") => http_link(&args),
        Some("oauth-client") => oauth_client(&args),
        _ => bail!("{USAGE}"),
    }
}

fn world_options(args: &[String]) -> anyhow::Result<SimOptions> {
    parse_options(args).map_err(|e| anyhow!("{e}\n{USAGE}"))
}

fn run_one(args: &[String]) -> anyhow::Result<ExitCode> {
    let seed: u64 = flag(args, "--seed").context("run needs --seed N")?.parse().context("--seed takes a number")?;
    let mut options = world_options(args)?;
    options.full_trace = has(args, "--trace");
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
            if has(args, "--shrink") {
                options.full_trace = false;
                report_shrunk(&shrink_seed(violation, &options));
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Shrink a failing seed of a run with `options` against the real simulator.
fn shrink_seed(violation: Violation, options: &SimOptions) -> Shrunk {
    let seed = violation.seed;
    eprintln!("shrinking SEED={seed} ({}), at most {BUDGET} runs ...", violation.invariant);
    shrink_violation(violation, options)
}

fn report_shrunk(shrunk: &Shrunk) {
    let o = &shrunk.options;
    if !shrunk.reproduced {
        println!(
            "SEED={} did not fail again with its world fixed: nothing shrunk (a bug in the simulator)",
            shrunk.seed
        );
        return;
    }
    println!(
        "smallest reproduction of SEED={} ({}) after {} runs{}: {} clients, {} backends, {} steps, faults {}",
        shrunk.seed,
        shrunk.violation.invariant,
        shrunk.runs,
        if shrunk.exhausted { " (budget spent: it may shrink further)" } else { "" },
        o.clients.unwrap_or(0),
        o.backends.unwrap_or(0),
        o.steps,
        match &o.faults {
            Faults::Plan(plan) => plan.to_string(),
            other => format!("{other:?}"),
        }
    );
    println!("{}", shrunk.violation);
    println!(
        "reproduce it with:\n  cargo run --release -p onemcp-sim -- {}",
        command(shrunk.seed, o).trim_start_matches("onemcp-sim ")
    );
}

/// `--seeds A..B`.
fn seed_range(args: &[String]) -> anyhow::Result<(u64, u64)> {
    let range = flag(args, "--seeds").context("needs --seeds A..B")?;
    let (a, b) = range.split_once("..").context("--seeds takes A..B")?;
    Ok((a.parse().context("seed range start")?, b.parse().context("seed range end")?))
}

/// Every seed of the range through the HTTP-backend link policy (`onemcp_sim::http_link`).
fn http_link(args: &[String]) -> anyhow::Result<ExitCode> {
    let mut total = onemcp_sim::http_link::LinkStats::default();
    if !sweep_seeds(args, onemcp_sim::http_link::run_http_link, |stats| total.add(&stats))? {
        return Ok(ExitCode::FAILURE);
    }
    finish_sweep(args, &total)
}

/// Every seed of the range through a backend's authorization (`onemcp_sim::oauth_client`).
fn oauth_client(args: &[String]) -> anyhow::Result<ExitCode> {
    let mut total = onemcp_sim::oauth_client::AuthStats::default();
    if !sweep_seeds(args, onemcp_sim::oauth_client::run_oauth_client, |stats| total.add(&stats))? {
        return Ok(ExitCode::FAILURE);
    }
    finish_sweep(args, &total)
}

/// Runs `run(seed, --steps)` for every seed of `--seeds`, handing each run's counts to `add`;
/// false at the first broken rule, printed with its trace.
fn sweep_seeds<S, V: std::fmt::Display>(
    args: &[String],
    run: fn(u64, u64) -> Result<S, V>,
    mut add: impl FnMut(S),
) -> anyhow::Result<bool> {
    let ((a, b), steps) = (seed_range(args)?, steps(args)?);
    for seed in a..b {
        match run(seed, steps) {
            Ok(stats) => add(stats),
            Err(violation) => {
                println!("{violation}");
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// `--steps K` of the single-policy sweeps (400 by default).
fn steps(args: &[String]) -> anyhow::Result<u64> {
    flag(args, "--steps").map_or(Ok(400), str::parse).context("--steps takes a number")
}

/// Prints a clean sweep's totals.
fn finish_sweep(args: &[String], total: &impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    let ((a, b), steps) = (seed_range(args)?, steps(args)?);
    println!("seeds {a}..{b}, {steps} steps each: {total}, 0 violations");
    Ok(ExitCode::SUCCESS)
}

fn swarm(args: &[String]) -> anyhow::Result<ExitCode> {
    let (a, b) = seed_range(args)?;
    let jobs = match flag(args, "--jobs") {
        Some(n) => n.parse().context("--jobs takes a number")?,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let time_limit = match flag(args, "--max-seconds") {
        Some(n) => Some(Duration::from_secs(n.parse().context("--max-seconds takes a number")?)),
        None => None,
    };
    let options = world_options(args)?;
    let total = b.saturating_sub(a);
    let config = SweepConfig { jobs, progress_every: Duration::from_secs(10), time_limit };
    let result = sweep(a..b, &options, &config, |s, t| progress(s, t, total));
    for v in &result.violations {
        println!("{v}");
    }
    let s = &result.stats;
    let secs = result.elapsed.as_secs_f64();
    let (ran_a, ran_b) = (result.seeds.start, result.seeds.end);
    if ran_b < b {
        println!("time limit reached: seeds {ran_a}..{ran_b} of {a}..{b} were run");
    }
    println!(
        "seeds {ran_a}..{ran_b}: {} run, {} steps, {} events, {} requests, {} faults injected, {} violations ({} passing seeds ran with authentication on, {} with stateless clients: {} input-required, {} retries resumed, {} refused) in {secs:.1}s ({:.0} seeds/s, {jobs} jobs)",
        s.seeds,
        s.steps,
        s.events,
        s.requests,
        s.faults,
        s.violations,
        s.auth,
        s.stateless,
        s.input_required,
        s.resumed,
        s.refused,
        s.seeds as f64 / secs.max(1e-9)
    );
    if !has(args, "--no-shrink") {
        let mut kinds: Vec<Invariant> = vec![];
        for v in &result.violations {
            if kinds.len() < SHRUNK_KINDS && !kinds.contains(&v.invariant) {
                kinds.push(v.invariant);
                report_shrunk(&shrink_seed(v.clone(), &options));
            }
        }
    }
    Ok(if s.violations == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn progress(s: &SweepStats, spent: Duration, total: u64) {
    let rate = s.seeds as f64 / spent.as_secs_f64().max(1e-9);
    let left = total.saturating_sub(s.seeds) as f64 / rate.max(1e-9);
    eprintln!(
        "swarm: {}/{total} seeds, {} violations, {rate:.0} seeds/s, {:.0}s spent, about {:.0}s left",
        s.seeds,
        s.violations,
        spent.as_secs_f64(),
        left
    );
}

fn replay_file(args: &[String]) -> anyhow::Result<ExitCode> {
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
