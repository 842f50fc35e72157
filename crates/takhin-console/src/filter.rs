//! The message viewer's JavaScript filter: an embedded QuickJS engine,
//! sandboxed and bounded.
//!
//! A filter is either an expression (`value.amount > 10`) or a function body
//! with `return` (`if (!value) return false; return value.n % 2 == 0`). It
//! sees `key`, `value` (the parsed JSON when the bytes are JSON or
//! MessagePack, else the text, `null` for a null key or value), `headers`
//! (header key to value; for a repeated key the last), `headersList` (every
//! header, `{key, value}` in order), `partition`, `offset` and `timestamp`
//! (ms since the epoch). A truthy result is a match.
//!
//! The sandbox:
//! - only ECMAScript built-ins (no `std`, `os`, `require`, module loader,
//!   timers or I/O of any kind);
//! - [`FILTER_MEMORY_MAX_BYTES`] of heap per runtime, [`FILTER_STACK_MAX_BYTES`]
//!   of stack;
//! - [`FILTER_MESSAGE_TIME_MAX`] per message and [`FILTER_TOTAL_TIME_MAX`]
//!   over a whole search, enforced by QuickJS's interrupt handler checking a
//!   deadline (an infinite loop is stopped, and the exception it raises
//!   cannot be caught by the filter);
//! - compiling has [`FILTER_COMPILE_TIME_MAX`], since a crafted expression
//!   can close the wrapper function and run code at the top level.
//!
//! A [`Filter`] is not `Send` (a QuickJS runtime belongs to one thread): the
//! search runs it on a thread of its own.
//!
//! ```
//! use takhin_console::filter::{Filter, FilterInput, FilterValue};
//! let mut filter = Filter::compile("value.n % 2 == 0", Default::default()).unwrap();
//! let mut input = FilterInput::new(0, 7, 1_700_000_000_000);
//! input.value = FilterValue::Json(r#"{"n": 4}"#);
//! assert!(filter.matches(&input).unwrap());
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rquickjs::context::intrinsic;
use rquickjs::{Array, Context, Ctx, Function, IntoJs, Object, Persistent, Runtime, Type, Value};

/// Longest filter source accepted. Filters travel in a URL query string
/// (percent-encoding can triple them, and URLs past 64 KiB fail in clients
/// and proxies alike), so a little less than a long script.
pub const FILTER_SOURCE_MAX_BYTES: usize = 16 * 1024;
/// Heap of one filter's runtime.
pub const FILTER_MEMORY_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Stack of one filter's runtime (deep recursion fails with a RangeError).
pub const FILTER_STACK_MAX_BYTES: usize = 512 * 1024;
/// Time a filter may spend on one message.
pub const FILTER_MESSAGE_TIME_MAX: Duration = Duration::from_millis(50);
/// Time a filter may spend over a whole search.
pub const FILTER_TOTAL_TIME_MAX: Duration = Duration::from_secs(30);
/// Time compiling a filter may take.
pub const FILTER_COMPILE_TIME_MAX: Duration = Duration::from_secs(1);
/// A search stops after this many messages on which the filter threw.
pub const FILTER_ERRORS_MAX: u64 = 100;

/// The file name QuickJS reports in positions.
const FILENAME: &str = "filter.js";
/// The parameters of the compiled function, in call order.
const PARAMETERS: &str = "key, value, headers, headersList, partition, offset, timestamp";

/// Limits of one filter; [`Default`] is the documented constants.
#[derive(Clone, Debug)]
pub struct FilterLimits {
    pub memory_bytes: usize,
    pub message_time: Duration,
    pub total_time: Duration,
    /// Set to stop a running filter at its next interrupt check.
    pub cancelled: Arc<AtomicBool>,
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits {
            memory_bytes: FILTER_MEMORY_MAX_BYTES,
            message_time: FILTER_MESSAGE_TIME_MAX,
            total_time: FILTER_TOTAL_TIME_MAX,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Why a filter does not compile. Positions are 1-based in the filter source.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}{}", position(*line, *column))]
pub struct CompileError {
    pub message: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

fn position(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
        (Some(line), None) => format!(" (line {line})"),
        _ => String::new(),
    }
}

/// Why a filter gave no verdict on a message.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// The filter threw; the search counts it and goes on.
    #[error("the filter threw: {message}{}", position(*line, *column))]
    Threw {
        message: String,
        line: Option<u32>,
        column: Option<u32>,
    },
    #[error("the filter ran longer than {} ms on one message", .0.as_millis())]
    MessageTimeLimit(Duration),
    #[error("the filter ran longer than {} s in total", .0.as_secs())]
    TotalTimeLimit(Duration),
    #[error("the filter used more than its {} MiB of memory", .0 / (1024 * 1024))]
    MemoryLimit(usize),
    #[error("the search was cancelled")]
    Cancelled,
}

