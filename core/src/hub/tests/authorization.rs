//! A backend whose server needs the user to authorize 1mcp (OAuth): it waits, without restarts
//! and without a crash loop, says where to authorize, and starts once authorized.

use super::*;

fn needs_authorization(h: &mut Harness, name: &str) {
    let generation = h.generation(name);
    h.feed(Input::BackendNeedsAuthorization {
        backend: bk(name),
        generation,
        why: "the server answered HTTP 401".into(),
    });
}

#[test]
fn a_server_that_needs_authorization_waits_says_where_and_starts_once_authorized() {
    let mut h = Harness::new(&[("remote", server(true))]);
    h.bring_up("remote", &["echo"]);
    let s = h.initialize();
    let x = h.call(&s, json!(1), "remote_1mcp_echo", json!({}));
    h.outputs.clear();
    needs_authorization(&mut h, "remote");
    let (_, body) = h.json_response(x);
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.contains("HTTP 401")),
        "what it owed is failed: {body}"
    );
    assert!(h.outputs.iter().any(|o| matches!(o, Output::StopBackend { backend, .. } if *backend == bk("remote"))));
    let b = &h.hub.backends[&bk("remote")];
    assert_eq!(b.state.label(), "awaiting-authorization");
    assert!(b.restart_timer.is_none(), "no restart while the user has not authorized");

    // Long after, still waiting: nothing was started again.
    h.outputs.clear();
    h.advance(Duration::from_secs(3600));
    assert!(!h.outputs.iter().any(|o| matches!(o, Output::SpawnBackend { .. })), "no restarts, no crash loop");
    let (status, readiness) = crate::health::readiness(Instant(0), &h.hub.config, h.hub.backends.values());
    assert_eq!(status, 200, "1mcp is ready without the server that waits for the user: {readiness}");
    let health = crate::health::overall(Instant(0), &h.hub.config, h.hub.backends.values(), &[], None).1;
    let detail = &health["servers"]["details"][0];
    assert_eq!(
        (detail["status"].as_str(), detail["authorize"].as_str()),
        (Some("awaiting-authorization"), Some("/oauth/authorize/remote"))
    );
    let y = h.call(&s, json!(2), "remote_1mcp_echo", json!({}));
    let (_, body) = h.json_response(y);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("needs authorization") && message.contains("/oauth/authorize/remote"), "{message}");

    h.feed(Input::BackendAuthorized { server: "remote".into() });
    assert!(h.outputs.iter().any(|o| matches!(o, Output::SpawnBackend { backend, .. } if *backend == bk("remote"))));
    h.bring_up("remote", &["echo"]);
    assert_eq!(h.hub.backends[&bk("remote")].state, BackendState::Ready);
}

#[test]
fn a_server_that_needs_authorization_at_startup_does_not_hold_readiness_back() {
    let mut h = Harness::new(&[("remote", server(true))]);
    let generation = h.generation("remote");
    h.feed(Input::BackendSpawned { backend: bk("remote"), generation, pid: None });
    needs_authorization(&mut h, "remote");
    let (status, readiness) = crate::health::readiness(Instant(0), &h.hub.config, h.hub.backends.values());
    assert_eq!(status, 200, "{readiness}");
}

#[test]
fn authorization_news_for_other_incarnations_or_servers_changes_nothing() {
    let mut h = Harness::new(&[("remote", server(true))]);
    h.bring_up("remote", &["echo"]);
    let stale = Gen(h.generation("remote").0 - 1);
    h.feed(Input::BackendNeedsAuthorization { backend: bk("remote"), generation: stale, why: "old".into() });
    assert_eq!(h.hub.backends[&bk("remote")].state, BackendState::Ready, "a stale incarnation's refusal");
    h.outputs.clear();
    h.feed(Input::BackendAuthorized { server: "remote".into() });
    assert!(!h.outputs.iter().any(|o| matches!(o, Output::SpawnBackend { .. })), "a ready server is not restarted");
    h.feed(Input::BackendAuthorized { server: "nobody".into() });
    h.feed(Input::BackendNeedsAuthorization { backend: bk("nobody"), generation: Gen(1), why: "x".into() });
}

#[test]
fn an_instances_refusal_is_its_servers_the_instance_goes_and_the_server_waits() {
    let mut h = Harness::new(&[("solo", per_session(4, 60_000))]);
    h.bring_up("solo", &["echo"]);
    let s = h.initialize_with(client_features());
    let x = h.call(&s, json!(1), "solo_1mcp_echo", json!({}));
    let instance = h.spawned_instances("solo").remove(0);
    let generation = h.generation(&instance);
    h.feed(Input::BackendNeedsAuthorization { backend: bk(&instance), generation, why: "HTTP 401".into() });
    assert!(!h.hub.backends.contains_key(&bk(&instance)), "the instance is gone");
    assert_eq!(h.hub.backends[&bk("solo")].state.label(), "awaiting-authorization");
    let stops = h
        .outputs
        .iter()
        .filter(|o| matches!(o, Output::StopBackend { backend, .. } if backend.to_string() == instance));
    assert_eq!(stops.count(), 1, "the instance is stopped once");
    let (_, body) = h.json_response(x);
    assert!(body["error"].is_object(), "the queued call is answered: {body}");
    // Another session is told to authorize rather than given an instance that would be refused.
    let t = h.initialize_with(client_features());
    h.outputs.clear();
    let y = h.call(&t, json!(1), "solo_1mcp_echo", json!({}));
    let (_, body) = h.json_response(y);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("/oauth/authorize/solo")), "{body}");
    assert!(h.spawned_instances("solo").is_empty(), "no new instance");
    h.outputs.clear();
    h.feed(Input::BackendAuthorized { server: "solo".into() });
    assert!(h.outputs.iter().any(|o| matches!(o, Output::SpawnBackend { backend, .. } if *backend == bk("solo"))));
}
