//! A batch's results as one table (file, face, top expression, every percentage), and
//! the same as a CSV file saved from the page itself (a `blob:` download: nothing is
//! sent anywhere).

use js_sys::Array;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

use super::batch::{Batch, Outcome, PhotoEntry};

/// One row: a face, or a photo without one.
struct Row {
    file: String,
    face: String,
    top: String,
    unsure: bool,
    /// Percentages in label order; empty for a photo without a face.
    percents: Vec<f32>,
}

fn rows(entries: &[PhotoEntry], labels: &[String]) -> Vec<Row> {
    let mut rows = Vec::new();
    for entry in entries {
        let row = |face: &str, top: String| Row {
            file: entry.name.clone(),
            face: face.to_string(),
            top,
            unsure: false,
            percents: Vec::new(),
        };
        match entry.outcome.get() {
            Outcome::Waiting | Outcome::Working(_) => rows.push(row("", "(not analysed yet)".into())),
            Outcome::Failed(why) => rows.push(row("", format!("(could not be analysed: {why})"))),
            Outcome::Done(reading) if reading.faces.faces.is_empty() => rows.push(row("", "(no face found)".into())),
            Outcome::Done(reading) => {
                for (i, face) in reading.faces.faces.iter().enumerate() {
                    let percents = labels
                        .iter()
                        .map(|label| {
                            face.emotions.shares.iter().find(|s| &s.label == label).map_or(0.0, |s| s.fraction * 100.0)
                        })
                        .collect();
                    rows.push(Row {
                        file: entry.name.clone(),
                        face: (i + 1).to_string(),
                        top: face.emotions.top().label,
                        unsure: face.emotions.is_unsure(),
                        percents,
                    });
                }
            }
        }
    }
    rows
}

#[component]
pub fn BatchTable(batch: Batch, labels: Signal<Vec<String>>) -> impl IntoView {
    let shown = move || batch.entries.with(|e| e.len() > 1);
    let header = move || labels.get().into_iter().map(|l| view! { <th scope="col">{l}</th> }).collect_view();
    let body = move || {
        let labels = labels.get();
        rows(&batch.entries.get(), &labels)
            .into_iter()
            .map(|row| {
                let top = if row.percents.is_empty() {
                    row.top.clone()
                } else if row.unsure {
                    format!("unsure ({})", row.top)
                } else {
                    row.top.clone()
                };
                let cells = if row.percents.is_empty() {
                    view! { <td colspan=labels.len()></td> }.into_any()
                } else {
                    row.percents.iter().map(|p| view! { <td class="num">{format!("{p:.1}%")}</td> }).collect_view().into_any()
                };
                view! {
                    <tr>
                        <th scope="row" class="file">{row.file}</th>
                        <td class="num">{row.face}</td>
                        <td>{top}</td>
                        {cells}
                    </tr>
                }
            })
            .collect_view()
    };
    let download = move |_| {
        let text = csv(&rows(&batch.entries.get_untracked(), &labels.get_untracked()), &labels.get_untracked());
        if let Err(why) = save("mien-results.csv", &text) {
            leptos::logging::warn!("cannot save the CSV file: {why}");
        }
    };
    view! {
        <section class="batch" id="batch" hidden=move || !shown() aria-labelledby="batch-title">
            <div class="batch-head">
                <h2 id="batch-title">"All results"</h2>
                <button type="button" id="csv-download" on:click=download>
                    "Download as CSV"
                </button>
            </div>
            <div class="table-scroll" tabindex="0" role="region" aria-labelledby="batch-title">
                <table id="batch-table">
                    <thead>
                        <tr>
                            <th scope="col">"File"</th>
                            <th scope="col">"Face"</th>
                            <th scope="col">"Top expression"</th>
                            {header}
                        </tr>
                    </thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
        </section>
    }
}

/// The rows as CSV (RFC 4180): percentages with two decimals.
fn csv(rows: &[Row], labels: &[String]) -> String {
    let mut out = String::from("file,face,top_expression,unsure");
    for label in labels {
        out.push(',');
        out.push_str(&field(&format!("{label}_percent")));
    }
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&[field(&row.file), field(&row.face), field(&row.top)].join(","));
        out.push(',');
        if !row.percents.is_empty() {
            out.push_str(if row.unsure { "yes" } else { "no" });
        }
        for i in 0..labels.len() {
            out.push(',');
            if let Some(p) = row.percents.get(i) {
                out.push_str(&format!("{p:.2}"));
            }
        }
        out.push_str("\r\n");
    }
    out
}

/// A CSV field, quoted when it needs to be; a leading formula character is
/// neutralised so that a file name cannot become a spreadsheet formula.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Offers `text` as a file download, made in the page.
fn save(file_name: &str, text: &str) -> Result<(), String> {
    let options = BlobPropertyBag::new();
    options.set_type("text/csv;charset=utf-8");
    let parts = Array::of1(&text.into());
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|_| "cannot make the file")?;
    let url = Url::create_object_url_with_blob(&blob).map_err(|_| "cannot make a link to the file")?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let link: HtmlAnchorElement =
        document.create_element("a").map_err(|_| "cannot make a link")?.dyn_into().map_err(|_| "cannot make a link")?;
    link.set_href(&url);
    link.set_download(file_name);
    link.click();
    // The download has its own copy once started.
    gloo::timers::callback::Timeout::new(10_000, move || {
        let _ = Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}
