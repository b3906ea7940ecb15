//! Empty: the check lives in build.rs.
