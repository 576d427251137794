//! Reads the answer of a Prometheus-compatible HTTP query API (`/api/v1/query`) to an instant
//! query: the JSON envelope (`status`, `data.resultType`, `data.result`, `warnings`) or the
//! server's error, and tells a page that is not such an API (an HTML login page, a 404) from
//! a query the API refused. Pure: status, content type and body in, samples or an error out.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::prometheus::{Sample, Vector};

/// Why an answer gave no samples.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The answer is not the query API's JSON: something else serves that URL.
    #[error("not a Prometheus query API: {0}")]
    NotPrometheus(String),
    /// The server wants other credentials.
    #[error(
        "the server answered {status} (check --bearer-token-file or --basic-auth-username and --basic-auth-password-file): {detail}"
    )]
    Refused { status: u16, detail: String },
    /// The API answered and refused or failed the query.
    #[error("the query failed ({error_type}): {error}")]
    QueryFailed { error_type: String, error: String },
    /// The API answered with another kind of result than the instant vector asked for.
    #[error("the query API answered a {0} where an instant vector was expected")]
    NotAVector(String),
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// The envelope's `data`, its result skipped: read again as [`VectorEnvelope`] once it is
/// known to be a vector, straight into samples (a JSON tree of a large answer in between
/// would take several times the answer's size).
#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(rename = "result")]
    _result: serde::de::IgnoredAny,
}

#[derive(Deserialize)]
struct VectorEnvelope {
    data: VectorData,
}

#[derive(Deserialize)]
struct VectorData {
    result: Vec<JsonSample>,
}

#[derive(Deserialize)]
struct JsonSample {
    metric: BTreeMap<String, String>,
    /// `[unix seconds, "value"]`
    value: (f64, String),
}

/// How much of an unexpected body an error message quotes.
const QUOTED_CHARS: usize = 120;

/// The first characters of a body, on one line, for an error message.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(QUOTED_CHARS)
        .collect();
    let trimmed = one_line.trim();
    if trimmed.is_empty() {
        "an empty body".to_string()
    } else {
        format!("{trimmed:?}")
    }
}

