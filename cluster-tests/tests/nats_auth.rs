//! The ways a service authenticates to NATS besides the nkeys the cluster's own command
//! makes: TLS with a CA the test makes (`tls://` and `--nats-ca`), and user/password or a
//! token embedded in `NATS_URL`, as NATS clients normally allow. Real nats-servers, the
//! real server-manager binary.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use service_kit::nats::{NatsArgs, connect};
use test_support::{
    ManagedProcess, NatsOptions, ProcessSpec, binary, free_addr, nats_server_program, wait_ready,
};

/// Whether a client made from `args` gets connected (a flush answered) within a few seconds.
async fn connects(args: &NatsArgs) -> bool {
    let nats = connect(args, "auth test").await.expect("settings usable");
    tokio::time::timeout(Duration::from_secs(4), nats.client.flush())
        .await
        .is_ok_and(|r| r.is_ok())
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A throw-away CA and a certificate it signed for 127.0.0.1: `ca.pem`, `server.pem`,
/// `server.key` in `dir`.
fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("write");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_nats_with_a_throwaway_ca() {
    let dir = tempfile::tempdir().expect("a temp dir");
    make_ca(dir.path());
    let nats = NatsOptions::default()
        .tls(
            &dir.path().join("server.pem"),
            &dir.path().join("server.key"),
        )
        .start()
        .expect("nats-server with TLS");
    assert!(nats.url().starts_with("tls://"));
    let mut args = nats.args("zone-1");
    assert!(
        !connects(&args).await,
        "no CA: the server's certificate is not trusted"
    );
    args.ca = Some(dir.path().join("ca.pem"));
    assert!(connects(&args).await, "with the CA: connected over TLS");

    // The real manager, over TLS with its credentials, becomes ready.
    let addr = free_addr().expect("a port");
    let spec = ProcessSpec::new(
        "server-manager",
        binary("server-manager").expect("built"),
        addr,
    )
    .args([
        "--listen".to_owned(),
        addr.to_string(),
        "--data-dir".to_owned(),
        dir.path().join("manager").display().to_string(),
        "--nats-url".to_owned(),
        nats.url(),
        "--nats-creds".to_owned(),
        nats.creds("manager").display().to_string(),
        "--nats-ca".to_owned(),
        dir.path().join("ca.pem").display().to_string(),
    ])
    .env("SERVICE_TOKEN", "s")
    .env("JWT_SECRET", "j")
    .env("ADMIN_TOKEN", "a");
    let mut manager = ManagedProcess::start(spec, dir.path()).expect("the manager starts");
    wait_ready(&format!("http://{addr}")).await;
    manager.terminate(Duration::from_secs(10));
}

/// A nats-server with plain auth flags (not the cluster's config): `extra` after the port.
fn plain_nats(dir: &Path, extra: &[&str]) -> ManagedProcess {
    let addr = free_addr().expect("a port");
    let mut args = vec![
        "-a".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        addr.port().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let spec = ProcessSpec::new("nats-plain", nats_server_program(), addr).args(args);
    ManagedProcess::start(spec, dir).expect("nats-server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_password_or_token_in_the_url_are_passed_on() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let users = plain_nats(dir.path(), &["--user", "zone", "--pass", "s3cret"]);
    let at = users.addr();
    assert!(connects(&NatsArgs::open(&format!("nats://zone:s3cret@{at}"))).await);
    assert!(!connects(&NatsArgs::open(&format!("nats://zone:wrong@{at}"))).await);
    assert!(!connects(&NatsArgs::open(&format!("nats://{at}"))).await);
    // The user name is the identity the process sends as (the operator's config gives it
    // its permissions).
    let nats = connect(&NatsArgs::open(&format!("nats://zone:s3cret@{at}")), "t")
        .await
        .expect("usable");
    assert_eq!(nats.identity.as_str(), "zone");

    let tokens = plain_nats(dir.path(), &["--auth", "t0ken"]);
    let at = tokens.addr();
    assert!(connects(&NatsArgs::open(&format!("nats://t0ken@{at}"))).await);
    assert!(!connects(&NatsArgs::open(&format!("nats://other@{at}"))).await);
    // Several servers, comma-separated: any that answers will do.
    let dead = free_addr().expect("a port");
    assert!(
        connects(&NatsArgs::open(&format!(
            "nats://t0ken@{dead},nats://t0ken@{at}"
        )))
        .await
    );
}
