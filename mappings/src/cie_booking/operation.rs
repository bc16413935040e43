//! The eight operations of the contract and the entry points over them: a command's JSON parsed and
//! turned into a request payload (the connector), a request payload read into a typed [`Request`]
//! and a typed [`Reply`] written (the simulator), and a response payload read back into the
//! completed event or a [`Rejection`] (the connector). Dispatch is on the payload's element name.

use snodo_security::xml::{Document, NodeId};

use super::appointment::{
    self, AppointmentCompleted, AppointmentKey, AppointmentStatus, AppointmentsFound, BookAppointment,
    BookingRequest, CancelAppointment, ConfirmAppointment, RescheduleAppointment, StatusKey,
};
use super::changes::{ChangesPage, ChangesQuery};
use super::contract::CancelledBy;
use super::error::mask_quoted;
use super::offices::{
    AvailabilityFound, AvailabilityQuery, ListOffices, OfficesListed, OfficesQuery, SearchAvailability,
};
use super::xml::{El, XmlOut, payload_root};
use super::{BookingError, NAMESPACE, Rejection, RequestHeader, ResponseHeader};
use crate::soap::QName;

/// One operation of `cieBooking.wsdl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    ListOffices,
    SearchAvailability,
    Book,
    Confirm,
    Cancel,
    Reschedule,
    Status,
    Changes,
}

struct Names {
    wsdl: &'static str,
    request: &'static str,
    response: &'static str,
    ok: &'static str,
    command: Option<&'static str>,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::ListOffices,
        Operation::SearchAvailability,
        Operation::Book,
        Operation::Confirm,
        Operation::Cancel,
        Operation::Reschedule,
        Operation::Status,
        Operation::Changes,
    ];

    fn names(self) -> Names {
        let (wsdl, request, response, ok, command) = match self {
            Operation::ListOffices => (
                "ElencoSedi",
                "ElencoSediRichiesta",
                "ElencoSediRisposta",
                "ElencoSediOK",
                Some("cie_booking.offices.list"),
            ),
            Operation::SearchAvailability => (
                "CercaDisponibilita",
                "CercaDisponibilitaRichiesta",
                "CercaDisponibilitaRisposta",
                "CercaDisponibilitaOK",
                Some("cie_booking.availability.search"),
            ),
            Operation::Book => (
                "Prenota",
                "PrenotaRichiesta",
                "PrenotaRisposta",
                "PrenotaOK",
                Some("cie_booking.appointment.book"),
            ),
            Operation::Confirm => (
                "ConfermaPrenotazione",
                "ConfermaPrenotazioneRichiesta",
                "ConfermaPrenotazioneRisposta",
                "ConfermaPrenotazioneOK",
                Some("cie_booking.appointment.confirm"),
            ),
            Operation::Cancel => (
                "AnnullaPrenotazione",
                "AnnullaPrenotazioneRichiesta",
                "AnnullaPrenotazioneRisposta",
                "AnnullaPrenotazioneOK",
                Some("cie_booking.appointment.cancel"),
            ),
            Operation::Reschedule => (
                "SpostaPrenotazione",
                "SpostaPrenotazioneRichiesta",
                "SpostaPrenotazioneRisposta",
                "SpostaPrenotazioneOK",
                Some("cie_booking.appointment.reschedule"),
            ),
            Operation::Status => (
                "StatoPrenotazione",
                "StatoPrenotazioneRichiesta",
                "StatoPrenotazioneRisposta",
                "StatoPrenotazioneOK",
                Some("cie_booking.appointment.status"),
            ),
            Operation::Changes => (
                "ElencoVariazioni",
                "ElencoVariazioniRichiesta",
                "ElencoVariazioniRisposta",
                "ElencoVariazioniOK",
                None,
            ),
        };
        Names {
            wsdl,
            request,
            response,
            ok,
            command,
        }
    }

    /// The WSDL operation name (what the simulator's fault rules and recordings name).
    pub fn wsdl_name(self) -> &'static str {
        self.names().wsdl
    }

    /// The request payload's expanded name: the dispatch key.
    pub fn request_element(self) -> QName {
        QName::new(NAMESPACE, self.names().request)
    }

    pub fn response_element(self) -> QName {
        QName::new(NAMESPACE, self.names().response)
    }

    /// The command type; `None` for the change feed, which the scheduler polls.
    pub fn command_type(self) -> Option<&'static str> {
        self.names().command
    }

    /// The operation of command type `command`.
    pub fn of_command(command: &str) -> Option<Operation> {
        Operation::ALL
            .into_iter()
            .find(|op| op.command_type() == Some(command))
    }
}

