//! The SDK refuses to build a plugin with `panic = "abort"`: its guards catch unwinds at
//! the boundary, and with abort a plugin's panic would end the host.

use std::path::Path;
use std::process::Command;

#[test]
fn a_plugin_built_with_panic_abort_does_not_compile() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&workspace)
        .args([
            "check",
            "--quiet",
            "-p",
            "example-gain",
            "--message-format",
            "short",
        ])
        .args(["--config", "profile.dev.panic=\"abort\""])
        .arg("--target-dir")
        .arg(workspace.join("target").join("panic-abort"))
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the plugin compiled with panic = \"abort\""
    );
    assert!(
        stderr.contains("plugin-runtime-sdk needs `panic = \"unwind\"`"),
        "the build failed for another reason:\n{stderr}"
    );
}
