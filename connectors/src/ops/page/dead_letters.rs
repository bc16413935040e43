//! The dead-letters section: the index's entries (error texts masked, no bodies) with a replay button
//! for pending ones and a purge button for each; the script posts to `/ops/dlq/{id}/replay` and
//! `/ops/dlq/purge` and re-renders the table from `/ops/dlq`.

use std::fmt::Write;

use super::super::OpsState;
use super::escape;
use crate::journal::DeadLetterFilter;

pub async fn render(html: &mut String, state: &OpsState) {
    let _ = write!(
        html,
        "<section><h2>Dead letters</h2><table id=\"dead-letters\"><thead><tr><th>failed at</th>\
         <th>connector</th><th>type</th><th>message id</th><th>error</th><th></th></tr></thead><tbody>"
    );
    match state.dead_letters.list(&DeadLetterFilter::default()).await {
        Ok(entries) => {
            for e in entries.iter().map(|e| e.summary()) {
                let error = format!(
                    "{}{}{}",
                    e.error_code,
                    e.platform_code
                        .as_deref()
                        .map(|c| format!(" {c}"))
                        .unwrap_or_default(),
                    e.error.as_deref().map(|t| format!(": {t}")).unwrap_or_default()
                );
                let action = match &e.replayed {
                    Some(r) => format!("replayed by {} at {}", escape(&r.by), r.at.format("%H:%M:%S")),
                    None => format!(
                        "<button class=\"replay\" data-id=\"{}\">Replay</button>",
                        escape(&e.id)
                    ),
                };
                let _ = write!(
                    html,
                    "<tr data-id=\"{id}\"><td>{at}</td><td>{connector}</td><td>{kind}</td><td>{mid}</td>\
                     <td>{error}</td><td>{action} <button class=\"purge\" data-message-id=\"{mid}\">Purge</button></td></tr>",
                    id = escape(&e.id),
                    at = e.failed_at.format("%Y-%m-%d %H:%M:%S"),
                    connector = escape(&e.connector),
                    kind = escape(e.kind.as_deref().unwrap_or("-")),
                    mid = escape(e.message_id.as_deref().unwrap_or("")),
                    error = escape(&error),
                );
            }
        }
        Err(e) => {
            let _ = write!(html, "<tr><td colspan=\"6\">{}</td></tr>", escape(&e.to_string()));
        }
    }
    html.push_str("</tbody></table></section>");
}
