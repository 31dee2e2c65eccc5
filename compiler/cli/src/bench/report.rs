//! `curve bench --report`: BENCHMARKS.md's summary table regenerated from criterion's saved
//! results. The figures are the ones the issues name (`figures.toml`: what each is, its target
//! or peer figure, and which criterion benchmark measures it). A figure this run has results for
//! gets them (criterion's 95 % confidence interval of the mean, as a range); one it has none for
//! keeps the value the table had, with its date; the header says which commit, when, on what
//! CPU, with how many cores and under what load.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

/// The registry, compiled in.
pub const FIGURES: &str = include_str!("figures.toml");
/// The summary's markers in BENCHMARKS.md.
pub const BEGIN: &str = "<!-- summary:begin -->";
pub const END: &str = "<!-- summary:end -->";

/// How a figure is measured.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Mean time per iteration of one criterion benchmark.
    Time,
    /// Elements (or bytes) per second, from the benchmark's declared throughput.
    Throughput,
    /// One benchmark's mean time over another's.
    Ratio,
    /// Measured by a command, not criterion: the table shows what figures.toml's `last` wrote
    /// down (edit it there when the command is run again).
    Command,
}

/// One figure an issue names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub id: String,
    pub issue: u32,
    pub what: String,
    pub target: String,
    pub kind: Kind,
    #[serde(default)]
    pub bench: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub numerator: Option<String>,
    #[serde(default)]
    pub denominator: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(rename = "crate", default)]
    pub krate: Option<String>,
    #[serde(default)]
    pub bench_file: Option<String>,
    pub last: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registry {
    figure: Vec<Figure>,
}

/// The registry, checked: unique ids, and each kind with the fields it needs.
pub fn figures() -> Result<Vec<Figure>> {
    let registry: Registry = toml::from_str(FIGURES).context("figures.toml")?;
    let mut seen = std::collections::BTreeSet::new();
    for figure in &registry.figure {
        if !seen.insert(figure.id.as_str()) {
            bail!("figures.toml: `{}` is listed twice", figure.id);
        }
        let complete = match figure.kind {
            Kind::Time | Kind::Throughput => figure.bench.is_some(),
            Kind::Ratio => figure.numerator.is_some() && figure.denominator.is_some(),
            Kind::Command => figure.command.is_some(),
        };
        if !complete {
            bail!(
                "figures.toml: `{}` ({:?}) lacks the fields its kind needs",
                figure.id,
                figure.kind
            );
        }
    }
    Ok(registry.figure)
}

/// Criterion's estimate of one benchmark: the mean and its 95 % interval, in nanoseconds, and
/// the elements (or bytes) one iteration processes when the benchmark declares them.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    pub elements: Option<f64>,
    /// When criterion saved it (UTC).
    pub date: String,
}

/// `DIR/<bench>/new/`'s estimate, if criterion saved one.
pub fn estimate(criterion: &Path, bench: &str) -> Option<Estimate> {
    let dir = criterion.join(bench).join("new");
    let path = dir.join("estimates.json");
    let estimates: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let mean = &estimates["mean"];
    let interval = &mean["confidence_interval"];
    let benchmark: Value = std::fs::read(dir.join("benchmark.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let throughput = &benchmark["throughput"];
    let elements = ["Elements", "Bytes", "BytesDecimal"]
        .iter()
        .find_map(|unit| throughput[unit].as_f64());
    Some(Estimate {
        mean: mean["point_estimate"].as_f64()?,
        low: interval["lower_bound"].as_f64()?,
        high: interval["upper_bound"].as_f64()?,
        elements,
        date: modified_date(&path).unwrap_or_else(|| "date unknown".into()),
    })
}

/// A rate range with one SI prefix, chosen by the higher end: "340–359 M instr/s".
fn rate_range(low: f64, high: f64, unit: &str) -> String {
    let (scale, prefix) = [(1e12, "T "), (1e9, "G "), (1e6, "M "), (1e3, "k ")]
        .into_iter()
        .find(|&(scale, _)| high >= scale)
        .unwrap_or((1.0, ""));
    format!(
        "{}–{} {prefix}{unit}",
        significant(low / scale),
        significant(high / scale)
    )
}

/// Three significant digits (at most two decimals).
fn significant(value: f64) -> String {
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$}")
}

/// A duration in nanoseconds in the unit that reads best: (value, unit).
fn scaled_duration(ns: f64) -> (f64, &'static str) {
    if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    }
}

