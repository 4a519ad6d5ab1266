//! `index.html`: one static page, no server and no network, a row per pair.
//!
//! Every text that comes from the user (file names, messages) is HTML-escaped, and the page's
//! Content-Security-Policy only allows the page's own script (by its sha256): even text that
//! escaped escaping could not run. Filtering and sorting are in that script; the initial state
//! can be set in the URL fragment (`index.html#filter=reject&sort=desc`).

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::Error;
use xfv_core::Decision;

use crate::results::{Record, Status, Summary};

const SCRIPT: &str = r#"
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.pair'));
  var body = document.getElementById('rows');
  var filter = document.getElementById('filter');
  var sort = document.getElementById('sort');
  function apply() {
    var f = filter.value, shown = 0;
    rows.forEach(function (r) {
      var ok = f === 'all' || (f === 'error' ? r.dataset.status === 'error'
        : f === 'ok' ? r.dataset.status === 'ok' : r.dataset.decision === f);
      r.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var s = sort.value;
    var sorted = rows.slice();
    if (s !== 'row') {
      sorted.sort(function (a, b) {
        var x = parseFloat(a.dataset.score), y = parseFloat(b.dataset.score);
        if (isNaN(x)) { x = -Infinity; }
        if (isNaN(y)) { y = -Infinity; }
        return s === 'asc' ? x - y : y - x;
      });
    }
    sorted.forEach(function (r) { body.appendChild(r); });
    document.getElementById('shown').textContent = String(shown);
    document.body.dataset.shown = String(shown);
  }
  var h = new URLSearchParams(location.hash.slice(1));
  if (h.get('filter')) { filter.value = h.get('filter'); }
  if (h.get('sort')) { sort.value = h.get('sort'); }
  filter.addEventListener('change', apply);
  sort.addEventListener('change', apply);
  apply();
  document.body.dataset.ready = '1';
})();
"#;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The page for `records` (in row order).
pub fn render<'a>(records: impl IntoIterator<Item = &'a Record>, summary: &Summary) -> String {
    let hash = base64(&Sha256::digest(SCRIPT.as_bytes()));
    let mut rows = String::new();
    for r in records {
        let score = r.score.map_or(String::new(), |s| format!("{s:.4}"));
        let decision = match r.decision {
            Some(Decision::Accept) => "accept",
            Some(Decision::Reject) => "reject",
            None => "",
        };
        let status = match r.status {
            Status::Ok => "ok",
            Status::Error => "error",
        };
        let thumb = match (&r.dir, r.status) {
            (Some(dir), Status::Ok) => {
                let src = escape_html(&format!("{dir}/panel.png"));
                format!(
                    r#"<a href="{src}"><img src="{src}" loading="lazy" width="178" alt="panel"></a>"#
                )
            }
            _ => String::new(),
        };
        let error = r
            .error
            .as_ref()
            .map_or(String::new(), |e| escape_html(&e.message));
        let label = r.label.map_or(String::new(), |l| l.to_string());
        let _ = writeln!(
            rows,
            "<tr class=\"pair {status} {decision}\" data-status=\"{status}\" data-decision=\"{decision}\" data-score=\"{score}\">\
<td>{thumb}</td><td>{row}</td><td class=\"file\">{a}</td><td class=\"file\">{b}</td>\
<td>{score}</td><td>{decision}</td><td>{label}</td><td class=\"err\">{error}</td></tr>",
            row = r.row,
            a = escape_html(&r.a),
            b = escape_html(&r.b),
        );
    }
    let acc = summary
        .accuracy
        .map_or(String::new(), |a| format!(", accuracy {:.1}%", a * 100.0));
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; script-src 'sha256-{hash}'">
<title>xfv batch</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: middle; }}
tr.accept td:nth-child(6) {{ color: #1a7f37; font-weight: bold; }}
tr.reject td:nth-child(6) {{ color: #b42318; font-weight: bold; }}
tr.error {{ background: #fff4f2; }}
td.file {{ font-family: monospace; word-break: break-all; max-width: 20em; }}
</style></head>
<body>
<h1>xfv batch</h1>
<p>{pairs} pairs: {accepts} accepted, {rejects} rejected, {failures} failed{acc}. Showing <span id="shown">{pairs}</span>.</p>
<p><label>Show <select id="filter"><option value="all">all</option><option value="accept">accepted</option><option value="reject">rejected</option><option value="error">errors</option><option value="ok">explained</option></select></label>
<label>Order <select id="sort"><option value="row">by row</option><option value="desc">score, high first</option><option value="asc">score, low first</option></select></label></p>
<table><thead><tr><th>panel</th><th>row</th><th>a</th><th>b</th><th>score</th><th>decision</th><th>label</th><th>error</th></tr></thead>
<tbody id="rows">
{rows}</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"#,
        pairs = summary.pairs,
        accepts = summary.accepts,
        rejects = summary.rejects,
        failures = summary.failures,
    )
}

/// Writes `OUT/index.html` atomically.
pub fn write<'a>(
    out_dir: &Path,
    records: impl IntoIterator<Item = &'a Record>,
    summary: &Summary,
) -> Result<(), Error> {
    let html = render(records, summary);
    Ok(xfv_report::write_bytes_atomic(
        &out_dir.join("index.html"),
        html.as_bytes(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_base64() {
        assert_eq!(
            escape_html(r#"<script>"a"&'b'</script>"#),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }
}
