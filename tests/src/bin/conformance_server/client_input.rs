//! Asking the client for input (elicitation, sampling, roots) in either protocol era.
//!
//! A dialogue (see `dialogues`) looks at the answers it has so far and either asks more
//! [`Question`]s or gives its result. On a legacy session the questions go out as
//! server-to-client requests and are answered in place. On 2026-07-28 the server may not send
//! requests (SEP-2322, MRTR): the call returns an `InputRequiredResult` naming the questions and
//! a `requestState` that carries the earlier answers, sealed with an HMAC (rmcp's
//! [`RequestStateCodec`]) and bound to the method, name and arguments of the call; the client
//! retries with `inputResponses`. A state that fails verification is refused with `-32602`.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, CreateMessageResult, ElicitResult, ElicitationAction, InputRequest, InputRequiredResult,
    InputResponses, JsonObject, ListRootsResult, RequestStateCodec, SealOptions,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::{Value, json};

use super::era::{Era, client_capabilities};

/// Answers by question key: the client's results (`ElicitResult`, `CreateMessageResult`,
/// `ListRootsResult`) as JSON.
pub type Answers = BTreeMap<String, Value>;

/// More rounds than any dialogue here needs; a bound on a client that keeps answering badly.
const MAX_ROUNDS: usize = 8;

/// How long a sealed `requestState` stays valid.
const STATE_TTL: Duration = Duration::from_secs(600);

/// The client capability a question needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Sampling,
    Elicitation,
    Roots,
}

impl Capability {
    /// Whether the client declared it.
    pub fn declared_by(self, capabilities: &ClientCapabilities) -> bool {
        match self {
            Capability::Sampling => capabilities.sampling.is_some(),
            Capability::Elicitation => capabilities.elicitation.is_some(),
            Capability::Roots => capabilities.roots.is_some(),
        }
    }

    /// Its key in `ClientCapabilities`.
    fn key(self) -> &'static str {
        match self {
            Capability::Sampling => "sampling",
            Capability::Elicitation => "elicitation",
            Capability::Roots => "roots",
        }
    }

    /// Its name in messages to a user.
    pub fn label(self) -> &'static str {
        match self {
            Capability::Sampling => "Sampling",
            Capability::Elicitation => "Elicitation",
            Capability::Roots => "Roots",
        }
    }
}

/// One request for client input, under the key its answer comes back under.
#[derive(Debug, Clone)]
pub struct Question {
    key: String,
    request: InputRequest,
    capability: Capability,
    /// For a form elicitation: the fields an accepted answer must fill.
    required: Vec<String>,
}

impl Question {
    /// An `elicitation/create` (form mode); `params` holds `message` and `requestedSchema`.
    pub fn elicit(key: &str, params: Value) -> Result<Question, McpError> {
        let required = params["requestedSchema"]["required"]
            .as_array()
            .map(|fields| fields.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let request = wire!(InputRequest, json!({"method": "elicitation/create", "params": params}))?;
        Ok(Question { key: key.to_owned(), request, capability: Capability::Elicitation, required })
    }

    /// A `sampling/createMessage` with one user message.
    pub fn sample(key: &str, prompt: &str, max_tokens: u32) -> Result<Question, McpError> {
        let params = json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
            "maxTokens": max_tokens
        });
        let request = wire!(InputRequest, json!({"method": "sampling/createMessage", "params": params}))?;
        Ok(Question { key: key.to_owned(), request, capability: Capability::Sampling, required: Vec::new() })
    }

    /// A `roots/list`.
    pub fn roots(key: &str) -> Result<Question, McpError> {
        let request = wire!(InputRequest, json!({"method": "roots/list", "params": {}}))?;
        Ok(Question { key: key.to_owned(), request, capability: Capability::Roots, required: Vec::new() })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether `answer` is a usable answer: the right result type and, for an accepted form,
    /// every required field filled. Anything else is asked again.
    fn accepts(&self, answer: &Value) -> bool {
        match self.capability {
            Capability::Sampling => serde_json::from_value::<CreateMessageResult>(answer.clone()).is_ok(),
            Capability::Roots => serde_json::from_value::<ListRootsResult>(answer.clone()).is_ok(),
            Capability::Elicitation => match serde_json::from_value::<ElicitResult>(answer.clone()) {
                Ok(result) if result.action == ElicitationAction::Accept => match &result.content {
                    Some(Value::Object(content)) => self.required.iter().all(|field| content.contains_key(field)),
                    _ => false,
                },
                Ok(_) => true,
                Err(_) => false,
            },
        }
    }

    /// Sends the question as a server-to-client request (legacy sessions only).
    async fn ask(&self, peer: &Peer<RoleServer>) -> Result<Value, String> {
        let answer = match &self.request {
            InputRequest::CreateMessage(request) => {
                peer.create_message(request.params.clone()).await.map(serde_json::to_value)
            }
            InputRequest::Elicitation(request) => {
                peer.create_elicitation(request.params.clone()).await.map(serde_json::to_value)
            }
            InputRequest::ListRoots(_) => peer.list_roots().await.map(serde_json::to_value),
            _ => return Err("this kind of input request cannot be sent".to_owned()),
        };
        answer.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
    }
}

