//! The results as one markdown table (plus the micro-benchmarks and how it was measured).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::capacity::Units;
use crate::proxy::Service;
use crate::{Options, PathResult, PathTarget, WarmResult, FUNCTIONS};

/// Targets (ISSUE 7).
const INIT_MS: f64 = 30.0;
const ZIP_BYTES: u64 = 4 * 1024 * 1024;
const RSS_KB: u64 = 32 * 1024;
const IN_FUNCTION_P99_MS: f64 = 1.0;

#[derive(Debug, Clone)]
pub struct Machine {
    pub arch: String,
    pub cpu: String,
    pub cores: usize,
    pub load: String,
    pub kernel: String,
    pub rustc: String,
    pub commit: String,
}

fn command(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

impl Machine {
    pub fn probe(root: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let cores = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let load = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let commit = command("git", &["rev-parse", "--short", "HEAD"], root)
            .map(|c| {
                let dirty =
                    command("git", &["status", "--porcelain"], root).is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{c} + uncommitted changes")
                } else {
                    c
                }
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            arch: command("uname", &["-m"], root).unwrap_or_else(|| "unknown".into()),
            cpu,
            cores: cores.max(1),
            load,
            kernel: command("uname", &["-r"], root).unwrap_or_default(),
            rustc: command("rustc", &["--version"], root).unwrap_or_default(),
            commit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sizes {
    pub name: String,
    pub binary: Option<u64>,
    pub zip_x86_64: Option<u64>,
    pub zip_arm64: Option<u64>,
    pub arm64_built: Option<SystemTime>,
}

/// One criterion benchmark's estimates (nanoseconds).
#[derive(Debug, Clone)]
pub struct Micro {
    pub id: String,
    pub median_ns: f64,
    pub mean_ns: f64,
    pub mean_low_ns: f64,
    pub mean_high_ns: f64,
    pub measured: Option<SystemTime>,
}

/// The latest `cargo bench` results under target/criterion.
pub fn read_criterion(dir: &Path) -> Vec<Micro> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") {
                    if let Some(micro) = read_one(&path) {
                        found.push(micro);
                    }
                } else if !path
                    .file_name()
                    .is_some_and(|n| n == "base" || n == "report")
                {
                    stack.push(path);
                }
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

fn read_one(dir: &Path) -> Option<Micro> {
    let read = |name: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(dir.join(name)).ok()?).ok()
    };
    let benchmark = read("benchmark.json")?;
    let estimates = read("estimates.json")?;
    let point = |which: &str| estimates[which]["point_estimate"].as_f64();
    Some(Micro {
        id: benchmark["full_id"].as_str()?.to_owned(),
        median_ns: point("median")?,
        mean_ns: point("mean")?,
        mean_low_ns: estimates["mean"]["confidence_interval"]["lower_bound"].as_f64()?,
        mean_high_ns: estimates["mean"]["confidence_interval"]["upper_bound"].as_f64()?,
        measured: std::fs::metadata(dir.join("estimates.json"))
            .ok()
            .and_then(|m| m.modified().ok()),
    })
}

pub struct Report<'a> {
    pub started_at: time::OffsetDateTime,
    pub elapsed: Duration,
    pub machine: Machine,
    pub options: &'a Options,
    pub calibration: Option<Duration>,
    pub paths: &'a [PathResult],
    pub warm: &'a [WarmResult],
    pub sizes: &'a [Sizes],
    pub micro: &'a [Micro],
    pub stray: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_ms(d: Duration) -> String {
    let v = ms(d);
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

/// Nearest-rank percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(values: &[Duration]) -> Vec<Duration> {
    let mut v = values.to_vec();
    v.sort();
    v
}

fn mb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / (1024.0 * 1024.0))
}

