//! A generic, column-mapped importer: any table whose columns the user names — arrival times as
//! numbers in a declared unit or as wall-clock datetimes, recorded service times, classes, cache
//! keys, sizes — filtered by `column=value` rows (`servesim trace import --columns`).

use super::read_frame;
use crate::error::{Result, TraceError};
use crate::request::{ClassId, Request, Trace};
use crate::time::SimTime;
use crate::validate::validate;
use chrono::NaiveDateTime;
use polars::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// The unit of numeric times (arrivals and service times).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds (the default).
    #[default]
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl TimeUnit {
    fn ns(self) -> f64 {
        match self {
            TimeUnit::S => 1e9,
            TimeUnit::Ms => 1e6,
            TimeUnit::Us => 1e3,
            TimeUnit::Ns => 1.0,
        }
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "s" => Ok(TimeUnit::S),
            "ms" => Ok(TimeUnit::Ms),
            "us" => Ok(TimeUnit::Us),
            "ns" => Ok(TimeUnit::Ns),
            _ => Err(format!("unknown time unit `{s}` (expected s, ms, us or ns)")),
        }
    }
}

/// Which source column feeds which request field, and which rows to keep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnMap {
    /// Arrival time (required): a number in `time_unit` (epoch or offset), or a datetime
    /// `YYYY-MM-DD HH:MM:SS[.fff]` (a `T` between date and time, and a trailing `Z`, accepted).
    pub arrival: String,
    /// Recorded service (execution) time, a number in `time_unit`.
    pub service: Option<String>,
    /// Request class or tenant (any text).
    pub class: Option<String>,
    /// Response-cache key: an unsigned integer, or any text (distinct texts get distinct keys, in
    /// order of first appearance).
    pub key: Option<String>,
    /// Conversation id: an unsigned integer, or any text (distinct texts get distinct ids, in
    /// order of first appearance).
    pub session: Option<String>,
    /// LoRA adapter: an unsigned integer, or any text (distinct texts get distinct ids, in order
    /// of first appearance).
    pub adapter: Option<String>,
    /// Input size (tokens, bytes…; default 1).
    pub input: Option<String>,
    /// Output tokens (default 0).
    pub output: Option<String>,
    /// Unit of numeric arrival and service times.
    pub time_unit: TimeUnit,
    /// Keep only rows whose column equals the value (all must hold), e.g. `status = SUCCEED`.
    pub filters: Vec<(String, String)>,
}

impl ColumnMap {
    /// Parses `arrival=COL,service=COL,class=COL,key=COL,session=COL,adapter=COL,input=COL,output=COL` (arrival
    /// required); `time_unit` and `filters` are left at their defaults.
    pub fn parse(spec: &str) -> std::result::Result<ColumnMap, String> {
        let mut m = ColumnMap::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, col) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected FIELD=COLUMN (e.g. arrival=start_time)"))?;
            let col = col.trim().to_string();
            if col.is_empty() {
                return Err(format!("`{part}`: no column named"));
            }
            match field.trim() {
                "arrival" => m.arrival = col,
                "service" => m.service = Some(col),
                "class" => m.class = Some(col),
                "key" => m.key = Some(col),
                "session" => m.session = Some(col),
                "adapter" => m.adapter = Some(col),
                "input" => m.input = Some(col),
                "output" => m.output = Some(col),
                f => {
                    return Err(format!(
                        "unknown field `{f}` (expected arrival, service, class, key, session, adapter, input or output)"
                    ));
                }
            }
        }
        if m.arrival.is_empty() {
            return Err("`arrival=COLUMN` is required".into());
        }
        Ok(m)
    }

    /// Parses one `COLUMN=VALUE` row filter.
    pub fn parse_filter(spec: &str) -> std::result::Result<(String, String), String> {
        let (c, v) = spec.split_once('=').ok_or_else(|| format!("`{spec}`: expected COLUMN=VALUE"))?;
        Ok((c.trim().to_string(), v.trim().to_string()))
    }
}