/// What a dialogue does next.
pub enum Step {
    /// Needs these answers first.
    Ask(Vec<Question>),
    /// Its result, as wire JSON.
    Done(Value),
}

/// What a dialogue knows when it decides its next step.
pub struct Turn<'a> {
    pub answers: &'a Answers,
    pub capabilities: &'a ClientCapabilities,
    /// The call continues an earlier round: a verified `requestState` came with it (modern), or
    /// the client has already been asked once during it (legacy).
    pub resumed: bool,
}

impl Turn<'_> {
    pub fn answered(&self, key: &str) -> bool {
        self.answers.contains_key(key)
    }

    /// `accept`, `decline` or `cancel` of an elicitation answer.
    pub fn action(&self, key: &str) -> &str {
        self.answers.get(key).and_then(|a| a["action"].as_str()).unwrap_or("unknown")
    }

    /// The `content` of an elicitation answer (`{}` when there is none).
    pub fn content(&self, key: &str) -> Value {
        self.answers.get(key).and_then(|a| a.get("content")).cloned().unwrap_or_else(|| json!({}))
    }

    /// One field of an accepted elicitation, as text.
    pub fn field(&self, key: &str, field: &str) -> Option<String> {
        self.answers.get(key).map(|a| &a["content"][field]).filter(|v| !v.is_null()).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// The text of a sampling answer.
    pub fn sampled_text(&self, key: &str) -> String {
        let content = self.answers.get(key).map(|a| &a["content"]);
        let text = content.and_then(|c| c["text"].as_str().or_else(|| c[0]["text"].as_str()));
        text.unwrap_or("No response").to_owned()
    }

    /// The root URIs of a `roots/list` answer.
    pub fn root_uris(&self, key: &str) -> Vec<String> {
        let roots = self.answers.get(key).and_then(|a| a["roots"].as_array());
        roots
            .map(|roots| roots.iter().filter_map(|r| r["uri"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// How a dialogue ended for this request.
pub enum Outcome {
    /// Its result, as wire JSON.
    Done(Value),
    /// Modern: the client must answer and retry.
    InputRequired(InputRequiredResult),
    /// Legacy: the client lacks the capability, or refused or failed a server-to-client request.
    ClientFailed { capability: Capability, error: String },
}

/// The call a dialogue belongs to; its `requestState` is only good for the same call.
pub struct Origin<'a> {
    pub method: &'a str,
    pub name: &'a str,
    pub arguments: &'a JsonObject,
}

impl Origin<'_> {
    fn binding(&self) -> Vec<u8> {
        format!("{}\n{}\n{}", self.method, self.name, Value::Object(self.arguments.clone())).into_bytes()
    }
}

/// The MRTR fields of a retried call.
#[derive(Default)]
pub struct Retry {
    pub input_responses: Option<InputResponses>,
    pub request_state: Option<String>,
}

/// What a sealed `requestState` carries.
#[derive(Debug, Default)]
struct DialogueState {
    /// How many `InputRequiredResult`s this call has produced.
    rounds: u64,
    answers: Answers,
}

impl DialogueState {
    fn to_json(&self) -> Value {
        json!({"rounds": self.rounds, "answers": self.answers})
    }

    fn from_json(value: &Value) -> Option<DialogueState> {
        let rounds = value["rounds"].as_u64()?;
        let answers = value["answers"].as_object()?.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Some(DialogueState { rounds, answers })
    }
}

/// Seals and opens `requestState` with a key that lives as long as the process.
pub struct StateSeal {
    codec: RequestStateCodec,
}

impl std::fmt::Debug for StateSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSeal")
    }
}

impl StateSeal {
    /// A seal with a fresh random key (so a state from another fixture process never opens).
    pub fn with_random_key() -> std::io::Result<StateSeal> {
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
        let codec = RequestStateCodec::try_new(key.to_vec()).map_err(std::io::Error::other)?;
        Ok(StateSeal { codec })
    }

    fn seal(&self, origin: &Origin<'_>, state: &DialogueState) -> Result<String, McpError> {
        let binding = origin.binding();
        let options = SealOptions::new().associated_data(&binding).ttl(STATE_TTL);
        self.codec.seal_json_with(&state.to_json(), &options).map_err(|e| McpError::internal_error(e.to_string(), None))
    }

    fn open(&self, origin: &Origin<'_>, sealed: &str) -> Result<DialogueState, McpError> {
        let opened: Value = self
            .codec
            .open_json_with(sealed, &origin.binding())
            .map_err(|e| McpError::invalid_params(format!("requestState refused: {e}"), None))?;
        DialogueState::from_json(&opened)
            .ok_or_else(|| McpError::invalid_params("requestState refused: not a dialogue state", None))
    }
}

/// Runs the dialogue `step` for the request `context` belongs to, in its era.
pub async fn converse(
    seal: &StateSeal,
    context: &RequestContext<RoleServer>,
    origin: &Origin<'_>,
    retry: Retry,
    step: impl Fn(&Turn<'_>) -> Result<Step, McpError>,
) -> Result<Outcome, McpError> {
    let capabilities = client_capabilities(context);
    match Era::of(context) {
        Era::Modern => converse_by_retries(seal, origin, retry, &capabilities, step),
        Era::Legacy => converse_in_place(&context.peer, &capabilities, step).await,
    }
}

/// Modern: absorb the answers this retry brings (earlier ones come from the sealed state), and
/// either finish or ask for what is still missing.
fn converse_by_retries(
    seal: &StateSeal,
    origin: &Origin<'_>,
    retry: Retry,
    capabilities: &ClientCapabilities,
    step: impl Fn(&Turn<'_>) -> Result<Step, McpError>,
) -> Result<Outcome, McpError> {
    let mut state = match &retry.request_state {
        Some(sealed) => seal.open(origin, sealed)?,
        None => DialogueState::default(),
    };
    let mut responses = retry.input_responses.unwrap_or_default();
    for _ in 0..MAX_ROUNDS {
        let turn = Turn { answers: &state.answers, capabilities, resumed: state.rounds > 0 };
        let questions = match step(&turn)? {
            Step::Done(result) => return Ok(Outcome::Done(result)),
            Step::Ask(questions) => questions,
        };
        require_declared(&questions, capabilities)?;
        if !absorb(&questions, &mut responses, &mut state.answers) {
            state.rounds += 1;
            let sealed = seal.seal(origin, &state)?;
            let requests = questions.into_iter().map(|q| (q.key, q.request)).collect();
            return Ok(Outcome::InputRequired(InputRequiredResult::new(Some(requests), Some(sealed))));
        }
    }
    Err(McpError::internal_error("the dialogue did not settle", None))
}

/// A modern server must not ask for input the client did not declare: `-32021`.
fn require_declared(questions: &[Question], capabilities: &ClientCapabilities) -> Result<(), McpError> {
    let mut missing = JsonObject::new();
    for question in questions.iter().filter(|q| !q.capability.declared_by(capabilities)) {
        missing.insert(question.capability.key().to_owned(), json!({}));
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(McpError::missing_required_client_capability(wire!(ClientCapabilities, Value::Object(missing))?))
}

/// Moves the usable responses to `questions` into `answers`; true if there was one. Responses
/// under other keys are ignored, unusable ones leave their question open.
fn absorb(questions: &[Question], responses: &mut InputResponses, answers: &mut Answers) -> bool {
    let mut absorbed = false;
    for question in questions {
        if let Some(answer) = responses.remove(&question.key)
            && question.accepts(&answer)
        {
            answers.insert(question.key.clone(), answer);
            absorbed = true;
        }
    }
    absorbed
}

/// Legacy: ask each question as a server-to-client request until the dialogue is done. A
/// capability the client did not declare at `initialize` is not used.
async fn converse_in_place(
    peer: &Peer<RoleServer>,
    capabilities: &ClientCapabilities,
    step: impl Fn(&Turn<'_>) -> Result<Step, McpError>,
) -> Result<Outcome, McpError> {
    let mut answers = Answers::new();
    for round in 0..MAX_ROUNDS {
        let turn = Turn { answers: &answers, capabilities, resumed: round > 0 };
        let questions = match step(&turn)? {
            Step::Done(result) => return Ok(Outcome::Done(result)),
            Step::Ask(questions) => questions,
        };
        for question in questions {
            if !question.capability.declared_by(capabilities) {
                let error = format!("the client did not declare the {} capability", question.capability.key());
                return Ok(Outcome::ClientFailed { capability: question.capability, error });
            }
            match question.ask(peer).await {
                Ok(answer) => answers.insert(question.key, answer),
                Err(error) => return Ok(Outcome::ClientFailed { capability: question.capability, error }),
            };
        }
    }
    Err(McpError::internal_error("the dialogue did not settle", None))
}
