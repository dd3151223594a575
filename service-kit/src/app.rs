//! The actix-web application every service starts from: its routes and data are the
//! service's, the middleware around them the same everywhere.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, Error};

/// An app wrapped in the shared middleware: request metrics (outermost, so they see the
/// final answer) around the problem fallback (any error response actix made itself becomes
/// a problem). Add the service's data and `configure` to it.
pub fn app() -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(crate::framework::problem_fallback())
        .wrap(from_fn(crate::metrics::track))
}
