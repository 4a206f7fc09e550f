//! The history recorder: one JSON line per operation, event, session change and fault, in the
//! format `crate::history` reads (`docs/history-format.md`).
//!
//! Why one shared recorder: every client of a run appends to it in simulated-time order, so
//! the history is the same bytes for the same seed.

use crate::history::record::{EventRecord, FinalRecord, MetaRecord, NemesisRecord, OpRecord, Record, SessionRecord};

#[derive(Default)]
pub struct Recorder {
    pub meta: MetaRecord,
    pub records: Vec<Record>,
    pub final_record: Option<FinalRecord>,
    next_process: i64,
    /// The history reached `limits::HISTORY_RECORDS_MAX`: later records were dropped and the
    /// run ends as a liveness failure naming it.
    pub overflowed: bool,
}

impl Recorder {
    fn push(&mut self, record: Record) {
        if self.records.len() >= crate::sim::limits::HISTORY_RECORDS_MAX {
            self.overflowed = true;
            return;
        }
        self.records.push(record);
    }

    pub fn new_process(&mut self) -> i64 {
        self.next_process += 1;
        self.next_process
    }

    pub fn op(&mut self, op: OpRecord) {
        self.push(Record::Op(op));
    }

    pub fn session(&mut self, s: SessionRecord) {
        self.push(Record::Session(s));
    }

    pub fn event(&mut self, e: EventRecord) {
        self.records.push(Record::Event(e));
    }

    pub fn nemesis(&mut self, t_ns: u64, action: &str, server: Option<u64>, detail: &str) {
        let mut extra = std::collections::BTreeMap::new();
        if !detail.is_empty() {
            extra.insert("detail".to_string(), serde_json::Value::String(detail.to_string()));
        }
        self.push(Record::Nemesis(NemesisRecord { t_ns, action: action.into(), server: server.map(|s| format!("s{s}")), extra }));
    }

    /// The history as JSONL text (written straight into one buffer: a mixed history is
    /// megabytes).
    pub fn to_jsonl(&self) -> String {
        crate::sim::profile::in_recording(|| self.write_jsonl())
    }

    fn write_jsonl(&self) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(256 * (self.records.len() + 2));
        let mut line = |record: &Record| {
            serde_json::to_writer(&mut out, record).expect("history records always serialize");
            out.push(b'\n');
        };
        line(&Record::Meta(self.meta.clone()));
        for r in &self.records {
            line(r);
        }
        if let Some(f) = &self.final_record {
            line(&Record::Final(f.clone()));
        }
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// Every record in file order (meta, the records, final), leaving the recorder empty: what
    /// the checks read when the history needs no JSON round trip.
    pub fn take_records(&mut self) -> impl Iterator<Item = Record> {
        let meta = Record::Meta(std::mem::take(&mut self.meta));
        let final_record = self.final_record.take().map(Record::Final);
        std::iter::once(meta).chain(std::mem::take(&mut self.records)).chain(final_record)
    }

    pub fn op_count(&self) -> usize {
        self.records.iter().filter(|r| matches!(r, Record::Op(_))).count()
    }
}