fn date(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `GetItem, TransactWriteItems×2, Query` in the order first seen.
fn ops(invocation: &crate::Invocation, service: Service) -> String {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for call in invocation.calls.iter().filter(|c| c.service == service) {
        let op = call.op.clone();
        match counted.iter_mut().find(|(o, _)| *o == op) {
            Some((_, n)) => *n += 1,
            None => counted.push((op, 1)),
        }
    }
    counted
        .into_iter()
        .map(|(op, n)| if n > 1 { format!("{op}×{n}") } else { op })
        .collect::<Vec<_>>()
        .join(", ")
}

fn units_text(units: Units) -> String {
    let num = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    let mut text = format!("{} / {}", num(units.rcu), num(units.wcu));
    if units.gsi_wcu > 0.0 {
        let _ = write!(text, " (+{} GSI)", num(units.gsi_wcu));
    }
    text
}

const HEADER: &str = "| function · path | HTTP | init ms | 1st call ms | warm p50 / p99 ms | in-function p50 / p99 ms | peak RSS MB | zip MB | DynamoDB requests | Stripe | wait DynamoDB / Stripe ms | RCU / WCU | targets |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

fn function_row(out: &mut String, warm: &WarmResult, sizes: Option<&Sizes>, options: &Options) {
    let mut missed: Vec<&str> = Vec::new();
    let mut checked = 0;
    let mut cell =
        |ok: Option<bool>, label: &'static str, missed: &mut Vec<&str>| -> &'static str {
            match ok {
                Some(true) => {
                    checked += 1;
                    " ✓"
                }
                Some(false) => {
                    checked += 1;
                    missed.push(label);
                    " ✗"
                }
                None => "",
            }
        };
    let name = warm.spec.name;
    let inits = sorted(&warm.inits);
    let init = (!inits.is_empty()).then(|| percentile(&inits, 50.0));
    let init_text = match init {
        Some(d) => format!(
            "{}{} (min {}, max {}, n={})",
            fmt_ms(d),
            cell(Some(ms(d) <= INIT_MS), "init", &mut missed),
            fmt_ms(inits[0]),
            fmt_ms(inits[inits.len() - 1]),
            inits.len()
        ),
        None => "–".into(),
    };
    let firsts = sorted(&warm.firsts);
    let first_text = if firsts.is_empty() {
        "–".into()
    } else {
        format!("{} (n={})", fmt_ms(percentile(&firsts, 50.0)), firsts.len())
    };
    let all = sorted(&warm.warm);
    let warm_text = if all.is_empty() {
        "–".into()
    } else {
        format!(
            "{} / {} (n={})",
            fmt_ms(percentile(&all, 50.0)),
            fmt_ms(percentile(&all, 99.0)),
            all.len()
        )
    };
    let inside = sorted(&warm.in_function);
    let inside_text = if inside.is_empty() {
        "–".into()
    } else {
        let p99 = percentile(&inside, 99.0);
        format!(
            "{} / {}{}",
            fmt_ms(percentile(&inside, 50.0)),
            fmt_ms(p99),
            cell(
                Some(ms(p99) <= IN_FUNCTION_P99_MS),
                "in-function p99",
                &mut missed
            )
        )
    };
    let rss_text = match warm.peak_rss_kb {
        Some(kb) => format!(
            "{:.1}{}",
            kb as f64 / 1024.0,
            cell(Some(kb <= RSS_KB), "RSS", &mut missed)
        ),
        None => "–".into(),
    };
    let zip_text = match sizes {
        Some(s) => match (s.zip_arm64, s.zip_x86_64) {
            (Some(arm), _) => format!(
                "{} arm64{}",
                mb(arm),
                cell(Some(arm <= ZIP_BYTES), "zip", &mut missed)
            ),
            (None, Some(x86)) => format!(
                "{} x86_64{}",
                mb(x86),
                cell(Some(x86 <= ZIP_BYTES), "zip", &mut missed)
            ),
            (None, None) => "–".into(),
        },
        None => "–".into(),
    };
    let n = warm.warm.len().max(1) as f64;
    let per = |count: usize| count as f64 / n;
    let wait_text = if warm.warm.is_empty() {
        "–".into()
    } else {
        format!(
            "{:.2} / {:.2} per call",
            ms(warm.dynamo_wait) / n,
            ms(warm.stripe_wait) / n
        )
    };
    let mut targets = if missed.is_empty() {
        format!("✓ {checked}/{checked}")
    } else {
        format!("✗ {}", missed.join(", "))
    };
    if let Some(e) = &warm.error {
        targets = format!("⚠ {}", e.replace('|', "/"));
    } else if warm.unexpected > 0 {
        let example = warm
            .unexpected_example
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect::<String>()
            .replace('|', "/");
        let _ = write!(
            targets,
            " ⚠ {} unexpected answers ({example})",
            warm.unexpected
        );
    }
    let _ = writeln!(
        out,
        "| **{name}** — warm: {} ({} calls, {:.0} s; 1st call and init over {} cold starts) | {} | {init_text} | {first_text} | {warm_text} | {inside_text} | {rss_text} | {zip_text} | {:.2} per call | {:.2} per call | {wait_text} | | {targets} |",
        warm.spec.warm,
        warm.warm.len(),
        warm.loop_time.as_secs_f64(),
        options.cold_starts,
        if warm.unexpected == 0 && warm.error.is_none() { "200" } else { "⚠" },
        per(warm.dynamo_calls),
        per(warm.stripe_calls),
    );
}

fn path_row(out: &mut String, path: &PathResult) {
    let invocation = match &path.outcome {
        Ok(invocation) => invocation,
        Err(e) => {
            let _ = writeln!(
                out,
                "| · {} | ⚠ | | | | | | | | | | | ⚠ {} |",
                path.path,
                e.replace('|', "/")
            );
            return;
        }
    };
    let dynamo = invocation.count(Service::DynamoDb);
    let stripe = invocation.count(Service::Stripe);
    let mut units = Units::default();
    for call in &invocation.calls {
        if let Some(u) = call.units {
            units += u;
        }
    }
    let (dynamo_mark, stripe_mark, target) = match path.target {
        Some(PathTarget::Dynamo(max)) => (
            format!(" {}", mark(dynamo <= max)),
            String::new(),
            Some((dynamo <= max, format!("≤ {max} DynamoDB"))),
        ),
        Some(PathTarget::DynamoStripe(max_d, max_s)) => (
            format!(" {}", mark(dynamo <= max_d)),
            format!(" {}", mark(stripe <= max_s)),
            Some((
                dynamo <= max_d && stripe <= max_s,
                format!("≤ {max_d} DynamoDB + {max_s} Stripe"),
            )),
        ),
        None => (String::new(), String::new(), None),
    };
    let status = if invocation.status == path.expected {
        invocation.status.to_string()
    } else {
        format!("⚠ {} (expected {})", invocation.status, path.expected)
    };
    let dynamo_text = if dynamo == 0 {
        format!("0{dynamo_mark}")
    } else {
        format!(
            "{dynamo}{dynamo_mark}: {}",
            ops(invocation, Service::DynamoDb)
        )
    };
    let stripe_text = if stripe == 0 {
        format!("0{stripe_mark}")
    } else {
        format!(
            "{stripe}{stripe_mark}: {}",
            ops(invocation, Service::Stripe)
        )
    };
    let units_text = if dynamo == 0 {
        "0 / 0".to_owned()
    } else {
        units_text(units)
    };
    let target_text = match target {
        Some((ok, text)) => format!("{} {text}", mark(ok)),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "| · {} | {status} | | | | {} (1 call) | | | {dynamo_text} | {stripe_text} | {} / {} | {units_text} | {target_text} |",
        path.path,
        fmt_ms(invocation.in_function()),
        fmt_ms(invocation.wait(Service::DynamoDb)),
        fmt_ms(invocation.wait(Service::Stripe)),
    );
}

pub fn render(report: &Report<'_>) -> String {
    let m = &report.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# Measured performance (`make bench`)\n");
    let _ = writeln!(
        out,
        "Run {} · {} on {} ({} cores), {}, load average at start {}, at end {} · {} · commit {} · took {:.0} s\n",
        date(report.started_at),
        m.arch,
        m.cpu,
        m.cores,
        m.kernel,
        m.load,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        m.rustc,
        m.commit,
        report.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "Targets: init ≤ 30 ms; zip ≤ 4 MB; peak RSS ≤ 32 MB; in-function warm p99 ≤ 1 ms; founding-spots ≤ 1 DynamoDB request (0 on a warm cache); create-checkout ≤ 2 DynamoDB + 1 Stripe; each webhook delivery ≤ 2 DynamoDB, duplicates included, and 0 for an ignored event or a bad signature. ✓ met, ✗ missed.\n"
    );
    out.push_str(HEADER);
    for f in &FUNCTIONS {
        if let Some(warm) = report.warm.iter().find(|w| w.spec.name == f.name) {
            let sizes = report.sizes.iter().find(|s| s.name == f.name);
            function_row(&mut out, warm, sizes, report.options);
        } else {
            let _ = writeln!(
                out,
                "| **{}** (warm run not selected) | | | | | | | | | | | | |",
                f.name
            );
        }
        for path in report.paths.iter().filter(|p| p.function == f.name) {
            path_row(&mut out, path);
        }
    }

    out.push_str("\n## Micro-benchmarks (criterion, `bench/benches/hot_paths.rs`)\n\n");
    if report.micro.is_empty() {
        out.push_str(
            "No criterion results found (run `cargo bench -p sales-bench --bench hot_paths`).\n",
        );
    } else {
        let newest = report.micro.iter().filter_map(|m| m.measured).max();
        if let Some(newest) = newest {
            let at: time::OffsetDateTime = newest.into();
            // run.sh exports when `make bench` started; criterion runs before the harness.
            let since = std::env::var("BENCH_STARTED")
                .ok()
                .and_then(|v| v.parse::<i64>().ok());
            let stale = match since {
                Some(since) if at.unix_timestamp() < since => {
                    " — older than this run: the criterion run was skipped (BENCH_MICRO=0)"
                }
                _ => "",
            };
            let _ = writeln!(out, "Measured {}{stale}; each benchmark runs the function on the fixture bytes in-process (release profile).\n", date(at));
        }
        out.push_str("| benchmark | median | mean (95% CI) |\n|---|---|---|\n");
        let ns = |v: f64| {
            if v >= 1_000_000.0 {
                format!("{:.2} ms", v / 1_000_000.0)
            } else if v >= 1000.0 {
                format!("{:.2} µs", v / 1000.0)
            } else {
                format!("{v:.0} ns")
            }
        };
        for micro in report.micro {
            let _ = writeln!(
                out,
                "| {} | {} | {} ({} – {}) |",
                micro.id,
                ns(micro.median_ns),
                ns(micro.mean_ns),
                ns(micro.mean_low_ns),
                ns(micro.mean_high_ns)
            );
        }
    }

    out.push_str("\n## Sizes\n\n| function | binary (x86_64, stripped) | zip x86_64 (deflate, Python zipfile) | zip arm64 (`make build`, cargo lambda) |\n|---|---|---|---|\n");
    for s in report.sizes {
        let fmt =
            |v: Option<u64>| v.map_or("–".to_owned(), |b| format!("{} MB ({b} bytes)", mb(b)));
        let built = s
            .arm64_built
            .map(|t| {
                let t: time::OffsetDateTime = t.into();
                format!(", built {}", date(t))
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}{built} |",
            s.name,
            fmt(s.binary),
            fmt(s.zip_x86_64),
            fmt(s.zip_arm64)
        );
    }

    if let Some(delta) = report.calibration {
        out.push_str("\n## In-function time without the proxy hop\n\nThe in-function column still holds, for each downstream request, the hop between the function and the counting proxy (");
        let _ = write!(out, "{:.0} µs, calibrated below). Taking that out (requests per call × hop), an estimate; and where the function's time goes: from the event to its first downstream request (parsing, signature, validation, building and signing the request), between an answer and the next request (parsing it, building the next), from the last answer to the result (the response, logging, the Runtime API call), each with the hops it contains:\n\n| function | requests per call | in-function p50 / p99 ms, less the hop | before the 1st request p50 / p99 ms | between requests | after the last answer |\n|---|---|---|---|---|---|\n", delta.as_secs_f64() * 1e6);
        for warm in report.warm {
            if warm.in_function.is_empty() {
                continue;
            }
            let n = warm.warm.len().max(1) as f64;
            let calls = (warm.dynamo_calls + warm.stripe_calls) as f64 / n;
            let hop = delta.mul_f64(calls);
            let inside = sorted(&warm.in_function);
            let p99 = percentile(&inside, 99.0).saturating_sub(hop);
            let phase = |i: usize| {
                let v = sorted(&warm.phases[i]);
                format!(
                    "{} / {}",
                    fmt_ms(percentile(&v, 50.0)),
                    fmt_ms(percentile(&v, 99.0))
                )
            };
            let _ = writeln!(
                out,
                "| {} | {calls:.2} | {} / {} {} | {} | {} | {} |",
                warm.spec.name,
                fmt_ms(percentile(&inside, 50.0).saturating_sub(hop)),
                fmt_ms(p99),
                mark(ms(p99) <= IN_FUNCTION_P99_MS),
                phase(0),
                phase(1),
                phase(2),
            );
        }
    }

    let calibration = report.calibration.map_or("not measured".to_owned(), |d| {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    });
    let _ = write!(
        out,
        "\n## How this was measured\n\n\
- Each release bootstrap (`cargo build --release`, the workspace's release profile: fat LTO, 1 codegen unit, stripped, panic = abort; x86_64, native) runs as Lambda runs it: a local Runtime API in the harness (`bench/src/runtime_api.rs`) at `AWS_LAMBDA_RUNTIME_API`, the function's configuration (local DynamoDB server, Stripe stand-in, secrets, price ids, redirect origins) and what Lambda sets (`AWS_LAMBDA_FUNCTION_NAME`, `…_MEMORY_SIZE` from infra/template.yaml, `…_VERSION`, log group and stream, `_HANDLER`, `LAMBDA_TASK_ROOT`, `TZ`), nothing else. Events are API Gateway v2 / function URL events; webhooks are signed at send time with the secrets in the function's environment.\n\
- **init**: process start → the bootstrap's first `GET …/invocation/next`, median of {cold} cold starts (binary already in the page cache; Lambda's code download and sandbox start are not included). **1st call**: the first invocation of each cold start. **warm**: {n} invocations after the last cold start, one at a time; duration = event handed over → result received, as Lambda bills it. **peak RSS**: `VmHWM` of /proc/<pid>/status after the warm loop.\n\
- **in-function** = invocation duration − the time the counting proxies saw the function wait on DynamoDB and Stripe (request read → answer ready). It still contains the loopback hop to the proxy, measured at {calibration} per downstream request (median client round trip − proxy wait, 200 ListTables), and the function's own logging to a file.\n\
- **Requests per path** are counted, not estimated: a proxy in front of each server records every request of the invocation in flight (`X-Amz-Target` for DynamoDB), one invocation at a time ({stray} requests arrived outside an invocation). Path rows come from a counting pass on one table where each function runs its paths in turn (checkout → Stripe pays or expires the sessions on the stand-in → the webhook gets the stand-in's events → the portal; bookings → pipeline); the warm loops each use a fresh table (create-checkout's standard plan, since founding holds stop at 20), and the functions that write start it afresh every 25 invocations, outside the timings: moto copies the whole table for each item of a transaction, so its latency grows with the table (a few thousand items make one request take over 15 s), which DynamoDB's does not.\n\
- **RCU / WCU** are computed, not reported by moto: in the counting pass the proxy reads every item a write touches before and after it (consistent GetItem, not counted and not in the timings) and applies DynamoDB's rules: reads 1 RCU per 4 KB strongly consistent, 0.5 eventually consistent (indexes always eventually), a missing item still the minimum; a Query sums the sizes of the items it evaluates (a filtered Query is re-read without its filter) and rounds once; writes 1 WCU per 1 KB of the larger of the before and after images, a failed condition still pays; transactions ×2; \"+N GSI\" is the index writes of projected items (1 per changed item, 2 when its index key moves, not doubled in transactions). Item sizes per DynamoDB's \"Item sizes and formats\".\n\
- The machine runs other builds at the same time (see load average); the local DynamoDB server (moto, Python, one lock) and the stand-in are far slower than DynamoDB and Stripe, so warm totals say little about production, while in-function times and request counts carry over.\n",
        cold = report.options.cold_starts,
        n = report.options.invocations,
        stray = report.stray,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }
}
