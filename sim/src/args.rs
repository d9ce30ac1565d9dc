//! The command-line flags of a world, read and written: `onemcp-sim run` and `swarm` parse them
//! with [`parse_options`], and [`run_args`] writes a run back as the flags that reproduce it
//! (the shrinker's smallest reproduction is printed that way).

use crate::{FaultPlan, Faults, SimOptions};

/// The value after flag `name`, if it is there.
pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// True if the bare flag `name` is there.
pub fn has(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

fn number<T: std::str::FromStr>(args: &[String], name: &str) -> Result<Option<T>, String> {
    flag(args, name).map(|v| v.parse().map_err(|_| format!("{name} takes a number, not {v:?}"))).transpose()
}

fn on_off(args: &[String], name: &str) -> Result<Option<bool>, String> {
    match flag(args, name) {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(format!("{name} takes on or off, not {other:?}")),
    }
}

/// `--faults all` (drawn per seed, every kind in play: the default), `off`, or an exact plan
/// in [`FaultPlan`]'s text (`alpha:crash=0.04/clients:cancel=0.1/world:storm=alpha`, or `none`).
pub fn parse_faults(text: &str) -> Result<Faults, String> {
    match text {
        "all" | "swarm" => Ok(Faults::Swarm),
        "off" => Ok(Faults::Off),
        plan => plan.parse::<FaultPlan>().map(Faults::Plan).map_err(|e| format!("--faults: {e}")),
    }
}

/// The world flags of `args` over the defaults: `--steps K`, `--liveness-steps K` (most steps
/// the world may take to settle once faults stop; too few is a way to see a failure),
/// `--clients N`, `--backends N`,
/// `--colliding-ids on|off`, `--views on|off`, `--roots on|off`, `--auth on|off`,
/// `--stateless on|off`, `--faults
/// all|off|PLAN`, `--spare-relists` (keeps hangs off the hub's relists, as before cf970f7 gave them a timeout)
/// `--fresh-retry-tokens` (a stateless retry brings a progress token of its own) and
/// `--without KIND,KIND` (fault kinds off whatever the seed draws, e.g. `world.reload_every_ms`). A flag
/// left out is drawn from the seed, as before.
pub fn parse_options(args: &[String]) -> Result<SimOptions, String> {
    let mut options = SimOptions {
        faulty_relists: !has(args, "--spare-relists"),
        fresh_retry_tokens: has(args, "--fresh-retry-tokens"),
        ..SimOptions::default()
    };
    if let Some(steps) = number(args, "--steps")? {
        options.steps = steps;
    }
    if let Some(steps) = number(args, "--liveness-steps")? {
        options.liveness_steps = steps;
    }
    options.clients = number(args, "--clients")?;
    options.backends = number(args, "--backends")?;
    options.colliding_ids = on_off(args, "--colliding-ids")?;
    options.views = on_off(args, "--views")?;
    options.roots = on_off(args, "--roots")?;
    options.auth = on_off(args, "--auth")?;
    options.stateless = on_off(args, "--stateless")?;
    if let Some(kinds) = flag(args, "--without") {
        options.without = kinds.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect();
    }
    if let Some(faults) = flag(args, "--faults") {
        options.faults = parse_faults(faults)?;
    }
    Ok(options)
}

/// The arguments of `onemcp-sim` that run `seed` with `options` (those the flags above can
/// say; the rest are the defaults): `run --seed N --steps K ...`.
pub fn run_args(seed: u64, options: &SimOptions) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into(), "--seed".into(), seed.to_string()];
    let mut push = |name: &str, value: String| {
        args.push(name.to_owned());
        args.push(value);
    };
    push("--steps", options.steps.to_string());
    if options.liveness_steps != SimOptions::default().liveness_steps {
        push("--liveness-steps", options.liveness_steps.to_string());
    }
    if let Some(clients) = options.clients {
        push("--clients", clients.to_string());
    }
    if let Some(backends) = options.backends {
        push("--backends", backends.to_string());
    }
    let switches = [
        ("--colliding-ids", options.colliding_ids),
        ("--views", options.views),
        ("--roots", options.roots),
        ("--auth", options.auth),
        ("--stateless", options.stateless),
    ];
    for (name, value) in switches {
        if let Some(on) = value {
            push(name, if on { "on" } else { "off" }.to_owned());
        }
    }
    match &options.faults {
        Faults::Swarm => {}
        Faults::Off => push("--faults", "off".to_owned()),
        Faults::Plan(plan) => push("--faults", plan.to_string()),
    }
    if !options.faulty_relists {
        args.push("--spare-relists".into());
    }
    if options.fresh_retry_tokens {
        args.push("--fresh-retry-tokens".into());
    }
    if !options.without.is_empty() {
        args.push("--without".into());
        args.push(options.without.join(","));
    }
    args
}

/// The command line of [`run_args`], ready to paste: `onemcp-sim run --seed N ...`.
pub fn command(seed: u64, options: &SimOptions) -> String {
    format!("onemcp-sim {}", run_args(seed, options).join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendFaults, BridgeFaults, ClientFaults, WorldFaults};

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_printed_run_parses_back_to_itself() {
        let plan = FaultPlan {
            backends: [
                ("alpha".to_owned(), BackendFaults { crash: 0.0385, hang: 0.072, ..BackendFaults::default() }),
                ("beta".to_owned(), BackendFaults { honour_cancel: 1.0, ..BackendFaults::default() }),
            ]
            .into(),
            clients: ClientFaults { sse: 0.3, listen: 0.0999, ..ClientFaults::default() },
            world: WorldFaults {
                reload_every_ms: 731,
                invalid: 0.123,
                per_session: Some("beta".into()),
                storm: Some("alpha".into()),
            },
            bridge: BridgeFaults { ask: 0.5, tamper: 0.125, ..BridgeFaults::default() },
        };
        let options = SimOptions {
            steps: 321,
            liveness_steps: 77,
            clients: Some(3),
            backends: Some(2),
            colliding_ids: Some(true),
            views: Some(false),
            roots: Some(true),
            auth: Some(false),
            stateless: Some(true),
            faults: Faults::Plan(plan),
            faulty_relists: false,
            fresh_retry_tokens: true,
            without: vec!["world.storm".into(), "bridge.abandon".into()],
            ..SimOptions::default()
        };
        let line = command(42, &options);
        assert!(
            line.starts_with("onemcp-sim run --seed 42 --steps 321 --liveness-steps 77 --clients 3 --backends 2"),
            "{line}"
        );
        let args = words(&line);
        assert_eq!(flag(&args, "--seed"), Some("42"));
        assert_eq!(parse_options(&args[2..]), Ok(options));
    }

    #[test]
    fn fault_flags() {
        assert_eq!(parse_faults("all"), Ok(Faults::Swarm));
        assert_eq!(parse_faults("off"), Ok(Faults::Off));
        assert_eq!(parse_faults("none"), Ok(Faults::Plan(FaultPlan::default())));
        assert_eq!(FaultPlan::default().to_string(), "none");
        assert!(parse_faults("alpha:crush=1").is_err_and(|e| e.contains("crush")));
        assert!(parse_faults("world:reload_every_ms=0.5").is_err());
        assert!(parse_options(&words("--auth maybe")).is_err());
        assert_eq!(parse_options(&words("--clients 2")).map(|o| o.clients), Ok(Some(2)));
    }
}
