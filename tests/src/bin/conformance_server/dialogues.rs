//! The tools and the prompt that need input from the client, each as a dialogue: from the
//! answers so far, the questions still open or the result (see `client_input` for how the
//! questions reach the client in each era).

use rmcp::ErrorData as McpError;
use rmcp::model::JsonObject;
use serde_json::{Value, json};

use super::client_input::{Capability, Question, Step, Turn};
use super::fixed_content::{string_argument, text};

/// A tool or prompt that asks the client for something before it answers.
#[derive(Debug, Clone)]
pub enum Dialogue {
    /// `test_sampling`: the client's LLM completes `prompt`.
    Sampling { prompt: String },
    /// `test_elicitation`: the user answers `message` with a username and an email.
    Elicitation { message: String },
    /// `test_elicitation_sep1034_defaults`: a form whose fields all have defaults.
    DefaultsForm,
    /// `test_elicitation_sep1330_enums`: a form with every kind of enum.
    EnumsForm,
    /// `test_missing_capability`: needs sampling, so a client without it gets `-32021`.
    NeedsSampling,
    /// `test_streaming_elicitation`: one question while the call is in flight.
    StreamingQuestion,
    /// `test_input_required_result_elicitation`: asks the user's name.
    Greeting,
    /// `test_input_required_result_sampling`: asks the LLM a question.
    Capital,
    /// `test_input_required_result_list_roots`: asks for the client's roots.
    Roots,
    /// `test_input_required_result_request_state` and `_tampered_state`: a confirmation that
    /// only counts when it comes back with the state this server sealed.
    Confirmation,
    /// `test_input_required_result_multiple_inputs`: elicitation, sampling and roots at once.
    AllKinds,
    /// `test_input_required_result_multi_round`: a name, then (next round) a colour.
    TwoRounds,
    /// `test_input_required_result_capabilities`: one question per input kind the client declared.
    DeclaredKinds,
    /// The prompt `test_input_required_result_prompt`: asks what context to use.
    PromptContext,
}

impl Dialogue {
    /// The dialogue behind tool `name`, or `None` if it needs no client input.
    pub fn for_tool(name: &str, arguments: &JsonObject) -> Result<Option<Dialogue>, McpError> {
        Ok(Some(match name {
            "test_sampling" => Dialogue::Sampling { prompt: string_argument(arguments, "prompt")? },
            "test_elicitation" => Dialogue::Elicitation { message: string_argument(arguments, "message")? },
            "test_elicitation_sep1034_defaults" => Dialogue::DefaultsForm,
            "test_elicitation_sep1330_enums" => Dialogue::EnumsForm,
            "test_missing_capability" => Dialogue::NeedsSampling,
            "test_streaming_elicitation" => Dialogue::StreamingQuestion,
            "test_input_required_result_elicitation" => Dialogue::Greeting,
            "test_input_required_result_sampling" => Dialogue::Capital,
            "test_input_required_result_list_roots" => Dialogue::Roots,
            "test_input_required_result_request_state" | "test_input_required_result_tampered_state" => {
                Dialogue::Confirmation
            }
            "test_input_required_result_multiple_inputs" => Dialogue::AllKinds,
            "test_input_required_result_multi_round" => Dialogue::TwoRounds,
            "test_input_required_result_capabilities" => Dialogue::DeclaredKinds,
            _ => return Ok(None),
        }))
    }

    /// The dialogue behind prompt `name`, if it has one.
    pub fn for_prompt(name: &str) -> Option<Dialogue> {
        (name == "test_input_required_result_prompt").then_some(Dialogue::PromptContext)
    }

