//! `salesctl leads --csv`: deals as CSV (RFC 4180: comma-separated, CRLF line ends, a field with
//! a comma, a quote or a line break in double quotes with its quotes doubled), safe to open in a
//! spreadsheet: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
//! leading `'`, so that a company called `=HYPERLINK(…)` stays text and is never run as a
//! formula (OWASP's "CSV injection"). The board's "Export CSV" button writes the same columns
//! (web/board/board.js).

use sales::domain::Lead;
use time::format_description::well_known::Rfc3339;

/// The columns, in order (the same as the board's export).
pub const COLUMNS: [&str; 13] = [
    "id",
    "email",
    "name",
    "company",
    "stage",
    "deal_value_aud",
    "probability",
    "weighted_value_aud",
    "next_action",
    "next_action_date",
    "assigned_to",
    "source",
    "created_at",
];

/// One cell: neutralised against formulas, then quoted when it needs to be.
pub fn cell(raw: &str) -> String {
    let text = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One line of cells, CRLF-terminated.
pub fn row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells
        .iter()
        .map(|c| cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

fn utc(time: time::OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// The header and one line per deal. Amounts are exact decimals in AUD; times are RFC 3339 UTC.
pub fn deals(leads: &[Lead]) -> String {
    let mut out = row(&COLUMNS);
    for lead in leads {
        let p = &lead.pipeline;
        out.push_str(&row(&[
            lead.id.to_string(),
            lead.email.as_str().to_owned(),
            lead.name.clone().unwrap_or_default(),
            lead.company.clone().unwrap_or_default(),
            p.stage.as_str().to_owned(),
            p.deal_value_aud.amount().to_string(),
            p.probability.percent().to_string(),
            p.deal_value_aud.weighted(p.probability).to_string(),
            p.next_action.clone().unwrap_or_default(),
            p.next_action_date.map(utc).unwrap_or_default(),
            p.assigned_to.clone().unwrap_or_default(),
            lead.source.as_str().to_owned(),
            utc(lead.created_at),
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_cells_stay_as_they_are() {
        assert_eq!(cell("Acme Pty Ltd"), "Acme Pty Ltd");
        assert_eq!(cell(""), "");
        assert_eq!(cell("4999.95"), "4999.95");
        assert_eq!(cell("ada@example.com"), "ada@example.com");
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted() {
        assert_eq!(cell("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(cell("The \"Best\" Co"), "\"The \"\"Best\"\" Co\"");
        assert_eq!(cell("line one\nline two"), "\"line one\nline two\"");
        assert_eq!(cell("a\r\nb"), "\"a\r\nb\"");
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("+61 400 000 000"), "'+61 400 000 000");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1:A2)"), "'@SUM(A1:A2)");
        assert_eq!(cell("\tcmd"), "'\tcmd");
        assert_eq!(cell("=cmd|' /C calc'!A0,x"), "\"'=cmd|' /C calc'!A0,x\"");
        // Only the first character counts.
        assert_eq!(cell("a=b"), "a=b");
    }

    #[test]
    fn rows_end_with_crlf_and_the_header_names_every_column() {
        assert_eq!(row(&["a", "b,c", "=d"]), "a,\"b,c\",'=d\r\n");
        assert_eq!(
            deals(&[]),
            "id,email,name,company,stage,deal_value_aud,probability,weighted_value_aud,\
             next_action,next_action_date,assigned_to,source,created_at\r\n"
        );
    }
}
