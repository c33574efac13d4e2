//! A stand-in for Prometheus's instant-query API (`/api/v1/query`) on a free `127.0.0.1`
//! port, answering each load query with the samples a test sets. For answers the real
//! Prometheus harness ([`crate::prometheus`]) cannot be made to give — NaN, infinities,
//! absurd values, samples stamped in the future — and for changing answers mid-test.
//!
//! Point `load.queries` at it with [`queries`]: each query is then the name of its figure.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tidal_core::load::Figure;
//! use tidal_testkit::fake_prometheus::{FakePrometheus, FakeSample};
//! let prometheus = FakePrometheus::start().await?;
//! prometheus.set(Figure::CpuAverage, vec![FakeSample::new("node-a", "NaN")]);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tidal_core::load::{Figure, LoadQueries};
use tokio::task::JoinHandle;

/// One sample of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeSample {
    /// The `instance` label.
    pub instance: String,
    /// As Prometheus writes values: `0.5`, `NaN`, `+Inf`, `-1`.
    pub value: String,
    /// Seconds after the query's evaluation time the sample is stamped at.
    pub offset_seconds: f64,
}

impl FakeSample {
    /// A sample stamped at the evaluation time, as Prometheus stamps them.
    pub fn new(instance: impl Into<String>, value: impl ToString) -> Self {
        Self {
            instance: instance.into(),
            value: value.to_string(),
            offset_seconds: 0.0,
        }
    }

    /// The same sample stamped `seconds` after the evaluation time.
    pub fn stamped(self, seconds: f64) -> Self {
        Self {
            offset_seconds: seconds,
            ..self
        }
    }
}

/// A way the fake answers badly, whatever the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Answers correctly after this long (set it past the client's timeout).
    Slow(std::time::Duration),
    /// This HTTP status with Prometheus's error envelope.
    Status(u16),
    /// A 200 whose body is not JSON.
    Garbage,
    /// A 200 with a matrix where a vector was asked for.
    WrongType,
    /// A 200 whose body stops half way and the connection with it.
    ResetMidBody,
}

#[derive(Default)]
struct Behaviour {
    answers: HashMap<String, Vec<FakeSample>>,
    fault: Option<Fault>,
}

type Answers = Arc<Mutex<Behaviour>>;

/// Serves until dropped. Queries with no answer set get an empty vector.
pub struct FakePrometheus {
    url: String,
    answers: Answers,
    task: JoinHandle<()>,
}

/// Load queries that are the names of their figures (`cpu_average`, ...), as this fake knows them.
pub fn queries() -> LoadQueries {
    let name = |figure: Figure| figure.as_str().to_string();
    LoadQueries {
        cpu_average: name(Figure::CpuAverage),
        cpu_peak: name(Figure::CpuPeak),
        memory_average: name(Figure::MemoryAverage),
        memory_peak: name(Figure::MemoryPeak),
        cpu_capacity: name(Figure::CpuCapacity),
        memory_capacity: name(Figure::MemoryCapacity),
    }
}

impl FakePrometheus {
    pub async fn start() -> anyhow::Result<Self> {
        let answers = Answers::default();
        let app = axum::Router::new()
            .route("/api/v1/query", get(query).post(query))
            .with_state(answers.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, answers, task })
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Answers the query of `figure` (see [`queries`]) with `samples` from now on.
    pub fn set(&self, figure: Figure, samples: Vec<FakeSample>) {
        self.answers
            .lock()
            .answers
            .insert(figure.as_str().to_string(), samples);
    }

    /// Answers every query with `fault` from now on; `None` answers normally again.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.answers.lock().fault = fault;
    }

    /// Answers every figure's query with `samples`.
    pub fn set_all(&self, samples: &[FakeSample]) {
        // The rendered queries are the refresh's figures, each once.
        for (figure, _) in queries().render("instance") {
            self.set(figure, samples.to_vec());
        }
    }
}

impl Drop for FakePrometheus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `POST` (form) or `GET` (query string) `/api/v1/query?query=..&time=..`.
async fn query(
    State(answers): State<Answers>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let fault = answers.lock().fault;
    match fault {
        None => {}
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body =
                json!({"status": "error", "errorType": "internal", "error": "injected fault"});
            return (status, axum::Json(body)).into_response();
        }
        Some(Fault::Garbage) => return "<html>502 Bad Gateway</html>".into_response(),
        Some(Fault::WrongType) => {
            let body = json!({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"instance": "node-a"}, "values": [[1, "1"]]}]}});
            return axum::Json(body).into_response();
        }
        Some(Fault::ResetMidBody) => {
            let parts: Vec<Result<&'static str, std::io::Error>> = vec![
                Ok(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric""#),
                Err(std::io::Error::other("injected reset")),
            ];
            return Response::new(Body::from_stream(futures::stream::iter(parts)));
        }
    }
    answer(&answers, &form).into_response()
}

/// The samples set for the query in `form`, as Prometheus encodes a vector.
fn answer(answers: &Answers, form: &BTreeMap<String, String>) -> axum::Json<Value> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let at = form
        .get("time")
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(now);
    let samples = form
        .get("query")
        .and_then(|q| answers.lock().answers.get(q).cloned())
        .unwrap_or_default();
    let result: Vec<Value> = samples
        .iter()
        .map(|s| {
            json!({
                "metric": {"instance": s.instance},
                "value": [at + s.offset_seconds, s.value],
            })
        })
        .collect();
    axum::Json(json!({
        "status": "success",
        "data": {"resultType": "vector", "result": result},
    }))
}