/// A range of durations: "950 µs–1.05 ms", or "12.0–12.3 µs" when one unit fits both.
fn duration_range(low: f64, high: f64) -> String {
    let ((low, low_unit), (high, high_unit)) = (scaled_duration(low), scaled_duration(high));
    if low_unit == high_unit {
        format!("{}–{} {high_unit}", significant(low), significant(high))
    } else {
        format!(
            "{} {low_unit}–{} {high_unit}",
            significant(low),
            significant(high)
        )
    }
}

/// The UTC date of a file's last change: when criterion saved an estimate.
fn modified_date(path: &Path) -> Option<String> {
    let seconds = std::fs::metadata(path)
        .ok()?
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar).
    let days = (seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

/// What criterion's saved results give for `figure`, if it has them, and the date they were
/// saved (a ratio's: the older of its two).
pub fn measure(figure: &Figure, criterion: &Path) -> Option<(String, String)> {
    match figure.kind {
        Kind::Time => {
            let e = estimate(criterion, figure.bench.as_deref()?)?;
            Some((duration_range(e.low, e.high), e.date))
        }
        Kind::Throughput => {
            let e = estimate(criterion, figure.bench.as_deref()?)?;
            let n = e.elements?;
            let unit = figure.unit.as_deref().unwrap_or("/s");
            // The slower end of the interval gives the lower rate.
            let range = rate_range(n / (e.high * 1e-9), n / (e.low * 1e-9), unit);
            Some((range, e.date))
        }
        Kind::Ratio => {
            let top = estimate(criterion, figure.numerator.as_deref()?)?;
            let bottom = estimate(criterion, figure.denominator.as_deref()?)?;
            let range = format!("{:.2}–{:.2}×", top.low / bottom.high, top.high / bottom.low);
            // The older of the two dates (ISO dates order as strings); unknown if either is.
            let date = if top.date.starts_with(char::is_numeric)
                && bottom.date.starts_with(char::is_numeric)
            {
                top.date.min(bottom.date)
            } else {
                "date unknown".to_string()
            };
            Some((range, date))
        }
        Kind::Command => None,
    }
}

/// How to measure `figure` again.
fn how(figure: &Figure) -> String {
    match (&figure.command, &figure.krate, &figure.bench_file) {
        (Some(command), ..) => format!("`{command}`"),
        (None, Some(krate), Some(file)) if !file.is_empty() => {
            format!("`cargo bench -p {krate} --bench {file}`")
        }
        _ => String::new(),
    }
}

/// The measured column of each row of the current summary, by figure id.
pub fn previous(markdown: &str) -> BTreeMap<String, String> {
    let mut rows = BTreeMap::new();
    let Some(table) = markdown
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(table, _)| table)
    else {
        return rows;
    };
    // Cells are split on unescaped pipes; `\|` is a pipe inside a cell.
    const ESCAPED: &str = "\u{0}";
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let line = line.replace("\\|", ESCAPED);
        let cells: Vec<String> = line
            .split('|')
            .map(|cell| cell.trim().replace(ESCAPED, "|"))
            .collect();
        if let (Some(id), Some(measured)) = (cells.get(1), cells.get(4)) {
            rows.insert(id.trim_matches('`').to_string(), measured.clone());
        }
    }
    rows
}

/// Where and when: commit, date, CPU, cores, load.
pub struct Machine {
    pub commit: String,
    pub date: String,
    pub cpu: String,
    pub nproc: usize,
    pub load: String,
}

impl Machine {
    /// This machine, now.
    pub fn here() -> Machine {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_else(|| "unknown".into())
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let load = std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into());
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            commit: git(&["rev-parse", "--short=12", "HEAD"]),
            date,
            cpu,
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            load,
        }
    }
}