impl FilterError {
    /// Whether the search can go on to the next message.
    pub fn is_per_message(&self) -> bool {
        matches!(self, FilterError::Threw { .. })
    }
}

/// A key or value as the filter sees it.
#[derive(Clone, Copy, Debug, Default)]
pub enum FilterValue<'a> {
    #[default]
    Null,
    /// Passed as a string.
    Text(&'a str),
    /// JSON text, passed parsed.
    Json(&'a str),
}

/// One message as the filter sees it.
#[derive(Clone, Debug)]
pub struct FilterInput<'a> {
    pub key: FilterValue<'a>,
    pub value: FilterValue<'a>,
    /// Headers in record order; values are text (base64 when not UTF-8).
    pub headers: &'a [(String, Option<String>)],
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

impl<'a> FilterInput<'a> {
    pub fn new(partition: i32, offset: i64, timestamp: i64) -> FilterInput<'a> {
        FilterInput {
            key: FilterValue::Null,
            value: FilterValue::Null,
            headers: &[],
            partition,
            offset,
            timestamp,
        }
    }
}

/// What the interrupt handler reads: the deadline of what runs now.
struct Watch {
    deadline: Cell<Option<Instant>>,
    interrupted: Cell<bool>,
    cancelled: Arc<AtomicBool>,
}

/// A compiled filter with its own QuickJS runtime.
pub struct Filter {
    // Field order is drop order: the function before its context, the
    // context before its runtime.
    function: Persistent<Function<'static>>,
    context: Context,
    runtime: Runtime,
    watch: Rc<Watch>,
    limits: FilterLimits,
    time_used: Duration,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("time_used", &self.time_used)
            .finish_non_exhaustive()
    }
}

