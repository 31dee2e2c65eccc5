//! The node's dashboard: one HTML page served at `/` and `/dashboard`, no build step and
//! nothing loaded from elsewhere. Its script polls this node's JSON-RPC once a second (one
//! batch): `curve_status` (decided, executed and anchor-certified heights), `curve_getFinality`
//! (a chart of submission → execution), `curve_getBook` (the first slab's book and trades)
//! and `curve_call` of the first joint market's `quote` (its world table as a heatmap, with
//! its marginals). `?slab=ID&market=ID` picks other programs.

/// The page.
pub const PAGE: &str = include_str!("dashboard.html");