/// The summary section (markers included) for `figures`, with this run's results where
/// criterion has them and the table's previous values elsewhere. Returns it and how many
/// figures this run measured.
pub fn summary(
    figures: &[Figure],
    criterion: &Path,
    previous: &BTreeMap<String, String>,
    machine: &Machine,
) -> (String, usize) {
    let mut out = String::new();
    let mut fresh = 0;
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(
        out,
        "## Summary\n\nGenerated by `curve bench --report` from criterion's results (edit \
         `compiler/cli/src/bench/figures.toml`, not this table): commit `{}`, {}, {}, nproc {}, \
         load average {}. Bold: read from criterion's saved results, dated when criterion saved \
         them, the range its 95 % confidence interval of the mean; plain: written down earlier \
         (a command, or a benchmark whose results this machine does not hold), with its date.\n",
        machine.commit, machine.date, machine.cpu, machine.nproc, machine.load
    );
    let _ = writeln!(
        out,
        "| id | issue | figure | measured | target, seed or peer figure | how |\n|---|---|---|---|---|---|"
    );
    for figure in figures {
        let measured = match measure(figure, criterion) {
            Some((value, date)) => {
                fresh += 1;
                format!("**{value}** ({date})")
            }
            None if figure.kind == Kind::Command => figure.last.clone(),
            // A benchmark whose results this machine does not hold keeps its last figure.
            None => previous
                .get(&figure.id)
                .cloned()
                .unwrap_or_else(|| figure.last.clone()),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            figure.id,
            figure.issue,
            figure.what.replace('|', "\\|"),
            measured.replace('|', "\\|"),
            figure.target.replace('|', "\\|"),
            how(figure).replace('|', "\\|")
        );
    }
    let _ = write!(out, "{END}");
    (out, fresh)
}

/// Rewrites the summary of `file` (between the markers, which must be there).
pub fn run(file: &Path, criterion: &Path) -> Result<()> {
    let markdown =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (Some(begin), Some(end)) = (
        markdown.find(BEGIN),
        markdown
            .find(END)
            .filter(|&end| markdown.find(BEGIN) < Some(end)),
    ) else {
        bail!(
            "{} has no summary markers ({BEGIN} … {END}, in that order): add them where the \
             table goes",
            file.display()
        );
    };
    let figures = figures()?;
    let (section, fresh) = summary(&figures, criterion, &previous(&markdown), &Machine::here());
    let rewritten = format!(
        "{}{section}{}",
        &markdown[..begin],
        &markdown[end + END.len()..]
    );
    std::fs::write(file, rewritten).with_context(|| format!("cannot write {}", file.display()))?;
    outln!(
        "{}: {} figures, {fresh} measured in this run (criterion results in {})",
        file.display(),
        figures.len(),
        criterion.display()
    );
    Ok(())
}

