//! A batch's results as one table (file, face, top expression, every percentage), and
//! the same as a CSV file (`mien::csv`, as `mien-analyse` writes it) saved from the
//! page itself (a `blob:` download: nothing is sent anywhere).

use js_sys::Array;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

use mien::csv::{csv, Row};

use super::batch::{Batch, Outcome, PhotoEntry};
use super::status::Status;

fn rows(entries: &[PhotoEntry], labels: &[String]) -> Vec<Row> {
    let mut rows = Vec::new();
    for entry in entries {
        match entry.outcome.get() {
            Outcome::Waiting | Outcome::Working(_) => {
                rows.push(Row::note(&entry.name, "not analysed yet"))
            }
            Outcome::Failed(why) => rows.push(Row::failed(&entry.name, &why)),
            Outcome::Done(reading) if reading.faces.faces.is_empty() => {
                rows.push(Row::no_face(&entry.name))
            }
            Outcome::Done(reading) => {
                for (i, face) in reading.faces.faces.iter().enumerate() {
                    rows.push(Row::face(&entry.name, i + 1, &face.emotions, labels));
                }
            }
        }
    }
    rows
}

#[component]
pub fn BatchTable(batch: Batch, labels: Signal<Vec<String>>) -> impl IntoView {
    let shown = move || batch.entries.with(|e| e.len() > 1);
    let header = move || {
        labels
            .get()
            .into_iter()
            .map(|l| view! { <th scope="col">{l}</th> })
            .collect_view()
    };
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
                    row.percents
                        .iter()
                        .map(|p| view! { <td class="num">{format!("{p:.1}%")}</td> })
                        .collect_view()
                        .into_any()
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
        let text = csv(
            &rows(&batch.entries.get_untracked(), &labels.get_untracked()),
            &labels.get_untracked(),
        );
        if let Err(why) = save("mien-results.csv", &text) {
            leptos::logging::warn!("cannot save the CSV file: {why}");
            batch.status.set(Status::error(format!(
                "The CSV file could not be saved: {why}."
            )));
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

/// Offers `text` as a file download, made in the page.
pub fn save(file_name: &str, text: &str) -> Result<(), String> {
    let options = BlobPropertyBag::new();
    options.set_type("text/csv;charset=utf-8");
    let parts = Array::of1(&text.into());
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|_| "cannot make the file")?;
    let url =
        Url::create_object_url_with_blob(&blob).map_err(|_| "cannot make a link to the file")?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let link: HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| "cannot make a link")?
        .dyn_into()
        .map_err(|_| "cannot make a link")?;
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
