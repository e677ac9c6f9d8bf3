//! The command line: help, config errors before anything binds, check-config.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use sluice_e2e::sluice_bin;

fn sluice(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(sluice_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("SLUICE_") {
            command.env_remove(key);
        }
    }
    command.args(args).envs(env.iter().copied());
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_explains_the_commands() {
    let (code, stdout, _) = sluice(&["--help"], &[]);
    assert_eq!(code, 0);
    for word in ["--config", "run", "check-config", "SLUICE_"] {
        assert!(stdout.contains(word), "{word} missing from:\n{stdout}");
    }
}

#[test]
fn bad_config_is_one_line_naming_the_key_and_nothing_binds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sluice.toml");
    // The listen address is taken: had sluice bound before validating, it would
    // fail on the port instead of on the key.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    std::fs::write(
        &file,
        format!("[receivers]\ngrpc_listen = \"{addr}\"\n[storage]\nflush_rows = 0\n"),
    )
    .unwrap();
    let (code, _, stderr) = sluice(&["--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("storage.flush_rows"), "{stderr}");

    let (code, _, stderr) = sluice(&["check-config"], &[("SLUICE_PIPELINE_SHARDZ", "2")]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("SLUICE_PIPELINE_SHARDZ does not name a setting"),
        "{stderr}"
    );

    let (code, _, stderr) = sluice(
        &["check-config"],
        &[("SLUICE_STORAGE_FLUSH_INTERVAL", "soon")],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("storage.flush_interval")
            && stderr.contains("SLUICE_STORAGE_FLUSH_INTERVAL"),
        "{stderr}"
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = sluice(
        &[],
        &[
            ("SLUICE_RECEIVERS_HTTP_LISTEN", &addr),
            ("SLUICE_RECEIVERS_GRPC_LISTEN", "127.0.0.1:0"),
            ("SLUICE_API_LISTEN", "127.0.0.1:0"),
            ("SLUICE_STORAGE_ROOT", dir.path().to_str().unwrap()),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (receivers.http_listen)")),
        "{stderr}"
    );
}

#[test]
fn check_config_prints_the_effective_config() {
    let (code, stdout, _) = sluice(&["check-config"], &[("SLUICE_PIPELINE_SHARDS", "7")]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("[storage]") && stdout.contains("root = \"./data\""),
        "{stdout}"
    );
    assert!(stdout.contains("shards = 7"), "{stdout}");
}