impl Filter {
    /// Compiles `source` as an expression, or else as a function body.
    pub fn compile(source: &str, limits: FilterLimits) -> Result<Filter, CompileError> {
        let fail = |message: String| CompileError {
            message,
            line: None,
            column: None,
        };
        if source.len() > FILTER_SOURCE_MAX_BYTES {
            return Err(fail(format!(
                "the filter is {} bytes long; at most {FILTER_SOURCE_MAX_BYTES} are allowed",
                source.len()
            )));
        }
        if source.trim().is_empty() {
            return Err(fail("the filter is empty".to_string()));
        }
        let runtime =
            Runtime::new().map_err(|e| fail(format!("cannot start the JavaScript engine: {e}")))?;
        runtime.set_memory_limit(limits.memory_bytes);
        runtime.set_max_stack_size(FILTER_STACK_MAX_BYTES);
        let watch = Rc::new(Watch {
            deadline: Cell::new(None),
            interrupted: Cell::new(false),
            cancelled: limits.cancelled.clone(),
        });
        let handler_watch = watch.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let stop = handler_watch.cancelled.load(Ordering::Relaxed)
                || handler_watch
                    .deadline
                    .get()
                    .is_some_and(|deadline| Instant::now() >= deadline);
            if stop {
                handler_watch.interrupted.set(true);
            }
            stop
        })));
        // ECMAScript built-ins only: no Promise (nothing would run its jobs),
        // no Performance (a clock), no WeakRef.
        let context = Context::custom::<(
            intrinsic::Date,
            intrinsic::Eval,
            intrinsic::RegExpCompiler,
            intrinsic::RegExp,
            intrinsic::Json,
            intrinsic::MapSet,
            intrinsic::TypedArrays,
        )>(&runtime)
        .map_err(|e| fail(format!("cannot start the JavaScript engine: {e}")))?;

        watch.interrupted.set(false);
        watch
            .deadline
            .set(Some(Instant::now() + FILTER_COMPILE_TIME_MAX));
        let compiled = context.with(|ctx| compile_in(&ctx, source, &watch));
        watch.deadline.set(None);
        let function = compiled?;
        Ok(Filter {
            function,
            context,
            runtime,
            watch,
            limits,
            time_used: Duration::ZERO,
        })
    }

    /// Total time spent in the filter so far.
    pub fn time_used(&self) -> Duration {
        self.time_used
    }

    /// QuickJS throws an "out of memory" InternalError, or `null` when even
    /// that error cannot be allocated.
    fn out_of_memory(&self, thrown: &Thrown) -> bool {
        let used = usize::try_from(self.runtime.memory_usage().malloc_size).unwrap_or(0);
        thrown.message.ends_with("out of memory")
            || (thrown.null && used >= self.limits.memory_bytes / 2)
    }

    /// Runs the filter on one message.
    pub fn matches(&mut self, input: &FilterInput<'_>) -> Result<bool, FilterError> {
        let left = self.limits.total_time.saturating_sub(self.time_used);
        if left.is_zero() {
            return Err(FilterError::TotalTimeLimit(self.limits.total_time));
        }
        let total_bound = left < self.limits.message_time;
        let started = Instant::now();
        self.watch.interrupted.set(false);
        self.watch
            .deadline
            .set(Some(started + left.min(self.limits.message_time)));
        let outcome = self
            .context
            .with(|ctx| call_in(&ctx, &self.function, input));
        self.watch.deadline.set(None);
        self.time_used += started.elapsed();
        match outcome {
            Ok(verdict) => Ok(verdict),
            Err(_) if self.watch.interrupted.get() => {
                if self.limits.cancelled.load(Ordering::Relaxed) {
                    Err(FilterError::Cancelled)
                } else if total_bound {
                    Err(FilterError::TotalTimeLimit(self.limits.total_time))
                } else {
                    Err(FilterError::MessageTimeLimit(self.limits.message_time))
                }
            }
            Err(thrown) if self.out_of_memory(&thrown) => {
                Err(FilterError::MemoryLimit(self.limits.memory_bytes))
            }
            Err(thrown) => Err(FilterError::Threw {
                message: thrown.message,
                line: thrown.line,
                column: thrown.column,
            }),
        }
    }
}

/// An exception caught from QuickJS, with its position in the filter source.
struct Thrown {
    message: String,
    /// `null` was thrown.
    null: bool,
    line: Option<u32>,
    column: Option<u32>,
}

fn compile_in(
    ctx: &Ctx<'_>,
    source: &str,
    watch: &Watch,
) -> Result<Persistent<Function<'static>>, CompileError> {
    // The user's source starts on line 2 of both wrappers, so positions
    // are shifted back by one line. Trailing semicolons are fine after an
    // expression but not inside `return (...)`.
    let expression = source.trim_end().trim_end_matches(';');
    let as_expression = format!("(function ({PARAMETERS}) {{ return (\n{expression}\n); }})");
    let as_body = format!("(function ({PARAMETERS}) {{\n{source}\n}})");
    let expression_error = match evaluate_function(ctx, as_expression) {
        Ok(function) => return Ok(Persistent::save(ctx, function)),
        Err(thrown) => thrown,
    };
    if watch.interrupted.get() {
        return Err(time_limit_compile_error());
    }
    let body_error = match evaluate_function(ctx, as_body) {
        Ok(function) => return Ok(Persistent::save(ctx, function)),
        Err(thrown) => thrown,
    };
    if watch.interrupted.get() {
        return Err(time_limit_compile_error());
    }
    // Report the form the author meant: a `return` means a function body.
    let thrown = if source.contains("return") {
        body_error
    } else {
        expression_error
    };
    // An error at the end of the input is reported by QuickJS on the
    // wrapper's closing line: point at the end of the source instead.
    let (line, column) = match (thrown.line, thrown.column) {
        (Some(line), column) => {
            let lines: Vec<&str> = source.lines().collect();
            match lines.last() {
                Some(last) if line as usize > lines.len() => (
                    Some(lines.len() as u32),
                    Some(last.chars().count() as u32 + 1),
                ),
                _ => (Some(line), column),
            }
        }
        (None, column) => (None, column),
    };
    Err(CompileError {
        message: thrown.message,
        line,
        column,
    })
}

