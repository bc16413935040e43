//! Inbound robustness, end to end: a seeded, bounded generator drives the real inbound HTTPS
//! listener of `snodo up` (on RabbitMQ, with its simulators) — the pagoPA EC endpoint, the ANPR
//! notification push and the SAML ACS — with a few thousand malformed, oversized and hostile
//! requests: random bytes, truncated and broken XML, entity expansion, external entities, deep
//! nesting, signature wrapping, truncated, invalid and huge base64, wrong content types, chunked
//! and broken chunked bodies, lying Content-Lengths, slow bodies. Among them, valid messages: ANPR
//! notifications, pagoPA receipts and SPID logins, some chunked or slow.
//!
//! What must hold: no request that is garbage gets a 200 (pagoPA's business refusals are HTTP 200
//! with `outcome` KO by its specification, so a 200 there must say KO) or a login redirect; every
//! valid message gets its acceptance and becomes exactly its event (by business id, after
//! de-duplication by `message_id`), and no event appears that no valid message asked for; `snodo up`
//! answers to the end and exits cleanly on SIGTERM (never a crash).
//!
//! Deterministic: the bodies come from a seeded generator (`SNODO_INBOUND_FUZZ_SEED` to try another
//! seed, `SNODO_INBOUND_FUZZ_COUNT` for more bodies; failures print the seed and the case).

mod inbound_fuzz_common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use inbound_fuzz_common::*;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use parking_lot::Mutex;
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_queue::topology::{SubscriberQueue, Topology};
use snodo_queue::{ConsumeOptions, Names, SharedTransport};
use snodo_security::devpki::{DevPki, DevTenant};
use snodo_security::saml::redirect::url_encode;
use support::SnodoUp;

const DEFAULT_SEED: u64 = 0x5eed_1b0d_f022;
const DEFAULT_COUNT: usize = 1500;
/// The SOAP endpoints' body cap (`SoapEndpointConfig::default`).
const SOAP_CAP: usize = 1 << 20;
const RETURN_URL: &str = "http://127.0.0.1:9400/demo";

// ---------------------------------------------------------------------------------------------
// A seeded generator (splitmix64): the same seed, the same bodies.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 over TLS, so that framing itself can be hostile.

#[derive(Clone, Copy, Debug)]
enum Framing {
    /// A correct Content-Length.
    Length,
    /// Chunked, in chunks of this size.
    Chunked(usize),
    /// Chunked with a chunk size that is not hexadecimal.
    BadChunkSize,
    /// Chunked, ended by the connection instead of the zero chunk.
    UnterminatedChunks,
    /// A Content-Length that announces more than is sent (then the client closes).
    LengthTooLong,
    /// Both Content-Length and chunked (request smuggling shape).
    LengthAndChunked,
    /// A correct Content-Length, the body sent in pieces with pauses.
    Slow,
}

struct Request {
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
    framing: Framing,
    /// Present the development client certificate (pagoPA requires the node's).
    client_certificate: bool,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: String,
    body: String,
}

struct Client {
    inbound: SocketAddr,
    with_certificate: SslConnector,
    anonymous: SslConnector,
}

impl Client {
    fn new(inbound: SocketAddr, pki: &DevPki) -> Client {
        let build = |certificate: bool| {
            let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
            for ca in pki.trust_anchors().certificates() {
                builder.cert_store_mut().add_cert(ca.clone()).unwrap();
            }
            builder.set_verify(SslVerifyMode::PEER);
            if certificate {
                let identity = &pki.tls_client().identity;
                builder.set_certificate(identity.certificate()).unwrap();
                builder.set_private_key(identity.key()).unwrap();
            }
            builder.build()
        };
        Client {
            inbound,
            with_certificate: build(true),
            anonymous: build(false),
        }
    }

    /// Sends `request` to the inbound listener; `Err` when the server closed without an answer.
    fn send(&self, request: &Request) -> Result<Reply, String> {
        let connector = if request.client_certificate {
            &self.with_certificate
        } else {
            &self.anonymous
        };
        exchange(self.inbound, connector, request)
    }
}

