//! A small big-endian binary encoding of [`TxnEntry`] for the transaction log.
//!
//! Why our own: the log needs a compact, stable, checksummed-by-the-caller format whose decoder
//! rejects every malformed input with an error instead of panicking or allocating wildly. The
//! transaction type is ZooKeeper's opcode (`ZooDefs.OpCode`: create 1, create2 15, delete 2,
//! setData 5, setACL 7, check 13, multi 14, createContainer 19, deleteContainer 20,
//! createTTL 21, createSession -10, closeSession -11, error -1), so a hex dump reads like jute.

use crate::proto::{Acl, Code, Id};
use crate::tree::{Txn, TxnEntry, TxnHeader};

/// How deep a `Multi` may nest inside another when decoding (ZooKeeper allows no nesting; we
/// accept a little and refuse more so that hostile bytes cannot exhaust the stack).
const MULTI_DEPTH_MAX: usize = 4;

mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

pub fn encode_entry(entry: &TxnEntry, out: &mut Vec<u8>) {
    let h = &entry.header;
    out.extend_from_slice(&h.client_id.to_be_bytes());
    out.extend_from_slice(&h.cxid.to_be_bytes());
    out.extend_from_slice(&h.zxid.to_be_bytes());
    out.extend_from_slice(&h.time_ms.to_be_bytes());
    encode_txn(&entry.txn, out);
}

pub fn decode_entry(bytes: &[u8]) -> Result<TxnEntry, String> {
    let mut r = Reader { bytes, pos: 0 };
    let header = TxnHeader { client_id: r.i64()?, cxid: r.i32()?, zxid: r.i64()?, time_ms: r.i64()? };
    let txn = decode_txn(&mut r, 0)?;
    if r.pos != bytes.len() {
        return Err(format!("{} trailing bytes after the transaction", bytes.len() - r.pos));
    }
    Ok(TxnEntry { header, txn })
}

fn encode_txn(txn: &Txn, out: &mut Vec<u8>) {
    let mut w = Writer { out };
    match txn {
        Txn::Create { path, data, acl, ephemeral, parent_cversion, with_stat } => {
            w.i32(if *with_stat { op::CREATE2 } else { op::CREATE });
            w.str(path);
            w.blob(data);
            w.acl(acl);
            w.bool(*ephemeral);
            w.i32(*parent_cversion);
        }
        Txn::CreateContainer { path, data, acl, parent_cversion } => {
            w.i32(op::CREATE_CONTAINER);
            w.str(path);
            w.blob(data);
            w.acl(acl);
            w.i32(*parent_cversion);
        }
        Txn::CreateTtl { path, data, acl, parent_cversion, ttl_ms } => {
            w.i32(op::CREATE_TTL);
            w.str(path);
            w.blob(data);
            w.acl(acl);
            w.i32(*parent_cversion);
            w.i64(*ttl_ms);
        }
        Txn::Delete { path } => {
            w.i32(op::DELETE);
            w.str(path);
        }
        Txn::DeleteContainer { path } => {
            w.i32(op::DELETE_CONTAINER);
            w.str(path);
        }
        Txn::SetData { path, data, version } => {
            w.i32(op::SET_DATA);
            w.str(path);
            w.blob(data);
            w.i32(*version);
        }
        Txn::SetAcl { path, acl, version } => {
            w.i32(op::SET_ACL);
            w.str(path);
            w.acl(acl);
            w.i32(*version);
        }
        Txn::Check { path, version } => {
            w.i32(op::CHECK);
            w.str(path);
            w.i32(*version);
        }
        Txn::CreateSession { timeout_ms } => {
            w.i32(op::CREATE_SESSION);
            w.i32(*timeout_ms);
        }
        Txn::CloseSession { paths_to_delete } => {
            w.i32(op::CLOSE_SESSION);
            w.u32(paths_to_delete.len() as u32);
            for path in paths_to_delete {
                w.str(path);
            }
        }
        Txn::Error { err } => {
            w.i32(op::ERROR);
            w.i32(err.int_value());
        }
        Txn::Multi { txns } => {
            w.i32(op::MULTI);
            w.u32(txns.len() as u32);
            for inner in txns {
                encode_txn(inner, w.out);
            }
        }
    }
}

