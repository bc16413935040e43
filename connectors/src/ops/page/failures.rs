//! The recent-failures section: the journal's failed commands of the last 24 hours, grouped by
//! DESIGN §5 code, largest group first, with the latest few of each (texts already masked).

use std::fmt::Write;

use chrono::Utc;

use super::super::OpsState;
use super::super::trace::group_failures;
use super::escape;

pub async fn render(html: &mut String, state: &OpsState) {
    html.push_str(
        "<section><h2>Failures, last 24 hours</h2><table id=\"failures\"><thead><tr><th>code</th>\
         <th>count</th><th>last</th><th>latest</th></tr></thead><tbody>",
    );
    match state
        .journal
        .failures(Utc::now() - chrono::Duration::hours(24))
        .await
    {
        Ok(records) => {
            for g in group_failures(&records) {
                let latest: Vec<String> = g
                    .recent
                    .iter()
                    .map(|f| {
                        escape(&format!(
                            "{} {}{}",
                            f.message_type.as_deref().unwrap_or("-"),
                            f.platform_code.as_deref().unwrap_or(""),
                            f.detail.as_deref().map(|d| format!(" — {d}")).unwrap_or_default()
                        ))
                    })
                    .collect();
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&g.code),
                    g.count,
                    g.last_at.format("%Y-%m-%d %H:%M:%S"),
                    latest.join("<br>")
                );
            }
        }
        Err(e) => {
            let _ = write!(html, "<tr><td colspan=\"4\">{}</td></tr>", escape(&e.to_string()));
        }
    }
    html.push_str("</tbody></table></section>");
}