fn time_limit_compile_error() -> CompileError {
    CompileError {
        message: format!(
            "compiling the filter took longer than {} ms",
            FILTER_COMPILE_TIME_MAX.as_millis()
        ),
        line: None,
        column: None,
    }
}

fn evaluate_function<'js>(ctx: &Ctx<'js>, code: String) -> Result<Function<'js>, Thrown> {
    let mut options = rquickjs::context::EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.backtrace_barrier = true;
    options.filename = Some(FILENAME.to_string());
    let value: Value<'js> = ctx
        .eval_with_options(code, options)
        .map_err(|error| thrown(ctx, error))?;
    Function::from_value(value).map_err(|_| Thrown {
        message: "the filter must be an expression or a function body".to_string(),
        null: false,
        line: None,
        column: None,
    })
}

/// The pending exception of `ctx`, described.
fn thrown(ctx: &Ctx<'_>, error: rquickjs::Error) -> Thrown {
    if !error.is_exception() {
        return Thrown {
            message: error.to_string(),
            null: false,
            line: None,
            column: None,
        };
    }
    let value = ctx.catch();
    let (message, stack) = match value.as_exception() {
        Some(exception) => {
            let name: Option<String> = exception.get("name").ok();
            let message = exception.message().unwrap_or_default();
            let message = match name {
                Some(name) if !name.is_empty() && !message.is_empty() => {
                    format!("{name}: {message}")
                }
                _ => message,
            };
            (message, exception.stack())
        }
        None => {
            // `throw "text"` or `throw 42`: show the value itself.
            let text = value
                .as_string()
                .and_then(|s| s.to_string().ok())
                .or_else(|| {
                    ctx.json_stringify(value.clone())
                        .ok()
                        .flatten()
                        .and_then(|s| s.to_string().ok())
                })
                .unwrap_or_else(|| format!("a {}", value.type_name()));
            (format!("uncaught {text}"), None)
        }
    };
    let (line, column) = stack
        .as_deref()
        .and_then(position_in_stack)
        .map_or((None, None), |(line, column)| (Some(line), Some(column)));
    Thrown {
        message,
        null: value.is_null(),
        line,
        column,
    }
}

/// The first `filter.js:LINE:COLUMN` of a QuickJS stack, as a position in
/// the user's source (which starts on line 2 of the wrapper).
fn position_in_stack(stack: &str) -> Option<(u32, u32)> {
    let marker = format!("{FILENAME}:");
    let start = stack.find(&marker)? + marker.len();
    let mut numbers = stack[start..]
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .map(|n| n.parse::<u32>().ok());
    let line = numbers.next()??;
    let column = numbers.next()??;
    // Line 1 is the wrapper's own; clamp positions in it (or after the
    // source) to the source's first line.
    Some((line.saturating_sub(1).max(1), column))
}

fn call_in(
    ctx: &Ctx<'_>,
    function: &Persistent<Function<'static>>,
    input: &FilterInput<'_>,
) -> Result<bool, Thrown> {
    let plain = |error: rquickjs::Error| thrown(ctx, error);
    let function = function.clone().restore(ctx).map_err(plain)?;
    let key = filter_value(ctx, input.key).map_err(plain)?;
    let value = filter_value(ctx, input.value).map_err(plain)?;
    let headers = Object::new(ctx.clone()).map_err(plain)?;
    let headers_list = Array::new(ctx.clone()).map_err(plain)?;
    for (index, (header_key, header_value)) in input.headers.iter().enumerate() {
        let header_value = match header_value {
            Some(text) => text.as_str().into_js(ctx),
            None => Ok(Value::new_null(ctx.clone())),
        }
        .map_err(plain)?;
        headers
            .set(header_key.as_str(), header_value.clone())
            .map_err(plain)?;
        let entry = Object::new(ctx.clone()).map_err(plain)?;
        entry.set("key", header_key.as_str()).map_err(plain)?;
        entry.set("value", header_value).map_err(plain)?;
        headers_list.set(index, entry).map_err(plain)?;
    }
    // Offsets and timestamps are below 2^53: exact as JavaScript numbers.
    let result: Value<'_> = function
        .call((
            key,
            value,
            headers,
            headers_list,
            input.partition,
            input.offset as f64,
            input.timestamp as f64,
        ))
        .map_err(plain)?;
    Ok(truthy(&result))
}

