use super::*;
use crate::time::Instant;
use serde_json::json;

const MS: u64 = 1_000_000;

fn answer(kind: MessageKind, status: u16) -> PostAnswer<'static> {
    PostAnswer { kind, status, with_session: kind != MessageKind::Initialize, event_stream: false, session_id: None }
}

/// A streamable link through `initialize` (session `s1`, version 2025-06-18) and
/// `notifications/initialized`, its server stream asked for.
fn initialized() -> HttpLink {
    let mut link = HttpLink::new(HttpFlavor::Streamable);
    assert!(link.handle_opened());
    let init = PostAnswer { session_id: Some("s1"), ..answer(MessageKind::Initialize, 200) };
    assert_eq!(link.handle_post_answer(init), PostVerdict::DeliverBody);
    link.handle_answer_data(
        MessageKind::Initialize,
        br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}}"#,
    );
    assert!(!link.handle_delivered(MessageKind::Initialize, 200));
    assert_eq!(link.handle_post_answer(answer(MessageKind::Initialized, 202)), PostVerdict::DeliverBody);
    assert!(link.handle_delivered(MessageKind::Initialized, 202));
    link
}

fn session(id: &str, version: &str) -> SessionHeaders {
    SessionHeaders { id: Some(id.to_owned()), version: Some(version.to_owned()) }
}

