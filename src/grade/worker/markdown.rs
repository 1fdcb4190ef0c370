/*!
The Markdown a student reads for a test that failed (or could not run because the
build failed): the headline, the rubric's hint, the details in fenced blocks.
*/

pub(super) fn build_failed_markdown(why: &str, output: &str) -> String {
    let mut md = format!("**Failed**: {why}, so no test could run.\n");
    if !output.trim().is_empty() {
        md.push_str("\nThe build's output:\n\n");
        md.push_str(&fenced(output));
    }
    md
}

pub(super) fn failed_markdown(
    headline: &str,
    details: Option<&str>,
    feedback: Option<&str>,
) -> String {
    let mut md = String::from("**Failed**\n\n");
    md.push_str(&fenced(headline));
    if let Some(hint) = feedback {
        md.push_str("\n**Hint:** ");
        md.push_str(hint.trim());
        md.push('\n');
    }
    if let Some(d) = details.filter(|d| !d.trim().is_empty()) {
        md.push_str("\nWhat happened (the scenario, the failing step, the transcript):\n\n");
        md.push_str(&fenced(d));
    }
    md
}

/// Text in a fenced code block long enough not to be closed by the text itself.
pub(super) fn fenced(text: &str) -> String {
    let mut fence = "```".to_string();
    while text.contains(&fence) {
        fence.push('`');
    }
    let body = text.trim_end_matches('\n');
    format!("{fence}text\n{body}\n{fence}\n")
}
