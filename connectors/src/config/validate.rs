//! Rules a configuration must satisfy beyond its types, each reported as (key, reason).

use std::collections::HashSet;

use snodo_queue::topology::delay_label;

use super::Config;

pub(super) fn validate(c: &Config) -> Result<(), (String, String)> {
    let err = |key: &str, reason: String| Err((key.to_owned(), reason));
    if c.transport.prefix.is_empty()
        || !c
            .transport
            .prefix
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
    {
        return err("transport.prefix", "must be letters, digits, '-' or '_'".into());
    }
    if let Some(url) = &c.transport.amqp_url
        && !(url.starts_with("amqp://") || url.starts_with("amqps://"))
    {
        return err("transport.amqp_url", "must start with amqp:// or amqps://".into());
    }
    if !(1..=1024).contains(&c.transport.publisher_channels) {
        return err(
            "transport.publisher_channels",
            "must be between 1 and 1024".into(),
        );
    }
    if let Some(url) = &c.redis.url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        return err("redis.url", "must start with redis:// or rediss://".into());
    }
    check_runtime(
        "runtime",
        c.runtime.prefetch,
        c.runtime.concurrency,
        &c.runtime.retry,
    )?;
    for name in c.connectors.keys() {
        let r = c.runtime_for(name);
        check_runtime(&format!("connectors.{name}"), r.prefetch, r.concurrency, &r.retry)?;
    }
    let mut seen = HashSet::new();
    for (i, t) in c.tenants.iter().enumerate() {
        let key = |field: &str| format!("tenants[{i}].{field}");
        if t.istat.len() != 6 || !t.istat.bytes().all(|b| b.is_ascii_digit()) {
            return err(
                &key("istat"),
                format!("{:?} is not a 6-digit ISTAT code", t.istat),
            );
        }
        if !seen.insert(t.istat.as_str()) {
            return err(&key("istat"), format!("tenant {} is configured twice", t.istat));
        }
        if t.fiscal_code.len() != 11 || !t.fiscal_code.bytes().all(|b| b.is_ascii_digit()) {
            return err(
                &key("fiscal_code"),
                format!("{:?} is not an 11-digit codice fiscale of a body", t.fiscal_code),
            );
        }
        let cc = t.cadastral_code.as_bytes();
        if cc.len() != 4 || !cc[0].is_ascii_uppercase() || !cc[1..].iter().all(u8::is_ascii_digit) {
            return err(
                &key("cadastral_code"),
                format!("{:?} is not a codice catastale like F205", t.cadastral_code),
            );
        }
        if !(t.public_base_url.starts_with("https://") || t.public_base_url.starts_with("http://")) {
            return err(&key("public_base_url"), "must be an http(s) URL".into());
        }
        super::platforms::validate(t, &key)?;
    }
    // The node calls /pagopa/{station} and the path alone must say which tenant it is for.
    let mut stations = std::collections::HashMap::new();
    for (i, t) in c.tenants.iter().enumerate() {
        for (n, s) in t.pagopa.iter().flat_map(|p| p.stations.iter()).enumerate() {
            if let Some(other) = stations.insert(s.as_str(), t.istat.as_str()) {
                return err(
                    &format!("tenants[{i}].pagopa.stations[{n}]"),
                    format!("station {s} is also configured for tenant {other}"),
                );
            }
        }
    }
    super::certificates::validate(c)?;
    for (name, p) in &c.platforms {
        if !(p.url.starts_with("https://") || p.url.starts_with("http://")) {
            return err(&format!("platforms.{name}.url"), "must be an http(s) URL".into());
        }
    }
    let mut queues = HashSet::new();
    for (i, b) in c.backends.iter().enumerate() {
        let key = |field: &str| format!("backends[{i}].{field}");
        if b.events_queue.starts_with(&format!("{}.", c.transport.prefix)) {
            return err(
                &key("events_queue"),
                format!("names under {}. are Snodo's own", c.transport.prefix),
            );
        }
        for q in std::iter::once(&b.events_queue).chain(b.requests_queue.iter()) {
            if !queues.insert(q.clone()) {
                return err(&key("events_queue"), format!("queue {q} is used twice"));
            }
        }
        for p in b.events.iter().chain(&b.requests) {
            if p.is_empty() || p.split('.').any(str::is_empty) {
                return err(&key("events"), format!("{p:?} is not a topic pattern"));
            }
        }
        if !b.requests.is_empty() && b.requests_queue.is_none() {
            return err(
                &key("requests_queue"),
                "request patterns need a requests_queue".into(),
            );
        }
    }
    Ok(())
}

fn check_runtime(
    at: &str,
    prefetch: u16,
    concurrency: usize,
    retry: &[std::time::Duration],
) -> Result<(), (String, String)> {
    if prefetch == 0 {
        return Err((format!("{at}.prefetch"), "must be at least 1".into()));
    }
    if concurrency == 0 {
        return Err((format!("{at}.concurrency"), "must be at least 1".into()));
    }
    if let Some(d) = retry
        .iter()
        .find(|d| d.is_zero() || d.as_millis() > u128::from(u32::MAX))
    {
        return Err((
            format!("{at}.retry"),
            format!("{} is not a usable delay", delay_label(*d)),
        ));
    }
    Ok(())
}