/// A `cie_booking.*` command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ListOffices(ListOffices),
    SearchAvailability(SearchAvailability),
    Book(BookAppointment),
    Confirm(ConfirmAppointment),
    Cancel(CancelAppointment),
    Reschedule(RescheduleAppointment),
    Status(AppointmentStatus),
}

impl Command {
    /// Parses the body of a command of type `command_type`. Unknown fields and other schema
    /// versions are refused; the error never quotes a value.
    pub fn from_json(command_type: &str, body: &[u8]) -> Result<Command, BookingError> {
        fn parse<T: serde::de::DeserializeOwned>(command: &str, body: &[u8]) -> Result<T, BookingError> {
            serde_json::from_slice(body).map_err(|e| BookingError::Json {
                command: command.to_owned(),
                reason: mask_quoted(&e.to_string()),
            })
        }
        let op = Operation::of_command(command_type).ok_or_else(|| BookingError::UnknownCommand {
            command: command_type.to_owned(),
        })?;
        Ok(match op {
            Operation::ListOffices => Command::ListOffices(parse(command_type, body)?),
            Operation::SearchAvailability => Command::SearchAvailability(parse(command_type, body)?),
            Operation::Book => Command::Book(parse(command_type, body)?),
            Operation::Confirm => Command::Confirm(parse(command_type, body)?),
            Operation::Cancel => Command::Cancel(parse(command_type, body)?),
            Operation::Reschedule => Command::Reschedule(parse(command_type, body)?),
            Operation::Status => Command::Status(parse(command_type, body)?),
            // The change feed has no command type, so `of_command` never yields it.
            Operation::Changes => {
                return Err(BookingError::UnknownCommand {
                    command: command_type.to_owned(),
                });
            }
        })
    }

    pub fn operation(&self) -> Operation {
        match self {
            Command::ListOffices(_) => Operation::ListOffices,
            Command::SearchAvailability(_) => Operation::SearchAvailability,
            Command::Book(_) => Operation::Book,
            Command::Confirm(_) => Operation::Confirm,
            Command::Cancel(_) => Operation::Cancel,
            Command::Reschedule(_) => Operation::Reschedule,
            Command::Status(_) => Operation::Status,
        }
    }

    /// The request this command asks for on behalf of tenant `tenant` (the defaults filled in),
    /// checked against every field rule; errors name the command's JSON field.
    pub fn to_request(&self, tenant: &str) -> Result<Request, BookingError> {
        let request = match self {
            Command::ListOffices(c) => Request::ListOffices(c.to_query(tenant)),
            Command::SearchAvailability(c) => Request::SearchAvailability(c.to_query(tenant)),
            Command::Book(c) => Request::Book(c.to_request(tenant)),
            Command::Confirm(c) => Request::Confirm(c.key()),
            Command::Cancel(c) => Request::Cancel {
                key: c.key(),
                cancelled_by: c.cancelled_by,
            },
            Command::Reschedule(c) => Request::Reschedule {
                key: c.key(),
                new_slot_id: c.new_slot_id.clone(),
            },
            Command::Status(c) => Request::Status(c.by.clone()),
        };
        request.check()?;
        Ok(request)
    }
}

/// A request payload's body, typed (what the simulator acts on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    ListOffices(OfficesQuery),
    SearchAvailability(AvailabilityQuery),
    Book(BookingRequest),
    Confirm(AppointmentKey),
    Cancel {
        key: AppointmentKey,
        cancelled_by: CancelledBy,
    },
    Reschedule {
        key: AppointmentKey,
        new_slot_id: String,
    },
    Status(StatusKey),
    Changes(ChangesQuery),
}

