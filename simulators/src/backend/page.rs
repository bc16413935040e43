//! The `/demo` page: server-rendered HTML, refreshed every two seconds, with a button that sends a
//! `snodo.ping` through the operations listener so that a newcomer sees one round trip without a tool.

use super::Entry;
use super::desk::escape;

pub(super) fn render(entries: &[Entry], identity: &str) -> String {
    let mut rows = String::new();
    for e in entries {
        rows.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>\n",
            if e.kind.ends_with(".failed") { "failed" } else { "ok" },
            e.at.format("%H:%M:%S%.3f"),
            e.direction,
            escape(&e.kind),
            escape(e.tenant.as_deref().unwrap_or("")),
            escape(e.correlation_id.as_deref().unwrap_or("")),
            escape(&serde_json::to_string_pretty(&e.body).unwrap_or_default()),
        ));
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"6\">Nothing yet: send a command (button above, or <code>snodo send snodo.ping</code>).</td></tr>");
    }
    let pagopa = super::pagopa::section();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Snodo — demo municipal backend</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }}
.banner {{ background: #fff3cd; border: 1px solid #e0c36c; padding: .6rem 1rem; margin-bottom: 1rem; }}
table {{ border-collapse: collapse; width: 100%; font-size: .9rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }}
tr.failed td {{ background: #fdecea; }}
pre {{ margin: 0; max-height: 12rem; overflow: auto; }}
</style></head>
<body>
<div class="banner"><strong>Demo backend.</strong> This page belongs to the demo municipal backend that
<code>snodo up</code> runs without configuration. It is not part of a deployment: a real Comune's software
consumes its own queue.</div>
<h1>What the demo backend saw</h1>
<p><button id="ping">Send snodo.ping</button> <span id="result"></span></p>
{pagopa}
{identity}
<table><thead><tr><th>time</th><th>direction</th><th>type</th><th>tenant</th><th>correlation</th><th>body</th></tr></thead>
<tbody id="entries">
{rows}</tbody></table>
<script>
document.getElementById('ping').onclick = async () => {{
  const r = await fetch('/ops/send', {{ method: 'POST', headers: {{ 'content-type': 'application/json' }},
    body: JSON.stringify({{ type: 'snodo.ping', body: {{ from: 'demo page', at: new Date().toISOString() }} }}) }});
  document.getElementById('result').textContent = r.ok ? (await r.json()).type : 'failed: ' + await r.text();
  setTimeout(() => location.reload(), 300);
}};
setTimeout(() => location.reload(), 2000);
</script>
</body></html>
"#
    )
}