/// Criterion's directory: `CARGO_TARGET_DIR/criterion`, else `target/criterion`.
pub fn default_criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("criterion")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn benchmarks_md() -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../BENCHMARKS.md");
        std::fs::read_to_string(path).expect("BENCHMARKS.md")
    }

    #[test]
    fn every_figure_the_registry_names_is_in_benchmarks_md_and_nothing_else() {
        let figures = figures().expect("a valid registry");
        assert!(!figures.is_empty());
        let table = previous(&benchmarks_md());
        for figure in &figures {
            assert!(
                table.contains_key(&figure.id),
                "BENCHMARKS.md's summary lacks `{}`: run `curve bench --report`",
                figure.id
            );
        }
        for id in table.keys() {
            assert!(
                figures.iter().any(|f| &f.id == id),
                "BENCHMARKS.md's summary has `{id}`, which figures.toml does not name"
            );
        }
    }

    fn figure(id: &str, kind: Kind) -> Figure {
        Figure {
            id: id.into(),
            issue: 1,
            what: format!("the {id}"),
            target: "≥ 1".into(),
            kind,
            bench: None,
            unit: None,
            numerator: None,
            denominator: None,
            command: None,
            krate: None,
            bench_file: None,
            last: format!("{id} was never measured"),
        }
    }

    /// Criterion's two files for a benchmark: mean and interval (ns), elements per iteration.
    fn saved(dir: &Path, bench: &str, mean: f64, low: f64, high: f64, elements: Option<u64>) {
        let new = dir.join(bench).join("new");
        std::fs::create_dir_all(&new).unwrap();
        let estimates = serde_json::json!({"mean": {"point_estimate": mean, "confidence_interval":
            {"confidence_level": 0.95, "lower_bound": low, "upper_bound": high}}});
        std::fs::write(new.join("estimates.json"), estimates.to_string()).unwrap();
        let throughput = elements.map(|n| serde_json::json!({"Elements": n}));
        let benchmark = serde_json::json!({"group_id": "g", "throughput": throughput});
        std::fs::write(new.join("benchmark.json"), benchmark.to_string()).unwrap();
    }

    #[test]
    fn a_report_measures_what_criterion_saved_and_keeps_the_rest_with_their_dates() {
        let dir = tempfile::tempdir().unwrap();
        saved(dir.path(), "g/a", 2.0e6, 1.9e6, 2.1e6, Some(1_000));
        saved(dir.path(), "g/b", 1.0e6, 0.95e6, 1.05e6, None);
        let mut time = figure("time", Kind::Time);
        time.bench = Some("g/b".into());
        let mut rate = figure("rate", Kind::Throughput);
        rate.bench = Some("g/a".into());
        rate.unit = Some("instr/s".into());
        let mut ratio = figure("ratio", Kind::Ratio);
        ratio.numerator = Some("g/a".into());
        ratio.denominator = Some("g/b".into());
        let mut command = figure("command", Kind::Command);
        command.command = Some("curve bench".into());
        command.last = "7 tx/s | 8 tx/s (2029-12-31)".into();
        let mut missing = figure("missing", Kind::Time);
        missing.bench = Some("g/none".into());
        let mut elsewhere = figure("elsewhere", Kind::Time);
        elsewhere.bench = Some("g/elsewhere".into());
        let figures = [time, rate, ratio, command, missing, elsewhere];
        let machine = Machine {
            commit: "abc".into(),
            date: "2030-01-02".into(),
            cpu: "a CPU".into(),
            nproc: 2,
            load: "0.1 0.2 0.3".into(),
        };
        let before = BTreeMap::from([
            ("command".to_string(), "1 tx/s (2020-01-01)".to_string()),
            ("elsewhere".to_string(), "**3 ms** (2029-12-30)".to_string()),
        ]);
        let (section, fresh) = summary(&figures, dir.path(), &before, &machine);
        assert_eq!(fresh, 3, "{section}");
        let rows = previous(&section);
        // 0.95–1.05 ms; 1,000 elements in 2.1 ms and in 1.9 ms; 1.9/1.05 and 2.1/0.95.
        let slow = 1_000.0 / 2.1e-3 / 1e3;
        let fast = 1_000.0 / 1.9e-3 / 1e3;
        let today = modified_date(&dir.path().join("g/a/new/estimates.json")).unwrap();
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .expect("date runs");
        assert_eq!(
            today,
            String::from_utf8_lossy(&date.stdout).trim(),
            "the file's date"
        );
        assert_eq!(rows["time"], format!("**950 µs–1.05 ms** ({today})"));
        assert_eq!(
            rows["rate"],
            format!("**{slow:.0}–{fast:.0} k instr/s** ({today})")
        );
        assert_eq!(
            rows["ratio"],
            format!("**{:.2}–{:.2}×** ({today})", 1.9 / 1.05, 2.1 / 0.95)
        );
        assert_eq!(
            rows["command"], "7 tx/s | 8 tx/s (2029-12-31)",
            "figures.toml's, not the table's, its pipe escaped in the table and read back"
        );
        assert_eq!(rows["missing"], "missing was never measured");
        assert_eq!(
            rows["elsewhere"], "**3 ms** (2029-12-30)",
            "a benchmark not run here keeps the table's figure"
        );
        assert!(
            section.contains("commit `abc`, 2030-01-02, a CPU, nproc 2, load average 0.1 0.2 0.3")
        );
    }

    #[test]
    fn a_report_rewrites_only_between_the_markers_and_refuses_a_file_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("B.md");
        std::fs::write(
            &file,
            format!("# B\n\nbefore\n{BEGIN}\nold\n{END}\n\nafter\n"),
        )
        .unwrap();
        run(&file, &dir.path().join("criterion")).expect("a report");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("# B\n\nbefore\n<!-- summary:begin -->\n## Summary"));
        assert!(text.ends_with("<!-- summary:end -->\n\nafter\n"), "{text}");
        assert!(!text.contains("\nold\n"));
        assert_eq!(previous(&text).len(), figures().unwrap().len());
        std::fs::write(&file, "# B\n").unwrap();
        let error = run(&file, dir.path()).expect_err("no markers");
        assert!(error.to_string().contains("no summary markers"), "{error}");
    }
}
