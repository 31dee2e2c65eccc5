//! Governance limits, read from a versioned `governance.toml` (never from Rust constants):
//! fee caps and the approved oracle feeds.
//!
//! ```toml
//! version = 1
//! [fees]
//! maker_bps_max = 10
//! taker_bps_max = 20
//! market_trade_bps_max = 200
//! [oracles]
//! approved = ["pyth:SOLUSD"]
//! ```

use curvescript_syntax::{Code, Diagnostic, Span};
use serde::Deserialize;

/// The governance file versions this checker reads.
pub const SUPPORTED_VERSION: u32 = 1;

/// Governance limits.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Governance {
    /// File format version; must be [`SUPPORTED_VERSION`].
    pub version: u32,
    /// Fee caps.
    pub fees: FeeCaps,
    /// Oracle approval.
    pub oracles: OracleApproval,
}

/// Fee caps in basis points.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeCaps {
    /// Largest slab maker fee.
    pub maker_bps_max: u32,
    /// Largest slab taker fee.
    pub taker_bps_max: u32,
    /// Largest prediction-market trade fee.
    pub market_trade_bps_max: u32,
}

/// Which oracle feeds scripts may declare.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleApproval {
    /// Approved feed ids, e.g. `"pyth:SOLUSD"`.
    pub approved: Vec<String>,
}

/// The one field every version has, read before the rest: a file of another version is
/// reported as such, not as a list of fields this checker does not know.
#[derive(Deserialize)]
struct VersionOnly {
    version: toml::Spanned<i64>,
}

fn invalid(error: &toml::de::Error) -> Diagnostic {
    let span = error
        .span()
        .map_or(Span::new(0, 0), |r| Span::new(r.start, r.end));
    Diagnostic::error(
        Code::BadGovernance,
        span,
        format!("invalid governance file: {}", error.message()),
    )
}

impl Governance {
    /// Parses a governance file; the error's span points into `text` (an unsupported version at
    /// its value).
    pub fn parse(text: &str) -> Result<Governance, Diagnostic> {
        let version: VersionOnly = toml::from_str(text).map_err(|error| invalid(&error))?;
        if version.version.get_ref() != &i64::from(SUPPORTED_VERSION) {
            let range = version.version.span();
            return Err(Diagnostic::error(
                Code::BadGovernance,
                Span::new(range.start, range.end),
                format!(
                    "governance file version {} is not supported",
                    version.version.get_ref()
                ),
            )
            .with_label("this version")
            .with_help(format!(
                "this checker reads version {SUPPORTED_VERSION}; use a `curve` that knows this \
                 version, or write the file in version {SUPPORTED_VERSION}"
            )));
        }
        toml::from_str(text).map_err(|error| invalid(&error))
    }

    /// Whether `feed` is approved.
    pub fn approves_oracle(&self, feed: &str) -> bool {
        self.oracles
            .approved
            .iter()
            .any(|approved| approved == feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version = 1\n[fees]\nmaker_bps_max = 10\ntaker_bps_max = 20\nmarket_trade_bps_max = 200\n[oracles]\napproved = [\"pyth:SOLUSD\"]\n";

    #[test]
    fn parses_a_good_file() {
        let governance = Governance::parse(GOOD).expect("valid");
        assert_eq!(governance.fees.taker_bps_max, 20);
        assert!(governance.approves_oracle("pyth:SOLUSD"));
        assert!(!governance.approves_oracle("pyth:ETHUSD"));
    }

    #[test]
    fn rejects_unknown_versions_fields_and_syntax() {
        let error =
            Governance::parse(&GOOD.replace("version = 1", "version = 2")).expect_err("version 2");
        assert!(error.message.contains("version 2"), "{}", error.message);
        // A newer file with fields this version lacks, and "version" in a comment above it: the
        // version is what is reported, at its value.
        let newer = format!(
            "# this file's version is newer\n{}\n[rebates]\nmaker_bps = 1\n",
            GOOD.replace("version = 1", "version = 3")
        );
        let error = Governance::parse(&newer).expect_err("version 3");
        assert!(
            error.message.contains("version 3 is not supported"),
            "{}",
            error.message
        );
        assert_eq!(&newer[error.span.range()], "3");
        let error = Governance::parse(&GOOD.replace("maker_bps_max", "maker_max"))
            .expect_err("unknown field");
        assert_eq!(error.code, Code::BadGovernance);
        assert!(
            error.span.end > error.span.start,
            "an unknown field has a position"
        );
        assert!(Governance::parse("version = ").is_err());
    }
}