impl Request {
    pub fn operation(&self) -> Operation {
        match self {
            Request::ListOffices(_) => Operation::ListOffices,
            Request::SearchAvailability(_) => Operation::SearchAvailability,
            Request::Book(_) => Operation::Book,
            Request::Confirm(_) => Operation::Confirm,
            Request::Cancel { .. } => Operation::Cancel,
            Request::Reschedule { .. } => Operation::Reschedule,
            Request::Status(_) => Operation::Status,
            Request::Changes(_) => Operation::Changes,
        }
    }

    /// Every field rule; the error names the field as the command's JSON does.
    pub fn check(&self) -> Result<(), BookingError> {
        let mut sink = payload_root(self.operation().names().request);
        self.write_body(&mut sink)
    }

    fn write_body(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        match self {
            Request::ListOffices(q) => q.write(out),
            Request::SearchAvailability(q) => q.write(out),
            Request::Book(b) => b.write(out),
            Request::Confirm(key) => key.write(out),
            Request::Cancel { key, cancelled_by } => appointment::write_cancel(out, key, *cancelled_by),
            Request::Reschedule { key, new_slot_id } => appointment::write_reschedule(out, key, new_slot_id),
            Request::Status(by) => by.write(out),
            Request::Changes(q) => q.write(out),
        }
    }
}

/// The request payload for `command`: valid against `cieBooking.xsd` by construction, or the
/// field rule it breaks. The tenant is `header.sender`.
pub fn write_command(command: &Command, header: &RequestHeader) -> Result<String, BookingError> {
    write_request(header, &command.to_request(&header.sender)?)
}

/// The request payload for `request`.
pub fn write_request(header: &RequestHeader, request: &Request) -> Result<String, BookingError> {
    let mut out = payload_root(request.operation().names().request);
    header.write(&mut out)?;
    request.write_body(&mut out)?;
    Ok(out.finish())
}

/// Reads the request payload `node` of `doc` (a SOAP Body's payload): its header and typed body.
pub fn read_request(doc: &Document, node: NodeId) -> Result<(RequestHeader, Request), BookingError> {
    let payload = El::new(doc, node);
    let name = payload.qname();
    let op = Operation::ALL
        .into_iter()
        .find(|op| op.request_element() == name)
        .ok_or_else(|| BookingError::UnexpectedElement {
            expected: format!("a request of {{{NAMESPACE}}}"),
            found: name.to_string(),
        })?;
    let header = RequestHeader::read(&payload)?;
    let request = match op {
        Operation::ListOffices => Request::ListOffices(OfficesQuery::read(&payload)?),
        Operation::SearchAvailability => Request::SearchAvailability(AvailabilityQuery::read(&payload)?),
        Operation::Book => Request::Book(BookingRequest::read(&payload)?),
        Operation::Confirm => Request::Confirm(AppointmentKey::read(&payload)?),
        Operation::Cancel => {
            let (key, cancelled_by) = appointment::read_cancel(&payload)?;
            Request::Cancel { key, cancelled_by }
        }
        Operation::Reschedule => {
            let (key, new_slot_id) = appointment::read_reschedule(&payload)?;
            Request::Reschedule { key, new_slot_id }
        }
        Operation::Status => Request::Status(StatusKey::read(&payload)?),
        Operation::Changes => Request::Changes(ChangesQuery::read(&payload)?),
    };
    Ok((header, request))
}

/// A successful answer, typed. Except for the change feed, each holds its completed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    ListOffices(OfficesListed),
    SearchAvailability(AvailabilityFound),
    Book(AppointmentCompleted),
    Confirm(AppointmentCompleted),
    Cancel(AppointmentCompleted),
    Reschedule(AppointmentCompleted),
    Status(AppointmentsFound),
    Changes(ChangesPage),
}