fn exchange(address: SocketAddr, connector: &SslConnector, request: &Request) -> Result<Reply, String> {
    let tcp = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = connector
        .connect("127.0.0.1", tcp)
        .map_err(|e| format!("TLS: {e}"))?;
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nSOAPAction: \"\"\r\n",
        request.path,
        address.port()
    );
    if let Some(content_type) = &request.content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    let body = &request.body;
    let mut write = |bytes: &[u8]| tls.write_all(bytes).map_err(|e| format!("write: {e}"));
    match request.framing {
        Framing::Length | Framing::Slow => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            write(head.as_bytes())?;
            if matches!(request.framing, Framing::Slow) {
                for piece in body.chunks(body.len().div_ceil(4).max(1)) {
                    write(piece)?;
                    std::thread::sleep(Duration::from_millis(40));
                }
            } else {
                write(body)?;
            }
        }
        Framing::Chunked(_) | Framing::UnterminatedChunks => {
            let size = match request.framing {
                Framing::Chunked(size) => size.max(1),
                _ => 512,
            };
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            let mut out = head.into_bytes();
            for piece in body.chunks(size) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            if matches!(request.framing, Framing::Chunked(_)) {
                out.extend_from_slice(b"0\r\n\r\n");
            }
            write(&out)?;
        }
        Framing::BadChunkSize => {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            let mut out = head.into_bytes();
            out.extend_from_slice(b"zz\r\n");
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n0\r\n\r\n");
            write(&out)?;
        }
        Framing::LengthTooLong => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len() + 100));
            write(head.as_bytes())?;
            write(body)?;
        }
        Framing::LengthAndChunked => {
            head.push_str(&format!(
                "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
                body.len()
            ));
            let mut out = head.into_bytes();
            out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n0\r\n\r\n");
            write(&out)?;
        }
    }
    if matches!(
        request.framing,
        Framing::LengthTooLong | Framing::UnterminatedChunks
    ) {
        // The body will never be complete: say so by closing our side.
        let _ = tls.shutdown();
    }
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no complete answer ({} bytes)", raw.len()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))?;
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut rest = rest;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        rest.to_owned()
    };
    Ok(Reply {
        status,
        headers: head.to_owned(),
        body,
    })
}

fn get(client: &Client, connector_certificate: bool, url: &str, accept_json: bool) -> Reply {
    json_call(client, connector_certificate, "GET", url, None, accept_json)
}