    /// The questions still open, or the result (a tool result, or for `PromptContext` a prompt).
    pub fn step(&self, turn: &Turn<'_>) -> Result<Step, McpError> {
        match self {
            Dialogue::Sampling { prompt } => ask_once(turn, Question::sample("llm", prompt, 100), |turn| {
                text(format!("LLM response: {}", turn.sampled_text("llm")))
            }),
            Dialogue::Elicitation { message } => {
                ask_once(turn, Question::elicit("form", contact_form(message)), |t| form_outcome(t, "User response"))
            }
            Dialogue::DefaultsForm => {
                ask_once(turn, Question::elicit("form", defaults_form()), |t| form_outcome(t, "Elicitation completed"))
            }
            Dialogue::EnumsForm => {
                ask_once(turn, Question::elicit("form", enums_form()), |t| form_outcome(t, "Elicitation completed"))
            }
            Dialogue::NeedsSampling => ask_once(turn, Question::sample("llm", "Say hello.", 50), |turn| {
                text(format!("LLM response: {}", turn.sampled_text("llm")))
            }),
            Dialogue::StreamingQuestion => {
                let question = Question::elicit("answer", string_form("What should the call report?", "answer"));
                ask_once(turn, question, |t| form_outcome(t, "Streamed elicitation answered"))
            }
            Dialogue::Greeting => greeting(turn),
            Dialogue::Capital => ask_once(turn, Question::sample("capital_question", CAPITAL_QUESTION, 100), |t| {
                text(format!("Sampling response: {}", t.sampled_text("capital_question")))
            }),
            Dialogue::Roots => ask_once(turn, Question::roots("client_roots"), |turn| {
                text(format!("Client roots: {}", turn.root_uris("client_roots").join(", ")))
            }),
            Dialogue::Confirmation => confirmation(turn),
            Dialogue::AllKinds => all_kinds(turn),
            Dialogue::TwoRounds => two_rounds(turn),
            Dialogue::DeclaredKinds => declared_kinds(turn),
            Dialogue::PromptContext => prompt_context(turn),
        }
    }
}

const CAPITAL_QUESTION: &str = "What is the capital of France?";

