//! `probe`: a test plugin whose tools each attempt one thing (a capability
//! escape or a fault) and report what happened.
//!
//! It is never installed by default. The end-to-end tests in `tests/` install
//! it into a throw-away data dir, grant it capabilities one at a time and
//! check that the host confines it to exactly those, and that every fault it
//! can produce (a trap, a runaway loop, an oversized allocation, a malformed
//! or oversized result) ends as a tool error while the host carries on.
//!
//! Each tool returns what happened as text, or `tool-error::failed` with the
//! error's text (an I/O error, a WASI error code), so that the tests can see
//! both sides of every check.

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "tool",
});

use exports::paddock::plugin::tools::Guest;
use paddock::plugin::exec;
use paddock::plugin::log;
use paddock::plugin::types::{CallContext, ToolError, ToolOutput, ToolSpec};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

struct Probe;

export!(Probe);

/// Counts calls within one instance. The host gives every call a fresh
/// instance, so `probe_counter` must always answer 1.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// One tool: name, description, input schema, read-only flag.
type Spec = (&'static str, &'static str, &'static str, bool);

const TOOLS: &[Spec] = &[
    (
        "probe_read",
        "Read a file with std::fs::read_to_string; returns its text.",
        r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#,
        true,
    ),
    (
        "probe_write",
        "Write `content` to a file with std::fs::write.",
        r#"{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}"#,
        false,
    ),
    (
        "probe_list",
        "List a directory's entry names, sorted, one per line.",
        r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#,
        true,
    ),
    (
        "probe_connect",
        "Open a TCP connection to `addr` (host:port) through wasi:sockets.",
        r#"{"type":"object","properties":{"addr":{"type":"string"}},"required":["addr"]}"#,
        true,
    ),
    (
        "probe_http",
        "GET an http:// URL through wasi:http/outgoing-handler; returns the status and body.",
        r#"{"type":"object","properties":{"url":{"type":"string"}},"required":["url"]}"#,
        true,
    ),
    (
        "probe_resolve",
        "Resolve a host name through wasi:sockets/ip-name-lookup.",
        r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#,
        true,
    ),
    (
        "probe_env",
        "Read an environment variable with std::env::var.",
        r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#,
        true,
    ),
    (
        "probe_exec",
        "Run a command through the exec import; errors carry the exec-error kind.",
        r#"{"type":"object","properties":{"argv":{"type":"array","items":{"type":"string"}}},"required":["argv"]}"#,
        false,
    ),
    (
        "probe_spin",
        "Loop forever in guest code without yielding.",
        r#"{"type":"object"}"#,
        true,
    ),
    (
        "probe_sleep",
        "Sleep for `ms` milliseconds (blocks in a host call).",
        r#"{"type":"object","properties":{"ms":{"type":"integer","minimum":0}},"required":["ms"]}"#,
        true,
    ),
    (
        "probe_alloc",
        "Allocate and touch `bytes` bytes of memory, in 1 MiB chunks.",
        r#"{"type":"object","properties":{"bytes":{"type":"integer","minimum":0}},"required":["bytes"]}"#,
        true,
    ),
    (
        "probe_panic",
        "Panic with `message` (a trap).",
        r#"{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}"#,
        true,
    ),
    (
        "probe_bad_utf8",
        "Return content that is not valid UTF-8 (the canonical ABI must reject it).",
        r#"{"type":"object"}"#,
        true,
    ),
    (
        "probe_big_output",
        "Return a content string of `bytes` bytes.",
        r#"{"type":"object","properties":{"bytes":{"type":"integer","minimum":0}},"required":["bytes"]}"#,
        true,
    ),
    (
        "probe_echo",
        "Return `ok` and the call context.",
        r#"{"type":"object"}"#,
        true,
    ),
    (
        "probe_counter",
        "Increment a static counter and return it (1 with a fresh instance per call).",
        r#"{"type":"object"}"#,
        true,
    ),
];

impl Guest for Probe {
    fn describe() -> Vec<ToolSpec> {
        TOOLS
            .iter()
            .map(|(name, description, schema, read_only)| ToolSpec {
                name: (*name).to_string(),
                description: (*description).to_string(),
                input_schema: (*schema).to_string(),
                read_only: *read_only,
            })
            .collect()
    }

    fn invoke(name: String, input: String, context: CallContext) -> Result<ToolOutput, ToolError> {
        let input: Value = serde_json::from_str(&input)
            .map_err(|e| ToolError::InvalidInput(format!("input is not JSON: {e}")))?;
        if !input.is_object() {
            return Err(ToolError::InvalidInput(
                "input must be a JSON object".to_string(),
            ));
        }
        let content = match name.as_str() {
            "probe_read" => read(&input),
            "probe_write" => write(&input),
            "probe_list" => list(&input),
            "probe_connect" => connect(&input),
            "probe_http" => http(&input),
            "probe_resolve" => resolve(&input),
            "probe_env" => env(&input),
            "probe_exec" => run_exec(&input),
            "probe_spin" => spin(),
            "probe_sleep" => sleep(&input),
            "probe_alloc" => alloc(&input),
            "probe_panic" => {
                let message = string(&input, "message")?;
                panic!("{message}")
            }
            "probe_bad_utf8" => Ok(bad_utf8()),
            "probe_big_output" => big_output(&input),
            "probe_echo" => Ok(echo(&context)),
            "probe_counter" => Ok((CALLS.fetch_add(1, Ordering::SeqCst) + 1).to_string()),
            other => Err(ToolError::UnknownTool(format!(
                "probe has no tool `{other}`"
            ))),
        }?;
        Ok(ToolOutput {
            content,
            structured: None,
        })
    }
}

fn string<'a>(input: &'a Value, field: &str) -> Result<&'a str, ToolError> {
    input
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::InvalidInput(format!("`{field}` must be a string")))
}

