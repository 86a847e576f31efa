//! Path mistakes in `--local`: a copy given one folder too high or too deep is a question of
//! where the user pointed, not evidence about the trail. Found before anything is verified, it
//! stops the run with the path to give instead (a run that went on would report every hour
//! uncovered, or an evidence bundle's files as discrepancies).

use std::path::{Path, PathBuf};

/// Folders looked at one level down when the copy may be one folder too high: more than a
/// copy's root holds, few enough that a huge folder given by mistake costs nothing.
const MAX_CHILDREN: usize = 1000;

/// Whether `path` is a folder, without following a symbolic link (a copy's folders never are).
fn is_folder(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// When the local copy `dir`, read as `dir/BUCKET/ACCOUNTS_FOLDER` (`[PREFIX/]AWSLogs/`), does
/// not hold that folder but would one folder higher or lower: the path to give instead, as a
/// sentence. `None` when the folder is there, or nowhere near (a wrong `--prefix`, or a copy
/// whose files are gone: the run goes on and reports that).
pub(crate) fn layout_mistake(dir: &Path, bucket: &str, prefix: Option<&str>) -> Option<String> {
    let mut wanted = String::new();
    if let Some(p) = prefix.filter(|p| !p.is_empty()) {
        wanted.push_str(p.trim_end_matches('/'));
        wanted.push('/');
    }
    wanted.push_str("AWSLogs");
    if is_folder(&dir.join(bucket).join(&wanted)) {
        return None;
    }
    // One folder too deep: `dir` is the bucket's folder itself (it holds AWSLogs/).
    if is_folder(&dir.join(&wanted)) {
        let parent: PathBuf = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from(".."),
        };
        return Some(format!(
            "{} is a bucket's folder (it holds {wanted}/), one folder too deep: --local takes \
             the folder holding one folder per bucket (DIR/BUCKET/{wanted}/...), here --local {}",
            dir.display(),
            parent.display()
        ));
    }
    // One folder too high: the folder taken for the bucket holds the buckets' folders.
    let holder = dir.join(bucket);
    let mut buckets: Vec<String> = std::fs::read_dir(&holder)
        .ok()?
        .flatten()
        .take(MAX_CHILDREN)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| is_folder(&e.path().join(&wanted)))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    buckets.sort();
    let first = buckets.first()?;
    let choose = if buckets.len() > 1 {
        format!(" --bucket {first} (or {})", buckets[1..].join(", "))
    } else {
        String::new()
    };
    Some(format!(
        "{} holds no bucket folder with {wanted}/ in it, but {} does: one folder too high, \
         give --local {}{choose}",
        dir.display(),
        holder.display(),
        holder.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::layout_mistake;

    fn tree(paths: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for p in paths {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        dir
    }

    #[test]
    fn a_copy_as_expected_or_far_off_is_no_path_mistake() {
        let copy = tree(&["b/AWSLogs/111122223333"]);
        assert_eq!(layout_mistake(copy.path(), "b", None), None);
        // A wrong prefix, or files gone: the run reports it, not a path to give instead.
        assert_eq!(layout_mistake(copy.path(), "b", Some("p")), None);
        let empty = tree(&["b"]);
        assert_eq!(layout_mistake(empty.path(), "b", None), None);
    }

    #[test]
    fn one_folder_too_deep_names_the_parent() {
        let copy = tree(&["b/AWSLogs/111122223333"]);
        let bucket_dir = copy.path().join("b");
        let hint = layout_mistake(&bucket_dir, "AWSLogs", None).unwrap();
        assert!(hint.contains("one folder too deep"), "{hint}");
        assert!(
            hint.ends_with(&format!("--local {}", copy.path().display())),
            "{hint}"
        );
    }

    #[test]
    fn one_folder_too_high_names_the_folder_and_the_buckets() {
        let top = tree(&["copy/b1/p/AWSLogs/1", "copy/b2/p/AWSLogs/1", "copy/c"]);
        let hint = layout_mistake(top.path(), "copy", Some("p/")).unwrap();
        let holder = top.path().join("copy");
        assert!(hint.contains("one folder too high"), "{hint}");
        assert!(
            hint.ends_with(&format!("--local {} --bucket b1 (or b2)", holder.display())),
            "{hint}"
        );
    }
}