#[test]
fn auto_mode_falls_back_only_when_the_server_does_not_speak_streamable_http() {
    let id = json!(0);
    assert!(falls_back_to_sse(404, b"Cannot POST /mcp", Some(&id)));
    assert!(falls_back_to_sse(405, b"", Some(&id)));
    assert!(falls_back_to_sse(400, br#"{"error":"no"}"#, Some(&id)));
    // An error without our id is not an answer to the initialize.
    assert!(falls_back_to_sse(400, br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x"}}"#, Some(&id)));
    // The server answered the initialize itself: it speaks streamable HTTP, only refused us.
    let answered = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32602,"message":"bad version"}}"#;
    assert!(!falls_back_to_sse(400, answered, Some(&id)));
    for status in [200, 202, 401, 403, 500, 502] {
        assert!(!falls_back_to_sse(status, b"", Some(&id)), "{status}");
    }
}

#[test]
fn message_kinds_come_from_the_envelope() {
    assert_eq!(MessageKind::of(Some("initialize"), true), MessageKind::Initialize);
    assert_eq!(MessageKind::of(Some("initialize"), false), MessageKind::Other, "a notification is no request");
    assert_eq!(MessageKind::of(Some("notifications/initialized"), false), MessageKind::Initialized);
    assert_eq!(MessageKind::of(Some("notifications/initialized"), true), MessageKind::Other);
    assert_eq!(MessageKind::of(Some("tools/list"), true), MessageKind::Other);
    assert_eq!(MessageKind::of(None, true), MessageKind::Other);
}

#[test]
fn the_transport_sets_its_own_headers() {
    for name in ["accept", "content-type", "content-length", "host", "mcp-session-id", "mcp-protocol-version"] {
        assert!(is_reserved_header(name), "{name}");
    }
    assert!(is_reserved_header("last-event-id"));
    assert!(!is_reserved_header("authorization") && !is_reserved_header("x-team"));
}

#[test]
fn initialize_goes_without_a_session_and_later_posts_carry_it() {
    let mut link = HttpLink::new(HttpFlavor::Streamable);
    assert_eq!(link.era(), Era::Streamable);
    assert_eq!(link.post_headers(MessageKind::Initialize), PostHeaders::Plain);
    let init = PostAnswer { session_id: Some("s1"), ..answer(MessageKind::Initialize, 200) };
    assert_eq!(link.handle_post_answer(init), PostVerdict::DeliverBody);
    // The version comes from the result; other answers' data does not touch it.
    link.handle_answer_data(MessageKind::Other, br#"{"result":{"protocolVersion":"evil"}}"#);
    link.handle_answer_data(MessageKind::Initialize, b"not json");
    assert_eq!(link.session(), &SessionHeaders { id: Some("s1".into()), version: None });
    link.handle_answer_data(MessageKind::Initialize, br#"{"id":0,"result":{"protocolVersion":"2025-06-18"}}"#);
    assert_eq!(link.post_headers(MessageKind::Other), PostHeaders::Session(&session("s1", "2025-06-18")));
    assert_eq!(link.post_headers(MessageKind::Initialized), PostHeaders::Session(&session("s1", "2025-06-18")));
    assert_eq!(link.post_headers(MessageKind::Initialize), PostHeaders::Plain, "a new initialize starts over");
}

#[test]
fn a_failed_initialize_learns_no_session() {
    let mut link = HttpLink::new(HttpFlavor::Streamable);
    let refused = PostAnswer { session_id: Some("s1"), ..answer(MessageKind::Initialize, 500) };
    assert_eq!(link.handle_post_answer(refused), PostVerdict::DeliverBody);
    assert_eq!(link.session(), &SessionHeaders::default());
    // A streamable-only link never peeks: a 404 to initialize is the server's error to deliver.
    assert_eq!(link.handle_post_answer(answer(MessageKind::Initialize, 404)), PostVerdict::DeliverBody);
    assert_eq!(link.end(), None);
}

#[test]
fn answers_are_delivered_as_streams_only_when_they_succeed() {
    let mut link = initialized();
    let stream = PostAnswer { event_stream: true, ..answer(MessageKind::Other, 200) };
    assert_eq!(link.handle_post_answer(stream), PostVerdict::DeliverStream);
    let failed = PostAnswer { event_stream: true, ..answer(MessageKind::Other, 500) };
    assert_eq!(link.handle_post_answer(failed), PostVerdict::DeliverBody);
    assert_eq!(link.handle_post_answer(answer(MessageKind::Other, 202)), PostVerdict::DeliverBody);
    assert_eq!(link.handle_post_answer(answer(MessageKind::Other, 400)), PostVerdict::DeliverBody);
}

#[test]
fn a_404_to_our_session_ends_the_link_and_nothing_more_is_sent() {
    let mut link = initialized();
    // A 404 to a request that carried no session is only that request's error.
    let without = PostAnswer { with_session: false, ..answer(MessageKind::Other, 404) };
    assert_eq!(link.handle_post_answer(without), PostVerdict::DeliverBody);
    assert_eq!(link.handle_post_answer(answer(MessageKind::Other, 404)), PostVerdict::Ended(LinkEnd::SessionLost));
    assert_eq!(link.end(), Some(&LinkEnd::SessionLost));
    assert_eq!(link.end().map(ToString::to_string).as_deref(), Some(SESSION_LOST));
    assert_eq!(link.post_headers(MessageKind::Other), PostHeaders::Ended);
    assert_eq!(link.post_headers(MessageKind::Initialize), PostHeaders::Ended);
    assert_eq!(link.stream_request(), None);
    assert_eq!(link.handle_stream_failed(Instant(0), "x"), StreamStep::Stop);
    assert_eq!(link.handle_stream_ended(Instant(0)), StreamStep::Stop);
    // The first end holds; a lost session is not DELETEd.
    assert_eq!(link.handle_stop(), LinkEnd::SessionLost);
    assert_eq!(link.session_to_end(), None);
}

#[test]
fn the_server_stream_opens_once_after_initialized_is_accepted() {
    let mut link = HttpLink::new(HttpFlavor::Streamable);
    assert!(!link.handle_delivered(MessageKind::Initialized, 500), "refused: no stream");
    assert!(!link.handle_delivered(MessageKind::Other, 200));
    assert!(link.handle_delivered(MessageKind::Initialized, 202));
    assert!(!link.handle_delivered(MessageKind::Initialized, 202), "only once");
    let mut legacy = HttpLink::new(HttpFlavor::Sse);
    assert!(!legacy.handle_delivered(MessageKind::Initialized, 202), "legacy has no such stream");
    let mut over = HttpLink::new(HttpFlavor::Streamable);
    over.handle_stop();
    assert!(!over.handle_delivered(MessageKind::Initialized, 202));
}

#[test]
fn auto_mode_peeks_at_a_refused_first_post_and_falls_back() {
    for status in [400, 404, 405] {
        let mut link = HttpLink::new(HttpFlavor::Auto);
        assert!(link.handle_opened());
        assert_eq!(link.handle_post_answer(answer(MessageKind::Initialize, status)), PostVerdict::PeekBody);
        assert_eq!(link.handle_first_refusal(status, b"Cannot POST /mcp", Some(&json!(0))), FirstRefusal::FallBack);
        assert_eq!(link.era(), Era::LegacySse);
        assert!(!link.handle_opened(), "started was reported already");
        assert_eq!(link.post_headers(MessageKind::Initialize), PostHeaders::Plain);
        // A failed legacy start says why the link fell back.
        let end = link.handle_start_failed("no endpoint");
        assert_eq!(end.to_string(), format!("POST answered HTTP {status}; legacy SSE: no endpoint"));
        assert!(end.is_failed_start());
    }
}

#[test]
fn auto_mode_delivers_a_refusal_that_answers_the_request() {
    let mut link = HttpLink::new(HttpFlavor::Auto);
    assert_eq!(link.handle_post_answer(answer(MessageKind::Initialize, 400)), PostVerdict::PeekBody);
    let body = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32602,"message":"bad version"}}"#;
    assert_eq!(link.handle_first_refusal(400, body, Some(&json!(0))), FirstRefusal::Deliver);
    assert_eq!(link.era(), Era::Streamable);
    assert_eq!(link.handle_start_failed("x").to_string(), "x", "no fallback to mention");
}

#[test]
fn fallback_happens_only_at_the_initialize_and_only_until_it_was_answered() {
    let mut link = HttpLink::new(HttpFlavor::Auto);
    assert_eq!(link.handle_post_answer(answer(MessageKind::Initialize, 200)), PostVerdict::DeliverBody);
    for status in [400, 404, 405] {
        let later = PostAnswer { with_session: false, ..answer(MessageKind::Other, status) };
        assert_eq!(link.handle_post_answer(later), PostVerdict::DeliverBody, "{status}");
        assert_eq!(link.handle_first_refusal(status, b"", None), FirstRefusal::Deliver);
        let again = link.handle_post_answer(answer(MessageKind::Initialize, status));
        assert_eq!(again, PostVerdict::DeliverBody, "a new initialize on a known transport: {status}");
    }
    assert_eq!(link.era(), Era::Streamable);
    // Typed streamable links never peek, even at the first POST.
    let mut typed = HttpLink::new(HttpFlavor::Streamable);
    assert_eq!(typed.handle_post_answer(answer(MessageKind::Initialize, 404)), PostVerdict::DeliverBody);
    assert_eq!(typed.handle_first_refusal(404, b"", None), FirstRefusal::Deliver);
    assert_eq!(typed.era(), Era::Streamable);
}

#[test]
fn a_refused_stateless_probe_leaves_the_fallback_to_the_initialize_that_follows() {
    // The spec's chain for a client of every era: a stateless request, then `initialize`, then
    // legacy SSE. A legacy-only server refuses the first two alike.
    for status in [400, 404, 405] {
        let mut link = HttpLink::new(HttpFlavor::Auto);
        let probe = PostAnswer { with_session: false, ..answer(MessageKind::Other, status) };
        assert_eq!(link.handle_post_answer(probe), PostVerdict::DeliverBody, "the core hears the refusal");
        assert_eq!(link.era(), Era::Streamable);
        assert_eq!(link.handle_post_answer(answer(MessageKind::Initialize, status)), PostVerdict::PeekBody);
        assert_eq!(link.handle_first_refusal(status, b"Cannot POST /sse", Some(&json!(1))), FirstRefusal::FallBack);
        assert_eq!(link.era(), Era::LegacySse);
    }
    // A stateless server answers the probe: its transport is known, nothing falls back later.
    let mut stateless = HttpLink::new(HttpFlavor::Auto);
    let discovered = PostAnswer { with_session: false, ..answer(MessageKind::Other, 200) };
    assert_eq!(stateless.handle_post_answer(discovered), PostVerdict::DeliverBody);
    assert_eq!(stateless.handle_post_answer(answer(MessageKind::Initialize, 404)), PostVerdict::DeliverBody);
}

#[test]
fn a_post_that_fails_before_any_answer_is_a_failed_start_and_after_one_fails_alone() {
    let mut fresh = HttpLink::new(HttpFlavor::Auto);
    let end = fresh.handle_post_failed("cannot reach http://127.0.0.1:1/mcp: refused");
    assert_eq!(end, Some(LinkEnd::NeverStarted("cannot reach http://127.0.0.1:1/mcp: refused".into())));
    assert_eq!(fresh.post_headers(MessageKind::Initialize), PostHeaders::Ended);
    let mut heard = HttpLink::new(HttpFlavor::Auto);
    heard.handle_post_answer(PostAnswer { with_session: false, ..answer(MessageKind::Other, 404) });
    assert_eq!(heard.handle_post_failed("reset"), None, "the server was there: only that request fails");
    assert_eq!(heard.end(), None);
}

#[test]
fn legacy_posts_are_accepted_or_failed_and_carry_no_session() {
    let mut link = HttpLink::new(HttpFlavor::Sse);
    assert_eq!(link.era(), Era::LegacySse);
    assert_eq!(link.post_headers(MessageKind::Other), PostHeaders::Plain);
    assert_eq!(link.handle_post_answer(answer(MessageKind::Other, 202)), PostVerdict::Accepted);
    assert_eq!(link.handle_post_answer(answer(MessageKind::Other, 404)), PostVerdict::Failed, "no session to lose");
    assert_eq!(link.handle_post_answer(answer(MessageKind::Other, 500)), PostVerdict::Failed);
    assert!(link.handle_opened(), "a typed legacy link starts once its endpoint is known");
    assert_eq!(link.handle_legacy_stream_end(None).to_string(), "the server closed the SSE stream");
    let mut broke = HttpLink::new(HttpFlavor::Sse);
    assert_eq!(broke.handle_legacy_stream_end(Some("reset".into())).to_string(), "the SSE stream broke off: reset");
    assert_eq!(broke.handle_start_failed("late").to_string(), "the SSE stream broke off: reset", "first end holds");
}

#[test]
fn stop_ends_a_known_session_with_a_delete() {
    let mut link = initialized();
    assert_eq!(link.session_to_end(), None, "not before the stop");
    assert_eq!(link.handle_stop(), LinkEnd::Stopped);
    assert_eq!(LinkEnd::Stopped.to_string(), STOPPED);
    assert_eq!(link.session_to_end(), Some(&session("s1", "2025-06-18")));
    assert!(!LinkEnd::Stopped.is_failed_start());
    // No session id, nothing to end.
    let mut fresh = HttpLink::new(HttpFlavor::Streamable);
    fresh.handle_stop();
    assert_eq!(fresh.session_to_end(), None);
}

#[test]
fn a_stream_that_ends_is_reopened_after_the_minimum_pause_and_resumed() {
    let mut link = initialized();
    let request = link.stream_request();
    assert_eq!(request, Some(StreamRequest { session: &session("s1", "2025-06-18"), last_event_id: None }));
    assert_eq!(link.handle_stream_answer(200, true), StreamOpen::Listen);
    link.handle_stream_event_id("7");
    link.handle_stream_event_id("8");
    assert_eq!(link.handle_stream_ended(Instant(1000 * MS)), StreamStep::RetryAt(Instant(1100 * MS)));
    assert_eq!(link.stream_request().and_then(|r| r.last_event_id), Some("8"));
}

#[test]
fn failed_opens_back_off_and_the_sixth_in_a_row_makes_the_server_unreachable() {
    let mut link = initialized();
    let mut now = Instant(0);
    let mut pauses = Vec::new();
    for n in 1..STREAM_RETRIES {
        match link.handle_stream_failed(now, &format!("refused {n}")) {
            StreamStep::RetryAt(at) => {
                pauses.push(at.since(now).as_millis());
                now = at;
            }
            other => panic!("failure {n}: {other:?}"),
        }
    }
    assert_eq!(pauses, [200, 400, 800, 1600, 3200]);
    let end = link.handle_stream_failed(now, "refused 6");
    assert_eq!(end, StreamStep::Ended(LinkEnd::Unreachable("refused 6".into())));
    assert_eq!(link.end().map(ToString::to_string).as_deref(), Some("refused 6"));
    assert_eq!(link.stream_request(), None);
    assert_eq!(link.session_to_end(), None, "an unreachable server is not sent a DELETE");
}

#[test]
fn an_open_stream_forgives_earlier_failures() {
    let mut link = initialized();
    for _ in 1..STREAM_RETRIES {
        assert!(matches!(link.handle_stream_failed(Instant(0), "x"), StreamStep::RetryAt(_)));
    }
    assert_eq!(link.handle_stream_answer(200, true), StreamOpen::Listen);
    assert_eq!(link.handle_stream_ended(Instant(0)), StreamStep::RetryAt(Instant(100 * MS)));
    for _ in 1..STREAM_RETRIES {
        assert!(matches!(link.handle_stream_failed(Instant(0), "x"), StreamStep::RetryAt(_)));
    }
    assert!(matches!(link.handle_stream_failed(Instant(0), "x"), StreamStep::Ended(_)));
}

#[test]
fn refused_streams_are_not_retried_and_a_404_loses_the_session() {
    let mut link = initialized();
    assert_eq!(link.handle_stream_answer(405, false), StreamOpen::NotOffered);
    assert_eq!(link.handle_stream_answer(200, false), StreamOpen::Refused, "not an event stream");
    assert_eq!(link.handle_stream_answer(500, true), StreamOpen::Refused);
    assert_eq!(link.handle_stream_answer(403, false), StreamOpen::Refused);
    assert_eq!(link.end(), None, "a refused stream leaves requests working");
    // Without a session id a 404 is only a refusal.
    let mut anonymous = HttpLink::new(HttpFlavor::Streamable);
    assert_eq!(anonymous.handle_stream_answer(404, false), StreamOpen::Refused);
    assert_eq!(link.handle_stream_answer(404, false), StreamOpen::Ended(LinkEnd::SessionLost));
    assert_eq!(link.end(), Some(&LinkEnd::SessionLost));
}

#[test]
fn failed_starts_and_stops_before_anything_happened() {
    let mut link = HttpLink::new(HttpFlavor::Streamable);
    let end = link.handle_start_failed("cannot reach http://127.0.0.1:1/mcp: refused");
    assert!(end.is_failed_start());
    assert_eq!(end.to_string(), "cannot reach http://127.0.0.1:1/mcp: refused");
    assert_eq!(link.post_headers(MessageKind::Initialize), PostHeaders::Ended);
    let mut stopped = HttpLink::new(HttpFlavor::Auto);
    assert_eq!(stopped.handle_stop(), LinkEnd::Stopped);
    assert_eq!(stopped.session_to_end(), None);
}

#[test]
fn a_stateless_request_carries_its_revision_and_its_tools_header_parameters() {
    let mut link = HttpLink::new(HttpFlavor::Streamable);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"});
    let call = json!({"name": "where", "arguments": {"region": "eu-west"}, "_meta": meta});
    let headers = |link: &HttpLink, method: &str, params: &Value| link.stateless_headers(method, params.as_object());
    let before = headers(&link, "tools/call", &call);
    assert_eq!(
        before,
        [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", "where")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let schema = json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}});
    let page = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "where", "inputSchema": schema}]}});
    link.learn_tools(page.to_string().as_bytes());
    let after = headers(&link, "tools/call", &call);
    assert!(after.contains(&("Mcp-Param-Region".to_owned(), "eu-west".to_owned())), "{after:?}");
    // A legacy request (no revision in _meta) carries none of them.
    assert!(headers(&link, "tools/call", &json!({"name": "where"})).is_empty());
    // A tool listed again without annotations mirrors nothing any more.
    let page =
        json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [{"name": "where", "inputSchema": {"type": "object"}}]}});
    link.learn_tools(page.to_string().as_bytes());
    assert!(!headers(&link, "tools/call", &call).iter().any(|(k, _)| k.starts_with("Mcp-Param-")));
}