/// A GET or POST (JSON body) to any HTTPS URL on localhost (the IdP simulator, the SP's login).
fn json_call(
    client: &Client,
    certificate: bool,
    method: &str,
    url: &str,
    json: Option<&serde_json::Value>,
    accept_json: bool,
) -> Reply {
    let rest = url.strip_prefix("https://").expect("an https URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let address: SocketAddr = authority.parse().expect("host:port");
    let connector = if certificate {
        &client.with_certificate
    } else {
        &client.anonymous
    };
    let tcp = TcpStream::connect(address).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = connector.connect("127.0.0.1", tcp).expect("TLS");
    let body = json.map(|j| j.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        if path.is_empty() { "/" } else { path },
        body.len()
    );
    if json.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if accept_json {
        head.push_str("Accept: application/json\r\n");
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    parse_reply(&raw).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

fn header_value(reply: &Reply, name: &str) -> Option<String> {
    reply.headers.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

// ---------------------------------------------------------------------------------------------
// SPID logins through the IdP simulator `snodo up` runs: each yields a signed Response for a
// pending request of the SP.

struct Login {
    /// The ACS path on the inbound listener.
    acs_path: String,
    saml_response_xml: String,
    relay_state: Option<String>,
}

struct Idp {
    base: String,
    fiscal_code: String,
}

impl Idp {
    /// Waits until the SP and the IdP simulator know each other, and picks a test user.
    fn ready(client: &Client, base: String) -> Idp {
        let people = get(client, false, &format!("{base}/spid/people?limit=1"), true);
        let people: serde_json::Value = serde_json::from_str(&people.body).expect("people JSON");
        let fiscal_code = people["people"][0]["fiscal_code"]
            .as_str()
            .expect("a test user")
            .to_owned();
        let idp = Idp { base, fiscal_code };
        let until = Instant::now() + Duration::from_secs(40);
        loop {
            match idp.try_login(client) {
                Ok(_) => return idp,
                Err(e) if Instant::now() > until => panic!("no SPID login possible: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn try_login(&self, client: &Client) -> Result<Login, String> {
        let login = get(
            client,
            false,
            &format!(
                "https://{}/identity/{TENANT}/login?federation=spid&idp={}&level=2&return={}",
                client.inbound,
                url_encode(&format!("{}/spid", self.base)),
                url_encode(RETURN_URL)
            ),
            false,
        );
        if login.status != 302 {
            return Err(format!(
                "the SP's login answered {}: {}",
                login.status, login.body
            ));
        }
        let location = header_value(&login, "location").ok_or("a redirect without Location")?;
        let sso = get(client, false, &location, true);
        if sso.status != 200 {
            return Err(format!("SSO answered {}: {}", sso.status, sso.body));
        }
        let sso: serde_json::Value = serde_json::from_str(&sso.body).map_err(|e| e.to_string())?;
        let ticket = sso["ticket"].as_str().ok_or("no ticket")?;
        let answer = json_call(
            client,
            false,
            "POST",
            &format!("{}/spid/login", self.base),
            Some(&serde_json::json!({
                "ticket": ticket,
                "fiscal_code": self.fiscal_code,
                "level": "2",
                "outcome": "success",
            })),
            true,
        );
        if answer.status != 200 {
            return Err(format!("the IdP's login answered {}", answer.status));
        }
        let answer: serde_json::Value = serde_json::from_str(&answer.body).map_err(|e| e.to_string())?;
        let encoded = answer["SAMLResponse"].as_str().ok_or("no SAMLResponse")?;
        let xml = openssl::base64::decode_block(encoded).map_err(|e| e.to_string())?;
        let acs_url = answer["acs_url"].as_str().ok_or("no acs_url")?;
        let acs_path = acs_url
            .strip_prefix("https://")
            .and_then(|r| r.find('/').map(|i| r[i..].to_owned()))
            .ok_or("an ACS URL without path")?;
        Ok(Login {
            acs_path,
            saml_response_xml: String::from_utf8(xml).map_err(|e| e.to_string())?,
            relay_state: answer["RelayState"].as_str().map(str::to_owned),
        })
    }
}

fn acs_form(saml_response: &str, relay_state: Option<&str>) -> Vec<u8> {
    let mut form = format!("SAMLResponse={}", url_encode(saml_response));
    if let Some(relay) = relay_state {
        form.push_str(&format!("&RelayState={}", url_encode(relay)));
    }
    form.into_bytes()
}

fn encode(xml: &str) -> String {
    openssl::base64::encode_block(xml.as_bytes())
}

/// Signature-wrapping and tampering variants of a signed Response: each must be refused.
fn wrapped(xml: &str, variant: usize) -> String {
    let start = xml
        .find("<saml:Assertion")
        .or_else(|| xml.find("<saml2:Assertion"))
        .or_else(|| xml.find("<Assertion"))
        .expect("a Response with an Assertion");
    let end_tag = ["</saml:Assertion>", "</saml2:Assertion>", "</Assertion>"]
        .iter()
        .find_map(|t| xml.rfind(t).map(|i| i + t.len()))
        .filter(|&end| end > start)
        .expect("a closed Assertion");
    let assertion = &xml[start..end_tag];
    let without_signature = match (assertion.find("<ds:Signature"), assertion.find("</ds:Signature>")) {
        (Some(a), Some(b)) => format!("{}{}", &assertion[..a], &assertion[b + "</ds:Signature>".len()..]),
        _ => assertion.to_owned(),
    };
    let evil = without_signature.replacen(" ID=\"", " ID=\"evil", 1);
    match variant % 5 {
        // An unsigned copy before the signed Assertion.
        0 => format!("{}{}{}", &xml[..start], evil, &xml[start..]),
        // The signed Assertion hidden in Extensions, the unsigned copy in its place.
        1 => {
            let hidden = format!("<samlp:Extensions>{assertion}</samlp:Extensions>");
            let replaced = format!("{}{}{}", &xml[..start], evil, &xml[end_tag..]);
            match replaced.find("<samlp:Status") {
                Some(i) => format!("{}{}{}", &replaced[..i], hidden, &replaced[i..]),
                None => replaced,
            }
        }
        // The Assertion's signature removed.
        2 => format!("{}{}{}", &xml[..start], without_signature, &xml[end_tag..]),
        // A signed attribute value changed: the digest no longer matches.
        3 => {
            let tampered = match assertion.find("AttributeValue") {
                Some(i) => {
                    let at = assertion[i..].find('>').map(|j| i + j + 1).unwrap_or(i);
                    format!("{}X{}", &assertion[..at], &assertion[at..])
                }
                None => assertion.replacen("<saml:Issuer", "<saml:Issuer Evil=\"1\"", 1),
            };
            format!("{}{}{}", &xml[..start], tampered, &xml[end_tag..])
        }
        // A comment injected into the NameID (the canonical form drops it, a naive reader splits).
        _ => {
            let tampered = match assertion.find("<saml:NameID") {
                Some(i) => {
                    let at = assertion[i..].find('>').map(|j| i + j + 1).unwrap_or(i);
                    format!("{}<!---->evil{}", &assertion[..at], &assertion[at..])
                }
                None => format!("{assertion}<!-- -->"),
            };
            format!("{}{}{}", &xml[..start], tampered, &xml[end_tag..])
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile bodies.

fn billion_laughs(inner: &str) -> String {
    let mut dtd = String::from("<!DOCTYPE r [<!ENTITY l0 \"lol\">");
    for i in 1..10 {
        dtd.push_str(&format!(
            "<!ENTITY l{i} \"{}\">",
            format!("&l{};", i - 1).repeat(10)
        ));
    }
    dtd.push_str("]>");
    format!(
        "{dtd}{}",
        inner
            .replacen("ANPR00", "&l9;", 1)
            .replacen("<idPA>", "<idPA>&l9;", 1)
    )
}

fn external_entity(inner: &str) -> String {
    format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        inner
            .replacen("ANPR00", "&x;", 1)
            .replacen("<idPA>", "<idPA>&x;", 1)
    )
}

fn deep_nesting(depth: usize) -> String {
    let mut s = String::from(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>",
    );
    s.push_str(&"<a>".repeat(depth));
    s.push_str(&"</a>".repeat(depth));
    s.push_str("</soapenv:Body></soapenv:Envelope>");
    s
}

fn strip_declaration(xml: &str) -> &str {
    match xml.find("?>") {
        Some(i) if xml.starts_with("<?xml") => xml[i + 2..].trim_start(),
        _ => xml,
    }
}

/// A body that is never a valid message of any endpoint, built from `valid` or from nothing.
fn garbage_xml(rng: &mut Rng, valid: &str) -> (String, Vec<u8>) {
    let body = strip_declaration(valid);
    match rng.below(11) {
        0 => ("random bytes".into(), {
            let n = rng.below(3000);
            rng.bytes(n)
        }),
        1 => {
            // Cut before the end of the closing tag: never well-formed.
            let cut = rng.below(body.len().saturating_sub(2));
            ("truncated".into(), body.as_bytes()[..cut].to_vec())
        }
        2 => {
            // A bare '<' or '&' inside the document: never well-formed.
            let at = 1 + rng.below(body.len() - 1);
            let mut out = body.as_bytes().to_vec();
            out.insert(at, *rng.pick(b"<&"));
            ("stray markup character".into(), out)
        }
        3 => ("entity expansion".into(), billion_laughs(body).into_bytes()),
        4 => ("external entity".into(), external_entity(body).into_bytes()),
        5 => ("deep nesting".into(), deep_nesting(20_000).into_bytes()),
        6 => (
            "DTD with internal subset".into(),
            format!("<!DOCTYPE Envelope [<!ELEMENT a ANY>]>{body}").into_bytes(),
        ),
        7 => (
            "text after a comment and PI bomb".into(),
            // Comments and PIs are fine before the root; the text after them is not.
            format!("{}x{body}", "<!--x--><?p q?>".repeat(1 + rng.below(5000))).into_bytes(),
        ),
        8 => ("two documents".into(), format!("{body}{body}").into_bytes()),
        9 => ("invalid UTF-8".into(), {
            let mut out = body.as_bytes().to_vec();
            let at = rng.below(out.len());
            out.insert(at, 0xff);
            out.insert(at, 0xc3);
            out.truncate(at + 1);
            out.extend_from_slice(&[0xff, 0xfe, 0x00]);
            out
        }),
        _ => (
            "SOAP 1.2 envelope".into(),
            body.replace(
                "http://schemas.xmlsoap.org/soap/envelope/",
                "http://www.w3.org/2003/05/soap-envelope",
            )
            .into_bytes(),
        ),
    }
}

/// Garbage that is well-formed but no valid message: wrong ids, wrong kinds, broken base64.
fn garbage_anpr_semantics(rng: &mut Rng, id: u64) -> (String, Vec<u8>) {
    let push = anpr_push(TENANT, "N010", &id.to_string());
    let (what, body) = match rng.below(7) {
        0 => (
            "another tenant",
            push.replace(&format!("<codDestinatario>{TENANT}"), "<codDestinatario>999999"),
        ),
        1 => (
            "letters in idOperazioneANPR",
            push.replace(&format!(">{id}<"), ">12a4<"),
        ),
        2 => ("truncated base64", push.replace("PE4wMTAvPg==", "PE4wMTAvP")),
        3 => ("not base64", push.replace("PE4wMTAvPg==", "PE4w$TAv*g==")),
        4 => ("a 5-letter tipoNotifica", push.replace(">N010<", ">N0100<")),
        5 => ("no testataNotifica", push.replace("testataNotifica", "testata")),
        _ => ("another payload", push.replace("RichiestaN000", "RichiestaN999")),
    };
    (what.into(), body.into_bytes())
}

// ---------------------------------------------------------------------------------------------
// The cases, and what each must get.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Endpoint {
    Pagopa,
    Anpr,
    Acs,
}

enum Expect {
    /// Never a 200 (or 303), except pagoPA's KO.
    Refused,
    /// ANPR's `codiceEsito` 0: notification `id` must become one event.
    AnprAccepted(String),
    /// pagoPA's OK: receipt `id` must become one event.
    ReceiptAccepted(String),
    /// The ACS's 303 with a ticket: one `identity.login.succeeded`.
    LoggedIn,
}

struct Case {
    what: String,
    endpoint: Endpoint,
    request: Request,
    expect: Expect,
}

fn soap_request(endpoint: Endpoint, body: Vec<u8>, rng: &mut Rng, hostile_framing: bool) -> Request {
    let path = match endpoint {
        Endpoint::Pagopa => format!("/pagopa/{STATION}"),
        _ => format!("/anpr/{TENANT}/notifications"),
    };
    let content_type = match rng.below(10) {
        0 => Some("application/soap+xml; charset=utf-8".to_owned()),
        1 => Some("application/json".to_owned()),
        2 => None,
        3 => Some("multipart/form-data; boundary=x".to_owned()),
        _ => Some("text/xml; charset=utf-8".to_owned()),
    };
    let chunk = 1 + rng.below(300);
    let framing = if hostile_framing {
        *rng.pick(&[
            Framing::Length,
            Framing::Length,
            Framing::Chunked(chunk),
            Framing::BadChunkSize,
            Framing::UnterminatedChunks,
            Framing::LengthTooLong,
            Framing::LengthAndChunked,
        ])
    } else {
        Framing::Length
    };
    Request {
        path,
        content_type,
        body,
        framing,
        client_certificate: endpoint == Endpoint::Anpr || rng.below(8) != 0,
    }
}

fn valid_framing(rng: &mut Rng) -> Framing {
    match rng.below(12) {
        0 => Framing::Slow,
        1..=3 => Framing::Chunked(1 + rng.below(700)),
        _ => Framing::Length,
    }
}

/// Judges one reply; `Err` says what went wrong.
fn judge(case: &Case, reply: &Result<Reply, String>) -> Result<(), String> {
    match (&case.expect, reply) {
        // A connection closed without an answer is a refusal (a body that never completed).
        (Expect::Refused, Err(_)) => Ok(()),
        (Expect::Refused, Ok(r)) => {
            let ko = case.endpoint == Endpoint::Pagopa
                && r.status == 200
                && r.body.contains("<outcome>KO</outcome>")
                && !r.body.contains("<outcome>OK</outcome>");
            let accepted = match case.endpoint {
                Endpoint::Acs => (200..400).contains(&r.status),
                _ => r.status == 200 && !ko,
            };
            let crashed_answer = case.endpoint == Endpoint::Acs && r.status >= 500;
            if accepted || crashed_answer {
                Err(format!("garbage answered {}: {}", r.status, r.body))
            } else {
                Ok(())
            }
        }
        (_, Err(e)) => Err(format!("a valid message got no answer: {e}")),
        (Expect::AnprAccepted(_), Ok(r)) => (r.status == 200
            && r.body.contains("<codiceEsito>0</codiceEsito>"))
        .then_some(())
        .ok_or_else(|| format!("a valid notification answered {}: {}", r.status, r.body)),
        (Expect::ReceiptAccepted(_), Ok(r)) => (r.status == 200 && r.body.contains("<outcome>OK</outcome>"))
            .then_some(())
            .ok_or_else(|| format!("a valid receipt answered {}: {}", r.status, r.body)),
        (Expect::LoggedIn, Ok(r)) => {
            let location = header_value(r, "location").unwrap_or_default();
            (r.status == 303 && location.starts_with(RETURN_URL) && location.contains("ticket="))
                .then_some(())
                .ok_or_else(|| format!("a valid login answered {} ({location}): {}", r.status, r.body))
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            v.strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| v.parse().ok())
        })
        .unwrap_or(default)
}

/// The offset at which `snodo up`'s inbound listener (7443) and the four simulators are free.
fn free_offset() -> u16 {
    let start = 3000 + (std::process::id() % 300) as u16 * 41;
    (0..500u16)
        .map(|i| start.wrapping_add(i * 17) % 40_000 + 500)
        .find(|offset| {
            [7443u16, 9441, 9442, 9443, 9444]
                .iter()
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + offset)).is_ok())
        })
        .expect("a free port offset")
}

fn dev_pki_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("snodo")
        .join("devpki")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inbound_bodies_never_crash_never_pass_and_never_cost_a_valid_message() {
    let seed = env_number("SNODO_INBOUND_FUZZ_SEED", DEFAULT_SEED);
    let count = env_number("SNODO_INBOUND_FUZZ_COUNT", DEFAULT_COUNT as u64) as usize;
    let broker = RabbitTestBroker::shared().await;
    let url = broker.url().to_owned();
    let offset = free_offset();
    let inbound: SocketAddr = format!("127.0.0.1:{}", 7443 + offset).parse().unwrap();

    let up = {
        // The offset moves the configured inbound port (7443) too.
        let (url, offset_text, inbound_text) = (url.clone(), offset.to_string(), "127.0.0.1:7443");
        tokio::task::spawn_blocking(move || {
            SnodoUp::start(
                &["--amqp", &url, "--listener-offset", &offset_text],
                &[
                    ("SNODO_LISTENERS__INBOUND", inbound_text),
                    ("SNODO_LOG", "warn,lapin=error"),
                ],
            )
        })
        .await
        .unwrap()
    };

    // Every event Snodo publishes, as a backend would see it.
    let transport: SharedTransport = broker.connect_rabbit(broker.config()).await;
    let names = Names::new("snodo");
    let tap = "fuzz.tap".to_owned();
    transport
        .declare(&Topology::snodo(
            &names,
            &[],
            &[SubscriberQueue {
                queue: tap.clone(),
                patterns: vec!["#".into()],
            }],
            &[],
        ))
        .await
        .expect("the tap queue");

    let pki = DevPki::ensure(&dev_pki_dir(), &DevTenant::default()).expect("the development PKI");
    let client = Arc::new(Client::new(inbound, &pki));
    let idp_base = format!("https://127.0.0.1:{}", 9443 + offset);
    let cases = {
        let client = client.clone();
        tokio::task::spawn_blocking(move || generate(&client, idp_base, seed, count))
            .await
            .unwrap()
    };
    let expected_notifications: BTreeSet<String> = cases
        .iter()
        .filter_map(|c| match &c.expect {
            Expect::AnprAccepted(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let expected_receipts: BTreeSet<String> = cases
        .iter()
        .filter_map(|c| match &c.expect {
            Expect::ReceiptAccepted(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let expected_logins = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::LoggedIn))
        .count();
    let by_kind: BTreeMap<&str, usize> = cases.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(match c.endpoint {
            Endpoint::Pagopa => "pagopa",
            Endpoint::Anpr => "anpr",
            Endpoint::Acs => "acs",
        })
        .or_default() += 1;
        m
    });

    // Four connections at a time, cases in order within each lane.
    let started = Instant::now();
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let statuses = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let cases = Arc::new(cases);
    let lanes: Vec<_> = (0..4)
        .map(|lane| {
            let (client, cases, failures, statuses) =
                (client.clone(), cases.clone(), failures.clone(), statuses.clone());
            tokio::task::spawn_blocking(move || {
                for (i, case) in cases.iter().enumerate().filter(|(i, _)| i % 4 == lane) {
                    let reply = client.send(&case.request);
                    let status = match &reply {
                        Ok(r) => r.status.to_string(),
                        Err(_) => "closed".into(),
                    };
                    *statuses
                        .lock()
                        .entry(format!("{:?} {status}", case.endpoint))
                        .or_default() += 1;
                    if let Err(e) = judge(case, &reply) {
                        let e: String = e.chars().take(600).collect();
                        failures
                            .lock()
                            .push(format!("case {i} ({:?}, {}): {e}", case.endpoint, case.what));
                    }
                }
            })
        })
        .collect();
    for lane in lanes {
        lane.await.unwrap();
    }
    let elapsed = started.elapsed();
    eprintln!(
        "inbound fuzz: seed {seed:#x}, {} cases {by_kind:?} in {elapsed:.1?}; answers: {:?}",
        cases.len(),
        statuses.lock()
    );

    // Every accepted message's event, once; nothing else.
    let mut events = transport
        .consume(&tap, ConsumeOptions { prefetch: 512 })
        .await
        .unwrap();
    let mut seen_ids = BTreeSet::new();
    let (mut notifications, mut receipts, mut logins) = (BTreeSet::new(), BTreeSet::new(), 0usize);
    let mut unexpected = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let complete = notifications == expected_notifications
            && receipts == expected_receipts
            && logins >= expected_logins;
        let wait = if complete {
            Duration::from_millis(1500)
        } else {
            Duration::from_secs(2)
        };
        let Ok(Some(delivery)) = tokio::time::timeout(wait, events.next()).await else {
            if complete || Instant::now() > until {
                break;
            }
            continue;
        };
        let properties = &delivery.message.properties;
        let kind = properties.kind.clone().unwrap_or_default();
        let id = properties.message_id.clone().unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&delivery.message.body).unwrap_or_default();
        delivery.ack().await.unwrap();
        if !seen_ids.insert(id) {
            continue; // at least once: the same event again
        }
        let field = |name: &str| {
            body.get(name)
                .or_else(|| body.get("body").and_then(|b| b.get(name)))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        match kind.as_str() {
            "anpr.notification.received" => {
                let id = field("notification_id");
                if !notifications.insert(id.clone()) || !expected_notifications.contains(&id) {
                    unexpected.push(format!("{kind} {id}"));
                }
            }
            "pagopa.receipt.received" => {
                let id = field("receipt_id");
                if !receipts.insert(id.clone()) || !expected_receipts.contains(&id) {
                    unexpected.push(format!("{kind} {id}"));
                }
            }
            "identity.login.succeeded" => logins += 1,
            // Refused logins of real attempts (the wrapped Responses) say so; so may the demo.
            _ => {}
        }
    }
    let failures = failures.lock().clone();
    let stopped = tokio::task::spawn_blocking(move || up.stop()).await;

    assert!(
        failures.is_empty(),
        "seed {seed:#x}: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(
        notifications, expected_notifications,
        "seed {seed:#x}: every accepted ANPR notification is one event"
    );
    assert_eq!(
        receipts, expected_receipts,
        "seed {seed:#x}: every accepted pagoPA receipt is one event"
    );
    assert_eq!(
        logins, expected_logins,
        "seed {seed:#x}: every login that got its 303, and only those, is one identity.login.succeeded"
    );
    assert!(
        unexpected.is_empty(),
        "seed {seed:#x}: events nobody asked for: {unexpected:?}"
    );
    assert!(!expected_notifications.is_empty() && !expected_receipts.is_empty() && expected_logins > 0);
    // SIGTERM, a clean exit: it never crashed.
    stopped.expect("snodo up stopped cleanly after the campaign");
}

/// The cases, in order: mostly garbage for each endpoint, with valid messages among them.
fn generate(client: &Client, idp_base: String, seed: u64, count: usize) -> Vec<Case> {
    let mut rng = Rng(seed);
    let idp = Idp::ready(client, idp_base);
    let valid_receipt_v2 = receipt("fuzzvalid0000000", true);
    let verify = verify_request("301000000000000144");
    let mut cases = Vec::with_capacity(count);
    let mut next_id: u64 = 7_000_000_000 + (seed % 1_000_000) * 1000;
    let mut logins = 0;
    while cases.len() < count {
        let endpoint = *rng.pick(&[Endpoint::Pagopa, Endpoint::Anpr, Endpoint::Acs]);
        let valid = rng.below(25) == 0;
        next_id += 1;
        let case = match (endpoint, valid) {
            (Endpoint::Anpr, true) => {
                let id = next_id.to_string();
                let mut request = soap_request(
                    Endpoint::Anpr,
                    anpr_push(TENANT, "N010", &id).into_bytes(),
                    &mut rng,
                    false,
                );
                request.content_type = Some("text/xml; charset=utf-8".into());
                request.framing = valid_framing(&mut rng);
                Case {
                    what: format!("valid notification {id} ({:?})", request.framing),
                    endpoint,
                    request,
                    expect: Expect::AnprAccepted(id),
                }
            }
            (Endpoint::Pagopa, true) => {
                let id = format!("fuzz{next_id:012}");
                let mut request = soap_request(
                    Endpoint::Pagopa,
                    receipt(&id, rng.below(2) == 0).into_bytes(),
                    &mut rng,
                    false,
                );
                request.content_type = Some("text/xml; charset=utf-8".into());
                request.client_certificate = true;
                request.framing = valid_framing(&mut rng);
                Case {
                    what: format!("valid receipt {id} ({:?})", request.framing),
                    endpoint,
                    request,
                    expect: Expect::ReceiptAccepted(id),
                }
            }
            (Endpoint::Acs, true) if logins < 40 => {
                logins += 1;
                let login = idp.try_login(client).expect("a login");
                Case {
                    what: "valid login".into(),
                    endpoint,
                    request: Request {
                        path: login.acs_path.clone(),
                        content_type: Some("application/x-www-form-urlencoded".into()),
                        body: acs_form(&encode(&login.saml_response_xml), login.relay_state.as_deref()),
                        framing: valid_framing(&mut rng),
                        client_certificate: false,
                    },
                    expect: Expect::LoggedIn,
                }
            }
            (Endpoint::Anpr, _) => {
                let (what, body) = match rng.below(4) {
                    0 => garbage_anpr_semantics(&mut rng, next_id),
                    1 if rng.below(20) == 0 => (
                        "oversized".into(),
                        format!("{}{}", anpr_push(TENANT, "N010", "1"), " ".repeat(SOAP_CAP)).into_bytes(),
                    ),
                    _ => garbage_xml(&mut rng, &anpr_push(TENANT, "N010", &next_id.to_string())),
                };
                Case {
                    what,
                    endpoint,
                    request: soap_request(endpoint, body, &mut rng, true),
                    expect: Expect::Refused,
                }
            }
            (Endpoint::Pagopa, _) => {
                let base = if rng.below(2) == 0 {
                    &valid_receipt_v2
                } else {
                    &verify
                };
                let (what, body) = match rng.below(5) {
                    0 => (
                        "receipt for another station".into(),
                        valid_receipt_v2.replace(STATION, "99999999999_01").into_bytes(),
                    ),
                    1 if rng.below(20) == 0 => (
                        "oversized".into(),
                        format!("{base}{}", " ".repeat(SOAP_CAP)).into_bytes(),
                    ),
                    _ => garbage_xml(&mut rng, base),
                };
                Case {
                    what,
                    endpoint,
                    request: soap_request(endpoint, body, &mut rng, true),
                    expect: Expect::Refused,
                }
            }
            (Endpoint::Acs, _) => acs_garbage(&mut rng, client, &idp),
        };
        cases.push(case);
    }
    cases
}

/// A hostile post to the ACS: forms that are not forms, base64 that is not, Responses that are no
/// Response, and signed Responses wrapped or tampered with (each for a real pending request).
fn acs_garbage(rng: &mut Rng, client: &Client, idp: &Idp) -> Case {
    let path = format!("/identity/{TENANT}/acs");
    let content_type = Some(
        rng.pick(&[
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded",
            "text/xml",
            "multipart/form-data; boundary=b",
        ])
        .to_string(),
    );
    let fake_response = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" InResponseTo="_nobody"/>"#;
    let (what, body): (String, Vec<u8>) = match rng.below(12) {
        0 => ("random bytes".into(), {
            let n = rng.below(2000);
            rng.bytes(n)
        }),
        1 => ("no SAMLResponse".into(), b"RelayState=abc".to_vec()),
        2 => ("SAMLResponse twice".into(), {
            let mut f = acs_form(&encode(fake_response), None);
            f.extend_from_slice(b"&SAMLResponse=AAAA");
            f
        }),
        3 => (
            "truncated base64".into(),
            acs_form(&encode(fake_response)[..41], None),
        ),
        4 => ("not base64".into(), acs_form("PHNhbWxw$*!", None)),
        // Mostly large, sometimes beyond the body limit.
        5 if rng.below(8) == 0 => ("huge base64".into(), acs_form(&"QUFB".repeat(700_000), None)),
        5 => (
            "large base64 of no XML".into(),
            acs_form(&"QUFB".repeat(1000 + rng.below(30_000)), None),
        ),
        6 => ("bad percent-encoding".into(), b"SAMLResponse=%zz%".to_vec()),
        7 => (
            "unsolicited Response".into(),
            acs_form(&encode(fake_response), None),
        ),
        8 => (
            "entity expansion in the Response".into(),
            acs_form(
                &encode(&billion_laughs(
                    &fake_response.replace("/>", ">ANPR00</samlp:Response>"),
                )),
                None,
            ),
        ),
        9 => (
            "external entity in the Response".into(),
            acs_form(
                &encode(&external_entity(
                    &fake_response.replace("/>", ">ANPR00</samlp:Response>"),
                )),
                None,
            ),
        ),
        _ => {
            // A real signed Response for a real pending request, wrapped or tampered with.
            let login = idp.try_login(client).expect("a login");
            let variant = rng.below(5);
            return Case {
                what: format!("signature wrapping / tampering variant {variant}"),
                endpoint: Endpoint::Acs,
                request: Request {
                    path: login.acs_path.clone(),
                    content_type: Some("application/x-www-form-urlencoded".into()),
                    body: acs_form(
                        &encode(&wrapped(&login.saml_response_xml, variant)),
                        login.relay_state.as_deref(),
                    ),
                    framing: Framing::Length,
                    client_certificate: false,
                },
                expect: Expect::Refused,
            };
        }
    };
    let chunk = 1 + rng.below(500);
    let framing = *rng.pick(&[
        Framing::Length,
        Framing::Length,
        Framing::Chunked(chunk),
        Framing::BadChunkSize,
        Framing::LengthTooLong,
        Framing::LengthAndChunked,
    ]);
    Case {
        what,
        endpoint: Endpoint::Acs,
        request: Request {
            path,
            content_type,
            body,
            framing,
            client_certificate: false,
        },
        expect: Expect::Refused,
    }
}