/// Reads one answer of `/api/v1/query`: the HTTP status, the `Content-Type` header (if any)
/// and the body (already decompressed).
pub fn parse_query_response(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vector, ApiError> {
    let envelope = serde_json::from_slice::<Envelope>(body).ok();
    let Some(envelope) = envelope.filter(|e| e.status == "success" || e.status == "error") else {
        let what = format!(
            "it answered HTTP {status} with {} and {}",
            content_type.unwrap_or("no content type"),
            quote(body)
        );
        return Err(if matches!(status, 401 | 403) {
            ApiError::Refused {
                status,
                detail: quote(body),
            }
        } else {
            ApiError::NotPrometheus(what)
        });
    };
    if envelope.status == "error" {
        if matches!(status, 401 | 403) {
            return Err(ApiError::Refused {
                status,
                detail: envelope.error.unwrap_or_default(),
            });
        }
        return Err(ApiError::QueryFailed {
            error_type: envelope.error_type.unwrap_or_else(|| "unknown".to_string()),
            error: envelope.error.unwrap_or_default(),
        });
    }
    let Some(data) = envelope.data else {
        return Err(ApiError::NotPrometheus(format!(
            "it answered HTTP {status} with a success and no data"
        )));
    };
    if data.result_type != "vector" {
        return Err(ApiError::NotAVector(data.result_type));
    }
    let raw: Vec<JsonSample> = serde_json::from_slice::<VectorEnvelope>(body)
        .map_err(|e| ApiError::NotPrometheus(format!("its vector is not made of samples: {e}")))?
        .data
        .result;
    let mut vector = Vector {
        samples: Vec::with_capacity(raw.len()),
        warnings: envelope.warnings,
        time: None,
    };
    for sample in raw {
        let (time, text) = sample.value;
        let value = text.parse::<f64>().map_err(|_| {
            ApiError::NotPrometheus(format!("a sample's value {text:?} is not a number"))
        })?;
        vector.time = Some(time);
        vector.samples.push(Sample {
            labels: sample.metric,
            value,
        });
    }
    Ok(vector)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer of Prometheus 2.45 to `up` (two targets, one down), as it sends it.
    const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"lb1:9748","job":"ipvs_exporter"},"value":[1764960000.123,"1"]},{"metric":{"__name__":"up","instance":"lb2:9748","job":"ipvs_exporter"},"value":[1764960000.123,"0"]}]}}"#;

    #[test]
    fn a_vector_becomes_samples_with_their_labels_and_values() {
        let vector =
            parse_query_response(200, Some("application/json"), VECTOR.as_bytes()).unwrap();
        assert_eq!(vector.samples.len(), 2);
        assert_eq!(vector.samples[0].label("instance"), "lb1:9748");
        assert_eq!(vector.samples[0].label("cluster"), "");
        assert_eq!(vector.samples[0].value, 1.0);
        assert_eq!(vector.samples[1].value, 0.0);
        assert_eq!(vector.time, Some(1_764_960_000.123));
        assert!(vector.warnings.is_empty());
    }

    #[test]
    fn special_values_and_warnings_are_kept() {
        let body = r#"{"status":"success","warnings":["partial response: store lb-dc2 down"],"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]},{"metric":{},"value":[1,"+Inf"]},{"metric":{},"value":[1,"-Inf"]}]}}"#;
        let vector = parse_query_response(200, None, body.as_bytes()).unwrap();
        assert!(vector.samples[0].value.is_nan());
        assert_eq!(vector.samples[1].value, f64::INFINITY);
        assert_eq!(vector.samples[2].value, f64::NEG_INFINITY);
        assert_eq!(vector.warnings, ["partial response: store lb-dc2 down"]);
    }

    #[test]
    fn an_empty_vector_is_no_samples_and_no_time() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        let vector = parse_query_response(200, None, body.as_bytes()).unwrap();
        assert!(vector.samples.is_empty());
        assert_eq!(vector.time, None);
    }

    #[test]
    fn the_servers_error_is_said_with_its_type() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \"}\""}"#;
        let err = parse_query_response(400, Some("application/json"), body.as_bytes())
            .expect_err("an error");
        assert_eq!(
            err,
            ApiError::QueryFailed {
                error_type: "bad_data".into(),
                error: "1:5: parse error: unexpected \"}\"".into()
            }
        );
    }

    #[test]
    fn html_json_of_another_shape_and_404_are_not_a_query_api() {
        for (status, ct, body) in [
            (
                200,
                Some("text/html"),
                "<!DOCTYPE html><title>Grafana</title>",
            ),
            (404, Some("text/plain"), "404 page not found"),
            (200, Some("application/json"), r#"{"hello":"world"}"#),
            (200, None, ""),
        ] {
            let err = parse_query_response(status, ct, body.as_bytes()).expect_err(body);
            let text = err.to_string();
            assert!(
                text.starts_with("not a Prometheus query API: "),
                "{status} {body}: {text}"
            );
            assert!(text.contains(&format!("HTTP {status}")), "{text}");
        }
    }

    #[test]
    fn a_vector_of_something_else_than_samples_is_not_a_query_api() {
        for result in [r#"[{"metric":{}}]"#, r#"[["a", 1]]"#, r#"{"a":1}"#] {
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":{result}}}}}"#
            );
            let err = parse_query_response(200, None, body.as_bytes()).expect_err(result);
            assert!(
                err.to_string()
                    .starts_with("not a Prometheus query API: its vector is not made of samples"),
                "{result}: {err}"
            );
        }
        let missing = r#"{"status":"success","data":{"resultType":"vector"}}"#;
        assert!(matches!(
            parse_query_response(200, None, missing.as_bytes()),
            Err(ApiError::NotPrometheus(_))
        ));
    }

    #[test]
    fn a_refusal_names_the_credential_flags() {
        let err = parse_query_response(401, Some("text/plain"), b"Unauthorized").unwrap_err();
        assert!(matches!(err, ApiError::Refused { status: 401, .. }));
        assert!(err.to_string().contains("--bearer-token-file"), "{err}");
    }

    #[test]
    fn other_result_types_are_refused() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(
            parse_query_response(200, None, body.as_bytes()),
            Err(ApiError::NotAVector("matrix".into()))
        );
        let bad = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"one"]}]}}"#;
        assert!(parse_query_response(200, None, bad.as_bytes()).is_err());
    }
}