/// A streamable link through `initialize`, with its `notifications/initialized` handed to the
/// transport at `now` (not yet answered).
fn initializing(now: Instant) -> HttpLink {
    let mut link = HttpLink::new(HttpFlavor::Streamable);
    link.handle_opened();
    link.handle_posting(MessageKind::Initialize, Instant(0));
    let init = PostAnswer { session_id: Some("s1"), ..answer(MessageKind::Initialize, 200) };
    link.handle_post_answer(init);
    link.handle_delivered(MessageKind::Initialize, 200);
    assert_eq!(link.posts_held_until(now), None, "initialize itself holds nothing back");
    link.handle_posting(MessageKind::Initialized, now);
    link
}

#[test]
fn requests_wait_for_the_session_stream_until_its_first_get_is_answered() {
    let start = Instant(5 * MS);
    let deadline = start.after(STREAM_WAIT);
    let mut link = initializing(start);
    assert_eq!(link.posts_held_until(start), Some(deadline));
    assert!(link.handle_delivered(MessageKind::Initialized, 202), "the stream is to be opened");
    assert_eq!(link.posts_held_until(start), Some(deadline), "asked for, not yet answered");
    assert_eq!(link.handle_stream_answer(200, true), StreamOpen::Listen);
    assert_eq!(link.posts_held_until(start), None);
    // The wait happens once per link: a reopened stream holds nothing back.
    link.handle_posting(MessageKind::Initialized, start);
    assert_eq!(link.handle_stream_ended(start), StreamStep::RetryAt(start.after(STREAM_BACKOFF)));
    assert_eq!(link.posts_held_until(start), None);
}