fn filter_value<'js>(ctx: &Ctx<'js>, value: FilterValue<'_>) -> rquickjs::Result<Value<'js>> {
    match value {
        FilterValue::Null => Ok(Value::new_null(ctx.clone())),
        FilterValue::Text(text) => text.into_js(ctx),
        FilterValue::Json(json) => ctx.json_parse(json),
    }
}

/// JavaScript's ToBoolean.
fn truthy(value: &Value<'_>) -> bool {
    match value.type_of() {
        Type::Uninitialized | Type::Undefined | Type::Null => false,
        Type::Bool => value.as_bool().unwrap_or(false),
        Type::Int => value.as_int().is_some_and(|n| n != 0),
        Type::Float => value.as_float().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Type::String => value
            .as_string()
            .and_then(|s| s.to_string().ok())
            .is_some_and(|s| !s.is_empty()),
        Type::BigInt => value
            .as_big_int()
            .and_then(|n| n.clone().to_i64().ok())
            .is_none_or(|n| n != 0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn compile(source: &str) -> Filter {
        Filter::compile(source, FilterLimits::default()).unwrap()
    }

    fn json_input(json: &str) -> FilterInput<'_> {
        let mut input = FilterInput::new(2, 40, 1_700_000_000_000);
        input.value = FilterValue::Json(json);
        input
    }

    #[test]
    fn expressions_and_bodies() {
        let mut filter = compile("value.n % 2 == 0");
        assert!(filter.matches(&json_input(r#"{"n": 4}"#)).unwrap());
        assert!(!filter.matches(&json_input(r#"{"n": 3}"#)).unwrap());

        let mut filter = compile("value.n > 1;  ");
        assert!(filter.matches(&json_input(r#"{"n": 4}"#)).unwrap());

        let mut filter = compile("if (value.n > 3) {\n  return 'yes';\n}\nreturn 0;");
        assert!(filter.matches(&json_input(r#"{"n": 4}"#)).unwrap());
        assert!(!filter.matches(&json_input(r#"{"n": 3}"#)).unwrap());

        let mut filter =
            compile("partition === 2 && offset === 40 && timestamp > 1e12 && key === null");
        assert!(filter.matches(&json_input("1")).unwrap());
    }

    #[test]
    fn text_values_and_headers() {
        let headers = vec![
            ("h".to_string(), Some("1".to_string())),
            ("h".to_string(), Some("2".to_string())),
            ("n".to_string(), None),
        ];
        let mut input = FilterInput::new(0, 0, 0);
        input.key = FilterValue::Text("k-1");
        input.value = FilterValue::Text("hello world");
        input.headers = &headers;
        let mut filter = compile(
            "key.startsWith('k-') && value.includes('world') && headers.h === '2' \
             && headers.n === null && headersList.length === 3 && headersList[0].value === '1'",
        );
        assert!(filter.matches(&input).unwrap());
    }

    #[test]
    fn syntax_errors_name_the_position() {
        let error = Filter::compile("value.n >", FilterLimits::default()).unwrap_err();
        assert!(error.message.contains("SyntaxError"), "{error:?}");
        assert_eq!(error.line, Some(1), "{error:?}");

        let error =
            Filter::compile("let a = 1;\nreturn a +* 2;", FilterLimits::default()).unwrap_err();
        assert!(error.message.contains("SyntaxError"), "{error:?}");
        assert_eq!(error.line, Some(2), "{error:?}");
        assert!(error.column.is_some(), "{error:?}");

        assert!(Filter::compile("  ", FilterLimits::default()).is_err());
        let long = "1".repeat(FILTER_SOURCE_MAX_BYTES + 1);
        assert!(Filter::compile(&long, FilterLimits::default()).is_err());
    }

    #[test]
    fn runtime_errors_are_per_message() {
        let mut filter = compile("value.a.b.c");
        let error = filter.matches(&json_input("{}")).unwrap_err();
        assert!(error.is_per_message());
        assert!(error.to_string().contains("TypeError"), "{error}");
        // The next message is fine.
        assert!(
            filter
                .matches(&json_input(r#"{"a":{"b":{"c":1}}}"#))
                .unwrap()
        );

        let mut filter = compile("throw 'custom'");
        let error = filter.matches(&json_input("{}")).unwrap_err();
        assert!(error.to_string().contains("custom"), "{error}");
    }

    #[test]
    fn no_io_only_ecmascript() {
        let mut filter = compile(
            "typeof require === 'undefined' && typeof std === 'undefined' \
             && typeof os === 'undefined' && typeof print === 'undefined' \
             && typeof setTimeout === 'undefined' && typeof fetch === 'undefined' \
             && typeof process === 'undefined' && typeof Promise === 'undefined' \
             && typeof JSON.parse === 'function' && /a+/.test('aa') && new Map().size === 0",
        );
        assert!(filter.matches(&json_input("null")).unwrap());
        let mut filter = compile("require('fs')");
        let error = filter.matches(&json_input("null")).unwrap_err();
        assert!(error.to_string().contains("require"), "{error}");
    }

    #[test]
    fn an_infinite_loop_is_stopped_per_message() {
        let mut filter = compile("while (true) {}");
        let started = Instant::now();
        let error = filter.matches(&json_input("null")).unwrap_err();
        assert_eq!(
            error,
            FilterError::MessageTimeLimit(FILTER_MESSAGE_TIME_MAX)
        );
        assert!(started.elapsed() < Duration::from_secs(2));

        // Catching does not help: the interrupt cannot be caught.
        let mut filter = compile("for (;;) { try { while (true) {} } catch (e) {} }");
        let error = filter.matches(&json_input("null")).unwrap_err();
        assert_eq!(
            error,
            FilterError::MessageTimeLimit(FILTER_MESSAGE_TIME_MAX)
        );
    }

    #[test]
    fn the_total_time_is_bounded() {
        let limits = FilterLimits {
            message_time: Duration::from_millis(30),
            total_time: Duration::from_millis(70),
            ..FilterLimits::default()
        };
        let mut filter = Filter::compile(
            "const end = Date.now() + 20; while (Date.now() < end) {} true",
            limits,
        )
        .unwrap();
        let mut outcome = Ok(true);
        for _ in 0..10 {
            outcome = filter.matches(&json_input("null"));
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(
            outcome,
            Err(FilterError::TotalTimeLimit(Duration::from_millis(70)))
        );
    }

    #[test]
    fn compiling_is_bounded_too() {
        // Closes the wrapper and loops at the top level.
        let error = Filter::compile(
            "0) }); while (true) {} (function () { return (0",
            FilterLimits::default(),
        )
        .unwrap_err();
        assert!(error.message.contains("took longer"), "{error:?}");
    }

    #[test]
    fn memory_is_bounded() {
        for source in [
            "a = []; while (1) a.push(new Array(1e6)); true",
            "a = []; while (1) a.push(new Array(1e6).fill(0)); true",
        ] {
            let limits = FilterLimits {
                message_time: Duration::from_secs(5),
                ..FilterLimits::default()
            };
            let mut filter = Filter::compile(source, limits).unwrap();
            let started = Instant::now();
            let error = filter.matches(&json_input("null")).unwrap_err();
            assert_eq!(
                error,
                FilterError::MemoryLimit(FILTER_MEMORY_MAX_BYTES),
                "{source}"
            );
            assert!(started.elapsed() < Duration::from_secs(2));
        }
        // With the default time limit, whichever limit comes first stops it.
        let mut filter = compile("a = []; while (1) a.push(new Array(1e6)); true");
        let error = filter.matches(&json_input("null")).unwrap_err();
        assert!(!error.is_per_message(), "{error}");
    }

    #[test]
    fn deep_recursion_is_an_error_not_a_crash() {
        let mut filter = compile("function f(n) { return f(n + 1) + 1; } return f(0);");
        let error = filter.matches(&json_input("null")).unwrap_err();
        assert!(error.is_per_message(), "{error}");
    }

    #[test]
    fn cancelling_stops_a_running_filter() {
        let limits = FilterLimits {
            message_time: Duration::from_secs(20),
            ..FilterLimits::default()
        };
        let cancelled = limits.cancelled.clone();
        let mut filter = Filter::compile("while (true) {}", limits).unwrap();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            cancelled.store(true, Ordering::Relaxed);
        });
        let error = filter.matches(&json_input("null")).unwrap_err();
        assert_eq!(error, FilterError::Cancelled);
        canceller.join().unwrap();
    }
}
