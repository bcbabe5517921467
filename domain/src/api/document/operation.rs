//! One operation of the document as [`super::operations`] declares it: an
//! endpoint of the table and what the document says of it, with the
//! builder methods the declarations read like; and the schemas gathered
//! while declaring them.

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use super::super::endpoints::{self, Access, Op};
use super::shared::reference;

/// One operation as declared in [`operations`]: an endpoint of the table
/// (its method, path and access) and what the document says of it.
pub(super) struct Operation {
    pub(super) endpoint: &'static endpoints::Endpoint,
    pub(super) tag: &'static str,
    pub(super) summary: &'static str,
    pub(super) description: &'static str,
    pub(super) body: Option<Value>,
    /// Status, description, `data` schema (`None`: not JSON, see `raw`), extras.
    pub(super) answers: Vec<(u16, &'static str, Value)>,
    /// A whole response object for a status (the health check's 503, the document).
    pub(super) raw: Vec<(u16, Value)>,
    /// Error statuses beyond those [the rules](self) imply.
    pub(super) errors: Vec<u16>,
    pub(super) parameters: Vec<Value>,
    /// Pagination: the `meta` schema of a list.
    pub(super) meta: Option<Value>,
    /// Whether a database or cache stands behind it (503).
    pub(super) backed: bool,
    pub(super) links: Vec<(&'static str, Value)>,
    /// Whether the body may also come as a form (`application/x-www-form-urlencoded`).
    pub(super) form: bool,
}

impl Operation {
    pub(super) fn of(op: Op, tag: &'static str, summary: &'static str) -> Self {
        Self {
            endpoint: endpoints::of(op),
            tag,
            summary,
            description: "",
            body: None,
            answers: Vec::new(),
            raw: Vec::new(),
            errors: Vec::new(),
            parameters: Vec::new(),
            meta: None,
            backed: true,
            links: Vec::new(),
            form: false,
        }
    }
    pub(super) fn method(&self) -> String {
        self.endpoint.method.as_str().to_lowercase()
    }
    pub(super) fn path(&self) -> &'static str {
        self.endpoint.path
    }
    pub(super) fn access(&self) -> Access {
        self.endpoint.access
    }
    pub(super) fn describe(mut self, text: &'static str) -> Self {
        self.description = text;
        self
    }
    pub(super) fn body(mut self, schema: Value) -> Self {
        self.body = Some(schema);
        self
    }
    pub(super) fn answer(mut self, status: u16, description: &'static str, data: Value) -> Self {
        self.answers.push((status, description, data));
        self
    }
    pub(super) fn raw(mut self, status: u16, response: Value) -> Self {
        self.raw.push((status, response));
        self
    }
    pub(super) fn errors(mut self, statuses: &[u16]) -> Self {
        self.errors.extend_from_slice(statuses);
        self
    }
    pub(super) fn parameter(mut self, parameter: Value) -> Self {
        self.parameters.push(parameter);
        self
    }
    pub(super) fn paginated(mut self, meta: Value) -> Self {
        self.meta = Some(meta);
        self
    }
    pub(super) fn unbacked(mut self) -> Self {
        self.backed = false;
        self
    }
    pub(super) fn link(mut self, name: &'static str, link: Value) -> Self {
        self.links.push((name, link));
        self
    }
    pub(super) fn form_too(mut self) -> Self {
        self.form = true;
        self
    }
    /// Whether `X-Request-ID` applies (with its statuses).
    pub(super) fn mutating(&self) -> bool {
        self.endpoint.guarded()
    }
}

/// Schemas gathered while the operations are declared.
#[derive(Default)]
pub(super) struct Schemas(pub(super) BTreeMap<String, Value>);

impl Schemas {
    /// A `$ref` to `T`, registering `T` and every schema it refers to.
    pub(super) fn of<T: ToSchema>(&mut self) -> Value {
        let mut found: Vec<(String, RefOr<Schema>)> = vec![(T::name().into_owned(), T::schema())];
        T::schemas(&mut found);
        for (name, schema) in found {
            self.0.insert(name, serde_json::to_value(schema).expect("schemas serialise"));
        }
        reference(&T::name())
    }
}