#[test]
fn requests_stop_waiting_when_no_stream_will_come_and_never_longer_than_the_bound() {
    let now = Instant(0);
    // Every way the first GET can go ends the wait.
    let outcomes: [fn(&mut HttpLink); 4] = [
        |link| drop(link.handle_stream_answer(405, false)),
        |link| drop(link.handle_stream_answer(500, false)),
        |link| drop(link.handle_stream_answer(404, false)),
        |link| drop(link.handle_stream_failed(Instant(0), "refused")),
    ];
    for (n, outcome) in outcomes.iter().enumerate() {
        let mut link = initializing(now);
        link.handle_delivered(MessageKind::Initialized, 202);
        outcome(&mut link);
        assert_eq!(link.posts_held_until(now), None, "outcome {n}");
    }
    // A refused `notifications/initialized` opens no stream.
    let mut refused = initializing(now);
    assert!(!refused.handle_delivered(MessageKind::Initialized, 500));
    assert_eq!(refused.posts_held_until(now), None);
    // A link that ends sends nothing anyway.
    let mut stopped = initializing(now);
    stopped.handle_stop();
    assert_eq!(stopped.posts_held_until(now), None);
    // A server that never answers the GET holds requests back for STREAM_WAIT at most.
    let slow = initializing(now);
    let late = now.after(STREAM_WAIT);
    assert_eq!(slow.posts_held_until(now.after(STREAM_WAIT - Duration::from_millis(1))), Some(late));
    assert_eq!(slow.posts_held_until(late), None);
    // Legacy SSE has no such stream: nothing waits.
    let mut legacy = HttpLink::new(HttpFlavor::Sse);
    legacy.handle_posting(MessageKind::Initialized, now);
    assert_eq!(legacy.posts_held_until(now), None);
    // Without `notifications/initialized` (a stateless server) nothing waits either.
    let mut stateless = HttpLink::new(HttpFlavor::Streamable);
    stateless.handle_posting(MessageKind::Other, now);
    assert_eq!(stateless.posts_held_until(now), None);
}

