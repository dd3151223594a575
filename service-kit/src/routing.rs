//! Routes whose other methods are answered `405` with an `Allow` header naming exactly the
//! methods registered, and the `404` fallback for paths nothing serves.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, Route, web};

use crate::framework::{FrameworkError, quoted};

/// One path and its handlers by method. Register it with `.service(...)`.
///
/// ```ignore
/// cfg.service(Endpoint::new("/v1/things/{id}").get(get_thing).put(put_thing));
/// ```
#[must_use]
pub struct Endpoint {
    path: String,
    routes: Vec<(Method, Route)>,
}

impl Endpoint {
    /// An endpoint at `path` with no methods yet.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            routes: Vec::new(),
        }
    }

    /// Serves `method` with `handler`.
    pub fn route<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.routes
            .push((method.clone(), web::method(method).to(handler)));
        self
    }

    /// Serves `GET` with `handler`.
    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, handler)
    }

    /// Serves `POST` with `handler`.
    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, handler)
    }

    /// Serves `PUT` with `handler`.
    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PUT, handler)
    }

    /// Serves `DELETE` with `handler`.
    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, handler)
    }

    /// The actix resource: the routes, and a `405` problem for any other method.
    pub fn into_resource(self) -> Resource {
        let allow = self
            .routes
            .iter()
            .map(|(method, _)| method.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut resource = web::resource(self.path);
        for (_, route) in self.routes {
            resource = resource.route(route);
        }
        resource.default_service(web::to(move |req: HttpRequest| {
            let allow = allow.clone();
            async move {
                Err::<HttpResponse, _>(FrameworkError::MethodNotAllowed {
                    method: req.method().as_str().chars().take(32).collect(),
                    path: quoted(req.path()),
                    allow,
                })
            }
        }))
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        self.into_resource().register(config);
    }
}

/// The fallback for paths nothing serves: a `404` problem. Use it as the
/// `default_service` of the app and of every scope.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, FrameworkError> {
    Err(FrameworkError::NoRoute {
        method: req.method().as_str().chars().take(32).collect(),
        path: quoted(req.path()),
    })
}