impl Response {
    pub fn operation(&self) -> Operation {
        match self {
            Response::ListOffices(_) => Operation::ListOffices,
            Response::SearchAvailability(_) => Operation::SearchAvailability,
            Response::Book(_) => Operation::Book,
            Response::Confirm(_) => Operation::Confirm,
            Response::Cancel(_) => Operation::Cancel,
            Response::Reschedule(_) => Operation::Reschedule,
            Response::Status(_) => Operation::Status,
            Response::Changes(_) => Operation::Changes,
        }
    }

    /// The completed event: its type (`<command>.completed`) and JSON body. `None` for a page of
    /// the change feed, whose changes are events of their own.
    pub fn completed_event(&self) -> Option<(String, serde_json::Value)> {
        let body = match self {
            Response::ListOffices(e) => serde_json::to_value(e),
            Response::SearchAvailability(e) => serde_json::to_value(e),
            Response::Book(e) | Response::Confirm(e) | Response::Cancel(e) | Response::Reschedule(e) => {
                serde_json::to_value(e)
            }
            Response::Status(e) => serde_json::to_value(e),
            Response::Changes(_) => return None,
        }
        .expect("contract types serialize to JSON");
        let command = self.operation().command_type()?;
        Some((format!("{command}.completed"), body))
    }

    fn write_body(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        match self {
            Response::ListOffices(e) => e.write(out),
            Response::SearchAvailability(e) => e.write(out),
            Response::Book(e) | Response::Confirm(e) | Response::Cancel(e) | Response::Reschedule(e) => {
                e.write(out)
            }
            Response::Status(e) => e.write(out),
            Response::Changes(page) => page.write(out),
        }
    }
}

/// A response payload: its header and either the answer or the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub header: ResponseHeader,
    pub answer: Result<Response, Rejection>,
}

/// The response payload of `operation` for `reply` (the simulator's answer).
pub fn write_reply(operation: Operation, reply: &Reply) -> Result<String, BookingError> {
    let names = operation.names();
    let mut out = payload_root(names.response);
    match &reply.answer {
        Ok(response) => {
            if response.operation() != operation {
                return Err(BookingError::OperationMismatch {
                    operation: operation.wsdl_name(),
                    response: response.operation().wsdl_name(),
                });
            }
            out.open(names.ok);
            reply.header.write(&mut out, true)?;
            response.write_body(&mut out)?;
            out.close(names.ok);
        }
        Err(rejection) => rejection.write(&mut out, &reply.header)?,
    }
    Ok(out.finish())
}

/// Reads the response payload `node` of `doc` to a request of `operation` (the connector).
pub fn read_reply(doc: &Document, node: NodeId, operation: Operation) -> Result<Reply, BookingError> {
    let payload = El::new(doc, node);
    let expected = operation.response_element();
    if payload.qname() != expected {
        return Err(BookingError::UnexpectedElement {
            expected: expected.to_string(),
            found: payload.qname().to_string(),
        });
    }
    let names = operation.names();
    if let Some(ko) = payload.child("rispostaKO") {
        let (header, rejection) = Rejection::read(&ko)?;
        return Ok(Reply {
            header,
            answer: Err(rejection),
        });
    }
    let ok = payload.req(names.ok)?;
    let header = ResponseHeader::read(&ok, true)?;
    let response = match operation {
        Operation::ListOffices => Response::ListOffices(OfficesListed::read(&ok)?),
        Operation::SearchAvailability => Response::SearchAvailability(AvailabilityFound::read(&ok)?),
        Operation::Book => Response::Book(AppointmentCompleted::read(&ok)?),
        Operation::Confirm => Response::Confirm(AppointmentCompleted::read(&ok)?),
        Operation::Cancel => Response::Cancel(AppointmentCompleted::read(&ok)?),
        Operation::Reschedule => Response::Reschedule(AppointmentCompleted::read(&ok)?),
        Operation::Status => Response::Status(AppointmentsFound::read(&ok)?),
        Operation::Changes => Response::Changes(ChangesPage::read(&ok)?),
    };
    Ok(Reply {
        header,
        answer: Ok(response),
    })
}
