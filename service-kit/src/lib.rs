//! # service-kit
//!
//! The plumbing every service of the cluster shares — character-api, quest-api,
//! server-manager and zone-server — so that they log, stop, report health, count requests,
//! answer errors and check tokens the same way. It holds no game types: what a service
//! does lives in that service, what every service must do alike lives here. The one wire
//! type it uses, [`protocol::http::Problem`], stays in `protocol` because clients parse it
//! too.
//!
//! | module | concern |
//! | --- | --- |
//! | [`app`] | the actix-web app with the shared middleware, for a service's routes |
//! | [`logging`] | tracing set-up; the plain or JSON log format flag |
//! | [`shutdown`] | SIGTERM or SIGINT as a future, failing loudly if a handler cannot be installed |
//! | [`healthcheck`] | the `healthcheck` subcommand's probe of `/readyz` |
//! | [`metrics`] | the Prometheus recorder, `/metrics` text, the request-counting middleware |
//! | [`problem`] | building an `application/problem+json` response |
//! | [`framework`] | the framework's own errors (bad JSON, oversized body, bad path, ...) as problems |
//! | [`routing`] | endpoints whose other methods get a 405 with `Allow`; the 404 fallback |
//! | [`auth`] | bearer tokens, compared in constant time; the service-token middleware |
//! | [`commit`] | the sled group committer, and why a write it acknowledges is on disk |
//! | [`nats`] | connecting to NATS with a role's credentials (nkey or `.creds` file, user/password or token in the URL, TLS, several servers); making a deployment's credentials and server config |
//! | [`postgres`] | the PostgreSQL backend's flags, a bounded connection pool with timeouts, database errors as the APIs need them, versioned schema migrations |
//! | [`openapi`] | the security schemes and body limit every OpenAPI document states |
//! | [`time`] | wall-clock time in the wire's units |

pub mod app;
pub mod auth;
pub mod commit;
pub mod framework;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
pub mod nats;
pub mod openapi;
pub mod postgres;
pub mod problem;
pub mod routing;
pub mod shutdown;
pub mod time;