/// One question, then `finish`.
fn ask_once(
    turn: &Turn<'_>,
    question: Result<Question, McpError>,
    finish: impl FnOnce(&Turn<'_>) -> Value,
) -> Result<Step, McpError> {
    let question = question?;
    Ok(if turn.answered(question.key()) { Step::Done(finish(turn)) } else { Step::Ask(vec![question]) })
}

/// Open questions first; the result once none is left.
fn ask_missing(turn: &Turn<'_>, questions: Vec<Question>, finish: impl FnOnce() -> Value) -> Step {
    let open: Vec<Question> = questions.into_iter().filter(|q| !turn.answered(q.key())).collect();
    if open.is_empty() { Step::Done(finish()) } else { Step::Ask(open) }
}

/// "`label`: action=…, content=…" for the elicitation answered under `form`.
fn form_outcome(turn: &Turn<'_>, label: &str) -> Value {
    text(format!("{label}: action={}, content={}", turn.action("form"), turn.content("form")))
}

/// A form with one required string field.
fn string_form(message: &str, field: &str) -> Value {
    json!({
        "message": message,
        "requestedSchema": {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}
    })
}

fn greeting(turn: &Turn<'_>) -> Result<Step, McpError> {
    ask_once(turn, Question::elicit("user_name", string_form("What is your name?", "name")), |turn| {
        match turn.field("user_name", "name") {
            Some(name) => text(format!("Hello, {name}!")),
            None => text(format!("No name given (action={})", turn.action("user_name"))),
        }
    })
}

/// Done only when the answer comes with the state sealed in the round that asked for it, so
/// the result proves the `requestState` round trip ("state-ok").
fn confirmation(turn: &Turn<'_>) -> Result<Step, McpError> {
    let form = json!({
        "message": "Please confirm",
        "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    });
    let question = Question::elicit("confirm", form)?;
    if !(turn.resumed && turn.answered("confirm")) {
        return Ok(Step::Ask(vec![question]));
    }
    let ok = turn.field("confirm", "ok").unwrap_or_else(|| "none".to_owned());
    Ok(Step::Done(text(format!("state-ok: the requestState verified, confirmation ok={ok}"))))
}

fn all_kinds(turn: &Turn<'_>) -> Result<Step, McpError> {
    let questions = vec![
        Question::elicit("user_name", string_form("What is your name?", "name"))?,
        Question::sample("greeting", "Generate a greeting", 50)?,
        Question::roots("client_roots")?,
    ];
    Ok(ask_missing(turn, questions, || {
        text(format!(
            "name={}, greeting={}, roots={}",
            turn.field("user_name", "name").unwrap_or_default(),
            turn.sampled_text("greeting"),
            turn.root_uris("client_roots").join(", ")
        ))
    }))
}

fn two_rounds(turn: &Turn<'_>) -> Result<Step, McpError> {
    if !turn.answered("step1") {
        return Ok(Step::Ask(vec![Question::elicit("step1", string_form("Step 1: What is your name?", "name"))?]));
    }
    if !turn.answered("step2") {
        let form = string_form("Step 2: What is your favorite color?", "color");
        return Ok(Step::Ask(vec![Question::elicit("step2", form)?]));
    }
    let name = turn.field("step1", "name").unwrap_or_default();
    let color = turn.field("step2", "color").unwrap_or_default();
    Ok(Step::Done(text(format!("{name}'s favorite color is {color}"))))
}

/// Asks one question per input kind the client declared (and none it did not).
fn declared_kinds(turn: &Turn<'_>) -> Result<Step, McpError> {
    let mut questions = Vec::new();
    let mut asked = Vec::new();
    for capability in [Capability::Sampling, Capability::Elicitation, Capability::Roots] {
        if !capability.declared_by(turn.capabilities) {
            continue;
        }
        asked.push(capability.label());
        questions.push(match capability {
            Capability::Sampling => Question::sample("sampling", "Name a colour.", 20)?,
            Capability::Elicitation => Question::elicit("elicitation", string_form("Name a colour.", "colour"))?,
            Capability::Roots => Question::roots("roots")?,
        });
    }
    if asked.is_empty() {
        return Ok(Step::Done(text("The client declared no sampling, elicitation or roots; nothing was asked")));
    }
    Ok(ask_missing(turn, questions, || text(format!("Answered for: {}", asked.join(", ")))))
}

fn prompt_context(turn: &Turn<'_>) -> Result<Step, McpError> {
    let question = Question::elicit("user_context", string_form("What context should the prompt use?", "context"));
    ask_once(turn, question, |turn| {
        let context = turn.field("user_context", "context").unwrap_or_else(|| "(none given)".to_owned());
        json!({
            "description": "A prompt built from the user's context",
            "messages": [{"role": "user", "content": {"type": "text", "text": format!("Use this context: {context}")}}]
        })
    })
}

/// `test_elicitation`'s form.
fn contact_form(message: &str) -> Value {
    json!({
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"}
            },
            "required": ["username", "email"]
        }
    })
}

/// SEP-1034: defaults for every primitive type.
fn defaults_form() -> Value {
    json!({
        "message": "Please review and update the form fields with defaults",
        "requestedSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active"
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": true}
            },
            "required": []
        }
    })
}

/// SEP-1330: untitled and titled single and multi-select enums, and the legacy `enumNames`.
fn enums_form() -> Value {
    let titled = |prefix: &str, word: &str| {
        json!([
            {"const": format!("{prefix}1"), "title": format!("First {word}")},
            {"const": format!("{prefix}2"), "title": format!("Second {word}")},
            {"const": format!("{prefix}3"), "title": format!("Third {word}")}
        ])
    };
    json!({
        "message": "Please select options from the enum fields",
        "requestedSchema": {
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "description": "Select one option",
                    "enum": ["option1", "option2", "option3"]
                },
                "titledSingle": {
                    "type": "string",
                    "description": "Select one option with titles",
                    "oneOf": titled("value", "Option")
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Select one option (legacy)",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"]
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Select multiple options",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Select multiple options with titles",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"anyOf": titled("value", "Choice")}
                }
            },
            "required": []
        }
    })
}