#[test]
fn only_an_authorizing_link_hands_refusals_to_the_authorizer() {
    let challenge =
        [r#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="a b""#];
    let plain = HttpLink::new(HttpFlavor::Streamable);
    assert_eq!(
        plain.authorization_challenge(401, challenge),
        None,
        "a configured Authorization is the user's business"
    );

    let link = HttpLink::new(HttpFlavor::Streamable).authorizing();
    let got = link.authorization_challenge(401, challenge).expect("a 401 is for the authorizer");
    assert_eq!(got.scope.as_deref(), Some("a b"));
    assert!(got.resource_metadata.as_deref().is_some_and(|url| url.ends_with("/oauth-protected-resource/mcp")));
    assert_eq!(link.authorization_challenge(401, []), Some(Challenge::default()), "a bare 401 too");

    let step_up = [r#"Bearer error="insufficient_scope", scope="a b c""#];
    assert!(link.authorization_challenge(403, step_up).is_some_and(|c| c.wants_more_scope()));
    assert_eq!(link.authorization_challenge(403, [r#"Bearer error="invalid_request""#]), None, "not a scope refusal");
    assert_eq!(link.authorization_challenge(403, []), None, "a plain 403 is the server's answer to that request");
    for status in [200, 202, 400, 404, 500] {
        assert_eq!(link.authorization_challenge(status, challenge), None, "{status}");
    }
}

#[test]
fn a_link_the_user_must_authorize_is_over_and_says_why() {
    let mut link = HttpLink::new(HttpFlavor::Auto).authorizing();
    let end = link.handle_unauthorized("authorize at http://127.0.0.1:3050/oauth/authorize/remote");
    assert_eq!(end, LinkEnd::NeedsAuthorization("authorize at http://127.0.0.1:3050/oauth/authorize/remote".into()));
    assert!(!end.is_failed_start(), "the server is there: it wants the user");
    assert_eq!(end.to_string(), "authorize at http://127.0.0.1:3050/oauth/authorize/remote");
    assert_eq!(link.post_headers(MessageKind::Other), PostHeaders::Ended, "nothing more is sent");
    assert_eq!(link.authorization_challenge(401, []), None, "a late refusal changes nothing");
    assert_eq!(link.handle_stop(), end, "the first end holds");
}
