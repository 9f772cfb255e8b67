//! Webhooks: POST a JSON body (generic, or Slack's `{"text": …}`) with a deadline. Header values
//! are often secrets (tokens): they are sent, never logged or described.

use std::time::Duration;

use super::ExecError;
use crate::playbook::WebhookFormat;

/// Posts `body`; returns the HTTP status (2xx) or an error naming the status.
pub(super) fn post(
    url: &str,
    format: WebhookFormat,
    headers: &[(String, String)],
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<u16, ExecError> {
    let body = match format {
        WebhookFormat::Json => body.clone(),
        // A Slack body without `text` gets one, so a misbuilt action still says something.
        WebhookFormat::Slack if body.get("text").is_some() => body.clone(),
        WebhookFormat::Slack => serde_json::json!({ "text": body.to_string() }),
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| ExecError::Http(e.to_string()))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = agent.post(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    tracing::debug!(url, headers = ?headers.iter().map(|(k, _)| k).collect::<Vec<_>>(), "webhook POST");
    let resp = req
        .send(&bytes[..])
        .map_err(|e| ExecError::Http(format!("POST {url}: {e}")))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(ExecError::Http(format!("POST {url}: HTTP {status}")))
    }
}
