//! ACL enforcement: the world, auth, digest and ip schemes, `checkACL` and `fixupACL`.
//!
//! Why: NoAuth and InvalidACL are part of the request semantics, checked at a precise point
//! of each request's validation (see `prep`), and a session's identities come from `addAuth`.
//! ACLs are per node and not inherited; CREATE and DELETE are checked on the parent.

use crate::proto::{perms, Acl, Code, Id};

/// `DigestAuthenticationProvider.generateDigest`: `user:base64(sha1("user:password"))`.
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password.split(':').next().unwrap_or("");
    let digest = sha1_smol::Sha1::from(id_password.as_bytes()).digest().bytes();
    format!("{user}:{}", base64_encode(&digest))
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The identity `addAuth(scheme, auth)` gives a session, or AuthFailed.
pub fn authenticate(scheme: &str, auth: &[u8], client_ip: &str) -> Result<Id, Code> {
    match scheme {
        "digest" => {
            let text = std::str::from_utf8(auth).map_err(|_| Code::AuthFailed)?;
            if !text.contains(':') {
                return Err(Code::AuthFailed);
            }
            Ok(Id::new("digest", &generate_digest(text)))
        }
        "ip" => Ok(Id::new("ip", client_ip)),
        _ => Err(Code::AuthFailed),
    }
}

/// Whether an ACL id is well formed for its scheme (`AuthenticationProvider.isValid`).
fn is_valid_id(id: &Id) -> bool {
    match id.scheme.as_str() {
        "world" => id.id == "anyone",
        "digest" => id.id.split(':').count() == 2,
        "ip" => parse_ip_mask(&id.id).is_some(),
        "super" => true,
        _ => false,
    }
}

fn parse_ipv4(text: &str) -> Option<u32> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut addr = 0u32;
    for p in parts {
        addr = addr << 8 | p.parse::<u8>().ok()? as u32;
    }
    Some(addr)
}

fn parse_ip_mask(text: &str) -> Option<(u32, u32)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()?),
        None => (text, 32),
    };
    if bits > 32 {
        return None;
    }
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    Some((parse_ipv4(addr)?, mask))
}

/// `AuthenticationProvider.matches`: does the authenticated `have` satisfy the ACL id `want`?
fn id_matches(have: &Id, want: &Id) -> bool {
    if have.scheme != want.scheme {
        return false;
    }
    match want.scheme.as_str() {
        "ip" => match (parse_ipv4(&have.id), parse_ip_mask(&want.id)) {
            (Some(addr), Some((net, mask))) => addr & mask == net & mask,
            _ => false,
        },
        _ => have.id == want.id,
    }
}

/// `ZooKeeperServer.checkACL`: Ok if some entry grants any bit of `perm` to one of `auth_ids`.
pub fn check_acl(acl: &[Acl], perm: u32, auth_ids: &[Id]) -> Result<(), Code> {
    if acl.is_empty() || auth_ids.iter().any(|id| id.scheme == "super") {
        return Ok(());
    }
    for entry in acl {
        if entry.perms & perm == 0 {
            continue;
        }
        if entry.id.scheme == "world" && entry.id.id == "anyone" {
            return Ok(());
        }
        if auth_ids.iter().any(|have| id_matches(have, &entry.id)) {
            return Ok(());
        }
    }
    Err(Code::NoAuth)
}

/// `PrepRequestProcessor.fixupACL`: drop duplicates, expand `auth` to the session's
/// identities, and reject empty or malformed lists with InvalidACL.
pub fn fixup_acl(acl: &[Acl], auth_ids: &[Id]) -> Result<Vec<Acl>, Code> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for entry in acl {
        if !unique.contains(&entry) {
            unique.push(entry);
        }
    }
    if unique.is_empty() {
        return Err(Code::InvalidAcl);
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for entry in unique {
        if entry.id.scheme == "auth" {
            let mut expanded = false;
            for have in auth_ids.iter().filter(|id| id.scheme != "world") {
                fixed.push(Acl { perms: entry.perms, id: have.clone() });
                expanded = true;
            }
            if !expanded {
                return Err(Code::InvalidAcl);
            }
        } else if is_valid_id(&entry.id) {
            fixed.push(entry.clone());
        } else {
            return Err(Code::InvalidAcl);
        }
    }
    Ok(fixed)
}

/// What `getACL` shows a session that lacks ADMIN: digest hashes are masked.
pub fn redact_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl { perms: a.perms, id: Id::new("digest", &format!("{user}:x")) }
            } else {
                a.clone()
            }
        })
        .collect()
}

/// The permission bits a request needs on the node it names (or on its parent).
pub const READ_OR_ADMIN: u32 = perms::READ | perms::ADMIN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeeper_documentation() {
        // From the ZooKeeper Programmer's Guide / DigestAuthenticationProvider tests.
        assert_eq!(generate_digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"a"), "YQ==");
    }

    #[test]
    fn world_anyone_and_digest_and_ip_checks() {
        let bob = Id::new("digest", &generate_digest("bob:secret"));
        let acl = vec![Acl { perms: perms::READ | perms::WRITE, id: bob.clone() }];
        assert_eq!(check_acl(&acl, perms::READ, &[]), Err(Code::NoAuth));
        assert_eq!(check_acl(&acl, perms::READ, std::slice::from_ref(&bob)), Ok(()));
        assert_eq!(check_acl(&acl, perms::DELETE, std::slice::from_ref(&bob)), Err(Code::NoAuth));
        let ip_acl = vec![Acl::new(perms::ALL, "ip", "10.1.0.0/16")];
        assert_eq!(check_acl(&ip_acl, perms::READ, &[Id::new("ip", "10.1.2.3")]), Ok(()));
        assert_eq!(check_acl(&ip_acl, perms::READ, &[Id::new("ip", "10.2.2.3")]), Err(Code::NoAuth));
        assert_eq!(check_acl(&Acl::read_unsafe(), perms::WRITE, &[]), Err(Code::NoAuth));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_bad_lists() {
        let bob = Id::new("digest", &generate_digest("bob:secret"));
        assert_eq!(fixup_acl(&[], &[]), Err(Code::InvalidAcl));
        assert_eq!(fixup_acl(&Acl::creator_all(), &[]), Err(Code::InvalidAcl));
        let fixed = fixup_acl(&Acl::creator_all(), std::slice::from_ref(&bob)).unwrap();
        assert_eq!(fixed, vec![Acl { perms: perms::ALL, id: bob }]);
        assert_eq!(fixup_acl(&[Acl::new(1, "digest", "nocolon")], &[]), Err(Code::InvalidAcl));
        assert_eq!(fixup_acl(&[Acl::new(1, "bogus", "x")], &[]), Err(Code::InvalidAcl));
    }
}
