//! A real session, recorded with `1mcp serve --record` (two fixture servers, two rmcp clients:
//! echoes to both, a failing call, a tools/list, session deletes, SIGTERM), replayed through a
//! fresh core. `tests/tests/record.rs` records a fresh one on every run; this one is fixed, so
//! what the core does with it is snapshotted. Machine paths and the inherited environment in
//! its header were replaced by placeholders (a replay never starts a process).

use onemcp_sim::replay;
use std::path::Path;

#[test]
fn a_recorded_real_session_replays_with_every_invariant() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/two_clients.jsonl");
    let report = replay(&path).unwrap_or_else(|violation| panic!("{violation}"));
    assert!(!report.appended_shutdown, "the daemon recorded its shutdown");
    assert_eq!(report.rpc_answered, report.rpc_requests, "every JSON-RPC request answered once");
    assert_eq!(replay(&path).ok().as_ref(), Some(&report), "a replay is a function of the file");
    insta::assert_yaml_snapshot!(report);
}