fn number(input: &Value, field: &str) -> Result<u64, ToolError> {
    input
        .get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| ToolError::InvalidInput(format!("`{field}` must be a non-negative integer")))
}

fn failed(what: impl std::fmt::Display) -> ToolError {
    ToolError::Failed(what.to_string())
}

fn read(input: &Value) -> Result<String, ToolError> {
    let path = string(input, "path")?;
    std::fs::read_to_string(path).map_err(|e| failed(format!("read {path}: {e}")))
}

fn write(input: &Value) -> Result<String, ToolError> {
    let path = string(input, "path")?;
    let content = string(input, "content")?;
    std::fs::write(path, content).map_err(|e| failed(format!("write {path}: {e}")))?;
    Ok(format!("wrote {} bytes to {path}", content.len()))
}

fn list(input: &Value) -> Result<String, ToolError> {
    let path = string(input, "path")?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| failed(format!("list {path}: {e}")))? {
        let entry = entry.map_err(|e| failed(format!("list {path}: {e}")))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names.join("\n"))
}

/// A real TCP connection attempt through `wasi:sockets/tcp` (what Rust's
/// `std::net::TcpStream` also uses on wasip2).
fn connect(input: &Value) -> Result<String, ToolError> {
    use std::io::Read;
    let addr = string(input, "addr")?;
    let mut stream =
        std::net::TcpStream::connect(addr).map_err(|e| failed(format!("connect {addr}: {e}")))?;
    // Read whatever the peer sends first (the tests' listener writes a line
    // and closes), so the tests see that bytes really flowed.
    let mut greeting = String::new();
    let _ = stream.read_to_string(&mut greeting);
    Ok(format!("connected to {addr}: {}", greeting.trim_end()))
}

fn http(input: &Value) -> Result<String, ToolError> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};

    let url = string(input, "url")?;
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(ToolError::InvalidInput(format!(
            "`url` must start with http:// or https://, got `{url}`"
        )));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };

    let request = OutgoingRequest::new(Fields::new());
    let set = |ok: Result<(), ()>, what: &str| ok.map_err(|()| failed(format!("bad {what}")));
    set(request.set_method(&Method::Get), "method")?;
    set(request.set_scheme(Some(&scheme)), "scheme")?;
    set(request.set_authority(Some(authority)), "authority")?;
    set(request.set_path_with_query(Some(path)), "path")?;
    let body = request
        .body()
        .map_err(|()| failed("request body already taken"))?;
    let future = outgoing_handler::handle(request, None)
        .map_err(|e| failed(format!("http request to {url} refused: {e:?}")))?;
    OutgoingBody::finish(body, None)
        .map_err(|e| failed(format!("http request to {url}: finishing body: {e:?}")))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(failed(format!("http request to {url} failed: {e:?}"))),
        Some(Err(())) => return Err(failed("http response already taken")),
        None => return Err(failed("http response not ready after waiting")),
    };
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| failed("response body already taken"))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| failed("response stream already taken"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(wasi::io::streams::StreamError::Closed) => break,
                Err(e) => return Err(failed(format!("reading response body: {e:?}"))),
            }
        }
    }
    let _trailers = IncomingBody::finish(body);
    Ok(format!(
        "status {status}\n{}",
        String::from_utf8_lossy(&bytes)
    ))
}

