//! The queues section: depth and consumers of every Snodo queue, first rendered here and then
//! refreshed by the page's script from `/ops/queues` every two seconds.

use std::fmt::Write;

use super::super::{OpsState, queue_stats};
use super::escape;

pub async fn render(html: &mut String, state: &OpsState) {
    let _ = write!(
        html,
        "<section><h2>Queues <small id=\"queues-updated\"></small></h2><table id=\"queues\">\
         <thead><tr><th>queue</th><th>messages</th><th>consumers</th></tr></thead><tbody>"
    );
    for (queue, stats) in queue_stats(state).await {
        let (messages, consumers) = match stats {
            Some(s) => (s.messages.to_string(), s.consumers.to_string()),
            None => ("missing".to_owned(), "missing".to_owned()),
        };
        let _ = write!(
            html,
            "<tr data-queue=\"{q}\"><td>{q}</td><td class=\"n messages\">{messages}</td>\
             <td class=\"n\">{consumers}</td></tr>",
            q = escape(&queue)
        );
    }
    html.push_str("</tbody></table></section>");
}
