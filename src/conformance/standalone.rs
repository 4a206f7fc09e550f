//! The standalone target: the trace against [`StandaloneServer`], called synchronously with a
//! simulated clock that advances 10 ms per step.
//!
//! Why keep it next to the ensemble target: it is exact and instant, so it pins the data tree's
//! and the request pipeline's semantics apart from any network, ZAB or client-library effect.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Action, ConformanceReport, Plan, PlannedStep, Renderer, ReplayOptions, Step};
use crate::proto::{Code, Request, SessionId};
use crate::server::{ServerConfig, ServerOutput, StandaloneServer};

/// The simulated clock at the start of a replay; each step advances it 10 ms.
const START_TIME_MS: i64 = 1_000_000;

struct ClientState {
    session: SessionId,
    password: [u8; 16],
    events: Vec<crate::proto::WatchedEvent>,
    next_cxid: i32,
}

struct Replay {
    server: StandaloneServer,
    clients: BTreeMap<String, ClientState>,
    renderer: Renderer,
    report: ConformanceReport,
}

pub(super) fn replay(plan: &Plan, options: ReplayOptions) -> ConformanceReport {
    let mut config = ServerConfig::new(plan.tick_time_ms);
    config.max_session_timeout_ms = options.max_session_timeout_ms;
    let mut replay = Replay {
        server: StandaloneServer::new(config, START_TIME_MS),
        clients: BTreeMap::new(),
        // A fresh server, in epoch 0 at zxid 0.
        renderer: Renderer::new(0, plan.base_abs_zxid),
        report: ConformanceReport::default(),
    };
    for planned in &plan.steps {
        let (got, got_hdr) = replay.run_step(planned);
        replay.report.score(&planned.step, got, got_hdr);
    }
    replay.report
}

impl Replay {
    fn now_ms(step: &Step) -> i64 {
        START_TIME_MS + 10 * (step.index as i64 + 1)
    }

    /// Runs one step: its rendered outcome and reply header zxid (relative).
    fn run_step(&mut self, planned: &PlannedStep) -> (Value, Option<i64>) {
        let step = &planned.step;
        match &planned.action {
            Action::Connect { requested_timeout_ms } => (self.connect(step, *requested_timeout_ms), None),
            Action::Events => {
                let events = self.clients.get_mut(&step.client).map(|c| std::mem::take(&mut c.events)).unwrap_or_default();
                (Renderer::events(&events), None)
            }
            Action::Request(request) => self.request(step, request),
        }
    }

    fn connect(&mut self, step: &Step, requested_timeout_ms: i32) -> Value {
        let now = Self::now_ms(step);
        if let Err(refusal) = self.server.on_connect(now, requested_timeout_ms, None, 0) {
            return super::harness_failure(format!("the server refused the connect: {refusal:?}"));
        }
        let mut got = super::harness_failure("the server did not answer the connect");
        for output in self.server.drain_outputs() {
            if let ServerOutput::Connected { session, timeout_ms, password } = output {
                self.clients.insert(step.client.clone(), ClientState { session, password, events: Vec::new(), next_cxid: 1 });
                got = self.renderer.connected(&step.client, session, timeout_ms);
            }
        }
        got
    }

    /// Sends one request and returns (outcome, reply header zxid relative to the base).
    fn request(&mut self, step: &Step, request: &Request) -> (Value, Option<i64>) {
        let now = Self::now_ms(step);
        let Some(client) = self.clients.get_mut(&step.client) else {
            return (super::harness_failure(format!("client {} has no session", step.client)), None);
        };
        let (session, cxid) = (client.session, client.next_cxid);
        client.next_cxid += 1;
        self.server.on_request(now, session, cxid, request.clone());
        let mut outcome = None;
        let mut hdr = None;
        let mut dropped = false;
        for output in self.server.drain_outputs() {
            match output {
                ServerOutput::Event { session: to, event } => {
                    if let Some(client) = self.renderer.names.get(&to).and_then(|name| self.clients.get_mut(name)) {
                        client.events.push(event);
                    }
                }
                ServerOutput::Reply { session: to, zxid, result, .. } if to == session => {
                    self.renderer.observe_reply(zxid, &result);
                    hdr = Some(self.renderer.rel(zxid));
                    outcome = Some(self.renderer.outcome(step, request, result));
                }
                ServerOutput::CloseConnection { session: to, .. } if to == session => dropped = true,
                _ => {}
            }
        }
        if dropped && outcome.is_none() {
            // The client library sees ConnectionLoss, reconnects, and keeps its session.
            let (id, password) = (self.clients[&step.client].session, self.clients[&step.client].password);
            let last = self.server.last_processed_zxid();
            let _ = self.server.on_connect(now, 0, Some((id, password)), last);
            self.server.drain_outputs();
            let error = serde_json::json!({ "error": Renderer::error(Code::ConnectionLoss) });
            return (error, Some(self.renderer.rel(last)));
        }
        let Some(outcome) = outcome else {
            return (super::harness_failure("the server sent no reply"), None);
        };
        if matches!(request, Request::CloseSession) {
            return (outcome, None);
        }
        (outcome, hdr)
    }
}