/// The values of column `name` as text (numbers and datetimes of a typed file in their display
/// form); an absent column names the columns present.
fn text_column(path: &Path, df: &DataFrame, name: &str, role: &str) -> Result<Vec<Option<String>>> {
    let c = df.column(name).map_err(|_| {
        let have: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
        TraceError::invalid(
            path,
            None,
            Some(name),
            format!("mapped as {role} but not in the file (columns present: {})", have.join(", ")),
        )
    })?;
    let s = c.cast(&DataType::String).map_err(|e| TraceError::invalid(path, None, Some(name), e.to_string()))?;
    let s = s.str().map_err(|e| TraceError::invalid(path, None, Some(name), e.to_string()))?;
    Ok(s.iter().map(|v| v.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())).collect())
}

/// A non-negative decimal number in `unit`, in ns, exactly for plain decimals (an epoch in ms
/// has more digits than an f64 holds), through f64 for exponent notation.
fn number_ns(v: &str, unit: TimeUnit) -> Option<i128> {
    let per = unit.ns() as i128;
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !int.is_empty() && int.len() <= 20 && digits(int) && digits(frac) {
        let frac = &frac[..frac.len().min(18)];
        let f: i128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
        let scale = 10i128.pow(frac.len() as u32);
        return Some(int.parse::<i128>().ok()? * per + (f * per + scale / 2) / scale);
    }
    let x = v.parse::<f64>().ok()?;
    (x.is_finite() && x >= 0.0).then(|| (x * unit.ns()).round() as i128)
}

/// A time value in ns: a number in `unit`, or a datetime.
fn time_ns(v: &str, unit: TimeUnit) -> Option<i128> {
    if v.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.') && !v.contains(['-', ':', ' ', 'T']) {
        return number_ns(v, unit);
    }
    if let Ok(x) = v.parse::<f64>() {
        return (x.is_finite() && x >= 0.0).then(|| (x * unit.ns()).round() as i128);
    }
    let v = v.strip_suffix('Z').unwrap_or(v);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"].iter().find_map(|f| {
        NaiveDateTime::parse_from_str(v, f).ok().map(|t| {
            let u = t.and_utc();
            u.timestamp() as i128 * 1_000_000_000 + i128::from(u.timestamp_subsec_nanos())
        })
    })
}

