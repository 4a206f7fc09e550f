//! The madsim shell's simulator plugins.

#[cfg(madsim)]
pub mod disk;
