//! Tenant ids: the first directory of the storage layout and the `X-Scope-OrgID`
//! header of every request.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::compare::same_bytes;

/// The longest tenant id accepted.
pub const MAX_TENANT_LEN: usize = 64;

/// A tenant id: 1 to 64 characters from `[A-Za-z0-9_.-]`, not starting with a dot,
/// so it is always one safe path segment. Cheap to clone.
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct Tenant(Arc<str>);

/// Compared as the id's bytes, without a call of `memcmp` (shards compare
/// tenants once a span).
impl PartialEq for Tenant {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || same_bytes(self.0.as_bytes(), other.0.as_bytes())
    }
}

/// Hashed as the id, as equal ids compare.
impl std::hash::Hash for Tenant {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// Why a string is not a valid tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant id is empty")]
    Empty,
    #[error("tenant id is {len} characters long, the limit is {MAX_TENANT_LEN}")]
    TooLong { len: usize },
    #[error(
        "tenant id {id:?} may only contain letters, digits, '_', '-' and '.', and may not start with '.'"
    )]
    InvalidCharacter { id: String },
}

impl Tenant {
    /// The tenant used when a request names none.
    pub fn default_tenant() -> Self {
        Self(Arc::from("default"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl FromStr for Tenant {
    type Err = TenantError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        if id.is_empty() {
            return Err(TenantError::Empty);
        }
        if id.len() > MAX_TENANT_LEN {
            return Err(TenantError::TooLong { len: id.len() });
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if id.starts_with('.') || !id.chars().all(allowed) {
            return Err(TenantError::InvalidCharacter { id: id.to_owned() });
        }
        Ok(Self(Arc::from(id)))
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tenant({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_safe_path_segments_only() {
        for good in ["default", "team-a", "org_42", "a.b", "X", &"t".repeat(64)] {
            assert_eq!(
                good.parse::<Tenant>().map(|t| t.to_string()),
                Ok(good.to_owned())
            );
        }
        let bad = [
            ("", TenantError::Empty),
            ("..", TenantError::InvalidCharacter { id: "..".into() }),
            (
                ".hidden",
                TenantError::InvalidCharacter {
                    id: ".hidden".into(),
                },
            ),
            ("a/b", TenantError::InvalidCharacter { id: "a/b".into() }),
            ("a b", TenantError::InvalidCharacter { id: "a b".into() }),
            ("é", TenantError::InvalidCharacter { id: "é".into() }),
        ];
        for (input, expected) in bad {
            assert_eq!(input.parse::<Tenant>(), Err(expected), "{input:?}");
        }
        assert_eq!(
            "t".repeat(65).parse::<Tenant>(),
            Err(TenantError::TooLong { len: 65 })
        );
    }
}
