//! Runs every `.cvm` file under `curvevm/filetests/` on every engine.

use std::path::{Path, PathBuf};

use curvevm_testkit::filetest::{Engine, run_file};

fn cvm_files(dir: &Path, out: &mut Vec<PathBuf>) {
    #[allow(clippy::disallowed_methods, reason = "tests read their fixture files")]
    let entries = std::fs::read_dir(dir).expect("filetests directory");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            cvm_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "cvm") {
            out.push(path);
        }
    }
}

#[test]
fn every_file_test_passes_on_every_engine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../filetests");
    let mut files = Vec::new();
    cvm_files(&root, &mut files);
    files.sort();
    assert!(files.len() >= 9, "found only {} file tests", files.len());
    let mut failures = Vec::new();
    for file in &files {
        #[allow(clippy::disallowed_methods, reason = "tests read their fixture files")]
        let text = std::fs::read_to_string(file).expect("readable file test");
        for engine in Engine::ALL {
            if let Err(message) = run_file(&text, engine) {
                failures.push(format!("{} [{engine:?}]:\n{message}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
