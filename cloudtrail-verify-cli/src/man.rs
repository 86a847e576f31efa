//! `ctverify man`: one manual page with every command and its options, the examples of each
//! help under EXAMPLES, and the exit statuses.

use crate::cli::Cli;
use clap::CommandFactory;
use std::io::{self, Write};

/// Text as roff shows it verbatim: backslashes and dashes escaped (a `-` left as is may be
/// typeset as a hyphen, which a copied command cannot use), a leading `.` or `'` guarded.
fn verbatim(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Writes the page.
pub fn write_man(out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    // No hyphenation and no justification: ARNs, URLs and flags are copied from the page.
    writeln!(out, ".nh\n.ad l")?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    writeln!(out, ".SH COMMANDS")?;
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .cloned()
        .collect();
    for sub in &subcommands {
        let name = format!("ctverify {}", sub.get_name());
        let sub = sub.clone().bin_name(&name);
        let mut page = Vec::new();
        let sub_man = clap_mangen::Man::new(sub.clone());
        sub_man.render_synopsis_section(&mut page)?;
        sub_man.render_description_section(&mut page)?;
        sub_man.render_options_section(&mut page)?;
        // This command's sections become subsections of COMMANDS, named after it.
        let text = String::from_utf8_lossy(&page);
        for line in text.lines() {
            match line.strip_prefix(".SH ") {
                Some("SYNOPSIS") => writeln!(out, ".SS \"{name}\"")?,
                Some("DESCRIPTION") => writeln!(out, ".PP")?,
                Some(heading) => {
                    let heading = heading.trim_matches('"');
                    writeln!(out, ".TP\n.B {heading} of {}", verbatim(&name))?;
                }
                None => writeln!(out, "{line}")?,
            }
        }
    }
    writeln!(out, ".SH EXAMPLES")?;
    let helps = std::iter::once(&cmd).chain(&subcommands);
    for command in helps {
        let Some(examples) = command.get_after_help() else {
            continue;
        };
        writeln!(out, ".nf")?;
        for line in examples.to_string().lines() {
            // The exit statuses, the help's last paragraph, have their own section.
            if line.starts_with("Exit status") {
                break;
            }
            if line.starts_with("Examples:") {
                continue;
            }
            writeln!(out, "{}", verbatim(line))?;
        }
        writeln!(out, ".fi")?;
    }
    writeln!(
        out,
        ".SH \"EXIT STATUS\"\n.TP\n0\nEverything valid.\n.TP\n1\nSomething INVALID: evidence \
         of tampering.\n.TP\n2\nNothing invalid, but something UNVERIFIABLE.\n.TP\n3\nThe run \
         failed (bad arguments, unreadable inputs)."
    )?;
    man.render_version_section(out)
}
