//! The terminal table: policies as columns, figures as rows, within 100 columns.
//!
//! Policy names head their columns on one line when they fit; otherwise each name gets a
//! line of its own, ending above its column, with `|` guides down to the values (a
//! staircase), so narrow columns keep whole names. Policies that still do not fit side by
//! side continue in a second block below.

use std::fmt::Write as _;
use std::ops::Range;

use super::{Figure, figures, trace_line};
use crate::outcome::Report;

/// The table's width, at most, unless a single column cannot fit in it.
const WIDTH: usize = 100;
const GAP: usize = 2;
const MIN_COLUMN: usize = 6;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Tidal simulation: {}", report.trace.source);
    let _ = writeln!(out, "{}", trace_line(report));
    if report.policies.is_empty() {
        out.push_str("\nNo policy was replayed.\n");
        return out;
    }
    let figures = figures(report);
    let names: Vec<&str> = report.policies.iter().map(|p| p.policy.as_str()).collect();
    let texts: Vec<Vec<String>> = figures
        .iter()
        .map(|f| (0..names.len()).map(|i| f.text(i)).collect())
        .collect();
    let label_width = figures
        .iter()
        .map(|f| f.label.chars().count())
        .max()
        .unwrap_or(0);
    let values: Vec<usize> = (0..names.len())
        .map(|i| {
            texts
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(MIN_COLUMN)
        })
        .collect();
    let named: Vec<usize> = values
        .iter()
        .zip(&names)
        .map(|(&w, name)| w.max(name.chars().count()))
        .collect();
    let one_line = label_width + named.iter().map(|w| GAP + w).sum::<usize>() <= WIDTH;
    let widths = if one_line { named } else { values };
    for block in blocks(label_width, &widths) {
        out.push('\n');
        let ends = ends(label_width, &widths, block.clone());
        let header = if one_line {
            one_line_header(&names[block.clone()], &ends)
        } else {
            staircase(&names[block.clone()], &ends)
        };
        for line in header {
            let _ = writeln!(out, "{}", line.trim_end());
        }
        write_rows(&mut out, &figures, &texts, &widths, label_width, block);
    }
    out.push_str("\nLower is better on every row; — where a figure does not apply.\n");
    out
}

/// Consecutive ranges of columns that fit in [`WIDTH`] next to the labels.
fn blocks(label_width: usize, widths: &[usize]) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let mut start = 0;
    let mut used = label_width;
    for (i, w) in widths.iter().enumerate() {
        if i > start && used + GAP + w > WIDTH {
            blocks.push(start..i);
            start = i;
            used = label_width;
        }
        used += GAP + w;
    }
    blocks.push(start..widths.len());
    blocks
}

/// Where each column of `block` ends (exclusive), in characters from the line start.
fn ends(label_width: usize, widths: &[usize], block: Range<usize>) -> Vec<usize> {
    block
        .scan(label_width, |end, i| {
            *end += GAP + widths[i];
            Some(*end)
        })
        .collect()
}

fn one_line_header(names: &[&str], ends: &[usize]) -> Vec<String> {
    let mut line = String::new();
    for (name, &end) in names.iter().zip(ends) {
        let _ = write!(line, "{name:>w$}", w = end - line.chars().count());
    }
    vec![line]
}

/// One line per name, the last column's first, each ending above its column, with `|` under
/// the names above it:
///
/// ```text
///                                        hpa+predict
///                              tidal+descheduler   |
///                        requests        |         |
/// ```
fn staircase(names: &[&str], ends: &[usize]) -> Vec<String> {
    (0..names.len())
        .rev()
        .map(|k| {
            let mut line: Vec<char> = vec![' '; ends.last().copied().unwrap_or(0)];
            let name: Vec<char> = names[k].chars().collect();
            let skip = name.len().saturating_sub(ends[k]);
            let start = ends[k] + skip - name.len();
            for (slot, &c) in line[start..ends[k]].iter_mut().zip(&name[skip..]) {
                *slot = c;
            }
            for &end in &ends[k + 1..] {
                line[end - 1] = '|';
            }
            line.into_iter().collect()
        })
        .collect()
}

fn write_rows(
    out: &mut String,
    figures: &[Figure],
    texts: &[Vec<String>],
    widths: &[usize],
    label_width: usize,
    block: Range<usize>,
) {
    let total = label_width + block.clone().map(|i| GAP + widths[i]).sum::<usize>();
    let _ = writeln!(out, "{}", "-".repeat(total));
    let mut group = figures.first().map(|f| f.group);
    for (figure, row) in figures.iter().zip(texts) {
        if Some(figure.group) != group {
            out.push('\n');
            group = Some(figure.group);
        }
        let mut text = format!("{:<label_width$}", figure.label);
        for i in block.clone() {
            let _ = write!(text, "{:GAP$}{:>w$}", "", row[i], w = widths[i]);
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_climb_a_staircase() {
        let lines = staircase(&["requests", "tidal+descheduler", "hpa"], &[12, 20, 28]);
        assert_eq!(
            lines,
            [
                "                         hpa",
                "   tidal+descheduler       |",
                "    requests       |       |",
            ]
        );
        // A name longer than the room left of its column keeps its end.
        assert_eq!(staircase(&["abcdef"], &[4]), ["cdef"]);
    }

    #[test]
    fn short_names_fit_one_line() {
        assert_eq!(one_line_header(&["a", "bb"], &[5, 9]), ["    a  bb"]);
    }

    #[test]
    fn columns_continue_in_a_second_block_when_too_wide() {
        assert_eq!(blocks(30, &[10; 5]), vec![0..5]);
        assert_eq!(blocks(30, &[10; 7]), vec![0..5, 5..7]);
        assert_eq!(blocks(30, &[200]), vec![0..1]);
    }
}
