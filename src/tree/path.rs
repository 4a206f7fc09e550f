//! Znode path rules (`PathUtils.validatePath`) and helpers.
//!
//! Why: the server rejects a malformed path with BadArguments, and which requests check it
//! (and in which order relative to other checks) is part of ZooKeeper's error precedence.

/// Why a path is invalid, in ZooKeeper's words.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".into());
    }
    let chars: Vec<char> = path.chars().collect();
    let mut last = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        if c == '\0' {
            return Err(format!("null character not allowed @{i}"));
        }
        if c == '/' && last == '/' {
            return Err(format!("empty node name specified @{i}"));
        }
        if c == '.' && last == '.' {
            let before = chars[i - 2];
            let after_is_end = i + 1 == chars.len() || chars[i + 1] == '/';
            if before == '/' && after_is_end {
                return Err(format!("relative paths not allowed @{i}"));
            }
        }
        if c == '.' && last == '/' {
            let after_is_end = i + 1 == chars.len() || chars[i + 1] == '/';
            if after_is_end {
                return Err(format!("relative paths not allowed @{i}"));
            }
        }
        let u = c as u32;
        if (u > 0x0000 && u <= 0x001f)
            || (0x007f..=0x009f).contains(&u)
            || (0xd800..=0xf8ff).contains(&u)
            || (0xfff0..=0xffff).contains(&u)
        {
            return Err(format!("invalid character @{i}"));
        }
        last = c;
    }
    Ok(())
}

/// The parent of `path` as the data tree keys it: `""` for children of the root.
pub fn parent_key(path: &str) -> &str {
    let last_slash = path.rfind('/').expect("a validated path contains '/'");
    &path[..last_slash]
}

/// The last component of `path`.
pub fn child_name(path: &str) -> &str {
    let last_slash = path.rfind('/').expect("a validated path contains '/'");
    &path[last_slash + 1..]
}

/// The path watchers use for a tree key: the root is `"/"`, keyed `""` internally.
pub fn watch_path(key: &str) -> &str {
    if key.is_empty() {
        "/"
    } else {
        key
    }
}

/// The tree key for a client path: `"/"` is stored as `""`.
pub fn tree_key(path: &str) -> &str {
    if path == "/" {
        ""
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in ["/", "/a", "/a/b", "/a.b", "/..a", "/a..", "/zookeeper/quota"] {
            assert!(validate_path(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn rejects_what_zookeeper_rejects() {
        for p in ["", "a", "/a/", "//a", "/a//b", "/.", "/..", "/a/./b", "/a/../b", "/a\0b", "/a\u{1}"] {
            assert!(validate_path(p).is_err(), "{p:?}");
        }
    }
}
