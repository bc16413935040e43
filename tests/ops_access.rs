//! Access control of the operations listener, on `snodo up` as a process: a listener beyond localhost
//! without a token refuses to start; with one, `/ops/*` needs it (bearer header, or the cookie that
//! `/ops/login` sets for browsers) while `/healthz`, `/readyz` and `/metrics` stay open; the CLI sends
//! the token from `SNODO_OPS_TOKEN` or from the configured token file.

mod support;

use support::{SnodoUp, snodo, temp_file};

const TOKEN: &str = "ops-token-0123456789abcdef";

#[test]
fn a_listener_beyond_localhost_without_a_token_refuses_to_start() {
    let out = snodo(&["up", "--no-simulators"])
        .env("SNODO_LISTENERS__OPS", "0.0.0.0:0")
        .run();
    assert!(!out.status.success());
    let text = out.stderr_text();
    assert!(
        text.contains("beyond localhost") && text.contains("SNODO_OPS_TOKEN"),
        "{text}"
    );
    let out = snodo(&["up", "--no-simulators"])
        .env("SNODO_LISTENERS__OPS", "0.0.0.0:0")
        .env("SNODO_OPS_TOKEN", "short")
        .run();
    assert!(!out.status.success());
    assert!(out.stderr_text().contains("at least 16"), "{}", out.stderr_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn ops_paths_need_the_token_and_probes_do_not() {
    let up = SnodoUp::start(
        &["--no-simulators"],
        &[("SNODO_LISTENERS__OPS", "0.0.0.0:0"), ("SNODO_OPS_TOKEN", TOKEN)],
    );
    let ops = up.ops_url().replace("0.0.0.0", "127.0.0.1");
    let http = reqwest::Client::new();
    for open in ["/healthz", "/readyz", "/metrics"] {
        let r = http.get(format!("{ops}{open}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{open}");
    }
    for closed in ["/ops", "/ops/queues", "/ops/dlq", "/ops/anything"] {
        let r = http.get(format!("{ops}{closed}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{closed}");
        let r = http
            .get(format!("{ops}{closed}"))
            .bearer_auth("ops-token-0123456789abcdeX")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{closed} with a wrong token");
    }
    let r = http
        .get(format!("{ops}/ops/queues"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A browser gets the login form, then the cookie.
    let r = http
        .get(format!("{ops}/ops"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("id=\"token\""));
    let r = http
        .post(format!("{ops}/ops/login"))
        .json(&serde_json::json!({"token": "wrong-token-0123456789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{ops}/ops/login"))
        .json(&serde_json::json!({"token": TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/ops"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let r = http
        .get(format!("{ops}/ops/queues"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The CLI: refused without the token, served with it, from the environment or the token file.
    let out = snodo(&["ops", "dlq", "list", "--ops", &ops])
        .env("SNODO_OPS_TOKEN", "")
        .run();
    assert!(!out.status.success());
    let out = snodo(&["ops", "dlq", "list", "--ops", &ops])
        .env("SNODO_OPS_TOKEN", TOKEN)
        .run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let file = temp_file("ops-token", &format!("{TOKEN}\n"));
    let out = snodo(&["ops", "queues", "--ops", &ops])
        .env("SNODO_OPS_TOKEN", "")
        .env("SNODO_LISTENERS__OPS_TOKEN_FILE", file.to_str().unwrap())
        .run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let out = snodo(&["send", "snodo.ping", "--ops", &ops])
        .env("SNODO_OPS_TOKEN", TOKEN)
        .stdin_json("{}");
    assert!(out.status.success(), "{}", out.stderr_text());
    up.stop();
}