fn resolve(input: &Value) -> Result<String, ToolError> {
    use wasi::sockets::instance_network::instance_network;
    use wasi::sockets::ip_name_lookup::{ErrorCode, IpAddress, resolve_addresses};

    let name = string(input, "name")?;
    let network = instance_network();
    let stream =
        resolve_addresses(&network, name).map_err(|e| failed(format!("resolve {name}: {e:?}")))?;
    let mut addresses = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(IpAddress::Ipv4((a, b, c, d)))) => {
                addresses.push(std::net::Ipv4Addr::new(a, b, c, d).to_string());
            }
            Ok(Some(IpAddress::Ipv6((a, b, c, d, e, f, g, h)))) => {
                addresses.push(std::net::Ipv6Addr::new(a, b, c, d, e, f, g, h).to_string());
            }
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => stream.subscribe().block(),
            Err(e) => return Err(failed(format!("resolve {name}: {e:?}"))),
        }
    }
    Ok(addresses.join("\n"))
}

fn env(input: &Value) -> Result<String, ToolError> {
    let name = string(input, "name")?;
    std::env::var(name).map_err(|e| failed(format!("env {name}: {e}")))
}

fn run_exec(input: &Value) -> Result<String, ToolError> {
    let argv: Vec<String> = input
        .get("argv")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect())
        .ok_or_else(|| ToolError::InvalidInput("`argv` must be an array of strings".into()))?;
    let command = exec::Command {
        argv,
        cwd: None,
        env: Vec::new(),
        timeout_ms: Some(5_000),
        max_output_bytes: None,
        stdin: None,
    };
    match exec::run(&command) {
        Ok(out) => Ok(format!(
            "exit {:?}\n{}{}",
            out.exit_code, out.stdout, out.stderr
        )),
        Err(exec::ExecError::Denied(text)) => {
            Err(ToolError::Denied(format!("exec-error denied: {text}")))
        }
        Err(exec::ExecError::Unavailable(text)) => {
            Err(failed(format!("exec-error unavailable: {text}")))
        }
        Err(exec::ExecError::Invalid(text)) => Err(failed(format!("exec-error invalid: {text}"))),
        Err(exec::ExecError::Failed(text)) => Err(failed(format!("exec-error failed: {text}"))),
    }
}

/// Never returns and never calls the host: only an epoch deadline stops it.
fn spin() -> Result<String, ToolError> {
    log::log(log::Level::Info, "probe_spin: looping forever");
    let mut counter: u64 = 0;
    loop {
        // SAFETY: `counter` is a live local; volatile access keeps the loop
        // from being optimised away.
        unsafe {
            let v = std::ptr::read_volatile(&counter);
            std::ptr::write_volatile(&mut counter, v.wrapping_add(1));
        }
    }
}

/// Blocks inside a host call (`wasi:io/poll`), where guest-code deadlines do
/// not reach: the host must bound the call itself.
fn sleep(input: &Value) -> Result<String, ToolError> {
    let ms = number(input, "ms")?;
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(format!("slept {ms} ms"))
}

/// Allocates `bytes` in chunks of at most 1 MiB and writes to every page, so
/// that linear memory really grows. Running out aborts (a trap) with Rust's
/// "memory allocation of N bytes failed" on stderr.
fn alloc(input: &Value) -> Result<String, ToolError> {
    const CHUNK: u64 = 1 << 20;
    let bytes = number(input, "bytes")?;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut left = bytes;
    while left > 0 {
        let size = left.min(CHUNK) as usize;
        let mut chunk = vec![0u8; size];
        for i in (0..size).step_by(4096) {
            chunk[i] = 1;
        }
        chunks.push(std::hint::black_box(chunk));
        left -= size as u64;
    }
    let touched: u64 = chunks
        .iter()
        .map(|c| c.iter().step_by(4096).map(|b| u64::from(*b)).sum::<u64>())
        .sum();
    Ok(format!("allocated {bytes} bytes ({touched} pages touched)"))
}

fn bad_utf8() -> String {
    let bytes = std::hint::black_box(vec![b'o', b'k', 0xff, 0xfe, 0xc0]);
    // SAFETY: deliberately unsound: this string is not UTF-8. It is returned
    // at once and never inspected in the guest; the host's canonical-ABI lift
    // must reject it.
    unsafe { String::from_utf8_unchecked(bytes) }
}

fn big_output(input: &Value) -> Result<String, ToolError> {
    let bytes = number(input, "bytes")?;
    let bytes = usize::try_from(bytes).map_err(|_| failed("too many bytes for wasm32"))?;
    Ok("x".repeat(bytes))
}

fn echo(context: &CallContext) -> String {
    log::log(log::Level::Info, "probe_echo called");
    format!(
        "ok\nagent_id={}\ncall_id={}\nworkspace={}",
        context.agent_id, context.call_id, context.workspace
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_every_tool_with_an_object_schema() {
        let specs = Probe::describe();
        assert_eq!(specs.len(), TOOLS.len());
        for spec in specs {
            assert!(spec.name.starts_with("probe_"), "{}", spec.name);
            let schema: Value = serde_json::from_str(&spec.input_schema).unwrap();
            assert_eq!(schema["type"], "object", "{}", spec.name);
        }
    }
}