fn decode_txn(r: &mut Reader, depth: usize) -> Result<Txn, String> {
    let kind = r.i32()?;
    let txn = match kind {
        op::CREATE | op::CREATE2 => Txn::Create {
            path: r.str()?,
            data: r.blob()?,
            acl: r.acl()?,
            ephemeral: r.bool()?,
            parent_cversion: r.i32()?,
            with_stat: kind == op::CREATE2,
        },
        op::CREATE_CONTAINER => {
            Txn::CreateContainer { path: r.str()?, data: r.blob()?, acl: r.acl()?, parent_cversion: r.i32()? }
        }
        op::CREATE_TTL => Txn::CreateTtl {
            path: r.str()?,
            data: r.blob()?,
            acl: r.acl()?,
            parent_cversion: r.i32()?,
            ttl_ms: r.i64()?,
        },
        op::DELETE => Txn::Delete { path: r.str()? },
        op::DELETE_CONTAINER => Txn::DeleteContainer { path: r.str()? },
        op::SET_DATA => Txn::SetData { path: r.str()?, data: r.blob()?, version: r.i32()? },
        op::SET_ACL => Txn::SetAcl { path: r.str()?, acl: r.acl()?, version: r.i32()? },
        op::CHECK => Txn::Check { path: r.str()?, version: r.i32()? },
        op::CREATE_SESSION => Txn::CreateSession { timeout_ms: r.i32()? },
        op::CLOSE_SESSION => {
            let count = r.count(4)?;
            let mut paths_to_delete = Vec::with_capacity(count);
            for _ in 0..count {
                paths_to_delete.push(r.str()?);
            }
            Txn::CloseSession { paths_to_delete }
        }
        op::ERROR => {
            let value = r.i32()?;
            Txn::Error { err: Code::from_int(value).ok_or_else(|| format!("unknown error code {value}"))? }
        }
        op::MULTI => {
            if depth >= MULTI_DEPTH_MAX {
                return Err(format!("multi nested deeper than {MULTI_DEPTH_MAX}"));
            }
            let count = r.count(4)?;
            let mut txns = Vec::with_capacity(count);
            for _ in 0..count {
                txns.push(decode_txn(r, depth + 1)?);
            }
            Txn::Multi { txns }
        }
        other => return Err(format!("unknown transaction type {other}")),
    };
    Ok(txn)
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.out.push(u8::from(v));
    }
    fn blob(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.out.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.blob(s.as_bytes());
    }
    fn acl(&mut self, acl: &[Acl]) {
        self.u32(acl.len() as u32);
        for a in acl {
            self.u32(a.perms);
            self.str(&a.id.scheme);
            self.str(&a.id.id);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("transaction truncated at byte {} (needed {n} more)", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn bool(&mut self) -> Result<bool, String> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("bad boolean byte {other}")),
        }
    }
    /// An element count, refused if the remaining bytes cannot hold that many elements of at
    /// least `min_element_bytes` each (so a corrupt count never triggers a huge allocation).
    fn count(&mut self, min_element_bytes: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        let remaining = self.bytes.len() - self.pos;
        if n.saturating_mul(min_element_bytes) > remaining {
            return Err(format!("count {n} exceeds the {remaining} bytes left"));
        }
        Ok(n)
    }
    fn blob(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> Result<String, String> {
        String::from_utf8(self.blob()?).map_err(|_| "non-UTF-8 string".to_string())
    }
    fn acl(&mut self) -> Result<Vec<Acl>, String> {
        let count = self.count(12)?;
        let mut acl = Vec::with_capacity(count);
        for _ in 0..count {
            let perms = self.u32()?;
            let scheme = self.str()?;
            let id = self.str()?;
            acl.push(Acl { perms, id: Id { scheme, id } });
        }
        Ok(acl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_txns() -> Vec<Txn> {
        let acl = vec![
            Acl { perms: 31, id: Id { scheme: "world".into(), id: "anyone".into() } },
            Acl { perms: 1, id: Id { scheme: "digest".into(), id: "bob:xyz=".into() } },
        ];
        vec![
            Txn::Create { path: "/a".into(), data: b"x".to_vec(), acl: acl.clone(), ephemeral: true, parent_cversion: 3, with_stat: false },
            Txn::Create { path: "/b".into(), data: vec![], acl: vec![], ephemeral: false, parent_cversion: -1, with_stat: true },
            Txn::CreateContainer { path: "/c".into(), data: vec![0; 5], acl: acl.clone(), parent_cversion: 7 },
            Txn::CreateTtl { path: "/t".into(), data: vec![1], acl: acl.clone(), parent_cversion: 1, ttl_ms: 99_000 },
            Txn::Delete { path: "/a".into() },
            Txn::DeleteContainer { path: "/c".into() },
            Txn::SetData { path: "/b".into(), data: vec![9; 300], version: 4 },
            Txn::SetAcl { path: "/b".into(), acl, version: 2 },
            Txn::Check { path: "/b".into(), version: -1 },
            Txn::CreateSession { timeout_ms: 30_000 },
            Txn::CloseSession { paths_to_delete: vec!["/e1".into(), "/e2".into()] },
            Txn::Error { err: Code::NoNode },
            Txn::Multi {
                txns: vec![
                    Txn::Check { path: "/b".into(), version: 1 },
                    Txn::Error { err: Code::Ok },
                    Txn::Error { err: Code::BadVersion },
                ],
            },
            Txn::Multi { txns: vec![] },
        ]
    }

    #[test]
    fn every_variant_round_trips() {
        for (i, txn) in sample_txns().into_iter().enumerate() {
            let entry = TxnEntry { header: TxnHeader { client_id: -5, cxid: i as i32, zxid: 0x1_0000_0000 + i as i64, time_ms: 77 }, txn };
            let mut bytes = Vec::new();
            encode_entry(&entry, &mut bytes);
            assert_eq!(decode_entry(&bytes).unwrap(), entry);
            // Every strict prefix is an error, never a panic.
            for cut in 0..bytes.len() {
                assert!(decode_entry(&bytes[..cut]).is_err(), "prefix {cut} of {:?}", entry.txn);
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut bytes = vec![0u8; 28];
        bytes.extend_from_slice(&op::MULTI.to_be_bytes());
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_entry(&bytes).unwrap_err().contains("count"));
        let mut nested = vec![0u8; 28];
        for _ in 0..100 {
            nested.extend_from_slice(&op::MULTI.to_be_bytes());
            nested.extend_from_slice(&1u32.to_be_bytes());
        }
        assert!(decode_entry(&nested).unwrap_err().contains("nested"));
        let mut unknown = vec![0u8; 28];
        unknown.extend_from_slice(&(op::ERROR).to_be_bytes());
        unknown.extend_from_slice(&12345i32.to_be_bytes());
        assert!(decode_entry(&unknown).unwrap_err().contains("unknown error code"));
    }
}