/// Reads `path` (CSV, Parquet or JSONL) through `map`: rows failing a filter are dropped, the rest
/// sorted by arrival (stably: equal times keep file order) and numbered from 0 in that order,
/// arrivals made offsets from the earliest. Errors name the file, the row (1-based, as in the file)
/// and the column.
pub fn read_mapped(path: &Path, map: &ColumnMap) -> Result<Trace> {
    let df = read_frame(path)?;
    let n = df.height();
    let filters: Vec<(Vec<Option<String>>, &str)> = map
        .filters
        .iter()
        .map(|(c, v)| Ok((text_column(path, &df, c, "a --where filter")?, v.as_str())))
        .collect::<Result<_>>()?;
    let arrival = text_column(path, &df, &map.arrival, "arrival")?;
    let opt = |c: &Option<String>, role: &str| c.as_ref().map(|c| text_column(path, &df, c, role)).transpose();
    let (service, class, key) = (opt(&map.service, "service")?, opt(&map.class, "class")?, opt(&map.key, "key")?);
    let (input, output) = (opt(&map.input, "input")?, opt(&map.output, "output")?);
    let session = opt(&map.session, "session")?;
    let mut session_ids: HashMap<String, u64> = HashMap::new();
    let adapter = opt(&map.adapter, "adapter")?;
    let mut adapter_ids: HashMap<String, u32> = HashMap::new();
    let bad = |row: usize, col: &str, why: String| TraceError::invalid(path, Some(row + 1), Some(col), why);
    let mut classes: Vec<String> = Vec::new();
    let mut keys: HashMap<String, u64> = HashMap::new();
    let mut rows: Vec<(i128, Request)> = Vec::new();
    for i in 0..n {
        if !filters.iter().all(|(col, want)| col[i].as_deref() == Some(*want)) {
            continue;
        }
        let value = |col: &Option<Vec<Option<String>>>, name: &Option<String>| -> Result<Option<String>> {
            match (col, name) {
                (Some(v), Some(c)) => v[i].clone().map(Some).ok_or_else(|| bad(i, c, "missing value".into())),
                _ => Ok(None),
            }
        };
        let a = arrival[i].as_deref().ok_or_else(|| bad(i, &map.arrival, "missing value".into()))?;
        let at = time_ns(a, map.time_unit).ok_or_else(|| {
            bad(
                i,
                &map.arrival,
                format!(
                    "`{a}` is neither a non-negative number of {:?} nor a `YYYY-MM-DD HH:MM:SS` datetime",
                    map.time_unit
                ),
            )
        })?;
        let count = |col: &Option<Vec<Option<String>>>, name: &Option<String>, default: u64| -> Result<u64> {
            match value(col, name)? {
                None => Ok(default),
                Some(t) => t
                    .parse::<u64>()
                    .map_err(|_| bad(i, name.as_deref().unwrap_or(""), format!("`{t}` is not a non-negative integer"))),
            }
        };
        let service_time = match value(&service, &map.service)? {
            None => None,
            Some(t) => Some(number_ns(&t, map.time_unit).and_then(|x| u64::try_from(x).ok()).map(SimTime).ok_or_else(
                || {
                    bad(
                        i,
                        map.service.as_deref().unwrap_or(""),
                        format!("`{t}` is not a non-negative number of {:?}", map.time_unit),
                    )
                },
            )?),
        };
        let class_id = match value(&class, &map.class)? {
            None => 0,
            Some(name) => match classes.iter().position(|c| *c == name) {
                Some(p) => p,
                None => {
                    classes.push(name);
                    classes.len() - 1
                }
            },
        };
        if classes.len() > usize::from(u16::MAX) {
            return Err(bad(i, map.class.as_deref().unwrap_or(""), "more than 65535 distinct classes".into()));
        }
        let cache_key = value(&key, &map.key)?.map(|k| match k.parse::<u64>() {
            Ok(v) => v,
            Err(_) => {
                let next = keys.len() as u64;
                *keys.entry(k).or_insert(next)
            }
        });
        let session = value(&session, &map.session)?.map(|k| match k.parse::<u64>() {
            Ok(v) => v,
            Err(_) => {
                let next = session_ids.len() as u64;
                *session_ids.entry(k).or_insert(next)
            }
        });
        let adapter = match value(&adapter, &map.adapter)? {
            None => None,
            Some(k) => Some(match k.parse::<u32>() {
                Ok(v) => v,
                Err(_) => {
                    let next = u32::try_from(adapter_ids.len())
                        .map_err(|_| bad(i, map.adapter.as_deref().unwrap_or(""), "more than 2^32 adapters".into()))?;
                    *adapter_ids.entry(k).or_insert(next)
                }
            }),
        };
        let req = Request {
            session,
            adapter,
            class: ClassId(class_id as u16),
            output_tokens: count(&output, &map.output, 0)?,
            cache_key,
            service: service_time,
            ..Request::new(0, SimTime(0), count(&input, &map.input, 1)?)
        };
        rows.push((at, req));
    }
    if rows.is_empty() {
        return Err(TraceError::invalid(path, None, None, "no row passes the --where filters"));
    }
    rows.sort_by_key(|(t, _)| *t);
    let first = rows[0].0;
    // Classes numbered in order of first appearance among the sorted requests, as reading the
    // written trace back numbers them.
    let mut order: Vec<Option<u16>> = vec![None; classes.len()];
    let mut sorted_classes: Vec<String> = Vec::new();
    let requests: Vec<Request> = rows
        .into_iter()
        .enumerate()
        .map(|(id, (t, r))| {
            let class = match order.get_mut(usize::from(r.class.0)) {
                Some(Some(c)) => *c,
                Some(slot) => {
                    sorted_classes.push(classes[usize::from(r.class.0)].clone());
                    *slot = Some((sorted_classes.len() - 1) as u16);
                    (sorted_classes.len() - 1) as u16
                }
                None => r.class.0,
            };
            Request { id: id as u64, arrival: SimTime((t - first) as u64), class: ClassId(class), ..r }
        })
        .collect();
    classes = sorted_classes;
    if classes.is_empty() {
        classes = Trace::default_classes();
    }
    validate(path, &requests)?;
    Ok(Trace { requests, classes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    // A production-style log: wall-clock arrivals across an idle night, out of order, recorded
    // execution times in seconds, a status to filter on, text keys and tenants.
    const LOG: &str = "\
start_time,exec_s,status,fn,tenant
2024-11-15 16:57:50,0.250,SUCCEED,resize,a
2024-11-15 16:57:49.5,1.5,SUCCEED,thumb,b
2024-11-15 16:57:51,0.1,FAILED,resize,a
2024-11-16 08:00:00,2,SUCCEED,resize,b
";

    #[test]
    fn datetimes_filters_service_keys_and_classes_map_as_declared() {
        let (_d, p) = write("log.csv", LOG);
        let mut m = ColumnMap::parse("arrival=start_time, service=exec_s, key=fn, class=tenant").unwrap();
        m.filters.push(ColumnMap::parse_filter("status=SUCCEED").unwrap());
        let t = read_mapped(&p, &m).unwrap();
        // The FAILED row is dropped; the rest sorted by time from the earliest (16:57:49.5).
        let at: Vec<f64> = t.requests.iter().map(|r| r.arrival.as_secs_f64()).collect();
        assert_eq!(at, vec![0.0, 0.5, 0.5 + 15.0 * 3600.0 + 2.0 * 60.0 + 10.0]);
        let ids: Vec<u64> = t.requests.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![0, 1, 2]);
        let service: Vec<f64> = t.requests.iter().map(|r| r.service.unwrap().as_secs_f64()).collect();
        assert_eq!(service, vec![1.5, 0.25, 2.0]);
        // Text keys: one id per distinct text, in order of appearance in the file.
        let keys: Vec<u64> = t.requests.iter().map(|r| r.cache_key.unwrap()).collect();
        assert_eq!(keys, vec![1, 0, 0]);
        // Classes numbered in order of first appearance by arrival (as the written file reads back).
        assert_eq!(t.classes, vec!["b".to_string(), "a".to_string()]);
        let classes: Vec<u16> = t.requests.iter().map(|r| r.class.0).collect();
        assert_eq!(classes, vec![0, 1, 0]);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.parquet");
        crate::formats::write_trace(&out, &t).unwrap();
        let back = crate::formats::read_trace(&out).unwrap();
        assert_eq!((back.requests, back.classes), (t.requests.clone(), t.classes.clone()));
        assert!(t.requests.iter().all(|r| r.input_size == 1 && r.output_tokens == 0));
    }

    #[test]
    fn numeric_times_take_the_declared_unit() {
        let (_d, p) = write("t.csv", "ts,dur,n\n1700000000000,12.5,40\n1700000000250,7,3\n");
        let mut m = ColumnMap::parse("arrival=ts,service=dur,input=n").unwrap();
        m.time_unit = "ms".parse().unwrap();
        let t = read_mapped(&p, &m).unwrap();
        assert_eq!(t.requests[1].arrival, SimTime(250_000_000));
        assert_eq!(t.requests[0].service, Some(SimTime(12_500_000)));
        assert_eq!((t.requests[0].input_size, t.requests[1].input_size), (40, 3));
    }

    #[test]
    fn errors_name_the_file_row_column_and_reason() {
        let (_d, p) = write("log.csv", LOG);
        let e = read_mapped(&p, &ColumnMap::parse("arrival=begin").unwrap()).unwrap_err().to_string();
        assert!(e.contains("log.csv") && e.contains("begin") && e.contains("columns present: start_time"), "{e}");
        let e = read_mapped(&p, &ColumnMap::parse("arrival=start_time,service=fn").unwrap()).unwrap_err().to_string();
        assert!(e.contains("row 1") && e.contains("fn") && e.contains("`resize` is not a non-negative number"), "{e}");
        let e = read_mapped(&p, &ColumnMap::parse("arrival=status").unwrap()).unwrap_err().to_string();
        assert!(e.contains("status") && e.contains("neither a non-negative number"), "{e}");
        let mut m = ColumnMap::parse("arrival=start_time").unwrap();
        m.filters.push(("status".into(), "PENDING".into()));
        assert!(read_mapped(&p, &m).unwrap_err().to_string().contains("no row passes"));
        assert!(ColumnMap::parse("service=x").unwrap_err().contains("arrival=COLUMN"));
        assert!(ColumnMap::parse("arrival=a,colour=b").unwrap_err().contains("unknown field `colour`"));
        assert!("minutes".parse::<TimeUnit>().is_err());
    }
}
